"""`mockfarm templates recompile` through the real stack: stored templates compiled
by an earlier release get this release's plan, keep their smart-object uuids and
go on rendering; a failed recompile loses nothing."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from psycopg.types.json import Jsonb

from compositor.fixtures.demo import build_demo_template
from compositor.plan import PLAN_VERSION
from shared import mockups, tasks
from shared.db import get_pool
from shared.storage import Storage
from tests.integration.helpers import get_task, upload_template, wait_for_mockup, wait_for_status
from tests.integration.test_renders import b64, finish, render_body, solid_png, start

pytestmark = pytest.mark.integration

SIZE = 400
# The uuid an earlier release might have given the demo's smart object.
EARLIER_UUID = "11111111-1111-4111-8111-111111111111"
_psd: list[bytes] = []


def ready_mockup(api_url) -> dict:
    """A newly uploaded demo mockup, ready (each test changes its own)."""
    if not _psd:
        _psd.append(build_demo_template(SIZE))
    mockup = wait_for_mockup(api_url, upload_template(api_url, _psd[0])["uuid"])
    assert mockup["status"] == "ready", mockup["error"]
    return mockup


def as_if_compiled_by_an_earlier_release(mockup_uuid: str, plan_version: int | None, smart_object_uuid: str):
    """The row as a release before this one left it: an older (or unrecorded) plan
    version, and its own uuid for the smart object. The plan stays at the key every
    earlier release used (plan.zip)."""
    row = mockups.get_mockup(mockup_uuid)
    assert row.plan_key == mockups.object_prefix(mockup_uuid) + "plan.zip"
    smart_objects = [dict(row.smart_objects[0], uuid=smart_object_uuid)]
    with get_pool().connection() as conn:
        conn.execute("UPDATE mockups SET plan_version = %s, smart_objects = %s WHERE uuid = %s",
                     (plan_version, Jsonb(smart_objects), mockup_uuid))


def recompile(*args: str) -> tuple[str, list[str]]:
    """`mockfarm templates recompile ARGS`: its output, and the task keys it queued."""
    result = subprocess.run([sys.executable, "-m", "shared.cli", "templates", "recompile", *args],
                            capture_output=True, text=True, env=dict(os.environ), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, re.findall(r"^queued (\S+) for ", result.stdout, re.MULTILINE)


def render_red(api_url, mockup_uuid: str, smart_object_uuid: str) -> dict:
    body = render_body({"uuid": mockup_uuid, "smart_objects": [{"uuid": smart_object_uuid}]},
                       {"base64": b64(solid_png()), "content_type": "image/png"})
    task = finish(api_url, start(api_url, body)["data"]["task_key"])
    assert task["status"] == "completed", task["error"]
    return task


def test_a_stale_template_is_recompiled_keeping_its_smart_object_uuid(farm, api_url):
    mockup = ready_mockup(api_url)
    as_if_compiled_by_an_earlier_release(mockup["uuid"], None, EARLIER_UUID)
    old = mockups.get_mockup(mockup["uuid"])
    storage = Storage(farm.settings)

    listed, queued = recompile("--mockup", mockup["uuid"], "--dry-run")
    assert f"would recompile {mockup['uuid']}" in listed and "plan version unknown -> " in listed
    assert queued == [] and "1 template(s) would be recompiled" in listed

    output, [task_key] = recompile("--mockup", mockup["uuid"])
    assert "1 template(s) queued" in output
    # Visible to the mockup's account like any task.
    task = wait_for_status(api_url, task_key)
    assert task["status"] == "completed", task["error"]
    record = tasks.get_task(task_key)
    assert record.kind == mockups.RECOMPILE_KIND and record.account_id == old.account_id

    new = mockups.get_mockup(mockup["uuid"])
    assert new.status == mockups.READY and new.plan_version == PLAN_VERSION
    assert new.plan_key != old.plan_key and new.plan_key.startswith(mockups.object_prefix(mockup["uuid"]))
    assert storage.exists(new.plan_key) and not storage.exists(old.plan_key)
    assert all(storage.exists(thumb["key"]) for thumb in new.thumbnails.values())
    assert [so["uuid"] for so in new.smart_objects] == [EARLIER_UUID]
    assert new.fidelity["smart_objects"] and new.psd_key == old.psd_key

    render_red(api_url, mockup["uuid"], EARLIER_UUID)

    # A render accepted before the switch, still naming the deleted plan, draws with the new one.
    accepted = tasks.create_task("render.mockup", {"mockup_uuid": mockup["uuid"], "plan_key": old.plan_key,
                                                   "smart_objects": [], "export_options": {"image_format": "png"}},
                                 account_id=old.account_id)
    from workers.celery_app import make_celery, send_task_key

    send_task_key(accepted.kind, accepted.key, celery=make_celery(farm.settings))
    late = wait_for_status(api_url, accepted.key)
    assert late["status"] == "completed", late["error"]


def test_a_current_template_is_skipped_unless_all_is_given(farm, api_url):
    mockup = ready_mockup(api_url)
    before = mockups.get_mockup(mockup["uuid"])
    assert before.plan_version == PLAN_VERSION

    output, queued = recompile("--mockup", mockup["uuid"])
    assert queued == [] and "0 template(s) queued" in output
    assert f"skipped {mockup['uuid']}" in output

    output, [task_key] = recompile("--all", "--mockup", mockup["uuid"])
    task = wait_for_status(api_url, task_key)
    assert task["status"] == "completed", task["error"]
    after = mockups.get_mockup(mockup["uuid"])
    assert after.plan_version == PLAN_VERSION and after.plan_key != before.plan_key
    assert not Storage(farm.settings).exists(before.plan_key)
    assert after.smart_objects == before.smart_objects
    render_red(api_url, mockup["uuid"], mockup["smart_objects"][0]["uuid"])


def test_a_failed_recompile_leaves_the_mockup_ready_with_its_plan(farm, api_url):
    mockup = ready_mockup(api_url)
    as_if_compiled_by_an_earlier_release(mockup["uuid"], PLAN_VERSION - 1, mockup["smart_objects"][0]["uuid"])
    old = mockups.get_mockup(mockup["uuid"])
    storage = Storage(farm.settings)
    storage.delete(old.psd_key)

    _, [task_key] = recompile("--mockup", mockup["uuid"])
    task = wait_for_status(api_url, task_key)
    assert task["status"] == "failed" and "PSD" in task["error"], task

    assert mockups.get_mockup(mockup["uuid"]) == old
    assert wait_for_mockup(api_url, mockup["uuid"])["status"] == "ready"
    # The plan the mockup names is there, and no other.
    stored = storage.client.list_objects(storage.bucket, prefix=mockups.object_prefix(mockup["uuid"]), recursive=True)
    assert [item.object_name for item in stored if "plan" in item.object_name] == [old.plan_key]
    render_red(api_url, mockup["uuid"], mockup["smart_objects"][0]["uuid"])


def test_a_recompile_of_a_mockup_that_is_not_ready_is_skipped(farm, api_url):
    mockup = ready_mockup(api_url)
    account_id = mockups.get_mockup(mockup["uuid"]).account_id
    record = tasks.create_task(mockups.RECOMPILE_KIND, {"mockup_uuid": mockup["uuid"], "force": True},
                               account_id=account_id)
    with get_pool().connection() as conn:
        conn.execute("UPDATE mockups SET status = 'failed', error = 'as if its ingest failed' WHERE uuid = %s",
                     (mockup["uuid"],))
    from workers.celery_app import make_celery, send_task_key

    send_task_key(record.kind, record.key, celery=make_celery(farm.settings))
    assert wait_for_status(api_url, record.key)["status"] == "completed"
    assert "not ready" in tasks.get_task(record.key).result["skipped"]
    assert mockups.get_mockup(mockup["uuid"]).status == mockups.FAILED
    assert get_task(api_url, record.key)["error"] is None


def test_the_plan_version_migration_applies_again_on_an_existing_database(farm, api_url):
    mockup = ready_mockup(api_url)
    with get_pool().connection() as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 7")
    result = subprocess.run([sys.executable, "-m", "shared.cli", "db", "upgrade"], capture_output=True, text=True,
                            env=dict(os.environ), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "applied 0007_mockup_plan_version" in result.stdout
    # The rows and their plan versions are kept.
    assert mockups.get_mockup(mockup["uuid"]).plan_version == PLAN_VERSION
