"""429 per API key, 413 for large bodies, 500 as JSON.

These need settings other than the test stack's API has (a low rate limit, a small
body limit), so they run the same application in this process, with
`create_app()` and Flask's test client, against the stack's real Redis and
PostgreSQL.
"""
from __future__ import annotations

import pytest

from tests.integration.helpers import new_api_key

pytestmark = pytest.mark.integration


@pytest.fixture()
def make_app(monkeypatch):
    def make(**settings):
        from api import create_app

        for name, value in settings.items():
            monkeypatch.setenv(f"MOCKFARM_{name.upper()}", str(value))
        app = create_app()
        return app.test_client()
    return make


def test_too_many_requests_for_one_key_is_429(make_app):
    client = make_app(rate_limit="3/minute")
    first, second = new_api_key("limited-a"), new_api_key("limited-b")
    for _ in range(3):
        assert client.get("/api/v1/me", headers={"x-api-key": first}).status_code == 200
    refused = client.get("/api/v1/me", headers={"x-api-key": first})
    assert refused.status_code == 429
    assert refused.json["success"] is False
    assert "3 per 1 minute" in refused.json["detail"]
    assert int(refused.headers["Retry-After"]) > 0
    # The limit is per key: another key is not affected, nor are the health checks.
    assert client.get("/api/v1/me", headers={"x-api-key": second}).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_body_over_the_limit_is_413(make_app):
    client = make_app(max_request_bytes=1000)
    key = new_api_key("big-bodies")
    body = {"width": 8, "height": 8, "color": "#000000", "padding": "x" * 2000}
    refused = client.post("/api/v1/renders/solid", json=body, headers={"x-api-key": key})
    assert refused.status_code == 413
    assert refused.json["success"] is False
    assert "too large" in refused.json["detail"]


def test_unexpected_error_is_json_500(make_app):
    client = make_app()
    # A view that fails the way a bug would, added to the real application.
    client.application.add_url_rule("/api/v1/failing", "failing", lambda: 1 / 0)
    key = new_api_key("failing")
    response = client.get("/api/v1/failing", headers={"x-api-key": key})
    assert response.status_code == 500
    assert response.json == {"success": False, "detail": "internal server error"}


def test_wrong_method_is_json_405(make_app):
    client = make_app()
    response = client.put("/api/v1/me", headers={"x-api-key": new_api_key("methods")})
    assert response.status_code == 405
    assert response.json["success"] is False
