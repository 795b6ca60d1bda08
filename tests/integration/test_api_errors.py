"""Every refusal is JSON {"success": false, "detail": ...}; 422 names the fields."""
from __future__ import annotations

import uuid

import pytest
import requests

from tests.integration.helpers import auth

pytestmark = pytest.mark.integration


def post_solid(api_url, headers=None, **kwargs):
    return requests.post(f"{api_url}/api/v1/renders/solid", headers={**auth(), **(headers or {})},
                         timeout=10, **kwargs)


def assert_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize("payload, bad_fields", [
    ({"width": 0, "height": 10, "color": "#000000"}, {"width"}),
    ({"width": 10, "height": 10_001, "color": "#000000"}, {"height"}),
    ({"width": "10", "height": 10, "color": "#000000"}, {"width"}),
    ({"width": 10, "height": 10, "color": "red"}, {"color"}),
    ({"width": 10, "height": 10, "color": "#12345"}, {"color"}),
    ({"width": 10, "height": 10}, {"color"}),
    ({"width": 10, "height": 10, "color": "#000000", "colour": "#fff"}, {"colour"}),
    ({}, {"width", "height", "color"}),
])
def test_invalid_render_request_lists_the_fields(api_url, payload, bad_fields):
    body = assert_error(post_solid(api_url, json=payload), 422)
    assert set(body["errors"]["json"]) == bad_fields
    for name in bad_fields:
        assert name in body["detail"]


def test_too_many_pixels_is_refused(farm, api_url):
    side = farm.settings.max_output_side
    assert side * side > farm.settings.max_image_pixels, "the test stack must set a lower pixel limit"
    body = assert_error(post_solid(api_url, json={"width": side, "height": side, "color": "#000000"}), 422)
    assert "pixels" in body["detail"]


def test_malformed_json_is_refused(api_url):
    body = assert_error(post_solid(api_url, data="{not json", headers={"Content-Type": "application/json"}), 400)
    assert "JSON" in body["detail"]


def test_unknown_task_is_404(api_url):
    for key in (str(uuid.uuid4()), "not-a-key"):
        assert_error(requests.get(f"{api_url}/api/v1/tasks/{key}", headers=auth(), timeout=10), 404)


def test_unknown_route_and_method_are_json(api_url):
    assert_error(requests.get(f"{api_url}/api/v1/nothing-here", timeout=10), 404)
    assert_error(requests.get(f"{api_url}/api/v1/renders/solid", timeout=10), 405)


def test_non_json_body_is_refused_by_name(api_url):
    body = assert_error(post_solid(api_url, data={"width": "10"}), 415)
    assert "JSON" in body["detail"]
