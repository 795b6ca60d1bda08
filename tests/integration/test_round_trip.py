"""The round trip that proves the shape: API -> PostgreSQL -> Redis -> render worker
-> S3 -> API -> presigned URL -> PNG."""
from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
import requests
from PIL import Image

from tests.integration.helpers import start_solid_render, wait_for_status

pytestmark = pytest.mark.integration


def test_solid_render_round_trip(farm, api_url):
    accepted = requests.post(f"{api_url}/api/v1/renders/solid",
                             json={"width": 321, "height": 123, "color": "#ff8000"}, timeout=10)
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["status"] == "pending"
    assert accepted.headers["Location"].endswith(f"/api/v1/tasks/{body['task_key']}")

    task = wait_for_status(api_url, body["task_key"])
    assert task["status"] == "completed", task["error"]
    assert task["error"] is None
    assert task["started_at"] and task["finished_at"]
    result = task["result"]
    assert result["content_type"] == "image/png"

    # The URL is valid for the configured lifetime, counted from now.
    expires_at = datetime.fromisoformat(result["expires_at"])
    remaining = (expires_at - datetime.now(timezone.utc)).total_seconds()
    assert abs(remaining - farm.settings.result_url_ttl) < 30

    download = requests.get(result["url"], timeout=10)
    assert download.status_code == 200
    assert len(download.content) == result["size_bytes"]
    image = Image.open(io.BytesIO(download.content))
    assert image.format == "PNG"
    assert image.size == (321, 123)
    assert image.convert("RGBA").getpixel((200, 100)) == (255, 128, 0, 255)


def test_transparent_colour_is_kept(api_url):
    task = wait_for_status(api_url, start_solid_render(api_url, 10, 10, "#00ff0040"))
    assert task["status"] == "completed", task["error"]
    image = Image.open(io.BytesIO(requests.get(task["result"]["url"], timeout=10).content))
    assert image.convert("RGBA").getpixel((5, 5)) == (0, 255, 0, 0x40)


def test_each_read_gives_a_working_url(api_url):
    task_key = start_solid_render(api_url)
    first = wait_for_status(api_url, task_key)
    second = wait_for_status(api_url, task_key)
    for task in (first, second):
        assert requests.get(task["result"]["url"], timeout=10).status_code == 200
