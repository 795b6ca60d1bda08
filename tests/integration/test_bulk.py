"""Bulk tasks through the real stack: the fan-out entry point (workers.bulk.fan_out)
with any kind of item, and POST /api/v1/renders/bulk."""
from __future__ import annotations

import io
import zipfile

import pytest
import requests

from shared import bulk, tasks
from tests.integration.helpers import default_account_id, get_task

pytestmark = pytest.mark.integration


def fan_out(parent_key, items) -> int:
    """workers.bulk.fan_out, sending through the test stack's broker."""
    from shared.config import load_settings
    from workers.bulk import fan_out as run
    from workers.celery_app import make_celery

    return run(parent_key, items, celery=make_celery(load_settings()))


def solid(color: str, width: int = 32, height: int = 24) -> dict:
    return {"width": width, "height": height, "color": color}


def test_fan_out_runs_every_item_counts_them_once_and_finishes_the_parent_with_a_zip(api_url):
    parent = tasks.create_task("bulk.render", {}, account_id=default_account_id())
    items = [bulk.BulkItem(params=solid("#ff0000"), kind="render.solid"),
             bulk.BulkItem(params=solid("#00ff00", 40, 30), kind="render.solid"),
             # Fails in the worker (not a colour): listed as a failed item, the rest completes.
             bulk.BulkItem(params=solid("red"), kind="render.solid"),
             # Known to be impossible when recorded: failed at once, never queued.
             bulk.BulkItem(params=solid("#0000ff"), kind="render.solid", error="its mockup failed to ingest")]
    assert fan_out(parent.key, items) == 3
    # Recording the same items again (a redelivered parent step) adds nothing.
    fan_out(parent.key, items)

    task = get_task(api_url, parent.key, wait=20)
    assert task["status"] == "completed", task
    assert task["progress"] == {"done": 4, "failed": 2, "total": 4}
    assert [item["status"] for item in task["items"]] == ["completed", "completed", "failed", "failed"]
    assert "colour must be" in task["items"][2]["error"]
    assert task["items"][3]["error"] == "its mockup failed to ingest"
    assert "2 of 4 items failed" in task["error"]
    assert [(f["width"], f["height"]) for f in task["print_files"]] == [(32, 24), (40, 30)]
    for item in task["items"][:2]:
        assert len(item["print_files"]) == 1

    archive = requests.get(task["zip"]["export_path"], timeout=10)
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        names = opened.namelist()
        assert len(names) == 2 and names[0].startswith("001-") and names[1].startswith("002-")
        assert opened.read(names[0]) == requests.get(task["print_files"][0]["export_path"], timeout=10).content


def test_fan_out_of_items_that_all_fail_fails_the_parent_once(api_url):
    parent = tasks.create_task("bulk.render", {}, account_id=default_account_id())
    fan_out(parent.key, [bulk.BulkItem(params=solid("nope"), kind="render.solid"),
                         bulk.BulkItem(params=solid("#000000"), kind="render.solid", error="gone")])
    task = get_task(api_url, parent.key, wait=20)
    assert task["status"] == "failed", task
    assert task["error"].startswith("all 2 items failed")
    assert task["progress"] == {"done": 2, "failed": 2, "total": 2}
    assert task["zip"] is None and task["print_files"] == []
