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


OUTPUT_FORMATS = {".jpg": "jpg", ".jpeg": "jpg", ".png": "png", ".webp": "webp"}


def _pair_option(value: str | None, separator: str, option: str):
    """"A<sep>B" -> (float, float), or None; a BadParameter naming the option otherwise."""
    if value is None:
        return None
    parts = value.lower().split(separator)
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise click.BadParameter(f"expected two numbers as A{separator}B, got {value!r}",
                                 param_hint=option) from None


def _placement_from_flags(flags: dict):
    """PlacementOptions from the command's flags (validated there, naming the field)."""
    from compositor.placement import PlacementOptions  # noqa: PLC0415

    options: dict = {"fit": flags["fit"], "rotate": flags["rotate"],
                     "flip_horizontal": flags["flip_horizontal"], "flip_vertical": flags["flip_vertical"],
                     "size": _pair_option(flags["size"], "x", "--size"),
                     "position": _pair_option(flags["position"], ",", "--position"),
                     "pattern": True if flags["pattern"] else None}
    if flags["color"] is not None:
        options["color"] = {"hex": flags["color"], "blend_mode": flags["blend"]}
    elif flags["blend"] != "normal":
        raise click.BadParameter("only applies to --color", param_hint="--blend")
    adjustments = {name: flags[name] for name in ("brightness", "contrast", "saturation", "vibrance", "blur",
                                                  "opacity") if flags[name] is not None}
    if adjustments:
        options["adjustment_layers"] = adjustments
    return PlacementOptions.from_dict(options)


@click.command("render")
@click.argument("template", type=click.Path(dir_okay=False))
@click.option("--art", "arts", multiple=True, metavar='"LAYER NAME=design.png"',
              help="Replace a smart object's content with an image (repeatable). Every smart object "
                   "of that name takes it, and so do its linked instances (copies sharing its content), "
                   "as in Photoshop.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the render (.jpg, .png or .webp; .png and .webp keep transparency).")
@click.option("--fit", type=click.Choice(["fill", "stretch", "contain", "cover"]), default="fill",
              show_default=True, help="How the artwork fills the smart object's content.")
@click.option("--rotate", type=float, default=0.0, help="Degrees, clockwise, about the artwork's centre.")
@click.option("--flip-horizontal", is_flag=True, help="Mirror the artwork left to right.")
@click.option("--flip-vertical", is_flag=True, help="Mirror the artwork top to bottom.")
@click.option("--color", default=None, metavar="#RRGGBB", help="A colour over the artwork (or alone, without --art).")
@click.option("--blend", default="normal", show_default=True, help="Blend mode of --color (e.g. multiply).")
@click.option("--size", default=None, metavar="WxH", help="The artwork's box in content pixels (overrides --fit).")
@click.option("--position", default=None, metavar="X,Y", help="The box's top left in content pixels.")
@click.option("--pattern", is_flag=True, help="Tile the artwork over the content.")
@click.option("--brightness", type=float, default=None, help="-150..150, Photoshop's Brightness/Contrast.")
@click.option("--contrast", type=float, default=None, help="-100..100.")
@click.option("--saturation", type=float, default=None, help="-100..100, Hue/Saturation's master saturation.")
@click.option("--vibrance", type=float, default=None, help="-100..100.")
@click.option("--blur", type=float, default=None, help="Gaussian blur radius, 0..100 content pixels.")
@click.option("--opacity", type=float, default=None, help="The artwork's opacity, 0..100 percent.")
@click.option("--format", "format_", type=click.Choice(["jpg", "png", "webp"]), default=None,
              help="Output format (default: from the output file's extension).")
@click.option("--image-size", type=int, default=None, help="Output width in pixels (default: the template's).")
@click.option("--quality", type=int, default=90, show_default=True, help="JPEG/WebP quality, 1..100.")
def render_command(template: str, arts: tuple[str, ...], output: str, format_: str | None,
                   image_size: int | None, quality: int, **flags) -> None:
    """Render a PSD template with artwork swapped into its smart objects, offline.

    Goes through the render path the farm uses: the template is compiled into
    a plan, then the artwork is placed (the flags), warped and composited, and
    the image exported. The same placement applies to every --art. Documents
    that are not RGB are drawn by the generic renderer.
    """
    from compositor.artwork import load_artwork  # noqa: PLC0415
    from compositor.errors import InvalidArtwork, InvalidOption  # noqa: PLC0415
    from compositor.model import TemplateError, load_template  # noqa: PLC0415
    from compositor.render import ArtworkInput, ExportOptions  # noqa: PLC0415

    if format_ is None:
        format_ = OUTPUT_FORMATS.get(Path(output).suffix.lower())
        if format_ is None:
            raise click.BadParameter(f"cannot tell the format from {output!r}: use .jpg, .png or .webp, "
                                     f"or --format", param_hint="--output")
    try:
        options = _placement_from_flags(flags)
        data = Path(template).read_bytes() if Path(template).is_file() else template
        loaded = load_template(data)
        inputs = {}
        for spec in arts:
            name, sep, image_path = spec.rpartition("=")
            if not sep or not name or not image_path:
                raise click.BadParameter(f'expected "LAYER NAME=image file", got {spec!r}',
                                         param_hint="--art")
            node = loaded.find(name)
            if not node.visible:
                click.echo(f"warning: smart object {name!r} is hidden in the template; "
                           f"its artwork will not show", err=True)
            try:
                artwork = Path(image_path).read_bytes()
            except OSError as exc:
                raise click.BadParameter(f"cannot read {image_path!r}: {exc.strerror}", param_hint="--art") from None
            try:
                load_artwork(artwork)  # decoded once here (and cached for the render) to name the file
            except InvalidArtwork as exc:
                raise click.ClickException(f"--art {spec!r}: {image_path} is not a readable image ({exc})") from None
            inputs[name] = ArtworkInput(artwork, options)
        if not arts and flags["color"] is not None:
            inputs = {node.name: ArtworkInput(None, options) for node in loaded.smart_objects}
        export = ExportOptions(format=format_, image_size=image_size, quality=quality)
        if loaded.color_mode.name == "RGB":
            from compositor.plan import compile_template  # noqa: PLC0415
            from compositor.render import render  # noqa: PLC0415
            plan = compile_template(loaded)
            encoded = render(plan, inputs, export)
            notes = plan.unsupported
        else:
            encoded, notes = _render_generic(loaded, inputs, export)
    except (TemplateError, InvalidOption, InvalidArtwork) as exc:
        raise click.ClickException(str(exc)) from None
    Path(output).write_bytes(encoded)
    for note in notes:
        click.echo(f"warning: {note}", err=True)
    click.echo(f"wrote {output}", err=True)


def _render_generic(template, inputs, export) -> tuple[bytes, list[str]]:
    """Non-RGB documents: the generic renderer, then the same export."""
    import numpy as np  # noqa: PLC0415

    from compositor.composite import Renderer, to_pil  # noqa: PLC0415
    from compositor.export import export_image  # noqa: PLC0415
    from compositor.placement import place_artwork_bytes  # noqa: PLC0415

    renderer = Renderer(template, "rerender")
    artwork = {}
    for name, item in inputs.items():
        # Read once: the render below draws the object from the same geometry.
        so = renderer.smart_object_geometry(template.find(name))[0]
        artwork[name] = place_artwork_bytes(item.data, so.content_size, item.options)
    result = renderer.render(artwork=artwork)
    rgba = np.asarray(to_pil(template, result).convert("RGBA"), np.float32) / np.float32(255)
    encoded = export_image(rgba, format=export.format, image_size=export.image_size, quality=export.quality,
                           background=export.background)
    return encoded, template.unsupported + result.unsupported


commands = [fidelity_command, render_command]
