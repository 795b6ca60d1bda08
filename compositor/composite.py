"""The layer-tree renderer: draws a Template the way Photoshop composites it.

Pixels are float32 in [0, 1], straight (non-premultiplied) colour, in the
document's own colour space (RGB, CMYK as stored, grayscale, Lab...), as
Photoshop composites there; `to_pil` converts the result to an image at the end.

Everything is drawn inside one `region` (a box in canvas pixels): a render that
only changes a smart object passes that object's reach as the region and pastes
the result over a composite made once at ingest (see `affected_box`).

The compositing equation is the W3C/PDF one Photoshop follows:
    as = pixel alpha * mask * opacity * fill
    ao = as + ab (1 - as)
    co = [as ((1 - ab) cs + ab B(cb, cs)) + (1 - as) ab cb] / ao
Groups are isolated (children drawn on transparent, then blended as one layer)
unless pass-through; clipped layers are drawn inside their base's alpha.
"""
from __future__ import annotations

import io
import weakref
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageCms
from psd_tools.api import pil_io
from psd_tools.composite import paint, utils as pt_utils, vector
from psd_tools.composite.widen import make_widen
from psd_tools.constants import BlendMode, ColorMode

from compositor import blend as our_blend
from compositor.masks import fill_path_is_softened
from compositor.model import ArtworkKey, Box, LayerNode, Template, TemplateError, artwork_targets, content_id

SMART_OBJECT_MODES = ("cached", "rerender")

# Adjustment kinds still drawn with psd-tools' implementation because it is
# measurably closer to Photoshop on the corpus (hue/saturation: 41-53 dB vs
# 22-36 dB with ours). 16-bit documents and CMYK/grayscale also use psd-tools.
PSD_TOOLS_ADJUSTMENTS = frozenset({"huesaturation"})


# --- boxes -----------------------------------------------------------------

def intersect(a: Box, b: Box) -> Box:
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] < box[2] and box[1] < box[3] else (0, 0, 0, 0)


def is_empty(box: Box) -> bool:
    return box[0] >= box[2] or box[1] >= box[3]


def paste(region: Box, box: Box, values: np.ndarray, background: float = 0.0) -> np.ndarray:
    """`values` (covering `box`) placed on an array covering `region`, `background` elsewhere."""
    height, width = region[3] - region[1], region[2] - region[0]
    inter = intersect(region, box)
    if inter == region:  # every pixel comes from `values`: no background to fill first
        out = np.empty((height, width, values.shape[2]), dtype=np.float32)
    else:
        out = np.full((height, width, values.shape[2]), background, dtype=np.float32)
    if is_empty(inter):
        return out
    out[inter[1] - region[1]:inter[3] - region[1], inter[0] - region[0]:inter[2] - region[0]] = \
        values[inter[1] - box[1]:inter[3] - box[1], inter[0] - box[0]:inter[2] - box[0]]
    return out


def _read_only(color: np.ndarray, shape: np.ndarray, box: Box):
    """(colour, shape, box) with both arrays made read-only; an array shared
    with someone else is copied first (widen may return its input)."""
    color, shape = (values if values.flags.owndata else values.copy() for values in (color, shape))
    color.flags.writeable = False
    shape.flags.writeable = False
    return color, shape, box


def _scaled(values: np.ndarray, factor) -> np.ndarray:
    """values * factor, or `values` itself when the factor is the number 1 (no
    mask, full opacity: most layers). Callers only read the result."""
    if isinstance(factor, (int, float)) and factor == 1:
        return values
    return values * factor


def support(alpha: np.ndarray) -> tuple[slice, slice] | None:
    """(rows, columns) of the bounding box of `alpha` > 0 in an (h, w, 1) array; None when all 0."""
    nonzero = np.ascontiguousarray(alpha.reshape(alpha.shape[:2]) > 0).view(np.uint8)
    x, y, w, h = cv2.boundingRect(nonzero)
    if w == 0 or h == 0:
        return None
    return slice(y, y + h), slice(x, x + w)


# --- blending: the one place that chooses the blend-mode implementation --------

def _blend_function(mode: BlendMode, color_mode: ColorMode):
    """B(cb, cs) for a blend mode in the document's colour mode.

    RGB and grayscale use our own blend modes (`compositor.blend`); CMYK, Lab and
    the rest use psd-tools' implementations, which handle inverted ink values.
    """
    if color_mode in (ColorMode.RGB, ColorMode.GRAYSCALE, ColorMode.BITMAP, ColorMode.INDEXED):
        name = our_blend.mode_name(mode)
        return lambda cb, cs: our_blend.blend(name, cb, cs)
    from psd_tools.composite.blend import get_blend_func  # noqa: PLC0415
    return get_blend_func(mode, color_mode)


def composite_over(cb: np.ndarray, ab: np.ndarray, cs: np.ndarray, as_: np.ndarray,
                   blend) -> tuple[np.ndarray, np.ndarray]:
    """The W3C compositing equation on straight colour; returns (co, ao).

        ao = as + ab (1 - as)
        co = [as ((1 - ab) cs + ab B(cb, cs)) + (1 - as) ab cb] / ao   (cs where ao = 0)

    Evaluated in place on as few temporaries as possible (it is most of a
    render's time on large canvases), each product in the order written
    above, so the result is the same to the bit.
    """
    cb, ab, cs, as_ = (np.asarray(v, np.float32) for v in (cb, ab, cs, as_))
    one_minus_as = 1.0 - as_
    ao = ab * one_minus_as
    ao += as_
    mixed = ab * blend(cb, cs)
    term = (1.0 - ab) * cs
    mixed += term
    mixed *= as_
    np.multiply(one_minus_as * ab, cb, out=term)
    mixed += term
    co = np.array(cs, dtype=np.float32, copy=True)
    np.divide(mixed, ao, out=co, where=ao > 0)
    return np.clip(co, 0.0, 1.0, out=co), ao


# Photoshop's colour setting "Blend Text Colors Using Gamma" (on, 1.45, by
# default): a type layer is composited on values re-encoded from linear light
# with gamma 1.45 instead of the document's own encoding. Black text at
# coverage a over white then shows sRGB((1 - a) ** 1.45) rather than 1 - a:
# measured on the corpus's type layers, a = 0.533 -> 156 and a = 0.8 -> 88,
# exactly Photoshop's composite (plain blending gives 119 and 51).
TEXT_BLEND_GAMMA = 1.45


# Effects drawn over a layer's own pixels (`compositor.effects` kinds).
OVERLAY_KINDS = frozenset({"color_overlay", "gradient_overlay", "pattern_overlay"})


def _has_vector_stroke(node: LayerNode) -> bool:
    layer = node.layer
    return node.kind == "shape" and layer is not None and layer.vector_mask is not None \
        and getattr(layer, "stroke", None) is not None and layer.stroke.enabled


def _srgb_to_linear(values: np.ndarray) -> np.ndarray:
    values = np.clip(values, 0.0, 1.0)
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _linear_to_srgb(values: np.ndarray) -> np.ndarray:
    values = np.clip(values, 0.0, 1.0)
    return np.where(values <= 0.0031308, values * 12.92,
                    1.055 * values ** (1 / 2.4) - 0.055).astype(np.float32)


TEXT_GAMMA_SPACE = (
    lambda c: _srgb_to_linear(c) ** np.float32(1 / TEXT_BLEND_GAMMA),
    lambda c: _linear_to_srgb(np.clip(c, 0.0, 1.0) ** np.float32(TEXT_BLEND_GAMMA)),
)


# --- the render --------------------------------------------------------------

# Photoshop's mask feather of radius r is a Gaussian blur of sigma
# r * FEATHER_SIGMA_PER_PIXEL: fitted to the edge profile of a 6 px feathered
# mask in Photoshop's composite, sigma = r matches to 0.005 rms coverage
# (0.5 r misses by 0.09, 1.33 r by 0.04; three box blurs by 0.012).
FEATHER_SIGMA_PER_PIXEL = 1.0


def feathered(box: Box, radius: float, draw) -> np.ndarray:
    """Coverage over `box` (h, w, 1) feathered by `radius` pixels as Photoshop
    feathers a mask: `draw(box)` gives the sharp coverage of any box, here
    drawn with a margin so that the blur reaches in from beyond `box`."""
    sigma = radius * FEATHER_SIGMA_PER_PIXEL
    margin = int(np.ceil(3 * sigma)) + 1
    grown = (box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin)
    wide = draw(grown)
    blurred = cv2.GaussianBlur(np.ascontiguousarray(wide[..., 0], np.float32), (0, 0), sigmaX=sigma, sigmaY=sigma,
                               borderType=cv2.BORDER_REPLICATE)
    return blurred[margin:-margin, margin:-margin, None].astype(np.float32)


@dataclass
class Canvas:
    """What has been drawn so far inside `box`: straight colour and alpha.

    `coverage` is the alpha the layers drawn on this canvas added by themselves
    (the backdrop it was seeded with excluded): a group's own opacity.
    `isolate_adjustments` makes adjustment layers reach only that coverage, as
    in a pass-through group that Photoshop composites as one layer.
    """

    box: Box
    color: np.ndarray  # (h, w, C)
    alpha: np.ndarray  # (h, w, 1)
    coverage: np.ndarray  # (h, w, 1)
    isolate_adjustments: bool = False
    # What a knockout layer drawn here shows through to: the group's starting
    # backdrop (None: transparent, as in an isolated group).
    knockout_backdrop: "Canvas | None" = None
    # A part of another canvas (`view`): its arrays are views, drawn on in place.
    is_view: bool = False

    @classmethod
    def blank(cls, box: Box, channels: int, color: float = 1.0) -> "Canvas":
        h, w = box[3] - box[1], box[2] - box[0]
        return cls(box, np.full((h, w, channels), color, np.float32),
                   np.zeros((h, w, 1), np.float32), np.zeros((h, w, 1), np.float32))

    def seeded(self) -> "Canvas":
        """A canvas showing this one's pixels as backdrop, with nothing drawn on it yet."""
        seeded = Canvas(self.box, self.color.copy(), self.alpha.copy(),
                        np.zeros_like(self.coverage), self.isolate_adjustments)
        seeded.knockout_backdrop = Canvas(self.box, seeded.color, seeded.alpha, seeded.coverage)
        return seeded

    def view(self, box: Box) -> "Canvas":
        """The part of this canvas over `box` (inside it): drawing on it draws on this one."""
        if not self.is_view and not self._arrays_made_by_put():
            self.color, self.alpha, self.coverage = self.color.copy(), self.alpha.copy(), self.coverage.copy()
            self._made_by_put()
        window = (slice(box[1] - self.box[1], box[3] - self.box[1]), slice(box[0] - self.box[0], box[2] - self.box[0]))
        part = Canvas(box, self.color[window], self.alpha[window], self.coverage[window],
                      self.isolate_adjustments, is_view=True)
        if self.knockout_backdrop is not None:
            backdrop = self.knockout_backdrop
            part.knockout_backdrop = Canvas(box, backdrop.color[window], backdrop.alpha[window],
                                            backdrop.coverage[window])
        return part

    def put(self, color: np.ndarray, alpha: np.ndarray, blend, space=None) -> None:
        """Composite a source (straight colour, alpha) onto this canvas.

        `space` = (encode, decode) blends in another encoding of the colour
        values (type layers: see TEXT_GAMMA_SPACE).

        Only the bounding box of the source's alpha > 0 is composited: outside
        it the equation leaves the canvas as it is (ao = ab, co = cb), and
        most layers of a large document cover a small part of it.
        """
        window = support(alpha)
        if window is None:
            return
        if window == (slice(0, alpha.shape[0]), slice(0, alpha.shape[1])):
            window = (slice(None), slice(None))  # views of the whole arrays, no copies
        cb, ab, cs, as_ = self.color[window], self.alpha[window], color[window], alpha[window]
        if ab.any() and space is not None:
            encode, decode = space
            co, ao = composite_over(encode(cb), ab, encode(cs), as_, blend)
            co = decode(co)
        elif ab.any():
            co, ao = composite_over(cb, ab, cs, as_, blend)
        else:
            # Nothing drawn under it yet (a document's bottom layer): the
            # equation gives the source itself (co = as cs / as, ao = as).
            co, ao = np.clip(cs, 0.0, 1.0).astype(np.float32, copy=False), as_.astype(np.float32, copy=True)
        coverage = self.coverage[window]
        coverage = coverage + as_ * (1.0 - coverage)
        if window == (slice(None), slice(None)) and not self.is_view:
            self.color, self.alpha, self.coverage = co, ao, coverage.astype(np.float32, copy=False)
            self._made_by_put()
            return
        if not self.is_view and not self._arrays_made_by_put():
            # Other canvases (a group's knockout backdrop) or callers may hold
            # these arrays: write into copies.
            self.color, self.alpha, self.coverage = self.color.copy(), self.alpha.copy(), self.coverage.copy()
            self._made_by_put()
        self.color[window], self.alpha[window], self.coverage[window] = co, ao, coverage

    def mix_in(self, drawn: "Canvas", amount: np.ndarray) -> None:
        """Mix another canvas of the same box (this one with more drawn on it)
        into this one by `amount` (h, w, 1), interpolating premultiplied colour."""
        from compositor.effects import mix_by_coverage  # noqa: PLC0415
        color, alpha = mix_by_coverage(self.color, self.alpha, drawn.color, drawn.alpha, amount)
        coverage = (self.coverage + amount * (1.0 - self.coverage)).astype(np.float32)
        if self.is_view:  # draw through to the canvas this one is a part of
            self.color[...], self.alpha[...], self.coverage[...] = color, alpha, coverage
            return
        self.color, self.alpha, self.coverage = color, alpha, coverage
        self._made_by_put()

    def _made_by_put(self) -> None:
        self._put_arrays = tuple(weakref.ref(values) for values in (self.color, self.alpha, self.coverage))

    def _arrays_made_by_put(self) -> bool:
        """Whether the canvas still holds the arrays `put` made, which only
        this canvas refers to, so they may be written in place. Assigning
        other arrays makes this false; code that takes a canvas's array under
        another name must not draw on that canvas while it uses it."""
        made = getattr(self, "_put_arrays", None)
        return made is not None and all(ref() is values for ref, values in
                                        zip(made, (self.color, self.alpha, self.coverage)))

    def put_knockout(self, color: np.ndarray, alpha: np.ndarray, shape: np.ndarray, blend) -> None:
        """Composite a knockout source: inside its shape it replaces what the group
        drew so far and shows the group's starting backdrop instead."""
        if self.knockout_backdrop is None:
            kb_color, kb_alpha = np.ones_like(self.color), np.zeros_like(self.alpha)
        else:
            kb_color, kb_alpha = self.knockout_backdrop.color, self.knockout_backdrop.alpha
        mixed = (1.0 - kb_alpha) * color + kb_alpha * blend(kb_color, color)
        premultiplied = (1.0 - shape) * self.alpha * self.color \
            + (shape - alpha) * kb_alpha * kb_color + alpha * mixed
        new_alpha = (1.0 - shape) * self.alpha + (shape - alpha) * kb_alpha + alpha
        self.color = np.clip(np.divide(premultiplied, new_alpha, out=np.array(color, np.float32),
                                       where=new_alpha > 0), 0.0, 1.0).astype(np.float32)
        self.alpha = new_alpha.astype(np.float32)
        self.coverage = ((1.0 - shape) * self.coverage + alpha).astype(np.float32)

    def isolated_color(self, backdrop: "Canvas") -> np.ndarray:
        """The colour that, put with alpha `coverage` over `backdrop`, gives this canvas.

        Undoes the backdrop a group was drawn over, so the group can be
        composited as one layer: Cs = (C·a − (1 − ag)·ab·Cb) / ag.
        """
        premultiplied = self.color * self.alpha - (1.0 - self.coverage) * backdrop.alpha * backdrop.color
        color = np.divide(premultiplied, self.coverage, out=self.color.copy(), where=self.coverage > 0)
        return np.clip(color, 0.0, 1.0).astype(np.float32)


@dataclass
class RenderResult:
    box: Box
    color: np.ndarray  # (h, w, C) straight, document colour space
    alpha: np.ndarray  # (h, w, 1)
    unsupported: list[str] = field(default_factory=list)


class Renderer:
    """Draws one Template. Keeps what can be reused between renders (warp maps)."""

    def __init__(self, template: Template, smart_objects: str = "cached", measured: dict | None = None):
        """`measured`: {smart object index: MeasuredGeometry} a compile measured on
        Photoshop's pixels (RenderPlan keeps them), taken instead of measuring again."""
        if smart_objects not in SMART_OBJECT_MODES:
            raise ValueError(f"smart_objects must be one of {SMART_OBJECT_MODES}, got {smart_objects!r}")
        self.template = template
        self.smart_objects = smart_objects
        self.psd = template.psd
        self.channels = template.channels
        self._widen = make_widen(self.psd)
        self._notes: list[str] = []
        # Per-template work reused between renders: smart-object descriptors,
        # warp maps, effect settings, the ICC transform.
        self._cache: dict = {}
        # The artwork of this render, per smart object (by its position in
        # template.smart_objects, so that objects sharing a name stay apart).
        self._artwork: dict[int, np.ndarray] = {}
        objects = template.smart_objects
        self._object_index = {id(node): index for index, node in enumerate(objects)}
        # Read once: every render resolves its artwork against them.
        self._object_names = [node.name for node in objects]
        self._content_ids = [content_id(node) for node in objects]
        self._measured = dict(measured or {})

    # public ---------------------------------------------------------------

    def artwork_targets(self, keys) -> dict[int, ArtworkKey]:
        """compositor.model.artwork_targets over the template's smart objects."""
        return artwork_targets(self._object_names, self._content_ids, keys)

    def render(self, region: Box | None = None,
               artwork: dict[ArtworkKey, np.ndarray] | None = None) -> RenderResult:
        """Composite the whole tree inside `region` (default: the canvas).

        `artwork` maps smart objects (by name or index, see
        `compositor.model.artwork_targets`: linked instances share it) to
        straight RGBA float32 images that replace the objects' content
        (re-rendered through their transform).
        """
        region = intersect(region or self.template.canvas_box, self.template.canvas_box)
        if is_empty(region):
            raise TemplateError(f"render region {region} is empty or outside the canvas")
        self._notes = []
        artwork = artwork or {}
        self._artwork = {index: artwork[key] for index, key in self.artwork_targets(artwork).items()}
        canvas = Canvas.blank(region, self.channels)
        if not self.template.layers:
            # A flat document (no layer records): its image is the merged data itself.
            window = (slice(region[1], region[3]), slice(region[0], region[2]))
            canvas.color = self._widen(self.psd.numpy("color")[window].astype(np.float32), self.channels)
            canvas.alpha = self.psd.numpy("shape")[window].astype(np.float32)
        for node in self.template.layers:
            self._draw(node, canvas)
        return RenderResult(region, canvas.color, canvas.alpha, list(dict.fromkeys(self._notes)))

    # tree -----------------------------------------------------------------

    def _draw(self, node: LayerNode, canvas: Canvas) -> None:
        if not node.visible:
            return
        if node.kind == "adjustment":
            self._draw_adjustment(node, canvas)
            return
        if node.pass_through and not node.clip_layers and node.fill_opacity == 1.0 \
                and node.artboard_rect is None and not node.effects:
            self._draw_pass_through(node, canvas)
            return
        if not node.is_group and is_empty(intersect(node.box, canvas.box)) and not node.effects:
            return
        source = None
        if self._redraws_smart_object(node):
            source = self._smart_object_pixels(node, canvas.box)
            if source is not None and node.effects and not self._draws_own_effects(node):
                self._notes.append(f"layer {node.name!r}: effects of a re-rendered smart object "
                                   f"not drawn ({', '.join(node.effects)})")
        if node.effects and self._draws_own_effects(node):
            self._draw_layer_with_effects(node, canvas, source)
            return
        if source is None and node.effects and not node.is_group:
            self._draw_with_psd_tools_effects(node, canvas)
            return
        if source is None:
            part = self._pixels_box(node, canvas)
            if part is not None:
                canvas = canvas.view(part)
            source = self._source(node, canvas)
        if source is None:
            return
        color, alpha = source
        clip_separately = node.clip_layers and not node.blend_clipped_as_group
        if node.clip_layers and not clip_separately:
            split = self._split_vector_stroke(node, color, alpha, canvas.box)
            if split is None:
                color = self._draw_clipped(node, color, alpha, canvas.box)
            else:
                # Clipped to the fill alone; the stroke goes over them, as
                # Photoshop draws a shape's vector stroke like an effect.
                clipped = self._draw_clipped(node, split.fill_colour, split.fill_alpha, canvas.box)
                color, alpha = composite_over(clipped, split.fill_alpha, split.stroke_colour,
                                              split.stroke_alpha, lambda cb, cs: cs)
        shape = _scaled(alpha, self._mask(node, canvas.box))
        if clip_separately:
            # Drawn after the base itself, each inside the base's shape.
            self._put_source(node, canvas, color, shape)
            self._draw_clipped_separately(node, canvas, shape)
            return
        self._put_source(node, canvas, color, shape)

    def _split_vector_stroke(self, node: LayerNode, color: np.ndarray, alpha: np.ndarray, box: Box):
        """A clipping base's cached pixels split into its fill and its vector
        stroke (`compositor.shapes`), or None to keep them merged."""
        from compositor.errors import UnsupportedFeature  # noqa: PLC0415
        from compositor.shapes import (  # noqa: PLC0415
            SplitShape,
            draw_vector_stroke,
            split_vector_stroke,
            stroke_and_fill_colours,
        )

        layer = node.layer
        if not _has_vector_stroke(node) or not layer.has_pixels():
            return None
        split = None
        if self.template.color_mode == ColorMode.RGB and color.shape[-1] == 3:
            try:
                stroke_colour, fill_colour = stroke_and_fill_colours(layer)
            except UnsupportedFeature:
                stroke_colour = None
            if stroke_colour is not None:
                path = vector.draw_vector_mask(layer, box) if fill_colour is not None else np.zeros_like(alpha)
                split = split_vector_stroke(color, alpha, path, stroke_colour, fill_colour)
                if split is None:
                    # The pixels cannot tell the stroke from the fill: draw it
                    # from the path, within what the layer shows.
                    stroke_alpha = np.minimum(draw_vector_stroke(layer, box), alpha)
                    cap = getattr(layer.stroke._data.get(b"strokeStyleLineCapType"), "enum", b"strokeStyleButtCap")
                    if cap != b"strokeStyleButtCap" and (layer.stroke._data.get(b"strokeStyleLineDashSet") or not all(
                            subpath.is_closed() for subpath in layer.vector_mask.paths)):
                        self._notes.append(f"layer {node.name!r}: vector stroke's round or square ends "
                                           f"drawn square-cut (butt)")
                    split = SplitShape(np.broadcast_to(fill_colour, color.shape).astype(np.float32), path,
                                       np.broadcast_to(stroke_colour, color.shape).astype(np.float32),
                                       stroke_alpha)
        if split is None:
            self._note_stroke_under_clipped(node)
        return split

    def _note_stroke_under_clipped(self, node: LayerNode) -> None:
        if _has_vector_stroke(node) and node.clip_layers:
            self._notes.append(f"layer {node.name!r}: vector stroke of a clipping base drawn under "
                               f"its clipped layers")

    def _pixels_box(self, node: LayerNode, canvas: Canvas) -> Box | None:
        """The part of the canvas a layer drawn from its own pixels can change, when
        smaller than the canvas: its pixels' box (its alpha is 0 elsewhere, so
        drawing it there alone gives the same canvas, without canvas-sized
        arrays for a small layer). None for what may reach further or depends
        on the whole canvas: groups, knockout, vector masks, dissolve, clipped
        layers blended one by one."""
        if node.is_group or node.knockout or node.has_vector_mask or node.blend_mode == BlendMode.DISSOLVE \
                or (node.clip_layers and not node.blend_clipped_as_group):
            return None
        decoded = self._decoded_pixels(node)
        if decoded is None:
            return None
        box = intersect(decoded[2], canvas.box)
        return None if is_empty(box) or box == canvas.box else box

    def _put_source(self, node: LayerNode, canvas: Canvas, color: np.ndarray, shape: np.ndarray) -> None:
        """Composite a node's pixels (colour, shape = pixel alpha x masks) with its
        opacity, fill, blend mode and knockout."""
        alpha = _scaled(shape, node.opacity * node.fill_opacity)
        mode = BlendMode.NORMAL if node.blend_mode == BlendMode.PASS_THROUGH else node.blend_mode
        if mode == BlendMode.DISSOLVE:
            # Photoshop's noise is not reproducible: a seeded all-or-nothing alpha.
            alpha, mode = our_blend.dissolve_alpha(alpha), BlendMode.NORMAL
        blend = _blend_function(mode, self.template.color_mode)
        if node.knockout:
            canvas.put_knockout(color, alpha, shape, blend)
        else:
            canvas.put(color, alpha, blend, self._blend_space(node))

    def _blend_space(self, node: LayerNode):
        """The encoding a layer's own pixels are blended in: None (the document's),
        or the text gamma for type layers in 8- and 16-bit RGB documents (see
        TEXT_BLEND_GAMMA; 32-bit documents blend everything in linear light)."""
        if node.kind == "type" and self.template.color_mode == ColorMode.RGB and self.template.depth != 32:
            return TEXT_GAMMA_SPACE
        return None

    def _draws_own_effects(self, node: LayerNode) -> bool:
        """Whether we render this layer's effects from its pixels ourselves (see
        `model._effects_plan`); psd-tools draws the others."""
        return node.effects_renderer == "ours"

    def _draw_layer_with_effects(self, node: LayerNode, canvas: Canvas, source) -> None:
        """A layer and its effects, all rendered from the layer's (possibly new) pixels.

        Bottom to top: shadows and outer glows, the layer in its blend mode,
        overlays, then inner effects and strokes. Opacity scales everything;
        fill only the layer's own pixels.
        """
        from compositor.effects import (effects_reach, paint_within_layer, part_blend,  # noqa: PLC0415
                                        read_effects, render_effects)
        from compositor.model import traces_path_for_effects  # noqa: PLC0415
        if source is None:
            source = self._source(node, canvas)
        if source is None:
            return
        color, alpha = source
        key = ("effects", id(node))
        if key not in self._cache:
            self._cache[key] = read_effects(node.layer)
        mask = self._mask(node, canvas.box)
        # The effects trace the layer as it shows, vector stroke included.
        shape = alpha * mask
        split = None
        overlaid = any(effect.kind in OVERLAY_KINDS for effect in self._cache[key])
        if _has_vector_stroke(node) and (node.clip_layers or overlaid):
            # Photoshop draws a shape's vector stroke over its overlays and
            # clipped layers, which reach its fill alone.
            split = self._split_vector_stroke(node, color, alpha, canvas.box)
            if split is None and overlaid:
                self._notes.append(f"layer {node.name!r}: vector stroke drawn under its overlays")
        if split is not None:
            color, layer_shape = split.fill_colour, split.fill_alpha * mask
            if node.clip_layers:
                color = self._draw_clipped(node, color, split.fill_alpha, canvas.box)
        else:
            layer_shape = shape
            if node.clip_layers:
                self._note_stroke_under_clipped(node)
                color = self._draw_clipped(node, color, alpha, canvas.box)
        bounds = None if is_empty(node.box) else node.box
        traced, shown, traced_box, traced_color = shape, None, canvas.box, color
        if node.kind in ("shape", "fill") and node.layer is not None and traces_path_for_effects(node.layer):
            # The effects follow the path (see `traces_path_for_effects`),
            # traced past the canvas by the effects' reach: a shape running
            # off the canvas goes on there, so its inside stroke must not
            # outline the canvas's edge. The rasteriser leaves float residue
            # (~1e-16) along the rows right of a path, which a stroke would
            # outline; no coverage that small is real.
            reach = effects_reach(self._cache[key])
            traced_box = (canvas.box[0] - reach, canvas.box[1] - reach, canvas.box[2] + reach, canvas.box[3] + reach)
            path = vector.draw_vector_mask(node.layer, traced_box)
            traced = self._mask(node, traced_box) * np.where(path > 1e-6, path, 0.0)
            traced = np.broadcast_to(traced, path.shape).astype(np.float32)
            shown = paste(traced_box, canvas.box, shape)
            traced_color = paste(traced_box, canvas.box, color, 1.0)
        stack = render_effects(np.concatenate([traced_color, traced], axis=-1), traced_box, self._cache[key],
                               bounds=bounds, document=self.template.canvas_box, shown=shown)
        # The stack is grown by the effects' reach; only our box is drawn.
        dx, dy = canvas.box[0] - stack.box[0], canvas.box[1] - stack.box[1]
        h, w = shape.shape[:2]
        if stack.shown is not None:
            layer_shape = stack.shown[dy:dy + h, dx:dx + w]  # what its strokes leave of the layer

        def put_part(part) -> None:
            part_alpha = part.alpha[dy:dy + h, dx:dx + w] * node.opacity
            part_color = part.colour if part.colour.shape[:2] == (1, 1) else part.colour[dy:dy + h, dx:dx + w]
            if part.strength is None:
                blend_function = lambda cb, cs, mode=part.mode: our_blend.blend(mode, cb, cs)  # noqa: E731
            else:
                # Its blend reads the part's strength over the window `put` composites.
                window = support(part_alpha)
                if window is None:
                    return
                blend_function = part_blend(part, (slice(window[0].start + dy, window[0].stop + dy),
                                                   slice(window[1].start + dx, window[1].stop + dx)))
            canvas.put(np.broadcast_to(part_color, color.shape).astype(np.float32), part_alpha, blend_function)

        for part in stack.below:
            put_part(part)
        mode = BlendMode.NORMAL if node.blend_mode == BlendMode.PASS_THROUGH else node.blend_mode
        if split is None:
            color, above = paint_within_layer(stack, color, node.fill_opacity, lambda a: a[dy:dy + h, dx:dx + w])
        else:
            # Inside strokes cover the vector stroke too: drawn above it.
            above = list(stack.above)
        layer_blend = _blend_function(mode, self.template.color_mode)
        shape = layer_shape
        window = support(shape) if stack.overlays else None
        if window is not None:
            # The layer and its overlays share the layer's coverage: drawn as
            # if the layer covered each pixel, then mixed in by that coverage
            # once (a 100 % overlay hides the layer's colour on soft edges too).
            # Only the window the layer covers is drawn twice.
            rows, cols = window
            inside = canvas.view((canvas.box[0] + cols.start, canvas.box[1] + rows.start,
                                  canvas.box[0] + cols.stop, canvas.box[1] + rows.stop))
            full = inside.seeded()
            full.put(np.ascontiguousarray(color[window]), np.full_like(shape[window], node.fill_opacity),
                     layer_blend, self._blend_space(node))
            for part in stack.overlays:
                part_color = part.colour if part.colour.shape[:2] == (1, 1) \
                    else part.colour[dy:dy + h, dx:dx + w][window]
                part_share = part.within[dy:dy + h, dx:dx + w][window]
                full.put(np.broadcast_to(part_color, full.color.shape).astype(np.float32),
                         np.ascontiguousarray(part_share),
                         lambda cb, cs, mode=part.mode: our_blend.blend(mode, cb, cs))
            inside.mix_in(full, shape[window] * node.opacity)
        elif not stack.overlays:
            canvas.put(color, shape * (node.opacity * node.fill_opacity), layer_blend, self._blend_space(node))
        if split is not None:
            canvas.put(split.stroke_colour, split.stroke_alpha * mask * (node.opacity * node.fill_opacity),
                       layer_blend, self._blend_space(node))
        for part in above:
            put_part(part)

    def _redraws_smart_object(self, node: LayerNode) -> bool:
        return node.kind == "smartobject" and (self.smart_objects == "rerender" or self._artwork_of(node) is not None)

    def _artwork_of(self, node: LayerNode) -> np.ndarray | None:
        return self._artwork.get(self._object_index.get(id(node), -1))

    def _draw_with_psd_tools_effects(self, node: LayerNode, canvas: Canvas) -> None:
        """A layer with effects, drawn from its own (cached) pixels.

        Until `compositor.effects` exists, psd-tools draws the layer with its
        overlays and strokes (and its mask, opacity and clipped layers) on a
        transparent canvas; we only blend that result in. Other effects are
        listed as unsupported by the model.
        """
        from psd_tools.composite.composite import Compositor  # noqa: PLC0415
        self._note_stroke_under_clipped(node)
        h, w = canvas.box[3] - canvas.box[1], canvas.box[2] - canvas.box[0]
        drawer = Compositor(canvas.box, np.ones((h, w, self.channels), np.float32),
                            np.zeros((h, w, 1), np.float32), layer_filter=lambda layer: layer.visible,
                            widen=self._widen, color_mode=self.template.color_mode)
        # clip_compositing: a clipped layer is drawn too (we do the clipping).
        drawer.apply(node.layer, clip_compositing=True)
        color, _, alpha = drawer.finish()
        mode = BlendMode.NORMAL if node.blend_mode == BlendMode.DISSOLVE else node.blend_mode
        canvas.put(self._widen(color.astype(np.float32), self.channels), alpha.astype(np.float32),
                   _blend_function(mode, self.template.color_mode))

    def _source(self, node: LayerNode, canvas: Canvas):
        """(colour, alpha) of a node over the canvas box, before mask and opacity."""
        if node.is_group:
            if node.pass_through and node.artboard_rect is None:
                # A pass-through group that is a clipping base, has fill
                # opacity below 100 % or has effects: Photoshop composites it as one layer, but
                # its children still blend with what lies below; its
                # adjustments only reach the group's own pixels.
                inner = canvas.seeded()
                inner.isolate_adjustments = True
                for child in node.children:
                    self._draw(child, inner)
                return inner.isolated_color(canvas), inner.coverage
            inner = Canvas.blank(canvas.box, self.channels)
            if node.artboard_rect is not None:
                self._draw_artboard_background(node, inner)
            for child in node.children:
                self._draw(child, inner)
            if node.artboard_rect is not None:
                inner.alpha = inner.alpha * paste(canvas.box, node.artboard_rect, np.ones(
                    (node.artboard_rect[3] - node.artboard_rect[1], node.artboard_rect[2] - node.artboard_rect[0], 1),
                    np.float32))
            return inner.color, inner.alpha
        return self._layer_pixels(node, canvas.box)

    def _draw_artboard_background(self, node: LayerNode, canvas: Canvas) -> None:
        """An artboard paints its background colour inside its rectangle, under its layers."""
        rgb = node.artboard_background
        if rgb is None:
            return
        if self.template.color_mode == ColorMode.GRAYSCALE:
            color = np.array([0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]], np.float32)
        elif self.template.color_mode == ColorMode.RGB:
            color = np.array(rgb, np.float32)
        else:
            self._notes.append(f"layer {node.name!r}: artboard background in a "
                               f"{self.template.color_mode.name} document not drawn")
            return
        rect = intersect(node.artboard_rect, canvas.box)
        if is_empty(rect):
            return
        h, w = rect[3] - rect[1], rect[2] - rect[0]
        canvas.put(paste(canvas.box, rect, np.broadcast_to(color, (h, w, len(color))).astype(np.float32), 1.0),
                   paste(canvas.box, rect, np.ones((h, w, 1), np.float32)),
                   _blend_function(BlendMode.NORMAL, self.template.color_mode))

    def _draw_pass_through(self, node: LayerNode, canvas: Canvas) -> None:
        """Children straight onto the live backdrop, then mixed back by opacity and mask."""
        before = canvas.seeded()
        before.coverage = canvas.coverage
        canvas.coverage = np.zeros_like(canvas.coverage)
        outer_knockout_backdrop, canvas.knockout_backdrop = canvas.knockout_backdrop, before
        for child in node.children:
            self._draw(child, canvas)
        canvas.knockout_backdrop = outer_knockout_backdrop
        m = self._mask(node, canvas.box) * (node.opacity * node.fill_opacity)
        group_coverage = canvas.coverage * m
        canvas.coverage = (before.coverage + group_coverage * (1.0 - before.coverage)).astype(np.float32)
        if np.all(m == 1.0):
            return
        # C·ao = (1−m)·ab·Cb + m·aG·G, with G, aG the canvas after the children.
        ab, cb = before.alpha, before.color
        ag, g = canvas.alpha, canvas.color
        ao = (1.0 - m) * ab + m * ag
        premultiplied = (1.0 - m) * ab * cb + m * ag * g
        canvas.color = np.divide(premultiplied, ao, out=g.copy(), where=ao > 0).astype(np.float32)
        canvas.alpha = ao.astype(np.float32)

    def _draw_clipped_separately(self, base: LayerNode, canvas: Canvas, base_shape: np.ndarray) -> None:
        """Clipped layers blended one by one with everything below, inside the base's shape."""
        before = canvas.seeded()
        for clipped in base.clip_layers:
            self._draw(clipped, canvas)
        # Keep the clipped layers' work only where the base is: a premultiplied
        # mix by the base's shape.
        premultiplied = (1.0 - base_shape) * before.alpha * before.color + base_shape * canvas.alpha * canvas.color
        alpha = (1.0 - base_shape) * before.alpha + base_shape * canvas.alpha
        canvas.color = np.divide(premultiplied, alpha, out=canvas.color.copy(), where=alpha > 0).astype(np.float32)
        canvas.alpha = alpha.astype(np.float32)

    def _draw_clipped(self, base: LayerNode, color: np.ndarray, alpha: np.ndarray, box: Box) -> np.ndarray:
        """The base's colour with its clipped layers drawn over it (alpha stays the base's).

        The clipped layers are drawn over the base as if it were opaque; the
        base's alpha then applies once to the result. So on a soft edge of
        the base a clipped layer keeps its own weight (a 23 % fill shows
        23 % of its colour there, as Photoshop does), not the larger share
        it would take over a half-transparent backdrop.
        """
        inner = Canvas(box, self._widen(color, self.channels), np.ones_like(alpha), np.zeros_like(alpha))
        for clipped in base.clip_layers:
            self._draw(clipped, inner)
        return inner.color

    # layer content ----------------------------------------------------------

    def _layer_pixels(self, node: LayerNode, box: Box):
        """A layer's own (cached) colour and alpha over `box`, None when it has none."""
        decoded = self._decoded_pixels(node)
        if decoded is None:
            return None
        color, shape, layer_box = decoded
        if layer_box == box:
            return color, shape  # read-only (see `_decoded_pixels`): no copy needed
        return paste(box, layer_box, color, 1.0), paste(box, layer_box, shape)

    def _decoded_pixels(self, node: LayerNode):
        """(colour, alpha, box) of a layer's stored pixels, decoded once per Renderer.

        Later renders (another artwork, another region) reuse them, so only
        re-rendered smart objects cost decoding work. The arrays are made
        read-only: a layer covering the whole region is drawn from them as
        they are, so writing into one would change every later render.
        """
        key = ("pixels", id(node))
        if key in self._cache:
            return self._cache[key]
        if node.pixels is not None:
            color, shape = node.pixels
            decoded = _read_only(self._widen(color.astype(np.float32), self.channels),
                                 shape.astype(np.float32), node.box)
            self._cache[key] = decoded
            return decoded
        layer = node.layer
        color = layer.numpy("color")
        shape = layer.numpy("shape")
        layer_box = tuple(layer.bbox)
        if not layer.has_pixels() and pt_utils.has_fill(layer):
            color, shape = self._drawn_fill(node)
        elif fill_path_is_softened(layer):
            # The cached pixels are cut by the sharp path; a fill reaches the
            # whole canvas, and `_mask` applies the path with its density and
            # feather (Photoshop shows the fill at 1 - density off the path).
            layer_box = (0, 0, self.psd.width, self.psd.height)
            color, shape = self._drawn_fill(node, layer_box)
        decoded = None
        if color is not None:
            color = self._widen(color.astype(np.float32), self.channels)
            if shape is None:
                shape = np.ones(color.shape[:2] + (1,), np.float32)
            shape = shape.astype(np.float32)
            if pt_utils.is_fill_disabled(layer) and not layer.has_pixels():
                shape = np.zeros_like(shape)
            decoded = _read_only(color, shape, layer_box)
        self._cache[key] = decoded
        return decoded

    def _drawn_fill(self, node: LayerNode, box: Box | None = None):
        """Colour and alpha over the layer's box of a fill or shape layer that
        Photoshop stored no pixels for: gradients drawn by `compositor.fills`
        in RGB documents, anything else by psd-tools' painter."""
        from compositor import fills  # noqa: PLC0415
        from compositor.errors import UnsupportedFeature  # noqa: PLC0415
        from psd_tools.constants import Tag  # noqa: PLC0415

        layer = node.layer
        if _has_vector_stroke(node):
            dashes = layer.stroke._data.get(b"strokeStyleLineDashSet") or []
            self._notes.append(f"layer {node.name!r}: {'dashed ' if dashes else ''}vector stroke not drawn "
                               f"(the file caches no pixels for the shape)")
        box = tuple(layer.bbox) if box is None else box
        descriptor = layer.tagged_blocks.get_data(Tag.GRADIENT_FILL_SETTING)
        if descriptor is None or pt_utils.is_fill_disabled(layer):
            return paint.create_fill(layer, box)
        if self.template.color_mode != ColorMode.RGB:
            self._notes.append(f"layer {node.name!r}: gradient fill in a {self.template.color_mode.name} "
                               "document drawn approximately")
            return paint.create_fill(layer, box)
        try:
            gradient = fills.read_gradient_fill(descriptor)
        except UnsupportedFeature as exc:
            self._notes.append(f"layer {node.name!r}: {exc} drawn approximately")
            return paint.create_fill(layer, box)
        document_box = (0, 0, self.psd.width, self.psd.height)
        alignment = fills.alignment_box(layer, document_box, gradient.align_with_layer)
        return fills.draw_gradient(gradient, alignment, box)

    def smart_object_geometry(self, node: LayerNode, content_size: tuple[int, int] | None = None):
        """(smart object, warp map) of `node` for content of `content_size`
        (default: its own), read and built once per renderer; raises when its
        geometry cannot be read."""
        from compositor.smartobjects import build_warp_map, read_smart_object  # noqa: PLC0415

        so = self._cache.get(("so", id(node)))
        if so is None:
            measured = self._measured.get(self._object_index.get(id(node)))
            so = self._cache[("so", id(node))] = read_smart_object(node.layer, self.psd, measured)
        size = tuple(int(v) for v in (content_size or so.content_size))
        warp_map = self._cache.get(("map", id(node), size))
        if warp_map is None:
            canvas_size = (self.template.width, self.template.height)
            warp_map = self._cache[("map", id(node), size)] = build_warp_map(so, canvas_size, content_size=size)
        return so, warp_map

    def affected_box(self, key: ArtworkKey) -> Box:
        """The canvas box a smart object's content can change (by name or index):
        `affected_box_of` its warped outline, from this renderer's geometry."""
        template = self.template
        node = template.smart_objects[key] if isinstance(key, int) else template.find(key)
        try:
            warp_box = self.smart_object_geometry(node)[1].box
        except Exception:  # no geometry for it: it is drawn from its cached pixels, inside its box
            warp_box = None
        return affected_box_of(template, node, warp_box)

    def _smart_object_pixels(self, node: LayerNode, box: Box):
        """The smart object re-rendered from its content (or the user's artwork).

        Returns None to fall back to Photoshop's cached pixels (noted as
        unsupported) when the object cannot be re-rendered; with user artwork
        that would draw the wrong picture, so it raises instead.
        """
        artwork = self._artwork_of(node)

        def cannot(reason: str):
            if artwork is not None:
                raise TemplateError(f"smart object {node.name!r}: {reason}")
            self._notes.append(f"layer {node.name!r}: {reason}, drawn from Photoshop's cached pixels")
            return None

        if self.template.color_mode not in (ColorMode.RGB, ColorMode.GRAYSCALE) and not (
                self.template.color_mode == ColorMode.CMYK and self.template.icc_profile):
            return cannot(f"re-rendering in a {self.template.color_mode.name} document is not supported")
        try:
            from compositor.smartobjects import warp_content  # noqa
            from compositor.smartobjects.content import is_raster_file  # noqa
        except ImportError:
            return cannot("smart-object re-rendering is not available in this build")
        try:
            so = self.smart_object_geometry(node)[0]
            content = artwork if artwork is not None else so.content
            if content is None:
                return cannot("content cannot be decoded (" + "; ".join(so.unsupported or ["unknown format"]) + ")")
            warp_map = self.smart_object_geometry(node, (content.shape[1], content.shape[0]))[1]
            # users' artwork is always an image file (PNG, JPEG...)
            raster_file = artwork is not None or is_raster_file(so.filetype)
            pixels = warp_content(warp_map, content, raster_file)
        except TemplateError:
            raise
        except Exception as exc:  # geometry errors name the feature they met
            return cannot(f"{type(exc).__name__}: {exc}")
        for note in so.unsupported:
            self._notes.append(f"layer {node.name!r}: {note}")
        color, alpha = pixels[..., :3], pixels[..., 3:4]
        color = self._rgb_to_document(color)
        return paste(box, warp_map.box, color, 1.0), paste(box, warp_map.box, alpha)

    def _rgb_to_document(self, rgb: np.ndarray) -> np.ndarray:
        """sRGB content (h, w, 3) in the document's colour space.

        Photoshop converts placed RGB content with the document's colour
        profile: we do the same through the embedded ICC profile (8-bit
        precision); without a profile, grayscale takes the Rec. 601 luma.
        """
        mode = self.template.color_mode
        if mode == ColorMode.RGB:
            return rgb
        if mode == ColorMode.GRAYSCALE and not self.template.icc_profile:
            return rgb @ np.array([[0.299], [0.587], [0.114]], np.float32)
        transform = self._cache.get("icc")
        if transform is None:
            target = ImageCms.ImageCmsProfile(io.BytesIO(self.template.icc_profile))
            out_mode = "L" if mode == ColorMode.GRAYSCALE else "CMYK"
            transform = self._cache["icc"] = ImageCms.buildTransform(
                ImageCms.createProfile("sRGB"), target, "RGB", out_mode,
                renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
        image = Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")
        converted = np.asarray(ImageCms.applyTransform(image, transform), np.float32) / 255.0
        if mode == ColorMode.GRAYSCALE:
            return converted[..., None]
        return 1.0 - converted  # Photoshop stores CMYK inverted (1 = no ink)

    def _mask(self, node: LayerNode, box: Box):
        """Raster mask times vector mask (where Photoshop applies it), over `box`."""
        layer = node.layer
        coverage = 1.0
        mask = node.mask
        if mask is not None and not mask.disabled and not self._mask_repeats_shape(node):
            values = self._mask_values(node)
            if values is not None and mask.feather > 0:
                # blurred with the mask's background beyond its edges
                coverage = feathered(box, mask.feather,
                                     lambda grown: paste(grown, mask.box, values, mask.background))
            elif values is not None:
                coverage = paste(box, mask.box, values, mask.background)
            elif mask.background < 1.0:
                coverage = np.full((box[3] - box[1], box[2] - box[0], 1), mask.background, np.float32)
            coverage = mask.density * coverage + (1.0 - mask.density)
        if node.has_vector_mask and layer is not None and layer.vector_mask is not None and not layer.vector_mask.disabled \
                and self._vector_mask_not_in_pixels(layer):
            density = feather = None
            if layer.mask is not None and layer.mask.parameters:
                density = layer.mask.parameters.vector_mask_density
                feather = layer.mask.parameters.vector_mask_feather
            path = self._vector_path(layer, box, feather or 0.0)
            if density is not None:
                # The vector mask's density lightens the path alone, not the
                # user mask it is multiplied with.
                path = density / 255.0 * path + (1.0 - density / 255.0)
            coverage = coverage * path
        return coverage

    @staticmethod
    def _vector_path(layer, box: Box, feather: float) -> np.ndarray:
        """A layer's path coverage over `box`, feathered like a raster mask
        (a Gaussian of sigma = feather, the path drawn with a margin so the
        blur reaches in from beyond the box)."""
        if feather <= 0:
            return vector.draw_vector_mask(layer, box)
        return feathered(box, feather, lambda grown: vector.draw_vector_mask(layer, grown))

    def _mask_values(self, node: LayerNode):
        """A layer's raster mask values over `node.mask.box`, decoded once per Renderer."""
        if node.mask_pixels is not None:
            return node.mask_pixels
        key = ("mask", id(node))
        if key not in self._cache:
            from compositor.masks import read_user_mask, user_mask  # noqa: PLC0415
            stored = user_mask(node.layer)
            self._cache[key] = None if stored is None else read_user_mask(node.layer, stored)
        return self._cache[key]

    @staticmethod
    def _mask_repeats_shape(node: LayerNode) -> bool:
        """Whether a shape or fill layer's mask is just its own transparency again.

        Photoshop writes such a mask for some shape layers; applying it would
        square the anti-aliased edge.
        """
        layer = node.layer
        if layer is None or node.kind not in ("shape", "fill") or not layer.has_pixels() or layer.mask.real_flags is not None \
                or tuple(layer.mask.bbox) != node.box or node.mask.density != 1.0:
            return False
        mask, shape = layer.numpy("mask"), layer.numpy("shape")
        return mask is not None and shape is not None and mask.shape == shape.shape \
            and bool(np.array_equal(mask, shape))

    @staticmethod
    def _vector_mask_not_in_pixels(layer) -> bool:
        # A shape or fill layer's cached pixels already carry its path. Any
        # other layer's pixels are stored uncut: Photoshop applies the path at
        # composite time, whether or not the layer also has a raster mask.
        if not layer.has_pixels() or fill_path_is_softened(layer):
            return True
        return not pt_utils.has_fill(layer)

    # adjustments ------------------------------------------------------------

    def _draw_adjustment(self, node: LayerNode, canvas: Canvas) -> None:
        adjust = self._adjustment_function(node)
        if adjust is None:
            return
        adjusted = adjust(canvas.color)
        if node.clip_layers:
            adjusted = self._draw_clipped(node, adjusted, canvas.alpha, canvas.box)
        amount = self._mask(node, canvas.box) * (node.opacity * node.fill_opacity)
        if canvas.isolate_adjustments:
            amount = amount * canvas.coverage
        blend = _blend_function(node.blend_mode if node.blend_mode != BlendMode.PASS_THROUGH
                                else BlendMode.NORMAL, self.template.color_mode)
        blended = blend(canvas.color, self._widen(adjusted, self.channels))
        canvas.color = np.clip(canvas.color + amount * (blended - canvas.color), 0.0, 1.0).astype(np.float32)

    def _adjustment_function(self, node: LayerNode):
        """A function rgb -> rgb for an adjustment layer, or None (noted as unsupported)."""
        where = f"layer {node.name!r}"
        try:
            from compositor.adjustments import read_adjustment  # noqa: PLC0415
            from compositor.errors import UnsupportedFeature  # noqa: PLC0415
        except ImportError:
            read_adjustment = None
        ours = read_adjustment is not None and self.template.depth == 8 \
            and node.adjustment_kind not in PSD_TOOLS_ADJUSTMENTS
        if ours and self.template.color_mode != ColorMode.RGB:
            # Grayscale and CMYK: only the adjustments that are one curve per channel.
            ours = self.template.color_mode in (ColorMode.GRAYSCALE, ColorMode.CMYK) \
                and _per_channel_adjustment(node)
        if ours:
            try:
                adjustment = read_adjustment(node.layer)
            except UnsupportedFeature as exc:
                self._notes.append(f"{where}: {exc}")
                return None
            if getattr(adjustment, "approximate", False):
                self._notes.append(f"{where}: adjustment {adjustment.name} is approximated")
            return adjustment.apply
        # Until our own adjustments exist: the ones psd-tools implements.
        from psd_tools.composite.adjustments import ADJUSTMENT_FUNC  # noqa: PLC0415
        function = ADJUSTMENT_FUNC.get(node.adjustment_kind)
        if function is None or getattr(node.layer, "_data", None) is None or \
                self.template.color_mode not in (ColorMode.RGB, ColorMode.CMYK, ColorMode.GRAYSCALE):
            self._notes.append(f"{where}: adjustment {node.adjustment_kind} not applied")
            return None
        color_mode, layer = self.template.color_mode, node.layer
        return lambda color: function(color, color_mode, layer)


def _per_channel_adjustment(node: LayerNode) -> bool:
    from compositor.adjustments import read_adjustment  # noqa: PLC0415
    try:
        return read_adjustment(node.layer).per_channel
    except Exception:  # unreadable or unsupported: psd-tools' path reports it
        return False


def render(template: Template, *, smart_objects: str = "cached", region: Box | None = None,
           artwork: dict[ArtworkKey, np.ndarray] | None = None) -> RenderResult:
    """One-shot render of a template (see `Renderer` to reuse warp maps between renders)."""
    return Renderer(template, smart_objects).render(region=region, artwork=artwork)


def _ancestors(layers: list[LayerNode], target: LayerNode) -> list[LayerNode] | None:
    """The groups (and clipping bases) that contain `target`, outermost first; None if absent."""
    for node in layers:
        if node is target:
            return []
        found = _ancestors(node.children + node.clip_layers, target)
        if found is not None:
            return [node] + found
    return None


# Pixels added around a smart object's box: its resampling kernel reaches
# one pixel beyond the warped outline.
AFFECTED_MARGIN = 2


def effects_margin(template: Template, node: LayerNode) -> int | None:
    """How far a smart object's own effects (shadows, glows, strokes, bevels)
    reach past its box and warped outline, in pixels; None when a group
    holding it has effects: those follow the whole group's new content, so
    the whole canvas may change."""
    chain = _ancestors(template.layers, node) or []
    if any(group.effects for group in chain):
        return None
    if not node.effects:
        return 0
    from compositor.effects import effects_reach, read_effects  # noqa: PLC0415
    try:
        return effects_reach(read_effects(node.layer))
    except Exception:  # noqa: BLE001 - effects we cannot read: assume they reach anywhere
        return None


def affected_box(template: Template, key: ArtworkKey) -> Box:
    """The canvas box a smart object's content can change (the object by name or index).

    The layer's box and its warped outline, plus a small margin and the
    reach of the object's own effects (see `affected_box_of`). A render that
    only swaps this object's artwork recomposites this box and pastes it
    over the ingest-time composite. (`Renderer.affected_box` reuses a
    renderer's geometry.)
    """
    return Renderer(template, "rerender").affected_box(key)


def affected_box_of(template: Template, node: LayerNode, warp_box: Box | None) -> Box:
    """`affected_box` from the object's warped outline box, when already built:
    the union of the layer's box and that outline, grown by the resampling
    margin and by how far the object's own effects reach (`effects_margin`;
    the whole canvas when a group holding it has effects)."""
    margin = effects_margin(template, node)
    if margin is None:
        return template.canvas_box
    left, top, right, bottom = node.box
    if warp_box is not None and warp_box[2] > warp_box[0] and warp_box[3] > warp_box[1]:
        left, top = min(left, warp_box[0]), min(top, warp_box[1])
        right, bottom = max(right, warp_box[2]), max(bottom, warp_box[3])
    grow = AFFECTED_MARGIN + margin
    return intersect((left - grow, top - grow, right + grow, bottom + grow), template.canvas_box)


def render_update(renderer: "Renderer", base: RenderResult, artwork: dict[ArtworkKey, np.ndarray]) -> RenderResult:
    """A full-canvas render with new artwork, redrawing only the boxes the artwork can reach.

    `base` is the render without artwork (made once, at ingest). Each replaced
    smart object's `affected_box` is recomposited and pasted over a copy of it.
    """
    color, alpha = base.color.copy(), base.alpha.copy()
    notes = list(base.unsupported)
    for index in renderer.artwork_targets(artwork):
        box = renderer.affected_box(index)
        if is_empty(box):
            continue
        part = renderer.render(region=box, artwork=artwork)
        window = (slice(box[1] - base.box[1], box[3] - base.box[1]), slice(box[0] - base.box[0], box[2] - base.box[0]))
        color[window], alpha[window] = part.color, part.alpha
        notes.extend(n for n in part.unsupported if n not in notes)
    return RenderResult(base.box, color, alpha, notes)


# --- output -----------------------------------------------------------------

def to_8bit(values: np.ndarray, depth: int) -> np.ndarray:
    """Document values in [0, 1] as 8 bits, the way Photoshop's own composite is read.

    Deep documents' merged images are reduced to 8 bits by dropping low bits
    (16-bit: v // 256; 32-bit: floor(x · 256), clipped), so we quantise ours the
    same way to compare like with like; 8-bit values are rounded.
    """
    if depth == 16:
        return (np.round(np.clip(values, 0.0, 1.0) * 65535.0).astype(np.uint32) // 256).astype(np.uint8)
    if depth == 32:
        return np.clip(np.floor(values * 256.0), 0, 255).astype(np.uint8)
    return np.round(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def to_pil(template: Template, result: RenderResult) -> Image.Image:
    """The render as a PIL image converted like Photoshop's own composite is read.

    A transparent RGB, grayscale, CMYK or Lab render is matted over white,
    converted through the document's profile and unmatted, as the composite
    is stored and read back; otherwise RGB and grayscale keep their alpha
    (RGBA / LA) and other modes are flattened over white in their own colour
    space, then CMYK and Lab go through the document's profile to RGB.
    """
    color, alpha = result.color, result.alpha
    mode = template.color_mode
    if mode in MATTED_MODES and np.any(alpha < 1.0):
        # Read like Photoshop's composite: Photoshop stores the colour
        # matted over white (no ink) by the alpha, at every depth; the
        # reader converts that through the profile (if any) to RGB,
        # attaches the alpha and takes the white back out, truncating to 8
        # bits. So transparency is flattened through the profile from colour
        # already faded to white (a half-transparent rich black shows
        # neutral grey, not the warm grey of half its inks; a dot-gain grey
        # profile lightens a faded black more than a black).
        matted = color * alpha + 1.0 * (1.0 - alpha)
        image = _document_image(template, to_8bit(matted, template.depth))
        image = pil_io.post_process(image, Image.fromarray(to_8bit(alpha[..., 0], template.depth), "L"),
                                    template.icc_profile)
        if image.mode in ("RGBA", "LA"):
            return _unmatte_white(image)
    keeps_alpha = mode in (ColorMode.RGB, ColorMode.GRAYSCALE)
    if not keeps_alpha:
        color = color * alpha + 1.0 * (1.0 - alpha)
    pixels = to_8bit(color, template.depth)
    alpha8 = to_8bit(alpha[..., 0], template.depth)
    image = _document_image(template, pixels)
    if mode == ColorMode.INDEXED:
        keeps_alpha = True
    image = pil_io.post_process(image, Image.fromarray(alpha8, "L") if keeps_alpha else None,
                                template.icc_profile)
    return image


# Colour modes whose merged image Photoshop stores matted over white, read
# back through the document's profile (see `to_pil`).
MATTED_MODES = (ColorMode.RGB, ColorMode.GRAYSCALE, ColorMode.CMYK, ColorMode.LAB)


def _unmatte_white(image: Image.Image) -> Image.Image:
    """RGBA or LA whose colour was matted over white by its alpha -> the colour
    under the alpha, in 8 bits as the composite's reader computes it (truncated)."""
    values = np.asarray(image, np.float32)
    colour, alpha = values[..., :-1], values[..., -1:]
    unmatted = (colour + alpha - 255.0) * 255.0 / np.maximum(alpha, 1.0)
    unmatted = np.where(alpha > 0, unmatted, colour)
    pixels = np.concatenate([np.clip(unmatted, 0, 255).astype(np.uint8), alpha.astype(np.uint8)], axis=-1)
    return Image.fromarray(np.ascontiguousarray(pixels), image.mode)


def _document_image(template: Template, pixels: np.ndarray) -> Image.Image:
    """8-bit document values (h, w, C) as a PIL image in the document's own mode."""
    mode = template.color_mode
    if mode == ColorMode.RGB or mode == ColorMode.INDEXED:
        image = Image.fromarray(np.ascontiguousarray(pixels[..., :3]), "RGB")
    elif mode in (ColorMode.GRAYSCALE, ColorMode.BITMAP, ColorMode.MULTICHANNEL, ColorMode.DUOTONE):
        image = Image.fromarray(np.ascontiguousarray(pixels[..., 0]), "L")
    elif mode == ColorMode.CMYK:
        image = Image.fromarray(np.ascontiguousarray(pixels[..., :4]), "CMYK")
    elif mode == ColorMode.LAB:
        # Band by band: PIL's LAB raw mode would read a/b as signed.
        image = Image.merge("LAB", [Image.fromarray(np.ascontiguousarray(pixels[..., i]), "L")
                                    for i in range(3)])
    else:
        raise TemplateError(f"colour mode {mode.name} cannot be converted to an image")
    return image
