"""`mockfarm bench-bulk`: time one bulk render end to end on a running farm (`make up`).

It uploads the demo template (as several mockups), then POSTs one bulk of
`--renders` renders (mockups x colours) and measures the wall time from the POST to
the task's completion, and where that time went, from the task rows: the wait
before the first item started (the first step and the fan-out), the span of the
items, and the join (the ZIP) after the last item. Figures are noisy on a shared
machine: the report prints the load average before and after.
"""
from __future__ import annotations

import base64
import os
import time

import click
import requests

from shared.config import load_settings


def _call(method: str, url: str, key: str, expect=(200, 201, 202), **kwargs) -> dict:
    response = requests.request(method, url, headers={"x-api-key": key}, timeout=60, **kwargs)
    if response.status_code not in expect:
        raise click.ClickException(f"{method} {url}: HTTP {response.status_code} {response.text[:300]}")
    return response.json()["data"]


def _breakdown(task_key: str) -> dict:
    """Times (seconds) from the task rows, relative to the parent's creation."""
    from shared.db import get_pool

    with get_pool().connection() as conn:
        created, started, finished = conn.execute(
            "SELECT created_at, started_at, finished_at FROM tasks WHERE key = %s", (task_key,)).fetchone()
        first_start, last_start, last_finish, mean_item, items = conn.execute(
            """SELECT min(started_at), max(started_at), max(finished_at),
                      avg(extract(epoch FROM finished_at - started_at)), count(*)
                 FROM tasks WHERE parent_key = %s""", (task_key,)).fetchone()
    since = lambda moment: (moment - created).total_seconds()  # noqa: E731
    return {"first step started": since(started), "first item started": since(first_start),
            "last item started": since(last_start), "last item finished": since(last_finish),
            "bulk finished": since(finished), "mean item run (s)": float(mean_item), "items": items}


@click.command("bench-bulk")
@click.option("--renders", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--mockups", "mockup_count", type=click.IntRange(1, 20), default=2, show_default=True,
              help="Mockups uploaded (the demo template each time); renders are split into colours of each.")
@click.option("--template-size", type=click.IntRange(200, 4000), default=2000, show_default=True)
@click.option("--image-size", type=click.IntRange(100, 10000), default=1000, show_default=True,
              help="Output width of each render.")
@click.option("--image-format", type=click.Choice(["jpg", "png", "webp"]), default="jpg", show_default=True)
@click.option("--api-key", envvar="MOCKFARM_API_KEY", default=None,
              help="Default: the local stack's key (`make up` keeps it in the state folder).")
def bench_bulk_command(renders: int, mockup_count: int, template_size: int, image_size: int, image_format: str,
                       api_key: str | None) -> None:
    """Time one bulk render of RENDERS renders, POST to completed."""
    from compositor.fixtures.demo import build_demo_artwork, build_demo_template
    from shared.stack import local_api_key

    settings = load_settings()
    key = api_key or local_api_key(settings)
    api = f"{settings.api_url}/api/v1"
    colours_each = -(-renders // mockup_count)
    if colours_each > 50:
        raise click.ClickException("at most 50 colours a mockup: give more --mockups")
    psd = build_demo_template(template_size)
    uploaded = [_call("POST", f"{api}/psd/upload", key, files={"file": ("bench.psd", psd)},
                      data={"psd_name": f"bench {n}"})["uuid"] for n in range(mockup_count)]
    for mockup_uuid in uploaded:
        mockup = _call("GET", f"{api}/mockups/{mockup_uuid}", key, params={"wait": 30})
        if mockup["status"] != "ready":
            raise click.ClickException(f"the benchmark template did not ingest: {mockup['status']} {mockup['error']}")
    colours = [None] + [{"hex": f"#{(n * 2654435761) & 0xffffff:06x}"} for n in range(1, colours_each)]
    artwork = base64.b64encode(build_demo_artwork(1000)).decode("ascii")
    body = {"mockup_uuids": uploaded, "colors": colours,
            "artwork": {"base64": artwork, "content_type": "image/png"},
            "export_options": {"image_format": image_format, "image_size": image_size}}
    if mockup_count * colours_each != renders:
        raise click.ClickException(f"--renders must be a multiple of --mockups ({mockup_count})")

    load_before = os.getloadavg()
    started = time.perf_counter()
    task = _call("POST", f"{api}/renders/bulk", key, json=body)
    accepted = time.perf_counter() - started
    while task["status"] not in ("completed", "failed"):
        task = _call("GET", f"{api}/tasks/{task['task_key']}", key, params={"wait": 30})
    wall = time.perf_counter() - started
    load_after = os.getloadavg()

    click.echo(f"bulk of {renders} renders ({mockup_count} mockups x {colours_each} colours) at {image_size} px "
               f"{image_format}, template {template_size} px, render concurrency {settings.render_concurrency}")
    click.echo(f"status {task['status']}, progress {task['progress']}, zip {task['zip'] and task['zip']['bytes']} bytes")
    click.echo(f"wall time POST -> completed: {wall:.2f} s (POST answered in {accepted:.3f} s)")
    for name, value in _breakdown(task["task_key"]).items():
        click.echo(f"  {name}: {value:.3f}" if isinstance(value, float) else f"  {name}: {value}")
    click.echo(f"load average before {' '.join(f'{v:.2f}' for v in load_before)}, "
               f"after {' '.join(f'{v:.2f}' for v in load_after)} ({os.cpu_count()} cores)")


commands = [bench_bulk_command]
