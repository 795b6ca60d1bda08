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
