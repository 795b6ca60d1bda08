"""Catalogs and collections: /api/v1/catalogs, and /api/v1/collections with
their mockups (shared/collections.py says what they are). Another account's catalog,
collection or mockup is answered 404, exactly like a missing one."""
from __future__ import annotations

from dataclasses import asdict

from flask_smorest import Blueprint, abort
from marshmallow import RAISE

from api.auth import current_key
from api.mockups import mockup_page
from shared import collections
from shared.schemas import (CatalogListResponse, CatalogQuery, CatalogResponse, CollectionListResponse,
                            CollectionMockupsRequest, CollectionResponse, CreateCatalogRequest,
                            CreateCollectionRequest, MockupListQuery, MockupPageResponse, UpdateCollectionRequest)

blp = Blueprint("collections", __name__, url_prefix="/api/v1",
                description="Catalogs and collections: group your mockups")


def _shown(item) -> dict:
    data = asdict(item)
    del data["account_id"]
    return data


def _not_found(error: collections.NotFound):
    abort(404, message=str(error))


def _changed_collection(collection_uuid: str, change) -> dict:
    """The response to a change of a collection: `change(account_id)` answers the
    collection, None when the account has no such collection, or raises NotFound
    (a catalog or mockup it names is not the account's): both 404."""
    try:
        collection = change(current_key().account_id)
    except collections.NotFound as error:
        _not_found(error)
    if collection is None:
        abort(404, message=f"no collection with uuid {collection_uuid!r}")
    return {"data": _shown(collection)}


def _collection(collection_uuid: str) -> collections.Collection:
    collection = collections.get_collection(collection_uuid, current_key().account_id)
    if collection is None:
        abort(404, message=f"no collection with uuid {collection_uuid!r}")
    return collection


@blp.route("/catalogs", methods=["GET"])
@blp.response(200, CatalogListResponse)
def list_catalogs():
    """The account's catalogs, its default catalog first (every account has one)."""
    return {"data": [_shown(catalog) for catalog in collections.list_catalogs(current_key().account_id)]}


@blp.route("/catalogs", methods=["POST"])
@blp.arguments(CreateCatalogRequest)
@blp.response(201, CatalogResponse)
def create_catalog(params: dict):
    """Make another catalog."""
    return {"data": _shown(collections.create_catalog(current_key().account_id, params["name"]))}


@blp.route("/catalogs/<string:catalog_uuid>", methods=["PATCH"])
@blp.arguments(CreateCatalogRequest)
@blp.response(200, CatalogResponse)
@blp.alt_response(404, description="no catalog of this account has this uuid")
def rename_catalog(params: dict, catalog_uuid: str):
    """Rename a catalog."""
    catalog = collections.rename_catalog(catalog_uuid, current_key().account_id, params["name"])
    if catalog is None:
        abort(404, message=f"no catalog with uuid {catalog_uuid!r}")
    return {"data": _shown(catalog)}


@blp.route("/catalogs/<string:catalog_uuid>", methods=["DELETE"])
@blp.response(200, CatalogResponse)
@blp.alt_response(404, description="no catalog of this account has this uuid")
@blp.alt_response(409, description="the default catalog cannot be deleted")
def delete_catalog(catalog_uuid: str):
    """Delete a catalog and its collections (their mockups stay). The default catalog
    cannot be deleted."""
    try:
        catalog = collections.delete_catalog(catalog_uuid, current_key().account_id)
    except collections.DefaultCatalog as error:
        abort(409, message=str(error))
    if catalog is None:
        abort(404, message=f"no catalog with uuid {catalog_uuid!r}")
    return {"data": _shown(catalog)}


@blp.route("/collections", methods=["GET"])
@blp.arguments(CatalogQuery, location="query", unknown=RAISE)
@blp.response(200, CollectionListResponse)
@blp.alt_response(404, description="the catalog is not one of this account's")
def list_collections(query: dict):
    """The account's collections, oldest first; with `catalog_uuid`, that catalog's only."""
    try:
        found = collections.list_collections(current_key().account_id, query.get("catalog_uuid"))
    except collections.NotFound as error:
        _not_found(error)
    return {"data": [_shown(collection) for collection in found]}


@blp.route("/collections", methods=["POST"])
@blp.arguments(CreateCollectionRequest)
@blp.response(201, CollectionResponse)
@blp.alt_response(404, description="the catalog, or one of the mockups, is not one of this account's")
def create_collection(params: dict):
    """Make a collection in a catalog (default: the default catalog), with mockups
    in it or empty."""
    try:
        collection = collections.create_collection(current_key().account_id, params["name"],
                                                   params.get("catalog_uuid"), params["mockup_uuids"])
    except collections.NotFound as error:
        _not_found(error)
    return {"data": _shown(collection)}


@blp.route("/collections/<string:collection_uuid>", methods=["GET"])
@blp.response(200, CollectionResponse)
@blp.alt_response(404, description="no collection of this account has this uuid")
def get_collection(collection_uuid: str):
    """A collection."""
    return {"data": _shown(_collection(collection_uuid))}


@blp.route("/collections/<string:collection_uuid>", methods=["PATCH"])
@blp.arguments(UpdateCollectionRequest)
@blp.response(200, CollectionResponse)
@blp.alt_response(404, description="no such collection, or the catalog is not one of this account's")
def update_collection(params: dict, collection_uuid: str):
    """Rename a collection, or move it to another catalog."""
    return _changed_collection(collection_uuid, lambda account_id: collections.update_collection(
        collection_uuid, account_id, params.get("name"), params.get("catalog_uuid")))


@blp.route("/collections/<string:collection_uuid>", methods=["DELETE"])
@blp.response(200, CollectionResponse)
@blp.alt_response(404, description="no collection of this account has this uuid")
def delete_collection(collection_uuid: str):
    """Delete a collection; its mockups stay (in the account and in other collections)."""
    return _changed_collection(collection_uuid, lambda account_id: collections.delete_collection(
        collection_uuid, account_id))


@blp.route("/collections/<string:collection_uuid>/mockups", methods=["GET"])
@blp.arguments(MockupListQuery, location="query", unknown=RAISE)
@blp.response(200, MockupPageResponse)
@blp.alt_response(404, description="no collection of this account has this uuid")
def list_collection_mockups(query: dict, collection_uuid: str):
    """The collection's mockups, a page at a time (the same as
    `GET /api/v1/mockups?collection_uuid=...`)."""
    return mockup_page(query, collection_uuid=collection_uuid)


@blp.route("/collections/<string:collection_uuid>/mockups", methods=["POST"])
@blp.arguments(CollectionMockupsRequest)
@blp.response(200, CollectionResponse)
@blp.alt_response(404, description="no such collection, or one of the mockups is not this account's")
def add_collection_mockups(params: dict, collection_uuid: str):
    """Add mockups to a collection (one already in it stays in it once)."""
    return _changed_collection(collection_uuid, lambda account_id: collections.add_mockups(
        collection_uuid, account_id, params["mockup_uuids"]))


@blp.route("/collections/<string:collection_uuid>/mockups/<string:mockup_uuid>", methods=["DELETE"])
@blp.response(200, CollectionResponse)
@blp.alt_response(404, description="no such collection, or the mockup is not in it")
def remove_collection_mockup(collection_uuid: str, mockup_uuid: str):
    """Take a mockup out of a collection (the mockup itself is not deleted)."""
    removed = collections.remove_mockup(collection_uuid, current_key().account_id, mockup_uuid)
    if removed is None:
        abort(404, message=f"no collection with uuid {collection_uuid!r}")
    if not removed:
        abort(404, message=f"mockup {mockup_uuid!r} is not in collection {collection_uuid}")
    return {"data": _shown(_collection(collection_uuid))}
