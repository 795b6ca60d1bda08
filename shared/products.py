"""Products of the Printful-compatible mockup generator, in PostgreSQL.

A product (shared.schemas.ProductDefinition) groups an account's templates:

    variants     integer ids (colour, size), each mapped to one or more mockups,
                 each mockup labelled with Printful's `option` (the view: Front,
                 Back...) and `option_group` (the style: Flat, Men's...)
    placements   Printful's placement names (front, back...) mapped to smart
                 objects of those mockups, by layer name
    printfiles   the print file of each placement (pixels, dpi, fill mode);
                 a variant may use another one for a placement (larger sizes)
    color_overlay  the smart object each variant's `color_code` is laid over

Defining a product resolves it once: mockup names become uuids (the mockups must be
ready), every placement must be found in some mockup, and each (mockup, placement)
pair becomes a layout template with an integer id. Geometry (content sizes, quads,
render plans) is read from the mockups whenever it is needed, so it is never stale.

Coordinates: Printful clients position artwork in a print area of
`area_width` x `area_height` (normally the print file's size). That area is fitted
into the smart object's content keeping its aspect ("contain", centred):
`area_in_content` says where; the same box, mapped onto the canvas, is the print
area the templates endpoint reports.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click
import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared import mockups
from shared.db import get_pool, is_uuid
from shared.schemas import ProductDefinition

# The account's next free product id is taken as max + 1; two products defined at
# the same moment may pick the same one: the later insert is retried this often.
_ID_ATTEMPTS = 5


class ProductError(ValueError):
    """A definition that cannot be resolved: `field` (a dotted path) and why."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ProductExists(ValueError):
    pass


@dataclass(frozen=True)
class Product:
    account_id: int
    id: int
    title: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def variants(self) -> list[dict[str, Any]]:
        return self.definition["variants"]

    @property
    def placements(self) -> list[dict[str, Any]]:
        return self.definition["placements"]

    @property
    def printfiles(self) -> list[dict[str, Any]]:
        return self.definition["printfiles"]

    @property
    def templates(self) -> list[dict[str, Any]]:
        return self.definition["templates"]

    def variant(self, variant_id: int) -> dict[str, Any] | None:
        return next((v for v in self.variants if v["id"] == variant_id), None)

    def placement(self, name: str) -> dict[str, Any] | None:
        return next((p for p in self.placements if p["placement"] == name), None)

    def printfile(self, printfile_id: int) -> dict[str, Any]:
        return next(p for p in self.printfiles if p["printfile_id"] == printfile_id)

    def printfile_of(self, variant: dict[str, Any], placement: str) -> dict[str, Any]:
        """The print file of `placement` for `variant` (its own, else the placement's)."""
        printfile_id = (variant.get("printfiles") or {}).get(placement) or self.placement(placement)["printfile_id"]
        return self.printfile(printfile_id)

    def template_id(self, mockup_uuid: str, placement: str) -> int:
        return next(t["template_id"] for t in self.templates
                    if t["mockup_uuid"] == mockup_uuid and t["placement"] == placement)

    def mockup_uuids(self) -> list[str]:
        seen = []
        for variant in self.variants:
            for view in variant["mockups"]:
                if view["mockup_uuid"] not in seen:
                    seen.append(view["mockup_uuid"])
        return seen

    def options(self) -> list[str]:
        return _distinct(view["option"] for variant in self.variants for view in variant["mockups"])

    def option_groups(self) -> list[str]:
        return _distinct(view["option_group"] for variant in self.variants for view in variant["mockups"])


def _distinct(values) -> list:
    seen = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


# --------------------------------------------------------------------------- smart objects


def find_smart_object(mockup: mockups.Mockup, name: str) -> dict[str, Any] | None:
    """The mockup's smart object with this layer name (or, failing that, this name)."""
    for key in ("layer_name", "name"):
        for so in mockup.smart_objects:
            if so.get(key) == name:
                return so
    return None


def area_in_content(content_size, area_size) -> tuple[float, float, float, float]:
    """(x, y, w, h) in content pixels of a print area of `area_size` fitted into the
    content keeping its aspect, centred."""
    content_w, content_h = (float(v) for v in content_size)
    area_w, area_h = (float(v) for v in area_size)
    scale = min(content_w / area_w, content_h / area_h)
    width, height = area_w * scale, area_h * scale
    return (content_w - width) / 2, (content_h - height) / 2, width, height


def content_to_canvas(so: dict[str, Any], points) -> np.ndarray:
    """Content pixels -> canvas pixels through the smart object's quad (its content's
    corners on the canvas, TL TR BR BL), as a perspective transform."""
    import cv2  # noqa: PLC0415 - only the templates endpoint needs it

    width, height = so["size"]["width"], so["size"]["height"]
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    target = np.array(so["quad"], np.float32).reshape(4, 2)
    matrix = cv2.getPerspectiveTransform(source, target)
    return cv2.perspectiveTransform(np.asarray(points, np.float32).reshape(-1, 1, 2), matrix).reshape(-1, 2)


def print_area_on_canvas(so: dict[str, Any], printfile: dict[str, Any]) -> tuple[float, float, float, float]:
    """(left, top, width, height) on the template's canvas of the bounding box of the
    print file's area as it lands in the smart object."""
    x, y, w, h = area_in_content((so["size"]["width"], so["size"]["height"]),
                                 (printfile["width"], printfile["height"]))
    corners = content_to_canvas(so, [[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    left, top = corners.min(axis=0)
    right, bottom = corners.max(axis=0)
    return float(left), float(top), float(right - left), float(bottom - top)


# --------------------------------------------------------------------------- resolving a definition


def _resolve_mockup(reference: str, account_id: int, field: str) -> mockups.Mockup:
    """A ready mockup of the account, by uuid or by (unambiguous) name."""
    mockup = mockups.get_mockup(reference, account_id) if is_uuid(reference) else None
    if mockup is None:
        named = mockups.find_by_name(account_id, reference)
        if len(named) > 1:
            raise ProductError(field, f"{len(named)} mockups are named {reference!r}: give the uuid of one")
        mockup = named[0] if named else None
    if mockup is None:
        raise ProductError(field, f"no mockup with uuid or name {reference!r}")
    if mockup.status != mockups.READY:
        raise ProductError(field, f"mockup {mockup.uuid} is {mockup.status}, not ready"
                                  + (f": {mockup.error}" if mockup.error else ""))
    return mockup


def resolve_definition(data: dict[str, Any], account_id: int) -> dict[str, Any]:
    """A validated ProductDefinition -> the definition stored (see the module docstring).
    Raises ProductError naming the field."""
    definition = {key: value for key, value in data.items() if key != "id"}
    definition["placements"] = [{**placement, "title": placement.get("title") or placement["placement"].title()}
                                for placement in data["placements"]]
    by_reference: dict[str, mockups.Mockup] = {}
    variants, templates = [], []
    overlay = data.get("color_overlay")
    overlay_found = overlay is None
    for index, variant in enumerate(data["variants"]):
        resolved = {"id": variant.get("id", index + 1), "name": variant.get("name"), "color": variant.get("color"),
                    "color_code": variant.get("color_code"), "size": variant.get("size"),
                    "printfiles": dict(variant.get("printfiles") or {}), "mockups": []}
        if resolved["name"] is None:
            resolved["name"] = " / ".join(filter(None, (data["title"], variant.get("color"), variant.get("size"))))
        seen_views = set()
        for position, view in enumerate(variant["mockups"]):
            field = f"variants.{index}.mockups.{position}.mockup"
            if view["mockup"] not in by_reference:
                by_reference[view["mockup"]] = _resolve_mockup(view["mockup"], account_id, field)
            mockup = by_reference[view["mockup"]]
            if (view["option_group"], view["option"]) in seen_views:
                raise ProductError(f"variants.{index}.mockups.{position}",
                                   f"the variant already has a mockup for option {view['option']!r} "
                                   f"of group {view['option_group']!r}")
            seen_views.add((view["option_group"], view["option"]))
            placements = [p["placement"] for p in data["placements"] if find_smart_object(mockup, p["smart_object"])]
            if not placements:
                names = ", ".join(so["layer_name"] for so in mockup.smart_objects) or "none"
                raise ProductError(field, f"mockup {mockup.name!r} has none of the placements' smart objects "
                                          f"(it has: {names})")
            if overlay is not None and find_smart_object(mockup, overlay["smart_object"]):
                overlay_found = True
            for placement in placements:
                if not any(t["mockup_uuid"] == mockup.uuid and t["placement"] == placement for t in templates):
                    templates.append({"template_id": len(templates) + 1, "mockup_uuid": mockup.uuid,
                                      "placement": placement})
            resolved["mockups"].append({"mockup_uuid": mockup.uuid, "mockup_name": mockup.name,
                                        "option": view["option"], "option_group": view["option_group"]})
        variants.append(resolved)
    for index, placement in enumerate(data["placements"]):
        if not any(t["placement"] == placement["placement"] for t in templates):
            raise ProductError(f"placements.{index}.smart_object",
                               f"no mockup of the variants has a smart object {placement['smart_object']!r}")
    if not overlay_found:
        raise ProductError("color_overlay.smart_object",
                           f"no mockup of the variants has a smart object {overlay['smart_object']!r}")
    definition["variants"] = variants
    definition["templates"] = templates
    return definition


# --------------------------------------------------------------------------- storage

_COLUMNS = "account_id, id, title, definition, created_at, updated_at"


def create_product(account_id: int, definition: dict[str, Any], product_id: int | None = None) -> Product:
    """Store a resolved definition under `product_id`, or the account's next free id.
    ProductExists when the account has a product with that id already."""
    for _ in range(_ID_ATTEMPTS):
        try:
            with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                if product_id is None:
                    cur.execute(
                        f"""INSERT INTO products (account_id, id, title, definition)
                            SELECT %s, coalesce(max(id), 0) + 1, %s, %s FROM products WHERE account_id = %s
                            RETURNING {_COLUMNS}""",
                        (account_id, definition["title"], Jsonb(definition), account_id))
                else:
                    cur.execute(
                        f"""INSERT INTO products (account_id, id, title, definition) VALUES (%s, %s, %s, %s)
                            RETURNING {_COLUMNS}""",
                        (account_id, product_id, definition["title"], Jsonb(definition)))
                return Product(**cur.fetchone())
        except psycopg.errors.UniqueViolation:
            if product_id is not None:
                raise ProductExists(f"the account already has a product {product_id}; delete it first") from None
    raise RuntimeError("could not pick a free product id: too many products defined at once")


def get_product(product_id: int, account_id: int) -> Product | None:
    """The account's product (another account's product looks exactly like a missing one)."""
    if not 1 <= product_id <= 2_147_483_647:
        return None
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM products WHERE account_id = %s AND id = %s", (account_id, product_id))
        row = cur.fetchone()
    return Product(**row) if row else None


def list_products(account_id: int, *, limit: int, offset: int) -> tuple[list[Product], int]:
    with get_pool().connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT count(*) AS total FROM products WHERE account_id = %s", (account_id,))
        total = cur.fetchone()["total"]
        cur.execute(f"SELECT {_COLUMNS} FROM products WHERE account_id = %s ORDER BY id LIMIT %s OFFSET %s",
                    (account_id, limit, offset))
        return [Product(**row) for row in cur.fetchall()], total


def delete_product(product_id: int, account_id: int) -> bool:
    with get_pool().connection() as conn:
        cur = conn.execute("DELETE FROM products WHERE account_id = %s AND id = %s", (account_id, product_id))
        return cur.rowcount == 1


def product_data(product: Product) -> dict[str, Any]:
    """The `data` of a product response (shared.schemas.ProductInfo)."""
    return {"id": product.id, **product.definition, "created_at": product.created_at,
            "updated_at": product.updated_at}


def define_product(data: Any, account_id: int, *, replace: bool = False) -> Product:
    """Validate (shared.schemas.ProductDefinition), resolve and store a product
    document; `replace`: an existing product with its id is deleted first, in the
    same transaction. Raises marshmallow's ValidationError, ProductError or ProductExists."""
    loaded = ProductDefinition().load(data)
    definition = resolve_definition(loaded, account_id)
    if replace and "id" in loaded:
        with get_pool().connection() as conn, conn.transaction():
            conn.execute("DELETE FROM products WHERE account_id = %s AND id = %s", (account_id, loaded["id"]))
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    f"""INSERT INTO products (account_id, id, title, definition) VALUES (%s, %s, %s, %s)
                        RETURNING {_COLUMNS}""",
                    (account_id, loaded["id"], definition["title"], Jsonb(definition)))
                return Product(**cur.fetchone())
    return create_product(account_id, definition, loaded.get("id"))


# --------------------------------------------------------------------------- commands


def _account_id(name: str) -> int:
    from shared.accounts import find_account_by_name  # noqa: PLC0415

    account = find_account_by_name(name)
    if account is None:
        raise click.ClickException(f"no account named {name!r}")
    return account.id


@click.group("products")
def products_group() -> None:
    """Products of the Printful-compatible mockup generator (README)."""


@products_group.command("import")
@click.argument("path", type=click.File("r", encoding="utf-8"))
@click.option("--account", "account_name", required=True, help="The account whose mockups the product uses.")
@click.option("--replace", is_flag=True, help="Replace the account's product with the file's `id`, if any.")
def import_command(path, account_name: str, replace: bool) -> None:
    """Define a product from a JSON file (format: README, "Printful-compatible mockup
    generator"); prints its id alone on stdout."""
    import json  # noqa: PLC0415

    from marshmallow import ValidationError  # noqa: PLC0415

    try:
        document = json.load(path)
    except ValueError as exc:
        raise click.ClickException(f"{path.name} is not valid JSON: {exc}") from None
    try:
        product = define_product(document, _account_id(account_name), replace=replace)
    except ValidationError as exc:
        raise click.ClickException(f"{path.name}: {json.dumps(exc.messages, sort_keys=True)}") from None
    except (ProductError, ProductExists) as exc:
        raise click.ClickException(f"{path.name}: {exc}") from None
    click.echo(product.id)
    click.echo(f"defined product {product.id} {product.title!r}: {len(product.variants)} variants, "
               f"{len(product.placements)} placements, {len(product.templates)} templates", err=True)


@products_group.command("list")
@click.option("--account", "account_name", required=True)
def list_command(account_name: str) -> None:
    """The account's products: id, title, variants."""
    found, _ = list_products(_account_id(account_name), limit=10_000, offset=0)
    for product in found:
        click.echo(f"{product.id}\t{product.title}\t{len(product.variants)} variants")


@products_group.command("delete")
@click.argument("product_id", type=int)
@click.option("--account", "account_name", required=True)
def delete_command(product_id: int, account_name: str) -> None:
    """Delete a product (its mockups stay)."""
    if not delete_product(product_id, _account_id(account_name)):
        raise click.ClickException(f"account {account_name!r} has no product {product_id}")
    click.echo(f"deleted product {product_id}")


commands = [products_group]
