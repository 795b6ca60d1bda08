"""Shared fixtures.

`farm` starts the whole local stack (real Redis, PostgreSQL, SeaweedFS, API, both
worker pools, Flower) once per test session, in a temporary state folder and on
free ports, so that it never collides with a `make up` stack or another test run
on the same machine; it stops everything it started at the end, and fails the run
if any process survives.

The time limits are short so that the crash-recovery tests run in seconds: a task
whose worker vanished is redelivered after the broker's visibility timeout.
"""
from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Test-stack timings (seconds): renders here take milliseconds.
TEST_SOFT_TIME_LIMIT = 6
TEST_HARD_TIME_LIMIT = 8
TEST_VISIBILITY_TIMEOUT = 10
TEST_CLEANUP_INTERVAL = 2
# Webhook retries 0.2 s, 0.4 s, 0.8 s... apart, so that a receiver failing three
# times gets its event within two seconds.
TEST_WEBHOOK_BACKOFF_BASE = 0.2
TEST_WEBHOOK_TIMEOUT = 2
# Read by shared.safefetch, not by Settings: handed to the stack's processes as is.
# Loopback is allowed so that tests' own HTTP servers (webhook receivers, asset
# servers) on 127.0.0.1 are reachable; everything else keeps the default rules.
TEST_FETCH_ENV = {"MOCKFARM_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",
                  # Small, so that the byte limits can be tested without huge files.
                  "MOCKFARM_MAX_PSD_BYTES": str(8 * 1024 * 1024),
                  "MOCKFARM_MAX_ASSET_BYTES": str(4 * 1024 * 1024)}


def corpus_dir() -> Path:
    """The Photoshop corpus: $MOCKFARM_CORPUS, else ../shared/corpus beside the repository."""
    return Path(os.environ.get("MOCKFARM_CORPUS", REPO_ROOT.parent / "shared" / "corpus"))


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _local_stack_ports() -> set[int]:
    """The ports a `make up` stack uses, free now or not: the test stack avoids them."""
    from shared.config import load_settings
    from shared.stack import SEAWEED_GRPC_OFFSET, LocalStack

    stack = LocalStack(load_settings(), echo=lambda message: None)
    ports = {stack.redis_port, stack.pg_port, stack.settings.api_port, stack.settings.flower_port}
    for port in stack.seaweed_ports().values():
        ports |= {port, port + SEAWEED_GRPC_OFFSET}
    return ports


def _free_port_block(offsets: list[int], low: int = 20000, high: int = 30000) -> int:
    """A base port such that base + every offset is free, and not one `make up` uses."""
    reserved = _local_stack_ports()
    for _ in range(200):
        base = random.randrange(low, high)
        ports = [base + offset for offset in offsets]
        if not reserved.intersection(ports) and all(_port_is_free(port) for port in ports):
            return base
    raise RuntimeError("no free block of ports found for the test stack")


def _free_port() -> int:
    return _free_port_block([0])


@pytest.fixture(scope="session")
def farm():
    """The running test stack (a `shared.stack.LocalStack`, settings in `farm.settings`)."""
    from shared.stack import SEAWEED_GRPC_OFFSET, SEAWEED_PORT_OFFSETS

    # Short paths: PostgreSQL and SeaweedFS put unix sockets in the state folder.
    state_dir = Path(tempfile.mkdtemp(prefix="mockfarm-test-", dir="/tmp"))
    # mkdtemp makes it private; as root, PostgreSQL runs as `postgres`, which must enter it.
    state_dir.chmod(0o755)
    seaweed_offsets = list(SEAWEED_PORT_OFFSETS.values())
    s3_port = _free_port_block(seaweed_offsets + [o + SEAWEED_GRPC_OFFSET for o in seaweed_offsets])
    env = {
        "MOCKFARM_STATE_DIR": str(state_dir),
        "MOCKFARM_REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0",
        "MOCKFARM_DATABASE_URL": f"postgresql://mockfarm@127.0.0.1:{_free_port()}/mockfarm",
        "MOCKFARM_S3_ENDPOINT": f"http://127.0.0.1:{s3_port}",
        "MOCKFARM_S3_PUBLIC_ENDPOINT": "",
        "MOCKFARM_S3_BUCKET": "mockfarm-test",
        "MOCKFARM_API_PORT": str(_free_port()),
        "MOCKFARM_API_WORKERS": "1",
        "MOCKFARM_FLOWER_PORT": str(_free_port()),
        "MOCKFARM_INGEST_CONCURRENCY": "1",
        "MOCKFARM_RENDER_CONCURRENCY": "1",
        "MOCKFARM_TASK_SOFT_TIME_LIMIT": str(TEST_SOFT_TIME_LIMIT),
        "MOCKFARM_TASK_TIME_LIMIT": str(TEST_HARD_TIME_LIMIT),
        "MOCKFARM_BROKER_VISIBILITY_TIMEOUT": str(TEST_VISIBILITY_TIMEOUT),
        "MOCKFARM_RENDER_DELAY_MS": "0",
        # Beat queues the cleanup of expired results this often, so that a test can see it run.
        "MOCKFARM_CLEANUP_INTERVAL": str(TEST_CLEANUP_INTERVAL),
        # Below max_output_side squared, so that the pixel limit can be tested alone.
        "MOCKFARM_MAX_IMAGE_PIXELS": "50000000",
        "MOCKFARM_WEBHOOK_BACKOFF_BASE": str(TEST_WEBHOOK_BACKOFF_BASE),
        "MOCKFARM_WEBHOOK_CONCURRENCY": "2",
        # A receiver that never answers is given up on (and retried) after this long.
        "MOCKFARM_WEBHOOK_TIMEOUT": str(TEST_WEBHOOK_TIMEOUT),
        # Small enough to ingest within the short task limits above.
        "MOCKFARM_DEMO_TEMPLATE_SIZE": "400",
    }
    from shared import db
    from shared.config import load_settings
    from shared.stack import PARTS, LocalStack

    # The settings are read from this environment once; the stack hands them to its
    # processes explicitly, and tests/integration/conftest.py applies them around each
    # integration test only, so that other tests never see the test stack's values.
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)

    stack = LocalStack(settings, echo=lambda message: None, extra_env=TEST_FETCH_ENV)
    try:
        stack.up()
        yield stack
    finally:
        db.close_pool()
        pids = {name: stack.running_pid(name) for name in PARTS}
        stack.down()
        survivors = [f"{name} (pid {pid})" for name, pid in pids.items()
                     if pid is not None and _is_alive(pid)]
        shutil.rmtree(state_dir, ignore_errors=True)
        assert not survivors, f"processes left running after stopping the test stack: {survivors}"


def _is_alive(pid: int) -> bool:
    """True unless the process is gone or a zombie (dead, waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.fixture()
def api_url(farm) -> str:
    return farm.settings.api_url


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The Photoshop corpus folder; skips the test when it is absent."""
    path = corpus_dir()
    if not (path / "manifest.csv").is_file():
        pytest.skip(f"Photoshop corpus not found at {path} (set MOCKFARM_CORPUS)")
    return path
