"""The smart-object model: everything needed to re-render a placed layer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .content import PSD_FILETYPES, RASTER_FILETYPES, decode_content
from .descriptor import (
    SmartFilter,
    WarpSpec,
    placed_descriptor,
    read_content_size,
    read_smart_filters,
    read_transforms,
    read_warp,
)
from .errors import SmartObjectError
from .filters import unsupported_filters


@dataclass
class SmartObject:
    """A placed layer: its content and how that content lands on the canvas.

    Geometry fields are in canvas pixels (corners TL, TR, BR, BL as x, y);
    `unsupported` lists, in words, everything we read but cannot reproduce.
    """

    name: str
    content_size: tuple[int, int]  # (w, h) in content pixels
    content: np.ndarray | None  # float32 straight RGBA (h, w, 4), None when unsupported
    filetype: str
    transform: tuple[float, ...]  # Trnf: TL, TR, BR, BL corners (x, y) in canvas pixels
    non_affine: tuple[float, ...]  # nonAffineTransform, same layout
    warp: WarpSpec
    smart_filters: list[SmartFilter] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    layer_bbox: tuple[int, int, int, int] | None = None  # the box Photoshop cached
    # Preset warps without a known formula: 4x4 Bezier control points in canvas
    # pixels fitted to the layer's cached pixels at ingest (see fit.py).
    fitted_control: np.ndarray | None = None
    # Warped layers: how far (content pixels, positive outward; left, top,
    # right, bottom) Photoshop drew the content's edges beyond the warp's own,
    # measured on the layer's cached pixels at ingest (see calibrate.py), and
    # whether the content moves with them (stretched over the extended warp)
    # or stays where the warp puts it, its edge pixels drawn out to them.
    edge_offsets: tuple[float, float, float, float] | None = None
    edges_move_content: bool = True
    # The warp's inversion that measuring the edges made, over the box the
    # offsets could reach (warpmap.kept_inversion): build_warp_map crops it
    # rather than inverting the warp again. Held in memory only.
    kept_inverse: tuple | None = field(default=None, repr=False, compare=False)


@dataclass
class MeasuredGeometry:
    """What ingest measured of a smart object's geometry on Photoshop's cached
    pixels (a preset's fitted mesh, the edge offsets), kept in the render plan so
    a worker drawing the object later reads it instead of measuring again."""

    fitted_control: np.ndarray | None = None
    edge_offsets: tuple[float, float, float, float] | None = None
    edges_move_content: bool = True

    @classmethod
    def of(cls, so: "SmartObject") -> "MeasuredGeometry":
        return cls(so.fitted_control, so.edge_offsets, so.edges_move_content)

    def to_json(self) -> dict:
        control = None if self.fitted_control is None else np.asarray(self.fitted_control).tolist()
        offsets = None if self.edge_offsets is None else list(self.edge_offsets)
        return {"fitted_control": control, "edge_offsets": offsets, "edges_move_content": self.edges_move_content}

    @classmethod
    def from_json(cls, data: dict) -> "MeasuredGeometry":
        control = data.get("fitted_control")
        offsets = data.get("edge_offsets")
        return cls(None if control is None else np.asarray(control, dtype=np.float64),
                   None if offsets is None else tuple(float(v) for v in offsets),
                   bool(data.get("edges_move_content", True)))


def _has_filter_mask(layer) -> bool:
    from psd_tools.constants import Tag

    return Tag.FILTER_MASK in layer.tagged_blocks


def document_icc(psd) -> bytes | None:
    """The ICC profile content is converted into: the document's, for RGB documents."""
    if psd is None or psd.color_mode != 3 or not psd.image_resources:
        return None  # other modes: the compositor works in sRGB
    from psd_tools.constants import Resource

    return psd.image_resources.get_data(Resource.ICC_PROFILE)


def read_smart_object(layer, psd=None, measured: MeasuredGeometry | None = None) -> SmartObject:
    """Read a psd-tools SmartObjectLayer into a SmartObject.

    `psd` (the PSDImage) supplies the document's colour profile, into which
    tagged content is converted as Photoshop does; without it content stays
    in its own space. `measured`: what an earlier read measured on the
    layer's cached pixels (MeasuredGeometry.of), taken instead of measuring
    again. Raises SmartObjectError when the geometry cannot be read.
    """
    desc = placed_descriptor(layer)
    transform, non_affine = read_transforms(desc)
    warp = read_warp(desc)
    filters = read_smart_filters(desc)
    unsupported: list[str] = []

    linked = getattr(layer, "smart_object", None)
    filetype = ""
    content = None
    if linked is None:
        unsupported.append("smart object content not found in the document")
    else:
        # Some writers leave the file type blank; psd-tools then sniffs the bytes.
        filetype = (linked.filetype or getattr(linked, "detected_filetype", None) or "").strip().lower()
        kind = getattr(linked, "kind", "data")
        if kind != "data":
            unsupported.append(f"{kind} content ({linked.filename or 'unnamed'}) is not embedded")
        elif filetype not in PSD_FILETYPES | RASTER_FILETYPES:
            unsupported.append(f"embedded {filetype or 'unknown'} content cannot be rasterised")
        else:
            try:
                content = decode_content(filetype, linked.data, document_icc(psd))
            except SmartObjectError as exc:
                unsupported.append(str(exc))

    size = read_content_size(desc)
    if size is None and content is not None:
        size = (content.shape[1], content.shape[0])
    if size is None:
        raise SmartObjectError(f"smart object {layer.name!r} has no content size")
    # Content decoded at another size than the descriptor's (e.g. a resized
    # PSB) keeps the placed geometry: warp_content rescales its coordinates.

    # Smart filters we reproduce are in `filters.py`; every other enabled one is reported.
    unsupported.extend(unsupported_filters(filters))
    if any(f.enabled for f in filters) and _has_filter_mask(layer):
        unsupported.append("smart filter mask (filters applied to the whole layer)")
    so = SmartObject(
        name=layer.name,
        content_size=size,
        content=content,
        filetype=filetype,
        transform=transform,
        non_affine=non_affine,
        warp=warp,
        smart_filters=filters,
        unsupported=unsupported,
        layer_bbox=tuple(layer.bbox) if layer.bbox else None,
    )
    if warp.style not in ("none", "custom", "quilt") and warp.mesh_x is None:
        _fit_preset(so, layer, measured)
    if measured is None:
        _calibrate_edges(so, layer)
    else:
        so.edge_offsets, so.edges_move_content = measured.edge_offsets, measured.edges_move_content
    return so


def _calibrate_edges(so: SmartObject, layer) -> None:
    """A warped layer's edge offsets, measured on Photoshop's cached pixels (calibrate.py)."""
    from .calibrate import calibrates, fit_edges
    from .fidelity import cached_layer_rgba

    if so.fitted_control is not None or not calibrates(so) or not layer.bbox or layer.bbox == (0, 0, 0, 0):
        return  # a fitted mesh already matches the cached outline
    try:
        cached = cached_layer_rgba(layer)
        fitted = fit_edges(so, cached, tuple(layer.bbox), keep_inversion=True) if cached is not None else None
    except (ValueError, IndexError, FloatingPointError) as exc:
        # Cached pixels that do not fit the layer (a damaged file): the exact warp
        # is drawn, and the report says the edges were not measured.
        so.unsupported.append(f"warped edges not measured on Photoshop's pixels ({type(exc).__name__}: {exc})")
        return
    if fitted is not None:
        so.edge_offsets, so.edges_move_content = fitted


# A preset's formula mesh is kept outright when it reproduces the cached
# layer within this MAE (0..255); above it the mesh is also fitted to the
# cached pixels and whichever reproduces them better is kept.
FORMULA_ACCEPT_MAE = 1.0


def _fit_preset(so: SmartObject, layer, measured: MeasuredGeometry | None = None) -> None:
    """Preset warp: its formula (presets.py) or a mesh fitted to Photoshop's cached pixels.

    The formula gives Photoshop's own control net; the fit (fit.py) starts
    from it and can only win where our resampling of the template's own
    artwork differs from Photoshop's more than the geometry does. With
    `measured`, its mesh is taken and only the notes are made here.
    """
    from .fidelity import cached_layer_rgba, rendered_error
    from .fit import fit_preset_mesh
    from .presets import preset_mesh
    from .surface import ANALYTIC_STYLES, surface_for

    if so.warp.style in ANALYTIC_STYLES:
        return
    formula = preset_mesh(so.warp, so.content_size)
    cached = cached_layer_rgba(layer) if so.content is not None else None
    filtered = any(f.enabled for f in so.smart_filters)
    if measured is not None:
        so.fitted_control = measured.fitted_control
    if formula is not None:
        # A smart filter changes the cached pixels, so they no longer show
        # the warp alone: the formula is then the better guide.
        if cached is None or filtered or measured is not None:
            return
        box = tuple(layer.bbox)
        formula_error = rendered_error(so, cached, box)
        if formula_error <= FORMULA_ACCEPT_MAE:
            return
        net, frame = formula
        fitted = fit_preset_mesh(so, cached, box, initial=surface_for(so, net, frame=frame).control)
        so.fitted_control = fitted
        if rendered_error(so, cached, box) >= formula_error:
            so.fitted_control = None
        return
    if cached is None:
        so.unsupported.append(f"warp style {so.warp.style}: no formula and nothing to fit it to")
        return
    if filtered:
        so.unsupported.append(f"warp style {so.warp.style}: fitted through smart filters, approximate")
    if measured is None:
        so.fitted_control = fit_preset_mesh(so, cached, tuple(layer.bbox))
