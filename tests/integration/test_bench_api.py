"""`mockfarm bench-api` against the test stack, shrunk to seconds: it must run every
phase and print every figure. Its figures are not checked (speed is measured, never
asserted); what it counts is."""
from __future__ import annotations

import re

import pytest
import requests
from click.testing import CliRunner

from shared.bench_api import bench_api_command
from tests.integration.helpers import auth

pytestmark = pytest.mark.integration

SMALL_RUN = ["--template-size", "400", "--single-size", "200", "--throughput-size", "150", "--artwork-size", "300",
             "--ingest-runs", "1", "--single-runs", "3", "--warmup", "2", "--clients", "2", "--duration", "2"]


def test_bench_api_runs_every_phase_and_reports_each_figure(api_url):
    result = CliRunner().invoke(bench_api_command, SMALL_RUN)
    report = result.output
    assert result.exit_code == 0, report + repr(result.exception)

    assert re.search(r"^machine: .+, \d+ cores, [\d.]+ GiB RAM, load average [\d.]+ [\d.]+ [\d.]+, Python 3",
                     report, re.M)
    assert f"stack: using the running one at {api_url}" in report
    assert "note: not the scenario of the targets" in report
    assert re.search(r"^artwork: 300x300 PNG \(design\), [\d.]+ MB", report, re.M)

    ingest = re.findall(r"^  run 1: +([\d.]+) s upload -> ready .*worker ([\d.]+) s: fetch", report, re.M)
    assert len(ingest) == 1 and float(ingest[0][0]) > 0

    single = re.search(r"p50 (\d+) ms \[[✓✗] target ≤ 250\], p95 (\d+) ms \[[✓✗] target ≤ 500\], "
                       r"max (\d+) ms", report)
    assert single, report
    p50, p95, slowest = map(int, single.groups())
    assert p50 <= p95 <= slowest
    assert re.search(r"^  warm-up: slowest \d+ ms \(a render process loading the plan\), fastest \d+ ms$",
                     report, re.M)
    assert "result: 200x200 JPEG" in report
    # The server's split, from the task records: each of the worker's steps is there.
    for step in ("outside task", "queue wait", "worker run", "plan", "artwork", "composite", "upload"):
        assert re.search(rf"^    {step} +[-\d.]+ / +[-\d.]+ / +[-\d.]+$", report, re.M), step

    throughput = re.search(r"([\d.]+) renders/s sustained \((\d+) completed in ([\d.]+) s\)", report)
    assert throughput, report
    counts = re.search(r"accepted (\d+), completed (\d+) \(\d+ within the call's wait\), failed (\d+), "
                       r"refused (\d+), other (\d+) +\[✓ every accepted task completed\]", report)
    assert counts, report
    accepted, completed, failed, refused, other = map(int, counts.groups())
    assert accepted == completed == int(throughput.group(2)) > 0
    assert failed == refused == other == 0

    targets = report[report.index("targets (issue 5):"):]
    assert len(re.findall(r"^  [✓✗] ", targets, re.M)) == 5


def test_bench_api_leaves_no_template_or_key_behind_and_follows_unfinished_tasks(api_url):
    # With ?wait=0 every render is answered before it has finished: the benchmark must
    # then read each task until it has, and still count every one as completed.
    result = CliRunner().invoke(bench_api_command, SMALL_RUN + ["--phases", "ingest,throughput", "--wait", "0"])
    report = result.output
    assert result.exit_code == 0, report + repr(result.exception)
    assert "single:" not in report
    assert "POST /renders?wait=0 in a loop" in report
    counts = re.search(r"accepted (\d+), completed (\d+) \((\d+) within the call's wait\), failed 0, refused 0, "
                       r"other 0 +\[✓ every accepted task completed\]", report)
    assert counts, report
    assert int(counts.group(1)) == int(counts.group(2)) > int(counts.group(3))

    # Made with the local account's key (the one `make up` prints), like the benchmark.
    from shared.config import load_settings
    from shared.stack import local_api_key

    headers = {"x-api-key": local_api_key(load_settings())}
    mockups = requests.get(f"{api_url}/api/v1/mockups", headers=headers, params={"name": "bench-api 400 px #"},
                           timeout=10).json()["data"]
    assert mockups["total"] == 0
    keys = requests.get(f"{api_url}/api/v1/keys", headers=headers, timeout=10).json()["data"]
    client_keys = [key for key in keys if key["name"].startswith("bench-api client")]
    assert len(client_keys) >= 2
    assert all(key["revoked_at"] is not None for key in client_keys)
    # The default test account is untouched by it.
    assert requests.get(f"{api_url}/api/v1/me", headers=auth(), timeout=10).status_code == 200

