"""Catalogs and collections over HTTP: CRUD, the mockups filter, and isolation
between accounts."""
from __future__ import annotations

import pytest
import requests

from tests.integration.helpers import auth, new_api_key, upload_template, wait_for_mockup
from tests.integration.test_renders import demo_psd

pytestmark = pytest.mark.integration


def call(api_url, method, path, key, expect=200, **kwargs) -> dict:
    response = requests.request(method, f"{api_url}/api/v1{path}", headers=auth(key), timeout=30, **kwargs)
    assert response.status_code == expect, response.text
    return response.json()


def uuids(page: dict) -> set[str]:
    return {mockup["uuid"] for mockup in page["data"]["items"]}


def test_collections_group_mockups_in_catalogs(api_url):
    key = new_api_key("collections-crud")
    first, second, third = (upload_template(api_url, demo_psd(), name=name, api_key=key)["uuid"]
                            for name in ("front", "back", "loose"))

    [default] = call(api_url, "GET", "/catalogs", key)["data"]
    assert default["is_default"] is True and default["name"] == "Default" and default["collection_count"] == 0
    # Asked again, still one default catalog.
    assert [c["uuid"] for c in call(api_url, "GET", "/catalogs", key)["data"]] == [default["uuid"]]
    seasonal = call(api_url, "POST", "/catalogs", key, expect=201, json={"name": "Seasonal"})["data"]
    assert seasonal["is_default"] is False

    shirts = call(api_url, "POST", "/collections", key, expect=201,
                  json={"name": "Shirts", "mockup_uuids": [first, second]})["data"]
    assert shirts["catalog_uuid"] == default["uuid"] and shirts["mockup_count"] == 2
    winter = call(api_url, "POST", "/collections", key, expect=201,
                  json={"name": "Winter", "catalog_uuid": seasonal["uuid"], "mockup_uuids": [second]})["data"]
    empty = call(api_url, "POST", "/collections", key, expect=201, json={"name": "Empty"})["data"]
    assert empty["mockup_count"] == 0

    listed = call(api_url, "GET", "/collections", key)["data"]
    assert [c["uuid"] for c in listed] == [shirts["uuid"], winter["uuid"], empty["uuid"]]
    assert [c["uuid"] for c in call(api_url, "GET", "/collections", key,
                                     params={"catalog_uuid": seasonal["uuid"]})["data"]] == [winter["uuid"]]

    # The mockups filter: by collection, by catalog (the mockups of its collections), and both.
    assert uuids(call(api_url, "GET", "/mockups", key)) == {first, second, third}
    assert uuids(call(api_url, "GET", "/mockups", key, params={"collection_uuid": shirts["uuid"]})) == {first, second}
    assert uuids(call(api_url, "GET", "/mockups", key, params={"catalog_uuid": seasonal["uuid"]})) == {second}
    assert uuids(call(api_url, "GET", "/mockups", key, params={"collection_uuid": shirts["uuid"],
                                                                 "catalog_uuid": seasonal["uuid"]})) == {second}
    page = call(api_url, "GET", f"/collections/{shirts['uuid']}/mockups", key, params={"limit": 1, "sort": "name",
                                                                                         "order": "asc"})
    assert page["data"]["total"] == 2 and [m["name"] for m in page["data"]["items"]] == ["back"]

    # Add (a mockup already in it stays once), remove, rename, move.
    added = call(api_url, "POST", f"/collections/{shirts['uuid']}/mockups", key,
                 json={"mockup_uuids": [third, first]})["data"]
    assert added["mockup_count"] == 3
    removed = call(api_url, "DELETE", f"/collections/{shirts['uuid']}/mockups/{first}", key)["data"]
    assert removed["mockup_count"] == 2
    call(api_url, "DELETE", f"/collections/{shirts['uuid']}/mockups/{first}", key, expect=404)
    assert uuids(call(api_url, "GET", "/mockups", key, params={"collection_uuid": shirts["uuid"]})) == {second, third}
    moved = call(api_url, "PATCH", f"/collections/{shirts['uuid']}", key,
                 json={"name": "Tees", "catalog_uuid": seasonal["uuid"]})["data"]
    assert (moved["name"], moved["catalog_uuid"]) == ("Tees", seasonal["uuid"])
    assert call(api_url, "GET", f"/collections/{shirts['uuid']}", key)["data"]["name"] == "Tees"
    assert uuids(call(api_url, "GET", "/mockups", key, params={"catalog_uuid": seasonal["uuid"]})) == {second, third}
    call(api_url, "PATCH", f"/collections/{shirts['uuid']}", key, expect=422, json={})

    # Deleting a collection leaves its mockups; deleting a mockup takes it out of its collections.
    call(api_url, "DELETE", f"/collections/{winter['uuid']}", key)
    call(api_url, "GET", f"/collections/{winter['uuid']}", key, expect=404)
    assert uuids(call(api_url, "GET", "/mockups", key)) == {first, second, third}
    call(api_url, "DELETE", f"/mockups/{third}", key)
    assert call(api_url, "GET", f"/collections/{shirts['uuid']}", key)["data"]["mockup_count"] == 1


def test_another_accounts_catalogs_collections_and_mockups_are_404(api_url):
    key, other = new_api_key("collections-owner"), new_api_key("collections-intruder")
    mine = upload_template(api_url, demo_psd(), api_key=key)["uuid"]
    theirs = upload_template(api_url, demo_psd(), api_key=other)["uuid"]
    catalog = call(api_url, "POST", "/catalogs", key, expect=201, json={"name": "Mine"})["data"]
    collection = call(api_url, "POST", "/collections", key, expect=201,
                      json={"name": "Mine", "catalog_uuid": catalog["uuid"], "mockup_uuids": [mine]})["data"]
    path = f"/collections/{collection['uuid']}"

    assert catalog["uuid"] not in {c["uuid"] for c in call(api_url, "GET", "/catalogs", other)["data"]}
    assert call(api_url, "GET", "/collections", other)["data"] == []
    call(api_url, "GET", path, other, expect=404)
    call(api_url, "PATCH", path, other, expect=404, json={"name": "taken"})
    call(api_url, "DELETE", path, other, expect=404)
    call(api_url, "GET", f"{path}/mockups", other, expect=404)
    call(api_url, "POST", f"{path}/mockups", other, expect=404, json={"mockup_uuids": [theirs]})
    call(api_url, "DELETE", f"{path}/mockups/{mine}", other, expect=404)
    call(api_url, "GET", "/mockups", other, expect=404, params={"collection_uuid": collection["uuid"]})
    call(api_url, "GET", "/mockups", other, expect=404, params={"catalog_uuid": catalog["uuid"]})
    call(api_url, "GET", "/collections", other, expect=404, params={"catalog_uuid": catalog["uuid"]})
    # Nor can either put the other's mockups or catalogs into its own collections.
    call(api_url, "POST", f"{path}/mockups", key, expect=404, json={"mockup_uuids": [theirs]})
    call(api_url, "POST", "/collections", other, expect=404, json={"name": "x", "catalog_uuid": catalog["uuid"]})
    call(api_url, "POST", "/collections", other, expect=404, json={"name": "x", "mockup_uuids": [mine]})
    call(api_url, "PATCH", path, key, expect=404, json={"catalog_uuid": "not-a-uuid"})

    # The owner's collection is untouched.
    kept = call(api_url, "GET", path, key)["data"]
    assert (kept["name"], kept["mockup_count"]) == ("Mine", 1)
    wait_for_mockup(api_url, mine, api_key=key)
    wait_for_mockup(api_url, theirs, api_key=other)
