"""The OpenAPI document and the docs page: public, generated from the schemas."""
from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration


def test_openapi_document_declares_the_api_key(api_url):
    response = requests.get(f"{api_url}/api/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "x-api-key"}
    assert schemes["BearerAuth"]["scheme"] == "bearer"
    assert {"ApiKeyAuth": []} in spec["security"]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    for path in ("/api/v1/renders/solid", "/api/v1/tasks/{task_key}", "/api/v1/me", "/api/v1/keys",
                 "/api/v1/keys/{key_id}"):
        assert path in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert set(schemas["TaskResponse"]["properties"]) == {"success", "data"}
    assert "export_path" in schemas["PrintFile"]["properties"]
    assert set(schemas["ErrorResponse"]["properties"]) == {"success", "detail", "errors"}
    wait = [p for p in spec["paths"]["/api/v1/tasks/{task_key}"]["get"]["parameters"] if p["name"] == "wait"]
    assert wait[0]["schema"]["maximum"] == 30


def test_docs_page_renders_offline(api_url):
    response = requests.get(f"{api_url}/api/v1/docs", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    for text in ("/api/v1/tasks/{task_key}", "x-api-key", "PrintFile", "expires_in_days", "ErrorResponse"):
        assert text in page
    # Nothing to fetch from elsewhere.
    assert "<script" not in page and "http://" not in page.replace(api_url, "")


def test_openapi_document_describes_collections_and_bulk_renders(api_url):
    spec = requests.get(f"{api_url}/api/v1/openapi.json", timeout=10).json()
    paths = {path: {method: operation for method, operation in operations.items() if method != "parameters"}
             for path, operations in spec["paths"].items()}
    assert set(paths["/api/v1/catalogs"]) == {"get", "post"}
    assert set(paths["/api/v1/collections"]) == {"get", "post"}
    assert set(paths["/api/v1/collections/{collection_uuid}"]) == {"get", "patch", "delete"}
    assert set(paths["/api/v1/collections/{collection_uuid}/mockups"]) == {"get", "post"}
    assert "delete" in paths["/api/v1/collections/{collection_uuid}/mockups/{mockup_uuid}"]
    listed = {p["name"] for p in paths["/api/v1/mockups"]["get"]["parameters"]}
    assert {"collection_uuid", "catalog_uuid"} <= listed
    bulk = paths["/api/v1/renders/bulk"]["post"]
    assert set(bulk["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    schemas = spec["components"]["schemas"]
    assert {"collection_uuid", "mockup_uuids", "artwork", "colors", "smart_objects", "overrides",
            "export_options", "webhook_url"} <= set(schemas["BulkRenderRequest"]["properties"])
    assert {"progress", "items", "zip"} <= set(schemas["Task"]["properties"])
    assert set(schemas["Progress"]["properties"]) == {"done", "failed", "total"}
    assert {"mockup_uuid", "color", "status", "print_files", "error"} <= set(schemas["BulkItemInfo"]["properties"])
