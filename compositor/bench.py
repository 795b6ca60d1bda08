"""`mockfarm bench` and `make bench`: how fast the render path is, measured, never asserted.

One scenario = a template, artwork for one smart object, an output size and
format. We compile the plan once (cached under .run/bench/), then time
`render.render` (placement, warp, formula, encode: everything a worker does
per job once it holds the plan) K times, with OpenCV on one thread (one
worker process per core, as the farm runs) and on its default threads.
Two cases are timed on one thread: the artwork already decoded (the worker's
artwork cache holds it, as when one design goes onto many templates) and the
decode included (the cache emptied before every render: a new design).
The naive baseline swaps the smart object's pixels in psd-tools and
composites the whole document with `composite(force=True)`, then resizes and
encodes the same way; it is slow, so it runs fewer times. Each scenario also
says what its plan weighs in memory (`RenderPlan.nbytes`, what a worker's
plan cache counts against its bound).

Figures taken while other jobs share the machine are noisy: the report
carries the load average next to them.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import click
import cv2
import numpy as np
from PIL import Image

from compositor.memory import keep_freed_memory

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / ".run" / "bench"


# --- machine ----------------------------------------------------------------------


def machine() -> dict:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"cpu": model, "cores": os.cpu_count(), "load_average": [round(v, 2) for v in load],
            "python": platform.python_version(), "numpy": np.__version__, "opencv": cv2.__version__,
            "opencv_default_threads": cv2.getNumThreads()}


# --- plans --------------------------------------------------------------------------


def compiled_plan(psd_bytes: bytes):
    """The template's plan, compiled once and kept in BENCH_DIR by content hash."""
    from compositor.plan import PLAN_VERSION, RenderPlan, compile_template  # noqa: PLC0415

    digest = hashlib.sha256(psd_bytes).hexdigest()[:16]
    path = BENCH_DIR / f"plan-v{PLAN_VERSION}-{digest}.zip"
    if path.exists():
        return RenderPlan.from_bytes(path.read_bytes())
    start, cpu = time.perf_counter(), time.process_time()
    plan = compile_template(psd_bytes)
    # CPU time too: on a shared machine it moves less with the load than the wall clock.
    click.echo(f"  compiled the plan in {time.perf_counter() - start:.1f} s "
               f"({time.process_time() - cpu:.1f} s of CPU, load {os.getloadavg()[0]:.1f})", err=True)
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.partial")
    partial.write_bytes(plan.to_bytes())
    partial.replace(path)
    return plan


# --- timing -------------------------------------------------------------------------


def _percentiles(seconds: list[float]) -> dict:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return {"runs": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1),
            "min_ms": round(ms[0], 1)}


def time_fast_path(plan, layer: str, artwork: bytes, size: int | None, format: str, runs: int,
                   threads: int | None, decode: bool = False) -> dict:
    """Time `render.render`; `decode`: empty the artwork cache before each
    render, so every run decodes the artwork file again."""
    from compositor.artwork import clear_artwork_cache  # noqa: PLC0415
    from compositor.render import ArtworkInput, ExportOptions, render  # noqa: PLC0415

    previous = cv2.getNumThreads()
    if threads is not None:
        cv2.setNumThreads(threads)
    try:
        inputs = {layer: ArtworkInput(artwork)}
        export = ExportOptions(format=format, image_size=size, quality=90)
        render(plan, inputs, export)  # warm: artwork decode cache, first-touch pages
        seconds = []
        for _ in range(runs):
            if decode:
                clear_artwork_cache()
            start = time.perf_counter()
            render(plan, inputs, export)
            seconds.append(time.perf_counter() - start)
    finally:
        cv2.setNumThreads(previous)
    return _percentiles(seconds)


def time_naive(psd_bytes: bytes, layer: str, artwork: bytes, size: int | None, format: str, runs: int) -> dict:
    """psd-tools composite(force=True) with the smart object's pixels swapped for the warped artwork."""
    from compositor.export import export_image  # noqa: PLC0415
    from compositor.model import load_template  # noqa: PLC0415
    from compositor.placement import place_artwork_bytes  # noqa: PLC0415
    from compositor.smartobjects import build_warp_map, read_smart_object, warp_content  # noqa: PLC0415

    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        template = load_template(psd_bytes)
        node = template.find(layer)
        so = read_smart_object(node.layer, template.psd)
        content = place_artwork_bytes(artwork, so.content_size)
        warp_map = build_warp_map(so, (template.width, template.height))
        warped = warp_content(warp_map, content, raster_file=True)
        _swap_pixels(node.layer, warp_map.box, warped)
        image = template.psd.composite(force=True)
        rgba = np.asarray(image.convert("RGBA"), np.float32) / 255.0
        export_image(rgba, format=format, image_size=size, quality=90)
        seconds.append(time.perf_counter() - start)
    return _percentiles(seconds)


def _swap_pixels(layer, box, warped: np.ndarray) -> None:
    """Make psd-tools read `warped` (straight RGBA over `box`) as the layer's pixels."""
    left, top, right, bottom = (int(v) for v in layer.bbox)
    h, w = bottom - top, right - left
    canvas = np.zeros((h, w, 4), np.float32)
    x0, y0 = max(box[0], left), max(box[1], top)
    x1, y1 = min(box[2], right), min(box[3], bottom)
    if x0 < x1 and y0 < y1:
        canvas[y0 - top:y1 - top, x0 - left:x1 - left] = warped[y0 - box[1]:y1 - box[1], x0 - box[0]:x1 - box[0]]
    original = layer.numpy

    def numpy(channel=None, **kwargs):
        if channel == "color":
            return canvas[..., :3]
        if channel == "shape":
            return canvas[..., 3:4]
        return original(channel, **kwargs)

    layer.numpy = numpy


def run_scenario(name: str, psd_bytes: bytes, layer: str, artwork: bytes, size: int | None, format: str,
                 runs: int, baseline_runs: int) -> dict:
    click.echo(f"{name}:", err=True)
    plan = compiled_plan(psd_bytes)
    result = {"scenario": name, "layer": layer, "size": size, "format": format,
              "artwork": artwork_description(artwork), "method": plan.find(layer).method,
              "plan_mib": round(plan.nbytes() / 2 ** 20, 1),
              "load_before": [round(v, 2) for v in os.getloadavg()]}
    result["fast_1_thread"] = time_fast_path(plan, layer, artwork, size, format, runs, threads=1)
    result["fast_1_thread_decode"] = time_fast_path(plan, layer, artwork, size, format, runs, threads=1,
                                                    decode=True)
    result["fast_default_threads"] = time_fast_path(plan, layer, artwork, size, format, runs, threads=None)
    if baseline_runs > 0:
        result["naive"] = time_naive(psd_bytes, layer, artwork, size, format, baseline_runs)
        result["speedup_1_thread"] = round(result["naive"]["p50_ms"] / result["fast_1_thread"]["p50_ms"], 1)
        # The naive run decodes the artwork every time: the like-for-like ratio.
        result["speedup_1_thread_decode"] = round(
            result["naive"]["p50_ms"] / result["fast_1_thread_decode"]["p50_ms"], 1)
    result["load_after"] = [round(v, 2) for v in os.getloadavg()]
    return result


def artwork_description(data: bytes) -> str:
    """"2000x2000 PNG": what the scenario renders (read from the header only)."""
    with Image.open(io.BytesIO(data)) as image:
        return f"{image.width}x{image.height} {image.format}"


def print_result(result: dict) -> None:
    def line(label, figures):
        return (f"  {label:<30} p50 {figures['p50_ms']:8.1f} ms   p95 {figures['p95_ms']:8.1f} ms"
                f"   ({figures['runs']} runs)")
    click.echo(f"{result['scenario']}  [{result['method']}]  artwork {result['artwork']}  "
               f"plan {result['plan_mib']} MiB in memory  load {result['load_before']} -> {result['load_after']}")
    click.echo(line("fast path, 1 thread", result["fast_1_thread"]) + "  artwork already decoded")
    click.echo(line("fast path, 1 thread, decode", result["fast_1_thread_decode"]) + "  artwork decoded each run")
    click.echo(line("fast path, default threads", result["fast_default_threads"]))
    if "naive" in result:
        click.echo(line("naive psd-tools", result["naive"]))
        click.echo(f"  speedup (1 thread, p50): {result['speedup_1_thread']}x artwork decoded, "
                   f"{result['speedup_1_thread_decode']}x decode included")


def print_machine(info: dict) -> None:
    click.echo(f"machine: {info['cpu']}, {info['cores']} cores, load average {info['load_average']}; "
               f"Python {info['python']}, numpy {info['numpy']}, OpenCV {info['opencv']} "
               f"({info['opencv_default_threads']} threads by default); freed memory "
               f"{'kept for reuse, as in the workers' if info.get('keeps_freed_memory') else 'returned (allocator defaults)'}")


# --- commands -------------------------------------------------------------------------


def _parse_art(spec: str) -> tuple[str, bytes]:
    name, sep, path = spec.rpartition("=")
    if not sep or not name or not path:
        raise click.BadParameter(f'expected "LAYER NAME=image file", got {spec!r}', param_hint="--art")
    try:
        return name, Path(path).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path!r}: {exc.strerror}", param_hint="--art") from None


@click.command("bench")
@click.argument("template", type=click.Path(exists=True, dir_okay=False))
@click.option("--art", "art", required=True, metavar='"LAYER=IMAGE"', help="Artwork for one smart object.")
@click.option("--size", type=int, default=None, help="Output width in pixels (default: the template's).")
@click.option("--format", "format_", type=click.Choice(["jpg", "png", "webp"]), default="jpg", show_default=True)
@click.option("--runs", type=click.IntRange(1, 10000), default=20, show_default=True, help="Timed fast-path renders.")
@click.option("--baseline-runs", type=click.IntRange(0, 100), default=2, show_default=True,
              help="Timed naive psd-tools renders (0: skip the baseline).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_command(template, art, size, format_, runs, baseline_runs, as_json):
    """Time the render path on TEMPLATE with artwork against the naive psd-tools composite."""
    layer, artwork = _parse_art(art)
    info = machine()
    info["keeps_freed_memory"] = keep_freed_memory()  # as the workers do
    result = run_scenario(Path(template).name, Path(template).read_bytes(), layer, artwork, size, format_,
                          runs, baseline_runs)
    if as_json:
        json.dump({"machine": info, "results": [result]}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    print_machine(info)
    print_result(result)


commands = [bench_command]


def standard_scenarios(runs: int = 20, baseline_runs: int = 2) -> list[dict]:
    """`make bench`: the demo at 2000 and 1000 px, and two corpus mockups when the corpus is here."""
    from compositor.fidelity import corpus_dir  # noqa: PLC0415
    from compositor.fixtures import build_demo_artwork, ensure_demo_template  # noqa: PLC0415

    demo = ensure_demo_template(BENCH_DIR, 4000).read_bytes()
    # The artwork: a 2000 x 2000 PNG (placed into the 3:4 print area by the default fit).
    art_path = BENCH_DIR / "demo-artwork-2000x2000.png"
    if not art_path.exists():
        art_path.write_bytes(build_demo_artwork(2000, width=2000))
    artwork = art_path.read_bytes()
    results = [
        run_scenario("demo 4000 px -> 2000 px jpg", demo, "Design", artwork, 2000, "jpg", runs, baseline_runs),
        run_scenario("demo 4000 px -> 1000 px jpg", demo, "Design", artwork, 1000, "jpg", runs, baseline_runs),
    ]
    corpus = corpus_dir()
    for relative in ("aspose-psd+Aspose.PSD-for-Python-Net/Examples/testdata/PSDNET-2395/etikett var 3d.psd",
                     "aspose-psd+Aspose.PSD-for-Python-Net/Examples/testdata/PSDNET-2565/iphone15snapcase(1).psd"):
        path = corpus / relative
        if not path.is_file():
            click.echo(f"skipped (no corpus): {relative}", err=True)
            continue
        data = path.read_bytes()
        from compositor.model import load_template  # noqa: PLC0415
        names = [n.name for n in load_template(data).smart_objects if n.visible]
        if not names:
            continue
        results.append(run_scenario(f"corpus {Path(relative).name}", data, names[0], artwork, None, "jpg",
                                    runs, baseline_runs))
    return results


def main(argv=None) -> None:
    import argparse  # noqa: PLC0415
    parser = argparse.ArgumentParser(description="The standard render-path benchmarks (make bench).")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline-runs", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    info = machine()
    info["keeps_freed_memory"] = keep_freed_memory()  # as the workers do
    results = standard_scenarios(args.runs, args.baseline_runs)
    info["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    if args.json:
        json.dump({"machine": info, "results": results}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    print_machine(info)
    for result in results:
        print_result(result)


if __name__ == "__main__":
    main()
