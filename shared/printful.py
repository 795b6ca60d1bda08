"""Printful's mockup generator over mockfarm's products (shared.products): the
answers of GET /mockup-generator/printfiles and /templates, and what a
create-task request becomes.

A create-task request becomes a bulk task (shared/bulk.py, workers/bulk.py) whose
items are ordinary render tasks: a `render.mockup` per distinct template and
variant colour (sizes of one colour share their mockups, as at Printful) and a
`render.print_files` per placement and print file. Its first step
(workers/printful.py) downloads each file's image once into `object_key`, where
the items read it, then fans the items out. `mockups` and `printfiles` in the
params say how the items map to Printful's answer: which item is each placement's
`mockup_url`, which are its `extra`, which is each print file.
"""
from __future__ import annotations

import uuid
from typing import Any

from shared import mockups
from shared.bulk import PRINTFUL_MOCKUPS_KIND
from shared.tasks import print_files_of
from shared.products import Product, area_in_content, find_smart_object, print_area_on_canvas

# A bulk kind (not render.*): the account's usage counts its items, which are renders.
GENERATE_KIND = PRINTFUL_MOCKUPS_KIND
# Printful's task keys look like "gt-123456"; ours are the task's uuid after this.
TASK_KEY_PREFIX = "gt-"
# The thumbnail the templates endpoint hands out as each template's image.
TEMPLATE_THUMBNAIL = "720"
PRINT_AREA_NAME = "print area"


class GenerationError(ValueError):
    """A create-task request the product cannot serve (Printful answers 400)."""


def printfiles_result(product: Product) -> dict[str, Any]:
    """`result` of GET /mockup-generator/printfiles/{product_id}."""
    return {
        "product_id": product.id,
        "available_placements": {p["placement"]: p["title"] for p in product.placements},
        "printfiles": [{name: printfile[name] for name in
                        ("printfile_id", "width", "height", "dpi", "fill_mode", "can_rotate")}
                       for printfile in product.printfiles],
        "variant_printfiles": [
            {"variant_id": variant["id"],
             "placements": {p["placement"]: product.printfile_of(variant, p["placement"])["printfile_id"]
                            for p in product.placements if _variant_has_placement(product, variant, p["placement"])}}
            for variant in product.variants],
        "option_groups": product.option_groups(),
        "options": product.options(),
    }


def _variant_has_placement(product: Product, variant: dict, placement: str) -> bool:
    uuids = {view["mockup_uuid"] for view in variant["mockups"]}
    return any(t["placement"] == placement and t["mockup_uuid"] in uuids for t in product.templates)


def product_mockups(product: Product, account_id: int) -> dict[str, mockups.Mockup]:
    """The product's mockups by uuid; GenerationError when one was deleted or is not ready."""
    found = {}
    for mockup_uuid in product.mockup_uuids():
        mockup = mockups.get_mockup(mockup_uuid, account_id)
        if mockup is None or mockup.status != mockups.READY:
            raise GenerationError(f"the product's mockup {mockup_uuid} was deleted or is not ready: "
                                  f"define the product again")
        found[mockup_uuid] = mockup
    return found


def templates_result(product: Product, by_uuid: dict[str, mockups.Mockup], sign) -> dict[str, Any]:
    """`result` of GET /mockup-generator/templates/{product_id}. `sign(key)` presigns an S3 key.

    A template is one (mockup, placement) pair: its image is the mockup's largest
    thumbnail, and the print area is where the placement's print file lands in the
    smart object, on that image (the bounding box, for a smart object seen in perspective).
    """
    templates, conflicts = [], {}
    for template in product.templates:
        mockup = by_uuid[template["mockup_uuid"]]
        placement = product.placement(template["placement"])
        so = find_smart_object(mockup, placement["smart_object"])
        # Every variant showing this template uses the placement's print file unless it
        # names its own; the layout is drawn for the placement's.
        printfile = product.printfile(placement["printfile_id"])
        thumbnail = mockup.thumbnails.get(TEMPLATE_THUMBNAIL) or max(
            mockup.thumbnails.values(), key=lambda thumb: thumb["width"])
        scale = thumbnail["width"] / mockup.width
        left, top, width, height = print_area_on_canvas(so, printfile)
        templates.append({
            "template_id": template["template_id"],
            "image_url": sign(thumbnail["key"]),
            "background_url": None,
            "background_color": None,
            "printfile_id": printfile["printfile_id"],
            "template_width": thumbnail["width"],
            "template_height": thumbnail["height"],
            "print_area_width": round(width * scale),
            "print_area_height": round(height * scale),
            "print_area_top": round(top * scale),
            "print_area_left": round(left * scale),
            # The image is the whole template, opaque: artwork goes on top of it.
            "is_template_on_front": False,
            "orientation": "any",
        })
        # Placements on the same smart object of a template exclude each other.
        for other in product.placements:
            if other["placement"] != placement["placement"] and \
                    find_smart_object(mockup, other["smart_object"]) is so:
                conflicts.setdefault(placement["placement"], [])
                if other["placement"] not in conflicts[placement["placement"]]:
                    conflicts[placement["placement"]].append(other["placement"])
    variant_mapping = []
    for variant in product.variants:
        uuids = [view["mockup_uuid"] for view in variant["mockups"]]
        variant_mapping.append({"variant_id": variant["id"], "templates": [
            {"placement": t["placement"], "template_id": t["template_id"]}
            for mockup_uuid in uuids for t in product.templates if t["mockup_uuid"] == mockup_uuid]})
    return {
        # Changes whenever the product is defined again.
        "version": int(product.updated_at.timestamp()),
        "min_dpi": min(printfile["dpi"] for printfile in product.printfiles),
        "variant_mapping": variant_mapping,
        "templates": templates,
        "conflicting_placements": [{"placement": name, "conflicts": others} for name, others in conflicts.items()],
    }


# --------------------------------------------------------------------------- create-task


def placed_asset(file: dict[str, Any], content_size, printfile: dict[str, Any]) -> tuple[dict, dict | None]:
    """A create-task file -> (asset, print_area) of a smart-object item in content
    pixels of a `content_size` content (a smart object's, or the print file's own).

    The request's print area (`area_width` x `area_height`, else the print file's
    size) is fitted into the content (shared.products.area_in_content); `position`
    places the image in it, scaled alike. Without a position the image fills the
    area as the print file's fill_mode says. The placement is clipped to the area
    unless `limit_to_print_area` is false. The image is read from the file's
    `object_key`, where the task's first step stores it."""
    position = file.get("position")
    area = (position["area_width"], position["area_height"]) if position else (printfile["width"],
                                                                                printfile["height"])
    x, y, width, height = area_in_content(content_size, area)
    scale = width / area[0]
    asset: dict[str, Any] = {"object_key": file["object_key"]}
    if position:
        asset["size"] = {"width": position["width"] * scale, "height": position["height"] * scale}
        asset["position"] = {"left": x + position["left"] * scale, "top": y + position["top"] * scale}
    else:
        asset["fit"] = "contain" if printfile["fill_mode"] == "fit" else "cover"
    print_area = None
    if not position or position.get("limit_to_print_area", True):
        print_area = {"name": PRINT_AREA_NAME, "size": {"width": width, "height": height},
                      "position": {"left": x, "top": y}}
    return asset, print_area


def _check_request(product: Product, request: dict[str, Any]) -> None:
    unknown = [str(v) for v in request["variant_ids"] if product.variant(v) is None]
    if unknown:
        raise GenerationError(f"Invalid variant_ids: {', '.join(unknown)} (not variants of product {product.id})")
    placements = [file["placement"] for file in request["files"]]
    for name in placements:
        if product.placement(name) is None:
            raise GenerationError(f"Invalid placement {name!r} for product {product.id} (it has: "
                                  f"{', '.join(p['placement'] for p in product.placements)})")
    if len(set(placements)) != len(placements):
        raise GenerationError("files: each placement can be given only once")
    for name, given, known in (("options", request.get("options"), product.options()),
                               ("option_groups", request.get("option_groups"), product.option_groups())):
        bad = [value for value in given or () if value not in known]
        if bad:
            raise GenerationError(f"Invalid {name}: {', '.join(map(repr, bad))} (product {product.id} has: "
                                  f"{', '.join(map(repr, known))})")


def _views(variant: dict[str, Any], request: dict[str, Any]) -> list[dict[str, Any]]:
    """The variant's mockups the request's options and option groups select, in order."""
    options, groups = request.get("options"), request.get("option_groups")
    return [view for view in variant["mockups"]
            if (not options or view["option"] in options) and (not groups or view["option_group"] in groups)]


def generation_params(product: Product, by_uuid: dict[str, mockups.Mockup], request: dict[str, Any]) -> dict:
    """A validated create-task request -> the bulk task's params (see the module
    docstring). GenerationError for what Printful refuses with a 400."""
    _check_request(product, request)
    # A variant given twice is generated once.
    request = {**request, "variant_ids": list(dict.fromkeys(request["variant_ids"]))}
    files = {file["placement"]: {"placement": file["placement"], "image_url": file["image_url"],
                                 "position": file.get("position"), "object_key": f"uploads/{uuid.uuid4()}"}
             for file in request["files"]}
    overlay = product.definition.get("color_overlay")
    export = {"image_format": request["format"], "quality": 90}
    if request.get("width"):
        export["image_size"] = request["width"]
    items: list[dict[str, Any]] = []
    renders: dict[tuple, int] = {}

    def render_of(mockup: mockups.Mockup, variant: dict[str, Any]) -> int:
        """The index of the item rendering `mockup` for `variant` (made on first need)."""
        overlay_so = find_smart_object(mockup, overlay["smart_object"]) if overlay else None
        colour = variant.get("color_code") if overlay_so else None
        # Variants render alike when their colour is the same and so is every file's
        # placement: a file without a position is fitted to the variant's print file.
        fitted = tuple((name, printfile["width"], printfile["height"], printfile["fill_mode"])
                       for name, file in files.items() if not file.get("position")
                       for printfile in [product.printfile_of(variant, name)])
        key = (mockup.uuid, colour, fitted)
        if key not in renders:
            renders[key] = len(items)
            items.append({"kind": "render.mockup", "params": {
                "mockup_uuid": mockup.uuid, "plan_key": mockup.plan_key, "export_options": export,
                "export_label": f"mockup-{len(renders)}",
                "smart_objects": _smart_objects(product, mockup, variant, files, overlay_so, colour)}})
        return renders[key]

    groups: dict[tuple, dict[str, Any]] = {}
    for placement in files:
        smart_object = product.placement(placement)["smart_object"]
        for variant_id in request["variant_ids"]:
            variant = product.variant(variant_id)
            shown = [(view, by_uuid[view["mockup_uuid"]]) for view in _views(variant, request)
                     if find_smart_object(by_uuid[view["mockup_uuid"]], smart_object)]
            if not shown:
                continue
            ids = [(render_of(mockup, variant), view["option"], view["option_group"]) for view, mockup in shown]
            group = groups.setdefault((placement, tuple(ids)), {
                "placement": placement, "variant_ids": [], "item": ids[0][0],
                "extra": [{"title": option, "option": option, "option_group": group_name, "item": index}
                          for index, option, group_name in ids[1:]]})
            group["variant_ids"].append(variant_id)
    if not groups:
        raise GenerationError("nothing to generate: none of the variants' mockups (with these options and "
                              "option groups) shows any of the files' placements")

    printfiles: dict[tuple, dict[str, Any]] = {}
    for placement, file in files.items():
        for variant_id in request["variant_ids"]:
            variant = product.variant(variant_id)
            if not _variant_has_placement(product, variant, placement):
                continue
            printfile = product.printfile_of(variant, placement)
            key = (placement, printfile["printfile_id"])
            if key not in printfiles:
                size = (printfile["width"], printfile["height"])
                asset, print_area = placed_asset(file, size, printfile)
                item = {"uuid": placement, "name": placement, "content_size": list(size),
                        "dpi": printfile["dpi"], "asset": asset}
                if print_area:
                    item["print_area"] = print_area
                printfiles[key] = {"placement": placement, "printfile_id": printfile["printfile_id"],
                                   "variant_ids": [], "item": len(items)}
                items.append({"kind": "render.print_files", "params": {
                    "mockup_uuid": None, "export_label": f"printfile-{placement}-{printfile['printfile_id']}",
                    "smart_objects": [item], "export_options": {"image_format": "png", "dpi": printfile["dpi"]}}})
            printfiles[key]["variant_ids"].append(variant_id)
    return {"product_id": product.id, "format": request["format"], "width": request.get("width"),
            "files": list(files.values()), "artwork_keys": [file["object_key"] for file in files.values()],
            "items": items, "mockups": list(groups.values()), "printfiles": list(printfiles.values())}


def _smart_objects(product: Product, mockup: mockups.Mockup, variant: dict, files: dict, overlay_so: dict | None,
                   colour: str | None) -> list[dict[str, Any]]:
    """The render's smart-object items: each placement of the mockup with its file's
    artwork, or empty (never the template's placeholder); the variant's colour on the
    overlay's smart object."""
    overlay = product.definition.get("color_overlay")
    items = {}
    for placement in product.placements:
        so = find_smart_object(mockup, placement["smart_object"])
        if so is None:
            continue
        file = files.get(placement["placement"])
        existing = items.get(so["uuid"])
        if existing is not None and existing["asset"].get("object_key"):
            if file is not None:
                raise GenerationError(f"files: placements {existing['placement']!r} and {placement['placement']!r} "
                                      f"are the same smart object of mockup {mockup.name!r}: give only one")
            continue
        item = {"placement": placement["placement"], **mockup.render_item(so)}
        if file is None:
            item["asset"] = {"empty": True}
        else:
            printfile = product.printfile_of(variant, placement["placement"])
            asset, print_area = placed_asset(file, item["content_size"], printfile)
            item["asset"] = asset
            if print_area:
                item["print_area"] = print_area
        items[so["uuid"]] = item
    if overlay_so is not None and colour:
        item = items.setdefault(overlay_so["uuid"], {"uuid": overlay_so["uuid"], "name": overlay_so["name"],
                                                     "index": mockup.smart_object_index(overlay_so["uuid"])})
        item["color"] = {"hex": colour, "blending_mode": overlay["blend_mode"], "opacity": overlay["opacity"],
                         "fill_area": overlay["fill_area"]}
    return list(items.values())


# --------------------------------------------------------------------------- the task's answer


def task_key_of(record_key: str) -> str:
    return TASK_KEY_PREFIX + record_key


def record_key_of(task_key: str) -> str | None:
    return task_key[len(TASK_KEY_PREFIX):] if task_key.startswith(TASK_KEY_PREFIX) else None


def task_result(record, items, sign, expired: str | None = None) -> dict[str, Any]:
    """`result` of GET /mockup-generator/task for a task record and its items (task
    records, in order); `sign(key)` presigns an S3 key; `expired`: why the results
    are gone, once they are. The task failed when any of its items failed."""
    result: dict[str, Any] = {"task_key": task_key_of(record.key)}
    failed = next((item for item in items if item.status == "failed"), None)
    if record.status == "failed" or (record.status == "completed" and failed is not None):
        error = f"{failed.params.get('export_label')}: {failed.error}" if failed is not None else record.error
        result.update(status="failed", error=error)
        return result
    if record.status != "completed":
        result["status"] = "pending"
        return result
    if expired:
        result.update(status="failed", error=expired)
        return result
    urls = {item.item_index: sign(print_files_of(item)[0]["object_key"]) for item in items}
    params = record.params
    result["status"] = "completed"
    result["mockups"] = [{"placement": group["placement"], "variant_ids": group["variant_ids"],
                          "mockup_url": urls[group["item"]],
                          "extra": [{"title": extra["title"], "option": extra["option"],
                                     "option_group": extra["option_group"], "url": urls[extra["item"]]}
                                    for extra in group["extra"]]}
                         for group in params["mockups"]]
    result["printfiles"] = [{"variant_ids": printfile["variant_ids"], "placement": printfile["placement"],
                             "url": urls[printfile["item"]]} for printfile in params["printfiles"]]
    return result
