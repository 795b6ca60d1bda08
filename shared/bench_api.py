"""`mockfarm bench-api` and `make bench-api`: the farm timed over HTTP, as clients use it.

Issue 5's targets, measured end to end on the local stack (API, PostgreSQL, Redis,
Celery, S3, every hop included), never asserted:

    ingest      the 4000 px demo template: upload -> `ready`, several runs
    single      sequential 2000 px JPEG renders with `?wait=30` of the warm template:
                request -> response p50 / p95 / max, and where the time went on the
                server (queue wait, plan, artwork, composite, upload)
    throughput  8 clients (threads, one keep-alive session each) rendering 1000 px
                JPEGs with `?wait=30` for 60 s: renders/s, and every accepted task
                checked to have completed

It uses the stack of `make up` when its API answers, else starts it (as `make up
--no-demo` does) and leaves it running. The artwork is a 2000x2000 PNG made here
(flat graphics, or with a photo's grain: `--artwork`), sent with every render as
the multipart field `file`, as a client uploading its design does: the report gives
its size, since every request carries it.

Each client of the throughput phase uses a key of its own (made for the run through
`POST /api/v1/keys`, revoked at the end): the limit of calls per key
(`MOCKFARM_RATE_LIMIT`) is a policy, not the farm's speed, and would otherwise be
what this measures. A 429 is still honoured (its `Retry-After`) and counted.

The server's side of each render (queue wait, the worker's steps) is read from the
task records in PostgreSQL, which this machine's stack shares with it.
"""
from __future__ import annotations

import io
import json
import math
import os
import platform
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import click
import requests
from urllib3 import encode_multipart_formdata

from shared.config import Settings, load_settings

# Issue 5's "Done when", on the machine of `make up`.
TARGET_INGEST_S = 10.0
TARGET_SINGLE_P50_MS = 250.0
TARGET_SINGLE_P95_MS = 500.0
TARGET_THROUGHPUT_PER_S = 15.0

DEFAULTS = {"template_size": 4000, "single_size": 2000, "throughput_size": 1000, "artwork_size": 2000,
            "clients": 8, "duration": 60.0, "wait": 30}

BENCH_NAME = "bench-api"
PHASES = ("ingest", "single", "throughput")


# --------------------------------------------------------------------------- machine

def machine_line() -> str:
    model = platform.processor() or "unknown CPU"
    ram = "? GiB RAM"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / (1 << 20):.1f} GiB RAM"
                break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, {ram}, load average {load_average()}, "
            f"Python {platform.python_version()}")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# --------------------------------------------------------------------------- inputs

ARTWORK_KINDS = ("design", "photo")


def make_artwork(size: int, kind: str = "design") -> bytes:
    """A `size` x `size` PNG: a "design" (gradients, discs, stripes: flat graphics, as
    print-on-demand artwork mostly is), or the same with a photo's sensor grain, which
    PNG cannot compress: the heavy case, several times the bytes to upload, store
    and decode."""
    import cv2  # noqa: PLC0415 - imaging libraries only for the benchmark
    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    rng = np.random.default_rng(5)
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    image = np.stack([200 * x + 40 * y, 60 + 150 * y, 220 - 160 * x * y], axis=-1)
    canvas = np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8))
    for _ in range(12):
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(canvas, centre, int(rng.uniform(0.05, 0.25) * size), colour, -1, cv2.LINE_AA)
    stripe = max(2, size // 50)
    for left in range(0, size, 2 * stripe):
        cv2.rectangle(canvas, (left, int(0.8 * size)), (left + stripe - 1, int(0.88 * size)), (245, 245, 240), -1)
    cv2.putText(canvas, "mockfarm", (size // 10, size // 5), cv2.FONT_HERSHEY_DUPLEX, size / 250,
                (20, 20, 30), max(1, size // 150), cv2.LINE_AA)
    if kind == "photo":
        grain = rng.normal(0, 2.0, canvas.shape).astype(np.int16)
        canvas = np.clip(canvas.astype(np.int16) + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(canvas, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


# --------------------------------------------------------------------------- figures

def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (the value below which `fraction` of the runs fall)."""
    ordered = sorted(values)
    # Rounded first so that 0.95 x 100 (95.00000000000001 in floating point) is rank 95.
    rank = max(1, min(len(ordered), math.ceil(round(fraction * len(ordered), 9))))
    return ordered[rank - 1]


def mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _seconds_between(start: str | None, end: str | None) -> float | None:
    start_at, end_at = _parse_time(start), _parse_time(end)
    return (end_at - start_at).total_seconds() if start_at and end_at else None


@dataclass
class Client:
    """One HTTP client: a keep-alive session carrying one API key."""

    api: str
    key: str
    session: requests.Session = field(default_factory=requests.Session)

    # Calls answered 429 (then retried after their Retry-After).
    rate_limited: int = 0

    def __post_init__(self):
        self.session.headers["x-api-key"] = self.key

    def call(self, method: str, path: str, expect=(200, 201, 202), **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        while True:
            response = self.session.request(method, self.api + path, **kwargs)
            if response.status_code == 429:
                self.rate_limited += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code not in expect:
                raise BenchError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
            return response


class BenchError(click.ClickException):
    """The benchmark could not go on; the message says which call failed."""


# --------------------------------------------------------------------------- the stack

def connect(settings: Settings, echo) -> str:
    """The key of the local account on a running stack, starting the stack if its API
    does not answer."""
    from shared.stack import LocalStack, StackError, local_api_key  # noqa: PLC0415

    try:
        answers = requests.get(f"{settings.api_url}/readyz", timeout=10).status_code == 200
    except requests.RequestException:
        answers = False
    if answers:
        echo(f"stack: using the running one at {settings.api_url}")
    else:
        echo(f"stack: nothing answers at {settings.api_url}; starting it (as `make up --no-demo`), "
             f"state in {settings.state_dir}; `make down` stops it")
        try:
            LocalStack(settings, echo=echo).up()
        except StackError as exc:
            raise BenchError(f"the stack could not be started: {exc.message}") from exc
    return local_api_key(settings)


# --------------------------------------------------------------------------- phases

def ingest_phase(client: Client, settings: Settings, size: int, runs: int, uploaded_uuids: list[str],
                 echo) -> tuple[dict, list[float]]:
    """Upload the demo template `runs` times, each timed from the upload to `ready`
    (each mockup's uuid added to `uploaded_uuids`); answer the last mockup and the times."""
    from compositor.fixtures.demo import ensure_demo_template  # noqa: PLC0415

    started = time.perf_counter()
    psd = ensure_demo_template(settings.state_dir / "demo", size)
    built = time.perf_counter() - started
    psd_bytes = psd.read_bytes()
    echo(f"\ningest: demo template {size}x{size} px, {len(psd_bytes) / 1e6:.1f} MB PSD "
         f"(built or found in {built:.1f} s), multipart upload, then GET /mockups/{{uuid}}?wait=30")
    times, mockup = [], None
    for run in range(1, runs + 1):
        started = time.perf_counter()
        answer = client.call("POST", "/api/v1/psd/upload", files={"file": (psd.name, psd_bytes)},
                             data={"psd_name": f"{BENCH_NAME} {size} px #{run}"}).json()["data"]
        uploaded = time.perf_counter() - started
        uploaded_uuids.append(answer["uuid"])
        mockup = answer
        while mockup["status"] == "processing":
            mockup = client.call("GET", f"/api/v1/mockups/{mockup['uuid']}", params={"wait": 30}).json()["data"]
        elapsed = time.perf_counter() - started
        if mockup["status"] != "ready":
            raise BenchError(f"ingest of the demo template failed: {mockup['error']}")
        times.append(elapsed)
        # The mockup is ready a moment before its ingest task has recorded its timings.
        task = client.call("GET", f"/api/v1/tasks/{mockup['task_key']}", params={"wait": 30}).json()["data"]
        queued = _seconds_between(task["created_at"], task["started_at"])
        server = _ingest_seconds(mockup["task_key"])
        detail = ", ".join(f"{name} {value:.2f}" for name, value in server.items() if name != "total")
        echo(f"  run {run}: {elapsed:6.2f} s upload -> ready  (upload call {uploaded:.2f} s, "
             f"queue wait {queued:.2f} s, worker {server.get('total', float('nan')):.2f} s: {detail})  "
             f"[{mark(elapsed <= TARGET_INGEST_S)} target ≤ {TARGET_INGEST_S:.0f} s]  load {load_average()}")
    return mockup, times


def _ingest_seconds(task_key: str) -> dict[str, float]:
    """The ingest worker's own timings (recorded with the task's result)."""
    from shared import tasks  # noqa: PLC0415

    record = tasks.get_task(task_key)
    return dict((record.result or {}).get("seconds") or {}) if record else {}


def _render_request(mockup: dict, image_size: int, artwork: bytes, wait: int) -> dict:
    """The multipart body of a render (JSON in `data`, the PNG in `file`), encoded once:
    the clients send the same bytes each time, so that this process's CPU, which
    shares the machine with the farm, goes to sending them rather than re-encoding them."""
    design = mockup["smart_objects"][0]
    document = {"mockup_uuid": mockup["uuid"], "smart_objects": [{"uuid": design["uuid"], "asset": {"file": True}}],
                "export_options": {"image_format": "jpg", "image_size": image_size}}
    body, content_type = encode_multipart_formdata({"data": json.dumps(document),
                                                    "file": ("artwork.png", artwork, "image/png")})
    return {"data": body, "headers": {"Content-Type": content_type}, "params": {"wait": wait}}


def render_once(client: Client, request: dict, until_finished: bool = True) -> tuple[float, dict]:
    """One render (with the request's `?wait`): (seconds, the task's data). With
    `until_finished`, a task answered before it finished is then read with
    `GET /tasks/{key}?wait=30` until it has, and the seconds run to that answer."""
    started = time.perf_counter()
    task = client.call("POST", "/api/v1/renders", **request).json()["data"]
    while until_finished and task["status"] in ("pending", "processing"):
        task = client.call("GET", f"/api/v1/tasks/{task['task_key']}", params={"wait": 30}).json()["data"]
    return time.perf_counter() - started, task


def server_timings(task_keys: list[str], client_seconds: list[float]) -> dict[str, list[float]]:
    """Per task: the time outside the task's record (the API before recording it and
    after it finished, the wait's wake-up, HTTP), queue wait and run from the task's
    times, and the render worker's own split, read from the task records."""
    from shared import tasks  # noqa: PLC0415

    out: dict[str, list[float]] = {}
    for key, client_total in zip(task_keys, client_seconds):
        record = tasks.get_task(key)
        if record is None or record.started_at is None or record.finished_at is None:
            continue
        in_task = (record.finished_at - record.created_at).total_seconds()
        if client_total >= in_task:
            # Only when the answer waited for the task to finish (not a 202 before it).
            out.setdefault("outside task", []).append(client_total - in_task)
        out.setdefault("queue wait", []).append((record.started_at - record.created_at).total_seconds())
        out.setdefault("worker run", []).append((record.finished_at - record.started_at).total_seconds())
        for name, value in ((record.result or {}).get("seconds") or {}).items():
            out.setdefault(name, []).append(value)
    return out


def warm_up(client: Client, request: dict, count: int, at_once: int) -> list[float]:
    """`count` renders, `at_once` at a time (the render pool's size), so that each
    render process has loaded the template's plan: a cold process reads it from S3
    first, once per template, which is not what a render of a warm template costs.
    Answers their request -> response times."""
    clients = [client] + [Client(client.api, client.key) for _ in range(max(1, at_once) - 1)]
    times: list[float] = []

    def render(who: Client) -> None:
        times.append(render_once(who, request)[0])

    for start in range(0, count, len(clients)):
        batch = [threading.Thread(target=render, args=(who,)) for who in clients[:count - start]]
        for thread in batch:
            thread.start()
        for thread in batch:
            thread.join()
    return times


def single_phase(client: Client, mockup: dict, artwork: bytes, image_size: int, runs: int, warmup: int,
                 pool_size: int, wait: int, echo) -> list[float]:
    request = _render_request(mockup, image_size, artwork, wait)
    echo(f"\nsingle: {runs} sequential renders, {image_size} px JPEG, POST /renders?wait={wait} "
         f"(after {warmup} warm-up renders, {pool_size} at a time so that every render process holds the plan)")
    warm_times = warm_up(client, request, warmup, pool_size)
    if warm_times:
        # The first renders of the template: each render process loads its plan from S3 once.
        echo(f"  warm-up: slowest {max(warm_times) * 1000:.0f} ms (a render process loading the plan), "
             f"fastest {min(warm_times) * 1000:.0f} ms")
    times, keys = [], []
    for _ in range(runs):
        elapsed, task = render_once(client, request)
        if task["status"] != "completed":
            raise BenchError(f"render {task['task_key']} is {task['status']}: {task['error']}")
        times.append(elapsed)
        keys.append(task["task_key"])
    image = requests.get(task["print_files"][0]["export_path"], timeout=30)
    if image.status_code != 200 or not image.content.startswith(b"\xff\xd8"):
        raise BenchError(f"the rendered JPEG could not be downloaded: HTTP {image.status_code}")
    ms = [t * 1000 for t in times]
    p50, p95 = percentile(ms, 0.5), percentile(ms, 0.95)
    echo(f"  request -> response: p50 {p50:.0f} ms [{mark(p50 <= TARGET_SINGLE_P50_MS)} target ≤ "
         f"{TARGET_SINGLE_P50_MS:.0f}], p95 {p95:.0f} ms [{mark(p95 <= TARGET_SINGLE_P95_MS)} target ≤ "
         f"{TARGET_SINGLE_P95_MS:.0f}], max {max(ms):.0f} ms, min {min(ms):.0f} ms  load {load_average()}")
    echo(f"  result: {task['print_files'][0]['width']}x{task['print_files'][0]['height']} JPEG, "
         f"{len(image.content) / 1e3:.0f} kB (downloaded from its presigned URL)")
    report_server_timings(keys, times, echo)
    return ms


def report_server_timings(task_keys: list[str], client_seconds: list[float], echo) -> None:
    echo("  where the time went, p50 / p95 / max (ms):")
    for name, values in server_timings(task_keys, client_seconds).items():
        values_ms = [v * 1000 for v in values]
        echo(f"    {name:<12} {percentile(values_ms, 0.5):7.1f} / {percentile(values_ms, 0.95):7.1f} / "
             f"{max(values_ms):7.1f}")


@dataclass
class Tally:
    accepted: list[str] = field(default_factory=list)
    completed_in_call: int = 0
    failed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    # Request -> response of each accepted task, in the order of `accepted`.
    latencies: list[float] = field(default_factory=list)
    # Tasks answered before they finished (202 after the wait): polled at the end.
    unfinished: list[str] = field(default_factory=list)
    rate_limited: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def throughput_phase(api: str, keys: list[str], mockup: dict, artwork: bytes, image_size: int,
                     duration: float, pool_size: int, wait: int, echo) -> tuple[float, Tally, bool]:
    clients = len(keys)
    request = _render_request(mockup, image_size, artwork, wait)
    echo(f"\nthroughput: {clients} clients (threads, one keep-alive session and API key each), "
         f"{image_size} px JPEG, POST /renders?wait={wait} in a loop for {duration:.0f} s "
         f"(after {2 * pool_size} warm-up renders)")
    warm_up(Client(api, keys[0]), request, 2 * pool_size, pool_size)
    tally = Tally()
    started = time.perf_counter()
    stop_at = started + duration

    def run(key: str) -> None:
        client = Client(api, key)
        try:
            loop(client)
        finally:
            with tally.lock:
                tally.rate_limited += client.rate_limited

    def loop(client: Client) -> None:
        while time.perf_counter() < stop_at:
            try:
                elapsed, task = render_once(client, request, until_finished=False)
            except (BenchError, requests.RequestException) as exc:
                with tally.lock:
                    tally.refused.append(str(exc)[:200])
                continue
            with tally.lock:
                tally.accepted.append(task["task_key"])
                tally.latencies.append(elapsed)
                if task["status"] == "completed":
                    tally.completed_in_call += 1
                elif task["status"] == "failed":
                    tally.failed.append(f"{task['task_key']}: {task['error']}")
                else:
                    tally.unfinished.append(task["task_key"])

    threads = [threading.Thread(target=run, args=(key,), daemon=True) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load_after = load_average()

    # Every accepted task must reach `completed`. A task answered finished stays so (a
    # finished task never changes); those answered before they finished are polled now.
    late = _final_statuses(Client(api, keys[0]), tally.unfinished)
    # Up to the last answer, or the last of those polled: the time the renders took.
    elapsed = time.perf_counter() - started
    completed = tally.completed_in_call + sum(1 for status in late.values() if status == "completed")
    failed = len(tally.failed) + sum(1 for status in late.values() if status == "failed")
    all_completed = completed == len(tally.accepted) and not tally.refused
    rate = completed / elapsed
    lat_ms = [t * 1000 for t in tally.latencies] or [float("nan")]
    echo(f"  {rate:.1f} renders/s sustained ({completed} completed in {elapsed:.1f} s) "
         f"[{mark(rate >= TARGET_THROUGHPUT_PER_S)} target ≥ {TARGET_THROUGHPUT_PER_S:.0f}/s]  load {load_after}")
    echo(f"  accepted {len(tally.accepted)}, completed {completed} ({tally.completed_in_call} within the call's wait), "
         f"failed {failed}, refused {len(tally.refused)}, other {len(tally.accepted) - completed - failed}  "
         f"[{mark(all_completed)} every accepted task completed]")
    if tally.rate_limited:
        echo(f"  answered 429 (rate limit) {tally.rate_limited} times, retried after Retry-After")
    echo(f"  request -> response: p50 {percentile(lat_ms, 0.5):.0f} ms, p95 {percentile(lat_ms, 0.95):.0f} ms, "
         f"max {max(lat_ms):.0f} ms")
    report_server_timings(tally.accepted, tally.latencies, echo)
    for problem in (tally.refused + tally.failed)[:5]:
        echo(f"  e.g. {problem}")
    return rate, tally, all_completed


def _final_statuses(client: Client, task_keys: list[str], timeout: float = 120) -> dict[str, str]:
    """Each task's status once finished (or as it was when `timeout` ran out)."""
    deadline = time.monotonic() + timeout
    statuses = {}
    for key in task_keys:
        while True:
            task = client.call("GET", f"/api/v1/tasks/{key}", params={"wait": 10}).json()["data"]
            if task["status"] in ("completed", "failed") or time.monotonic() > deadline:
                statuses[key] = task["status"]
                break
    return statuses


# --------------------------------------------------------------------------- the command

@click.command("bench-api")
@click.option("--phases", default=",".join(PHASES), show_default=True,
              help="Which phases to run, comma-separated. Without `ingest`, the template of an earlier "
                   "run without it is used (uploaded once, kept for the next such run).")
@click.option("--duration", type=click.FloatRange(min=1), default=DEFAULTS["duration"], show_default=True,
              help="Seconds of the throughput phase.")
@click.option("--clients", type=click.IntRange(min=1, max=64), default=DEFAULTS["clients"], show_default=True,
              help="Concurrent clients of the throughput phase.")
@click.option("--ingest-runs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Uploads of the demo template, each timed to `ready`.")
@click.option("--single-runs", type=click.IntRange(min=2), default=30, show_default=True,
              help="Sequential renders of the single phase.")
@click.option("--warmup", type=click.IntRange(min=0), default=4, show_default=True,
              help="Renders before the single phase is timed.")
@click.option("--template-size", type=click.IntRange(min=64), default=DEFAULTS["template_size"], show_default=True,
              help="Side of the demo template, px.")
@click.option("--single-size", type=click.IntRange(min=100), default=DEFAULTS["single_size"], show_default=True,
              help="Output width of the single phase's renders, px.")
@click.option("--throughput-size", type=click.IntRange(min=100), default=DEFAULTS["throughput_size"],
              show_default=True, help="Output width of the throughput phase's renders, px.")
@click.option("--wait", type=click.IntRange(0, 30), default=30, show_default=True,
              help="The renders' `?wait=N`; a render answered unfinished is read until it has finished "
                   "(single phase) or at the end (throughput).")
@click.option("--artwork", "artwork_kind", type=click.Choice(ARTWORK_KINDS), default="design", show_default=True,
              help="The PNG sent with every render: flat graphics, or with a photo's grain (several times larger).")
@click.option("--artwork-size", type=click.IntRange(min=16), default=DEFAULTS["artwork_size"], show_default=True,
              help="Side of the square PNG artwork sent with every render, px.")
def bench_api_command(phases, duration, clients, ingest_runs, single_runs, warmup, template_size, single_size,
                      throughput_size, wait, artwork_kind, artwork_size) -> None:
    """Time the farm over HTTP (issue 5's targets): ingest, single renders, throughput."""
    chosen_phases = [name.strip() for name in phases.split(",") if name.strip()]
    unknown = sorted(set(chosen_phases) - set(PHASES))
    if unknown or not chosen_phases:
        raise click.BadParameter(f"choose among {', '.join(PHASES)}", param_hint="--phases")
    settings = load_settings()
    echo = click.echo
    echo("mockfarm bench-api")
    echo(f"machine: {machine_line()}")
    key = connect(settings, echo)
    chosen = {"template_size": template_size, "single_size": single_size, "throughput_size": throughput_size,
              "artwork_size": artwork_size, "clients": clients, "duration": duration, "wait": wait}
    if chosen != DEFAULTS:
        echo("note: not the scenario of the targets (" + ", ".join(
            f"{name} {value} instead of {DEFAULTS[name]}" for name, value in chosen.items()
            if value != DEFAULTS[name]) + "); the marks compare anyway")
    echo(f"stack: {settings.api_workers} API processes x {settings.api_threads} threads, "
         f"render pool {settings.render_concurrency} processes, ingest pool {settings.ingest_concurrency} "
         f"(as this shell's settings say; the running stack may differ)")
    client = Client(settings.api_url, key)
    artwork = make_artwork(artwork_size, artwork_kind)
    echo(f"artwork: {artwork_size}x{artwork_size} PNG ({artwork_kind}), {len(artwork) / 1e6:.2f} MB, sent with "
         f"every render (multipart field `file`)")

    # What the run makes is removed at the end, even when it fails half-way.
    mockups: list[str] = []
    client_keys: dict[str, str] = {}  # key id -> key
    ingest_times, single_ms, rate, tally, all_completed = [], [], None, Tally(), False
    try:
        if "ingest" in chosen_phases:
            mockup, ingest_times = ingest_phase(client, settings, template_size, ingest_runs, mockups, echo)
        else:
            mockup = kept_template(client, settings, template_size, echo)
        if "single" in chosen_phases:
            single_ms = single_phase(client, mockup, artwork, single_size, single_runs, warmup,
                                     settings.render_concurrency, wait, echo)
        if "throughput" in chosen_phases:
            for index in range(clients):
                made = client.call("POST", "/api/v1/keys", json={"name": f"{BENCH_NAME} client {index + 1}",
                                                                  "expires_in_days": 1}).json()["data"]
                client_keys[made["id"]] = made["key"]
            rate, tally, all_completed = throughput_phase(settings.api_url, list(client_keys.values()), mockup,
                                                          artwork, throughput_size, duration,
                                                          settings.render_concurrency, wait, echo)
    finally:
        for key_id in client_keys:
            client.call("DELETE", f"/api/v1/keys/{key_id}", expect=(200, 404))
        for mockup_uuid in mockups:
            client.call("DELETE", f"/api/v1/mockups/{mockup_uuid}", expect=(200, 404))

    echo("\ntargets (issue 5):")
    if ingest_times:
        echo(f"  {mark(max(ingest_times) <= TARGET_INGEST_S)} ingest of the {template_size} px demo ≤ "
             f"{TARGET_INGEST_S:.0f} s: {', '.join(f'{t:.1f}' for t in ingest_times)} s")
    if single_ms:
        p50, p95 = percentile(single_ms, 0.5), percentile(single_ms, 0.95)
        echo(f"  {mark(p50 <= TARGET_SINGLE_P50_MS)} single {single_size} px render p50 ≤ "
             f"{TARGET_SINGLE_P50_MS:.0f} ms: {p50:.0f} ms")
        echo(f"  {mark(p95 <= TARGET_SINGLE_P95_MS)} single {single_size} px render p95 ≤ "
             f"{TARGET_SINGLE_P95_MS:.0f} ms: {p95:.0f} ms")
    if rate is not None:
        echo(f"  {mark(rate >= TARGET_THROUGHPUT_PER_S)} {clients} clients, {throughput_size} px: ≥ "
             f"{TARGET_THROUGHPUT_PER_S:.0f} renders/s: {rate:.1f}/s")
        echo(f"  {mark(all_completed)} every accepted task completed: {len(tally.accepted)} accepted")
    echo(f"load average at the end: {load_average()}")


def kept_template(client: Client, settings: Settings, size: int, echo) -> dict:
    """The demo template kept between runs that skip the ingest phase: uploaded once."""
    name = f"{BENCH_NAME} {size} px (kept)"
    found = client.call("GET", "/api/v1/mockups", params={"name": name, "limit": 100}).json()["data"]["items"]
    mockup = next((m for m in found if m["name"] == name and m["status"] == "ready"), None)
    if mockup is not None:
        echo(f"\ntemplate: {name} ({mockup['uuid']}), kept from an earlier run")
        return mockup
    from compositor.fixtures.demo import ensure_demo_template  # noqa: PLC0415

    psd = ensure_demo_template(settings.state_dir / "demo", size)
    mockup = client.call("POST", "/api/v1/psd/upload", files={"file": (psd.name, psd.read_bytes())},
                         data={"psd_name": name}).json()["data"]
    while mockup["status"] == "processing":
        mockup = client.call("GET", f"/api/v1/mockups/{mockup['uuid']}", params={"wait": 30}).json()["data"]
    if mockup["status"] != "ready":
        raise BenchError(f"ingest of the demo template failed: {mockup['error']}")
    echo(f"\ntemplate: {name} ({mockup['uuid']}), uploaded now and kept for the next run")
    return mockup


commands = [bench_api_command]


if __name__ == "__main__":
    bench_api_command()
