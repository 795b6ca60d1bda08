"""The round trip that proves the shape: API -> PostgreSQL -> Redis -> render worker
-> S3 -> API -> presigned URL -> PNG."""
from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
import requests
from PIL import Image

from tests.integration.helpers import auth, start_solid_render, wait_for_status

pytestmark = pytest.mark.integration


def test_solid_render_round_trip(farm, api_url):
    accepted = requests.post(f"{api_url}/api/v1/renders/solid", headers=auth(),
                             json={"width": 321, "height": 123, "color": "#ff8000"}, timeout=10)
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["success"] is True
    assert body["data"]["status"] == "pending"
    assert body["data"]["print_files"] == []
    assert accepted.headers["Location"].endswith(f"/api/v1/tasks/{body['data']['task_key']}")

    task = wait_for_status(api_url, body["data"]["task_key"])
    assert task["status"] == "completed", task["error"]
    assert task["error"] is None
    assert task["expired"] is False
    assert task["started_at"] and task["finished_at"]
    [print_file] = task["print_files"]
    assert print_file["format"] == "png"
    assert (print_file["width"], print_file["height"]) == (321, 123)

    # The URL is valid for the configured lifetime (counted from when the task finished).
    expires_at = datetime.fromisoformat(print_file["expires_at"])
    remaining = (expires_at - datetime.now(timezone.utc)).total_seconds()
    assert abs(remaining - farm.settings.result_url_ttl) < 30

    download = requests.get(print_file["export_path"], timeout=10)
    assert download.status_code == 200
    assert len(download.content) == print_file["bytes"]
    image = Image.open(io.BytesIO(download.content))
    assert image.format == "PNG"
    assert image.size == (321, 123)
    assert image.convert("RGBA").getpixel((200, 100)) == (255, 128, 0, 255)


def test_transparent_colour_is_kept(api_url):
    task = wait_for_status(api_url, start_solid_render(api_url, 10, 10, "#00ff0040"))
    assert task["status"] == "completed", task["error"]
    image = Image.open(io.BytesIO(requests.get(task["print_files"][0]["export_path"], timeout=10).content))
    assert image.convert("RGBA").getpixel((5, 5)) == (0, 255, 0, 0x40)


def test_each_read_gives_a_working_url(api_url):
    task_key = start_solid_render(api_url)
    first = wait_for_status(api_url, task_key)
    second = wait_for_status(api_url, task_key)
    for task in (first, second):
        assert requests.get(task["print_files"][0]["export_path"], timeout=10).status_code == 200
