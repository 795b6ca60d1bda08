"""Products of the Printful-compatible mockup generator: POST/GET/DELETE /api/v1/products.

The body of POST is the same document `mockfarm products import` reads
(shared.schemas.ProductDefinition); the product's mockups must be ready.
"""
from __future__ import annotations

from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from api import uploads
from api.auth import current_key
from shared import products
from shared.schemas import ProductDefinition, ProductListQuery, ProductPageResponse, ProductResponse

blp = Blueprint("products", __name__, url_prefix="/api/v1/products",
                description="Products of the Printful-compatible mockup generator (/mockup-generator/...)")


def find_product(product_id: int) -> products.Product:
    """The caller's product, or 404 (another account's answers exactly like a missing one)."""
    product = products.get_product(product_id, current_key().account_id)
    if product is None:
        abort(404, message=f"no product with id {product_id}")
    return product


@blp.route("", methods=["POST"])
@blp.arguments(ProductDefinition)
@blp.response(201, ProductResponse)
@blp.alt_response(409, description="the account has a product with this id already")
@blp.alt_response(422, description="invalid definition, or a mockup or smart object it names is not found")
def create_product(definition: dict):
    """Define a product: variants mapped to mockups, placements to smart objects, print files."""
    try:
        resolved = products.resolve_definition(definition, current_key().account_id)
        product = products.create_product(current_key().account_id, resolved, definition.get("id"))
    except products.ProductError as exc:
        uploads.invalid(exc.field, exc.message)
    except products.ProductExists as exc:
        abort(409, message=str(exc))
    return {"data": products.product_data(product)}


@blp.route("", methods=["GET"])
@blp.arguments(ProductListQuery, location="query", unknown=RAISE)
@blp.response(200, ProductPageResponse)
def list_products(query: dict):
    """The account's products, by id."""
    found, total = products.list_products(current_key().account_id, limit=query["limit"], offset=query["offset"])
    return {"data": {"items": [products.product_data(p) for p in found], "total": total,
                     "limit": query["limit"], "offset": query["offset"]}}


@blp.route("/<int:product_id>", methods=["GET"])
@blp.response(200, ProductResponse)
@blp.alt_response(404, description="no product of this account has this id")
def get_product(product_id: int):
    """A product as defined, with its variant and template ids."""
    return {"data": products.product_data(find_product(product_id))}


@blp.route("/<int:product_id>", methods=["DELETE"])
@blp.response(204)
@blp.alt_response(404, description="no product of this account has this id")
def delete_product(product_id: int):
    """Delete the product (its mockups stay; finished tasks keep their results)."""
    if not products.delete_product(product_id, current_key().account_id):
        abort(404, message=f"no product with id {product_id}")
