"""Bulk tasks through the real stack: the fan-out entry point (workers.bulk.fan_out)
with any kind of item, and POST /api/v1/renders/bulk."""
from __future__ import annotations

import base64
import io
import json
import os
import signal
import time
import uuid
import zipfile

import numpy as np
import pytest
import requests

from shared import bulk, tasks
from tests.integration.helpers import (auth, default_account_id, get_task, new_api_key, serve_files,
                                       start_solid_render, upload_template, wait_for_mockup, wait_for_status)
from tests.integration.test_renders import demo_psd, download, pixels, solid_png

pytestmark = pytest.mark.integration


def fan_out(parent_key, items) -> int:
    """workers.bulk.fan_out, sending through the test stack's broker."""
    from shared.config import load_settings
    from workers.bulk import fan_out as run
    from workers.celery_app import make_celery

    return run(parent_key, items, celery=make_celery(load_settings()))


def solid(color: str, width: int = 32, height: int = 24) -> dict:
    return {"width": width, "height": height, "color": color}


def test_recording_the_items_again_while_one_finishes_does_not_deadlock(api_url):
    # An item finishing locks its own row, then its parent's (to count itself). A
    # redelivered parent step recording the same items must not wait for that
    # item's row while it holds the parent's lock: PostgreSQL would find the
    # deadlock and fail one of the two.
    import threading

    from shared.db import get_pool

    parent = tasks.create_task("bulk.render", {}, account_id=default_account_id())
    items = [bulk.BulkItem(params=solid("#ff0000"), kind="render.solid"),
             bulk.BulkItem(params=solid("#00ff00"), kind="render.solid")]
    bulk.record_items(parent.key, items)
    first_item = bulk.item_key(parent.key, 0)
    with get_pool().connection() as finishing:
        finishing.execute("UPDATE tasks SET updated_at = now() WHERE key = %s", (first_item,))
        outcome = {}
        again = threading.Thread(target=lambda: outcome.update(records=bulk.record_items(parent.key, items)))
        again.start()
        again.join(timeout=5)
        # It did not wait for the finishing item's row ...
        assert not again.is_alive(), "recording the items again waited for an item's row lock"
        # ... so the item's transaction can go on to its parent's row.
        finishing.execute("UPDATE tasks SET items_done = items_done WHERE key = %s", (parent.key,))
    assert [record.key for record in outcome["records"].created] == [first_item, bulk.item_key(parent.key, 1)]


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


def test_a_render_sent_after_a_bulk_runs_before_its_items(api_url, farm):
    # The render pool is stopped while a bulk's items and then a single render are
    # queued. Started again, the pool takes the single render first: a large bulk
    # does not hold up the renders sent after it (celery_app.bulk_item_priority).
    farm.stop_part("worker-render")
    try:
        parent = tasks.create_task("bulk.render", {}, account_id=default_account_id())
        assert fan_out(parent.key, [bulk.BulkItem(params=solid("#ff0000"), kind="render.solid")
                                    for _ in range(6)]) == 6
        single = start_solid_render(api_url)
    finally:
        farm.start_part("worker-render")
        farm.wait_workers()
    assert get_task(api_url, parent.key, wait=30)["status"] == "completed"
    assert wait_for_status(api_url, single)["status"] == "completed"
    started = {record.key: record.started_at for record in (tasks.get_task(bulk.item_key(parent.key, index))
                                                            for index in range(6))}
    single_started = tasks.get_task(single).started_at
    assert all(single_started < at for at in started.values()), (single_started, sorted(started.values()))


def test_a_small_bulk_sent_after_a_large_one_runs_first(api_url, farm, monkeypatch):
    # As above, with a bulk of four items queued after one of six, and small
    # meaning at most four here: the small bulk's items all start before the
    # large one's (a Printful create-task for one product need not wait for a
    # thousand-render bulk).
    import workers.celery_app

    monkeypatch.setattr(workers.celery_app, "SMALL_BULK_ITEMS", 4)
    farm.stop_part("worker-render")
    try:
        large = tasks.create_task("bulk.render", {}, account_id=default_account_id())
        fan_out(large.key, [bulk.BulkItem(params=solid("#ff0000"), kind="render.solid") for _ in range(6)])
        small = tasks.create_task("bulk.render", {}, account_id=default_account_id())
        fan_out(small.key, [bulk.BulkItem(params=solid("#00ff00"), kind="render.solid") for _ in range(4)])
    finally:
        farm.start_part("worker-render")
        farm.wait_workers()
    for parent in (large, small):
        assert get_task(api_url, parent.key, wait=30)["status"] == "completed"

    def starts(parent, count):
        return [tasks.get_task(bulk.item_key(parent.key, index)).started_at for index in range(count)]

    assert max(starts(small, 4)) < min(starts(large, 6)), (starts(small, 4), starts(large, 6))


def test_fan_out_of_items_that_all_fail_fails_the_parent_once(api_url):
    parent = tasks.create_task("bulk.render", {}, account_id=default_account_id())
    fan_out(parent.key, [bulk.BulkItem(params=solid("nope"), kind="render.solid"),
                         bulk.BulkItem(params=solid("#000000"), kind="render.solid", error="gone")])
    task = get_task(api_url, parent.key, wait=20)
    assert task["status"] == "failed", task
    assert task["error"].startswith("all 2 items failed")
    assert task["progress"] == {"done": 2, "failed": 2, "total": 2}
    assert task["zip"] is None and task["print_files"] == []


# --------------------------------------------------------------------------- POST /api/v1/renders/bulk

_mockups: dict[str, list[dict]] = {}


@pytest.fixture()
def four_mockups(api_url) -> list[dict]:
    """Four ready demo mockups of the default test account (uploaded once per database)."""
    from shared.config import load_settings

    key = load_settings().database_url
    if key not in _mockups:
        uploaded = [upload_template(api_url, demo_psd(), name=f"bulk {n}")["uuid"] for n in range(4)]
        _mockups[key] = [wait_for_mockup(api_url, mockup_uuid) for mockup_uuid in uploaded]
        assert all(m["status"] == "ready" for m in _mockups[key]), _mockups[key]
    return _mockups[key]


def post_bulk(api_url, body, api_key=None, expect=202) -> dict:
    response = requests.post(f"{api_url}/api/v1/renders/bulk", headers=auth(api_key), json=body, timeout=30)
    assert response.status_code == expect, response.text
    return response.json()


def usage(api_url, api_key=None) -> dict:
    response = requests.get(f"{api_url}/api/v1/me", headers=auth(api_key), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]["usage"]


COLOURS = [None, {"hex": "#cc2233"}, {"hex": "1f77b4", "blending_mode": "multiply"}, {"hex": "#22aa44"},
           {"hex": "#ffcc00", "blending_mode": "color"}]


def test_bulk_of_a_collection_shows_progress_fetches_the_artwork_once_and_zips_every_result(api_url, four_mockups):
    collection = requests.post(f"{api_url}/api/v1/collections", headers=auth(), timeout=10, json={
        "name": "bulk", "mockup_uuids": [m["uuid"] for m in four_mockups]}).json()["data"]
    before = usage(api_url)
    seen: list[str] = []
    with serve_files({"/art.png": (200, {"Content-Type": "image/png"}, solid_png())}, seen) as base:
        accepted = post_bulk(api_url, {
            "collection_uuid": collection["uuid"], "artwork": {"url": f"{base}/art.png", "fit": "cover"},
            "colors": COLOURS, "export_options": {"image_format": "png", "image_size": 1000}})["data"]
        assert accepted["status"] == "pending" and accepted["progress"] == {"done": 0, "failed": 0, "total": 20}

        # Progress as polled: never going back, ending at the total.
        progress, statuses = [], []
        deadline = time.monotonic() + 90
        while True:
            task = get_task(api_url, accepted["task_key"])
            progress.append(task["progress"]["done"])
            statuses.append(task["status"])
            if task["status"] in ("completed", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert task["status"] == "completed", task
    assert progress == sorted(progress) and progress[-1] == 20, progress
    # The bulk was seen while it ran (twenty 1000-px renders on one worker take far
    # longer than a poll), and the done count moved while it did.
    assert "processing" in statuses and any(0 < done < 20 for done in progress), (statuses, progress)
    assert seen == ["/art.png"], "the artwork URL must be fetched once for the whole bulk"

    assert task["error"] is None and task["progress"] == {"done": 20, "failed": 0, "total": 20}
    items = task["items"]
    expected = [(m["uuid"], None if c is None else "#" + c["hex"].lstrip("#").lower())
                for m in four_mockups for c in COLOURS]
    assert [(item["mockup_uuid"], item["color"]) for item in items] == expected
    assert all(item["status"] == "completed" and len(item["print_files"]) == 1 for item in items)
    assert [f["export_path"].split("?")[0] for f in task["print_files"]] == \
        [item["print_files"][0]["export_path"].split("?")[0] for item in items]
    assert usage(api_url)["renders"] == before["renders"] + 20

    # The colour variants differ from the plain render; the plain renders of two
    # mockups (the same template) are the same picture.
    plain, red = (pixels(download(items[n]["print_files"][0])) for n in (0, 1))
    assert plain.shape == (1000, 1000, 3) and np.abs(plain - red).mean() > 1
    assert np.array_equal(plain, pixels(download(items[5]["print_files"][0])))

    archive = requests.get(task["zip"]["export_path"], timeout=30)
    assert archive.status_code == 200 and len(archive.content) == task["zip"]["bytes"]
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        names = opened.namelist()
        assert len(names) == task["zip"]["files"] == 20 and len(set(names)) == 20
        assert names[0] == "001-bulk-0.png" and names[1] == "002-bulk-0-cc2233.png"
        for name, item in zip(names, items):
            assert opened.read(name) == download(item["print_files"][0])


def test_bulk_lists_the_items_that_failed_and_fires_one_webhook(api_url, four_mockups):
    from tests.integration.test_webhooks import Receiver

    key = new_api_key("bulk-partial")
    ready = wait_for_mockup(api_url, upload_template(api_url, demo_psd(), api_key=key)["uuid"], api_key=key)
    broken = wait_for_mockup(api_url, upload_template(api_url, b"8BPS not really a psd", api_key=key)["uuid"],
                             api_key=key)
    assert (ready["status"], broken["status"]) == ("ready", "failed")
    missing = str(uuid.uuid4())
    receiver = Receiver()
    try:
        accepted = post_bulk(api_url, {
            "mockup_uuids": [ready["uuid"], broken["uuid"], missing, four_mockups[0]["uuid"]],
            "artwork": {"base64": base64.b64encode(solid_png()).decode(), "content_type": "image/png"},
            "webhook_url": receiver.url()}, api_key=key)["data"]
        task = get_task(api_url, accepted["task_key"], key, wait=30)
        assert task["status"] == "completed", task
        assert task["progress"] == {"done": 4, "failed": 3, "total": 4}
        assert [item["status"] for item in task["items"]] == ["completed", "failed", "failed", "failed"]
        assert "failed to ingest" in task["items"][1]["error"]
        # Another account's mockup is as unknown as a missing one.
        assert task["items"][2]["error"] == f"no mockup with uuid {missing!r}"
        assert task["items"][3]["error"] == f"no mockup with uuid {four_mockups[0]['uuid']!r}"
        assert task["error"].startswith("3 of 4 items failed")
        assert len(task["print_files"]) == 1 and task["zip"]["files"] == 1

        [delivery] = receiver.wait_for(1)
        event = json.loads(delivery["body"])
        assert event["event"] == "task.completed" and event["data"]["task_key"] == accepted["task_key"]
        assert len(event["data"]["print_files"]) == 1
        assert event["data"]["progress"] == {"done": 4, "failed": 3, "total": 4}
        assert [item["status"] for item in event["data"]["items"]] == ["completed", "failed", "failed", "failed"]
        assert requests.get(event["data"]["zip"]["export_path"], timeout=10).status_code == 200
        time.sleep(1)
        assert len(receiver.requests) == 1, "one event for the bulk task, none for its items"
    finally:
        receiver.close()
    assert usage(api_url, key)["renders"] == 1


def test_an_artwork_that_cannot_be_fetched_fails_the_bulk_before_any_render(api_url, four_mockups):
    with serve_files({}) as base:
        accepted = post_bulk(api_url, {"mockup_uuids": [four_mockups[0]["uuid"]],
                                       "artwork": {"url": f"{base}/gone.png"}})["data"]
        task = get_task(api_url, accepted["task_key"], wait=20)
    assert task["status"] == "failed" and task["error"].startswith("artwork.url: the artwork could not be downloaded")
    assert task["items"] == [] and task["progress"]["done"] == 0


def test_bulk_requests_are_checked(api_url, four_mockups):
    art = {"base64": base64.b64encode(solid_png()).decode(), "content_type": "image/png"}
    mockup = four_mockups[0]
    both = post_bulk(api_url, {"mockup_uuids": [mockup["uuid"]], "collection_uuid": str(uuid.uuid4()),
                               "artwork": art}, expect=422)
    assert "collection_uuid" in both["errors"]["json"]
    post_bulk(api_url, {"collection_uuid": str(uuid.uuid4()), "artwork": art}, expect=404)
    other = new_api_key("bulk-other-collection")
    theirs = requests.post(f"{api_url}/api/v1/collections", headers=auth(other), timeout=10,
                           json={"name": "theirs"}).json()["data"]
    post_bulk(api_url, {"collection_uuid": theirs["uuid"], "artwork": art}, expect=404)
    empty = requests.post(f"{api_url}/api/v1/collections", headers=auth(), timeout=10,
                          json={"name": "empty"}).json()["data"]
    assert "no mockups" in post_bulk(api_url, {"collection_uuid": empty["uuid"], "artwork": art}, expect=422)["detail"]
    too_many = post_bulk(api_url, {"mockup_uuids": [mockup["uuid"]] * 30, "artwork": art,
                                   "colors": [{"hex": "#000000"}] * 40}, expect=422)
    assert "1000 renders" in too_many["detail"]
    override = post_bulk(api_url, {"mockup_uuids": [mockup["uuid"]], "artwork": art, "overrides": [
        {"mockup_uuid": mockup["uuid"], "smart_object_uuids": ["nope"]}]}, expect=422)
    assert "overrides.0.smart_object_uuids.0" in override["detail"]


# --------------------------------------------------------------------------- the safety net

def backdate(task_key: str, seconds: int) -> None:
    """Make a task look accepted (and last counted) `seconds` ago, as if time had passed."""
    from shared.db import get_pool

    with get_pool().connection() as conn:
        conn.execute("UPDATE tasks SET created_at = created_at - make_interval(secs => %s), "
                     "updated_at = updated_at - make_interval(secs => %s) WHERE key = %s",
                     (seconds, seconds, task_key))


def test_the_sweeper_ends_bulk_tasks_whose_messages_were_lost(api_url, farm):
    account_id = default_account_id()
    limit = farm.settings.bulk_time_limit
    # Items recorded but never queued (their messages lost): failed once the bulk is overdue.
    lost_items = tasks.create_task("bulk.render", {}, account_id=account_id)
    records = bulk.record_items(lost_items.key, [bulk.BulkItem(params=solid("#ff0000"), kind="render.solid")] * 2)
    assert len(records.to_send) == 2 and not records.all_done
    # Every item counted (failed at once) but the finishing step's message lost.
    lost_finish = tasks.create_task("bulk.render", {}, account_id=account_id)
    assert bulk.record_items(lost_finish.key, [bulk.BulkItem(params={}, error="gone")]).all_done
    # A bulk task whose first step never ran.
    never_started = tasks.create_task("bulk.render", {"items": [{"params": {}}]}, account_id=account_id)
    for key in (lost_items.key, lost_finish.key, never_started.key):
        backdate(key, limit + 60)

    # Beat runs the sweep every couple of seconds on the test stack.
    first = get_task(api_url, lost_items.key, wait=20)
    assert first["status"] == "failed" and first["progress"] == {"done": 2, "failed": 2, "total": 2}
    assert f"did not finish within {limit} s" in first["items"][0]["error"]
    second = get_task(api_url, lost_finish.key, wait=20)
    assert second["status"] == "failed" and second["error"] == "all 1 items failed; the first: item 0: gone"
    third = get_task(api_url, never_started.key, wait=20)
    assert third["status"] == "failed" and "were not started" in third["error"]


# --------------------------------------------------------------------------- items that die

from tests.integration.test_reliability import _pool_children, slow_render_worker  # noqa: E402,F401 - a fixture


def test_an_item_whose_process_is_killed_is_run_again_and_counted_once(api_url, slow_render_worker):
    parent = tasks.create_task("bulk.render", {}, account_id=default_account_id())
    fan_out(parent.key, [bulk.BulkItem(params=solid("#123456"), kind="render.solid"),
                         bulk.BulkItem(params=solid("#654321"), kind="render.solid")])
    first = bulk.item_key(parent.key, 0)
    wait_for_status(api_url, first, statuses=("processing",), timeout=20)
    # The pool process running the item dies (OOM killer): the broker gives the item back.
    for child in _pool_children(slow_render_worker.running_pid("worker-render")):
        os.kill(child, signal.SIGKILL)

    task = get_task(api_url, parent.key, wait=30)
    if task["status"] not in ("completed", "failed"):
        task = get_task(api_url, parent.key, wait=30)
    assert task["status"] == "completed", task
    assert task["progress"] == {"done": 2, "failed": 0, "total": 2}
    assert tasks.get_task(first).attempts == 2


def test_an_item_killed_at_its_hard_time_limit_is_counted_and_the_bulk_ends(api_url, farm, monkeypatch):
    from celery.exceptions import TimeLimitExceeded

    import workers.celery_app
    from shared.config import load_settings
    from workers.render import render_solid

    # The item is finished here, in the test's process, which then queues the bulk's
    # last step: through the test stack's broker.
    monkeypatch.setattr(workers.celery_app, "app", workers.celery_app.make_celery(load_settings()))

    parent = tasks.create_task("bulk.render", {}, account_id=default_account_id())
    [item] = bulk.record_items(parent.key, [bulk.BulkItem(params=solid("#000000"), kind="render.solid")]).to_send
    assert tasks.start_task(item.key) is not None
    # What the worker's parent process calls after killing the item's process.
    render_solid.on_failure(TimeLimitExceeded(farm.settings.task_time_limit), item.key, [item.key], {}, None)
    task = get_task(api_url, parent.key, wait=20)
    assert task["status"] == "failed" and "hard time limit" in task["error"], task
    assert task["progress"] == {"done": 1, "failed": 1, "total": 1}


def test_bulk_with_multipart_artwork_and_chosen_smart_objects(api_url, four_mockups):
    first, second = four_mockups[:2]
    body = {"mockup_uuids": [first["uuid"], second["uuid"]], "artwork": {"file": True},
            "smart_objects": "first", "export_options": {"image_format": "png"},
            "overrides": [{"mockup_uuid": second["uuid"],
                           "smart_object_uuids": [so["uuid"] for so in second["smart_objects"]]}]}
    response = requests.post(f"{api_url}/api/v1/renders/bulk", headers=auth(), timeout=30,
                             data={"data": json.dumps(body)}, files={"file": ("art.png", solid_png())})
    assert response.status_code == 202, response.text
    task_key = response.json()["data"]["task_key"]
    task = get_task(api_url, task_key, wait=30)
    assert task["status"] == "completed" and task["error"] is None, task
    # What each item was asked to render: the first smart object, or the override's.
    items = [tasks.get_task(item["task_key"]) for item in task["items"]]
    assert [so["uuid"] for so in items[0].params["smart_objects"]] == [first["smart_objects"][0]["uuid"]]
    assert [so["uuid"] for so in items[1].params["smart_objects"]] == [so["uuid"] for so in second["smart_objects"]]
    assert all(so["asset"]["object_key"] == items[0].params["smart_objects"][0]["asset"]["object_key"]
               for item in items for so in item.params["smart_objects"])
    # The artwork renders where a single render with the same file puts it.
    single = requests.post(f"{api_url}/api/v1/renders?wait=30", headers=auth(), timeout=40, json={
        "mockup_uuid": first["uuid"], "export_options": {"image_format": "png"},
        "smart_objects": [{"uuid": first["smart_objects"][0]["uuid"],
                           "asset": {"base64": base64.b64encode(solid_png()).decode(), "content_type": "image/png"}}]})
    assert single.status_code == 200, single.text
    assert np.array_equal(pixels(download(task["items"][0]["print_files"][0])),
                          pixels(download(single.json()["data"]["print_files"][0])))
