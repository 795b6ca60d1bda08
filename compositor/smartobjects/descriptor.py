"""Read the placed-layer descriptors (`SoLd`/`SoLE`/`PlLd`) of a smart object.

psd-tools exposes them as nested dicts keyed by bytes with its own value
classes; this module turns the parts we need into plain Python values so the
geometry code never sees psd-tools types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psd_tools.constants import Tag
from psd_tools.psd.descriptor import Enumerated, EnumeratedReference, List, UnitFloats

from .errors import SmartObjectError


@dataclass
class WarpSpec:
    """A smart object's warp, in content pixels.

    style: 'none', 'custom' (4x4 mesh), 'quilt' (n x m mesh) or a preset name
    ('arc', 'flag', 'inflate', ...; Photoshop's enum without the 'warp' prefix,
    lower-cased).
    """

    style: str = "none"
    value: float = 0.0  # preset bend in percent (-100..100)
    perspective: float = 0.0  # preset horizontal distortion in percent
    perspective_other: float = 0.0  # preset vertical distortion in percent
    rotate: str = "horizontal"  # preset orientation: 'horizontal' or 'vertical'
    bounds: tuple[float, float, float, float] | None = None  # (left, top, right, bottom)
    mesh_x: list[float] | None = None  # row-major, index j*nu + i
    mesh_y: list[float] | None = None
    mesh_cols: int = 4
    mesh_rows: int = 4
    slices_x: list[float] | None = None  # quilt patch boundaries along x
    slices_y: list[float] | None = None
    values: list[float] | None = None  # `warpValues` of newer styles (cylinder)


@dataclass
class SmartFilter:
    name: str
    filter_id: int
    enabled: bool
    params: dict = field(default_factory=dict)
    opacity: float = 100.0
    blend_mode: str = "normal"


def _key(k):
    return k.decode("latin1") if isinstance(k, bytes) else str(k)


def plain(value):
    """Descriptor value -> plain Python (dicts keyed by str, lists, floats, str)."""
    if isinstance(value, (Enumerated, EnumeratedReference)):  # a reference (e.g. a channel) by its enum
        return _key(value.enum)
    if isinstance(value, UnitFloats):
        return [float(v) for v in value.values]
    if isinstance(value, bytes):
        return value.decode("latin1")
    if isinstance(value, str):
        return value.rstrip("\x00")
    if hasattr(value, "items"):  # dict or psd-tools Descriptor
        return {_key(k).strip(): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, List)):  # List includes a Reference (e.g. Curves' channel)
        return [plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (int, float)):
        return plain(value.value)  # UnitFloat, String, Integer wrappers
    return value


def placed_descriptor(layer) -> dict:
    """The layer's placed-layer descriptor as plain Python.

    `SoLd`/`SoLE` are authoritative; the legacy `PlLd` block is the fallback
    (it carries the transform and warp but no non-affine corners).
    """
    blocks = layer.tagged_blocks
    data = blocks.get_data(Tag.SMART_OBJECT_LAYER_DATA1) or blocks.get_data(
        Tag.SMART_OBJECT_LAYER_DATA2
    )
    if data is not None:
        return plain(getattr(data, "data", data))
    legacy = blocks.get_data(Tag.PLACED_LAYER1) or blocks.get_data(Tag.PLACED_LAYER2)
    if legacy is None:
        raise SmartObjectError(f"layer {layer.name!r} has no placed-layer descriptor")
    return {
        "Idnt": plain(getattr(legacy, "uuid", "")),
        "Trnf": [float(v) for v in legacy.transform],
        "warp": plain(getattr(legacy.warp, "data", legacy.warp)) if legacy.warp is not None else {},
    }


def _corners(values, name) -> tuple[float, ...]:
    if values is None or len(values) != 8:
        raise SmartObjectError(f"{name} must hold 8 numbers (4 corners), got {values!r}")
    return tuple(float(v) for v in values)


def read_transforms(desc: dict) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(Trnf, nonAffineTransform): corners TL, TR, BR, BL as x, y in canvas pixels."""
    trnf = _corners(desc.get("Trnf"), "Trnf")
    non_affine = desc.get("nonAffineTransform")
    non_affine = _corners(non_affine, "nonAffineTransform") if non_affine else trnf
    return trnf, non_affine


def read_content_size(desc: dict) -> tuple[int, int] | None:
    size = desc.get("Sz")
    if not size:
        return None
    return int(round(size["Wdth"])), int(round(size["Hght"]))


def _bounds(d):
    if not d:
        return None
    return (float(d["Left"]), float(d["Top"]), float(d["Rght"]), float(d["Btom"]))


def read_warp(desc: dict) -> WarpSpec:
    """Warp from `quiltWarp` when present (then `warp` says none), else `warp`."""
    quilt = desc.get("quiltWarp")
    warp = desc.get("warp") or {}
    spec = WarpSpec()
    source = quilt if quilt else warp
    style = str(source.get("warpStyle", "warpNone"))
    style = style[4:].lower() if style.startswith("warp") else style.lower()
    spec.value = float(source.get("warpValue", 0.0))
    if source.get("warpValues") is not None:
        spec.values = [float(v) for v in source["warpValues"]]
    spec.perspective = float(source.get("warpPerspective", 0.0))
    spec.perspective_other = float(source.get("warpPerspectiveOther", 0.0))
    spec.rotate = "vertical" if str(source.get("warpRotate", "Hrzn")).startswith("Vrtc") else "horizontal"
    spec.bounds = _bounds(source.get("bounds"))
    envelope = source.get("customEnvelopeWarp") or {}
    points = envelope.get("meshPoints")
    if points:
        spec.mesh_x = list(points["Hrzn"])
        spec.mesh_y = list(points["Vrtc"])
    if quilt:
        spec.style = "quilt"
        spec.mesh_rows = int(quilt.get("deformNumRows", 4))
        spec.mesh_cols = int(quilt.get("deformNumCols", 4))
        slices_x = envelope.get("quiltSliceX") or {}
        slices_y = envelope.get("quiltSliceY") or {}
        spec.slices_x = list(slices_x.get("quiltSliceX", slices_x) if isinstance(slices_x, dict) else slices_x)
        spec.slices_y = list(slices_y.get("quiltSliceY", slices_y) if isinstance(slices_y, dict) else slices_y)
    else:
        spec.style = style
        spec.mesh_rows = int(source.get("vOrder", 4))
        spec.mesh_cols = int(source.get("uOrder", 4))
    if spec.mesh_x is not None:
        expected = spec.mesh_rows * spec.mesh_cols
        if len(spec.mesh_x) != expected or len(spec.mesh_y) != expected:
            raise SmartObjectError(
                f"warp mesh has {len(spec.mesh_x)} x / {len(spec.mesh_y)} y points, "
                f"expected {spec.mesh_rows}x{spec.mesh_cols}"
            )
    return spec


# Filter ids (four-character codes) of smart filters we can reproduce.
GAUSSIAN_BLUR_ID = int.from_bytes(b"GsnB", "big")


def read_smart_filters(desc: dict) -> list[SmartFilter]:
    fx = desc.get("filterFX")
    if not fx:
        return []
    master_enabled = bool(fx.get("enab", True))
    filters = []
    for item in fx.get("filterFXList", []):
        blend = item.get("blendOptions") or {}
        filters.append(
            SmartFilter(
                name=str(item.get("Nm", "")).rstrip(".").strip() or "unnamed filter",
                filter_id=int(item.get("filterID", 0)),
                enabled=master_enabled and bool(item.get("enab", True)),
                params=item.get("Fltr") or {},
                opacity=float(blend.get("Opct", 100.0)),
                blend_mode=str(blend.get("Md", "Nrml")),
            )
        )
    return filters
