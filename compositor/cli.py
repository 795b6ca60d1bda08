"""`mockfarm fidelity` and `mockfarm render`: the compositor from the command line, no service needed."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

TEMPLATE_SUFFIXES = (".psd", ".psb")


def _template_paths(paths: tuple[str, ...]) -> list[Path]:
    """Files as given, and every .psd/.psb under directories, sorted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in TEMPLATE_SUFFIXES))
        else:
            found.append(path)  # a missing file is reported per file, not fatal
    return found


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.2f}"


@click.command("fidelity")
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--smart-objects", type=click.Choice(["rerender", "cached"]), default="rerender",
              show_default=True,
              help="Re-render smart objects from their content, or draw Photoshop's cached pixels.")
def fidelity_command(paths: tuple[str, ...], as_json: bool, smart_objects: str) -> None:
    """Compare our render of PSD templates with Photoshop's own composite.

    PATHS are .psd/.psb files or folders searched for them. For each file:
    document PSNR (RGB over white, 8-bit) against the composite Photoshop saved,
    each smart object re-rendered vs its cached pixels, and the features we do
    not reproduce. psd-tools' figure is shown when the file is in the corpus.
    """
    from compositor.fidelity import check_file, load_baseline, summarize  # noqa: PLC0415

    files = _template_paths(paths)
    if not files:
        raise click.UsageError("no .psd or .psb files found in the given paths")
    baseline = load_baseline()
    reports = []
    for index, path in enumerate(files, 1):
        report = check_file(path, smart_objects=smart_objects, baseline=baseline)
        reports.append(report)
        if not as_json:
            status = f"error: {report.error}" if report.error else \
                f"{_fmt(report.document_psnr)} dB (psd-tools {_fmt(report.psd_tools_psnr)})"
            click.echo(f"[{index}/{len(files)}] {path}: {status}", err=True)
    summary = summarize(reports)
    if as_json:
        json.dump({"files": [r.as_json() for r in reports], "summary": summary}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    _print_table(reports, summary)


def _print_table(reports, summary) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console()
    table = Table(title="Fidelity against Photoshop's composite")
    for column in ("file", "document dB", "psd-tools dB", "smart objects (PSNR)", "unsupported / error"):
        table.add_column(column)
    for r in reports:
        layers = ", ".join(f"{layer['name']}: {_fmt(layer.get('psnr'))}" for layer in r.layers)
        notes = r.error or "; ".join(r.unsupported)
        table.add_row(r.path, _fmt(r.document_psnr), _fmt(r.psd_tools_psnr), layers, notes)
    console.print(table)
    console.print_json(json.dumps(summary))


@click.command("render")
@click.argument("template", type=click.Path(dir_okay=False))
@click.option("--art", "arts", multiple=True, metavar='"LAYER NAME=design.png"',
              help="Replace a smart object's content with an image (repeatable).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the render (.png keeps transparency; .jpg, .webp, .tif).")
def render_command(template: str, arts: tuple[str, ...], output: str) -> None:
    """Render a PSD template with artwork swapped into its smart objects, offline."""
    from compositor.composite import Renderer, to_pil  # noqa: PLC0415
    from compositor.imageio import ImageDecodeError, decode_rgba, encode_image, format_for_path  # noqa
    from compositor.model import TemplateError, load_template  # noqa: PLC0415

    try:
        loaded = load_template(template)
        artwork = {}
        for spec in arts:
            name, sep, image_path = spec.rpartition("=")
            if not sep or not name or not image_path:
                raise click.BadParameter(f'expected "LAYER NAME=image file", got {spec!r}',
                                         param_hint="--art")
            node = loaded.find(name)
            if not node.layer.is_visible():
                click.echo(f"warning: smart object {name!r} is hidden in the template; "
                           f"its artwork will not show", err=True)
            artwork[name] = decode_rgba(image_path)
        result = Renderer(loaded, "cached").render(artwork=artwork)
        image = to_pil(loaded, result)
        data = encode_image(image, format_for_path(output))
    except (TemplateError, ImageDecodeError) as exc:
        raise click.ClickException(str(exc)) from None
    Path(output).write_bytes(data)
    for note in loaded.unsupported + result.unsupported:
        click.echo(f"warning: {note}", err=True)
    click.echo(f"wrote {output} ({image.width}x{image.height})", err=True)


commands = [fidelity_command, render_command]
