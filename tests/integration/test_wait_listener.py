"""`?wait=N` is served by one LISTEN connection per API process, whatever the number
of calls waiting, and that connection is opened again when PostgreSQL drops it."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from shared.config import load_settings
from shared.tasks import FINISHED_CHANNEL
from tests.integration.helpers import auth

pytestmark = pytest.mark.integration

LISTEN_QUERY = f"LISTEN {FINISHED_CHANNEL}"


def listening_backends() -> set[int]:
    """The PostgreSQL backends whose last statement was the API's LISTEN."""
    with psycopg.connect(load_settings().database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = %s",
                            (LISTEN_QUERY,)).fetchall()
    return {pid for (pid,) in rows}


def solid_render_waiting(api_url: str) -> dict:
    response = requests.post(f"{api_url}/api/v1/renders/solid", headers=auth(), params={"wait": 20},
                             json={"width": 32, "height": 32, "color": "#123456"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_concurrent_waits_share_one_listening_connection_per_api_process(farm, api_url):
    with ThreadPoolExecutor(max_workers=6) as pool:
        tasks = list(pool.map(lambda _: solid_render_waiting(api_url), range(12)))
    assert all(task["status"] == "completed" for task in tasks)
    # One per gunicorn worker that served a wait, never one per call.
    assert 1 <= len(listening_backends()) <= farm.settings.api_workers


def test_a_dropped_listening_connection_is_opened_again(api_url):
    solid_render_waiting(api_url)
    before = listening_backends()
    assert before
    with psycopg.connect(load_settings().database_url, autocommit=True) as conn:
        for pid in before:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 15
    while not (listening_backends() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listening_backends() - before, "the API did not listen again after its connection was dropped"
    assert solid_render_waiting(api_url)["status"] == "completed"
