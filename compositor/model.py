"""The template model: what a Photoshop file says about how to draw itself.

`load_template` opens a PSD/PSB once (at ingest) and describes its layer tree in
plain dataclasses: kind, blend mode, opacity and fill opacity, visibility, masks,
clipping, effects, and for every smart object where it sits. The renderer
(`compositor.composite`) walks this tree; the psd-tools layer stays attached to
each node because pixels are decoded lazily, only for the region being drawn.

Everything a renderer cannot reproduce is collected in `Template.unsupported`
(one human-readable line per feature and layer), so a report can say what a
template loses instead of silently drawing something else.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any

from psd_tools import PSDImage
from psd_tools.api.layers import (
    AdjustmentLayer,
    Artboard,
    FillLayer,
    Group,
    PixelLayer,
    ShapeLayer,
    SmartObjectLayer,
    TypeLayer,
)
from psd_tools.api.utils import get_color_channels
from psd_tools.constants import BlendMode, Clipping, ColorMode, Resource, Tag

Box = tuple[int, int, int, int]

# Effects psd-tools draws (from the layer's cached pixels or its vector path).
PSD_TOOLS_EFFECTS = frozenset({"ColorOverlay", "GradientOverlay", "PatternOverlay", "Stroke"})


def _effects_plan(layer, kind: str) -> tuple[str, list[str]]:
    """Who draws the layer's effects -- "ours" (`compositor.effects`, from the
    layer's pixels) or "psd-tools" -- and the effects that will not be drawn.

    Smart objects and groups always use ours, in 8-bit RGB: a smart object's
    effects must follow new artwork, and psd-tools draws none on groups.
    Other layers use whichever leaves fewer effects out (ours on a tie);
    shape and fill layers keep psd-tools' on a tie, which traces the vector
    path rather than the cached pixels (its strokes are measurably closer),
    but take ours when psd-tools would leave shadows or glows out.
    """
    names = _enabled_effects(layer)
    if not names:
        return "none", []
    from compositor.effects import psd_tools_lists_effects  # noqa: PLC0415
    psd_tools_missing = [f"effect {name}" for name in names
                         if name not in PSD_TOOLS_EFFECTS or not psd_tools_lists_effects(layer)]
    rgb8 = layer._psd.color_mode == ColorMode.RGB and layer._psd.depth == 8
    if kind == "group" and not rgb8:
        return "none", [f"effect {name}" for name in names]
    if not rgb8:
        return "psd-tools", psd_tools_missing
    from compositor.effects import unsupported_effects  # noqa: PLC0415

    try:
        ours_missing = unsupported_effects(layer)
    except Exception as exc:  # an unreadable effects block
        ours_missing = [f"effects ({type(exc).__name__}: {exc})"]
    if kind in ("shape", "fill"):
        # psd-tools traces the vector path; ours only when it draws more, or
        # when the shape's fill is off or transparent: then Photoshop's
        # effects trace the shape's outline after its mask -- its vector
        # stroke when that is on, else its path -- not the fill's alpha,
        # which psd-tools' strokes follow. Ours too when the shape's vector
        # stroke must be drawn apart from its fill (see `_stroke_apart`).
        ties = len(ours_missing) == len(psd_tools_missing)
        if len(ours_missing) < len(psd_tools_missing) or \
                (ties and (_fill_off(layer) or traces_path_for_effects(layer) or _stroke_apart(layer, names))):
            return "ours", ours_missing
        return "psd-tools", psd_tools_missing
    if kind in ("smartobject", "group") or len(ours_missing) <= len(psd_tools_missing):
        return "ours", ours_missing
    return "psd-tools", psd_tools_missing


# Effects drawn over the layer's own pixels, under a shape's vector stroke.
OVERLAY_EFFECTS = frozenset({"ColorOverlay", "GradientOverlay", "PatternOverlay"})


def _stroke_apart(layer, effect_names: list[str]) -> bool:
    """Whether a shape's vector stroke must be drawn apart from its fill:
    Photoshop draws it over the fill's overlays and over the layers clipped
    to the shape, which both reach the fill alone."""
    stroke = getattr(layer, "stroke", None)
    if stroke is None or not stroke.enabled or layer.vector_mask is None:
        return False
    return bool(OVERLAY_EFFECTS.intersection(effect_names)) or bool(getattr(layer, "clip_layers", None))


def _fill_off(layer) -> bool:
    """Whether a shape's fill is switched off (its vector stroke settings say so)."""
    stroke = getattr(layer, "stroke", None)
    return stroke is not None and not bool(stroke._data.get(b"fillEnabled", True))


def _fill_has_transparency(layer) -> bool:
    """Whether a shape or fill layer's gradient fill has stops below 100 %
    opacity, so its pixels' alpha is not the shape's outline."""
    for tag in (Tag.VECTOR_STROKE_CONTENT_DATA, Tag.GRADIENT_FILL_SETTING):
        content = layer.tagged_blocks.get_data(tag)
        gradient = content.get(b"Grad") if content is not None else None
        if gradient is not None:
            return any(float(stop.get(b"Opct", 100.0)) < 100.0 for stop in gradient.get(b"Trns", []))
    return False


def traces_path_for_effects(layer) -> bool:
    """Whether a shape's effects follow its path rather than its pixels.

    Photoshop's effects trace the shape (its path, after the masks), not how
    opaque its fill is there. The pixels show that outline as they are when
    the fill is opaque -- drawn by Photoshop itself, so they are kept then --
    but not when the fill is off (the shape shows nothing) or has transparent
    parts (a gradient fading out: measured, its 1 px stroke stays opaque
    along the faded side). A shape with its vector stroke on shows the
    stroke, which its effects trace instead.
    """
    stroke = getattr(layer, "stroke", None)
    if layer.vector_mask is None or (stroke is not None and stroke.enabled):
        return False
    return _fill_off(layer) or _fill_has_transparency(layer)


class TemplateError(ValueError):
    """The file cannot be used as a template (corrupt, truncated, not a PSD...).

    The message names the problem in words a user can act on.
    """


@dataclass
class RasterMask:
    """A layer's user (pixel) mask."""

    box: Box
    # Value outside `box` (0 = hidden, 1 = shown).
    background: float
    # Photoshop's mask density (1 = full effect) and feather radius in pixels.
    density: float
    feather: float
    disabled: bool


@dataclass
class LayerNode:
    """One layer or group of the tree, in the order Photoshop draws them (bottom first)."""

    name: str
    kind: str  # group, pixel, type, shape, fill, adjustment, smartobject
    blend_mode: BlendMode
    opacity: float  # 0..1, scales the layer and its effects
    fill_opacity: float  # 0..1, scales only the layer's own pixels
    visible: bool
    clipping: bool  # clipped to the layer below (its clipping base)
    box: Box
    mask: RasterMask | None = None
    has_vector_mask: bool = False
    effects: list[str] = field(default_factory=list)  # enabled effect kinds
    children: list["LayerNode"] = field(default_factory=list)  # groups only
    # Layers clipped to this one (filled in by `load_template`), bottom first.
    clip_layers: list["LayerNode"] = field(default_factory=list)
    adjustment_kind: str | None = None
    # Artboards: the board rectangle (children are clipped to it) and its
    # background as RGB in [0, 1], None when transparent.
    artboard_rect: Box | None = None
    artboard_background: tuple[float, float, float] | None = None
    # "Blend clipped layers as group" (Photoshop's default): the base's blend
    # mode and opacity apply to the clipping group as a whole. When off, the
    # base is drawn alone and each clipped layer blends with what lies below
    # in its own mode, inside the base's shape.
    blend_clipped_as_group: bool = True
    # Who draws the effects: "ours", "psd-tools" or "none" (see _effects_plan).
    effects_renderer: str = "none"
    # 0 none, 1 shallow (to the group's backdrop), 2 deep (to the document's).
    knockout: int = 0
    layer: Any = field(default=None, repr=False)  # the psd-tools layer
    # Pixels known without a PSD (tests, or decoded ahead of time): straight
    # colour (h, w, C) and alpha (h, w, 1) covering `box`; and the raster mask
    # values (h, w, 1) covering `mask.box`. When set they are used instead of
    # decoding `layer`.
    pixels: tuple[Any, Any] | None = field(default=None, repr=False)
    mask_pixels: Any = field(default=None, repr=False)

    @property
    def is_group(self) -> bool:
        return self.kind == "group"

    @property
    def pass_through(self) -> bool:
        return self.is_group and self.blend_mode == BlendMode.PASS_THROUGH

    def walk(self):
        """This node and everything under it (children and clipped layers), depth first."""
        yield self
        for child in self.children:
            yield from child.walk()
        for clipped in self.clip_layers:
            yield from clipped.walk()


@dataclass
class Template:
    """A parsed template: canvas, layer tree (bottom first) and what it cannot render."""

    width: int
    height: int
    color_mode: ColorMode
    depth: int
    layers: list[LayerNode]
    unsupported: list[str]
    icc_profile: bytes | None
    has_composite: bool
    psd: Any = field(repr=False)
    # Colour channels the composite carries (3 RGB/Lab, 4 CMYK, 1 gray...).
    channels: int = 3

    @property
    def canvas_box(self) -> Box:
        return (0, 0, self.width, self.height)

    def walk(self):
        for node in self.layers:
            yield from node.walk()

    @property
    def smart_objects(self) -> list[LayerNode]:
        return [n for n in self.walk() if n.kind == "smartobject"]

    def find(self, name: str) -> LayerNode:
        """The smart object called `name` (the name users give on the command line)."""
        matches = [n for n in self.smart_objects if n.name == name]
        if not matches:
            known = ", ".join(repr(n.name) for n in self.smart_objects) or "none"
            raise TemplateError(f"no smart object named {name!r} (smart objects: {known})")
        return matches[0]


# How artwork names the smart object it is for: the layer's name (every smart
# object of that name), or its index among the template's smart objects in
# drawing order (`Template.smart_objects`, `RenderPlan.smart_objects`).
ArtworkKey = str | int


def content_id(node: LayerNode) -> str | None:
    """The id of the content a smart object shows: the same for Photoshop's linked
    instances (layers duplicated from one smart object, sharing its embedded file)."""
    try:
        value = node.layer.smart_object.unique_id
    except Exception:  # not a smart object, or a record psd-tools cannot read
        return None
    return str(value) if value else None


def artwork_targets(names: list[str], content_ids: list[str | None], keys) -> dict[int, ArtworkKey]:
    """Which smart objects each piece of artwork goes into: {object index: key}.

    `names`, `content_ids`: per smart object, in drawing order; `keys`: how the
    artwork names its objects (ArtworkKey). A name reaches every object of that
    name, an index that one object; an index wins over a name. Photoshop's
    linked instances show one content -- replacing it in one replaces it in all,
    e.g. a design and its mirrored reflection -- so an object given no artwork
    of its own takes that of the first linked instance (in drawing order) that
    has some. Unknown names or indices raise TemplateError naming the objects.
    """
    by_index: dict[int, ArtworkKey] = {}
    for key in keys:
        if isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key < len(names):
                raise TemplateError(f"no smart object number {key} (the template has {len(names)})")
            by_index[key] = key
    for key in keys:
        if isinstance(key, str):
            matches = [index for index, name in enumerate(names) if name == key]
            if not matches:
                known = ", ".join(repr(name) for name in names) or "none"
                raise TemplateError(f"no smart object named {key!r} (smart objects: {known})")
            for index in matches:
                by_index.setdefault(index, key)
        elif not isinstance(key, int) or isinstance(key, bool):
            raise TemplateError(f"artwork is given per smart object name or index, not {key!r}")
    linked: dict[str, ArtworkKey] = {}
    for index in sorted(by_index):
        if content_ids[index]:
            linked.setdefault(content_ids[index], by_index[index])
    targets = dict(by_index)
    for index, content in enumerate(content_ids):
        if index not in targets and content in linked:
            targets[index] = linked[content]
    return dict(sorted(targets.items()))


def open_psd(source: str | os.PathLike | bytes) -> PSDImage:
    """Open a PSD/PSB from a path or bytes, turning every parse failure into TemplateError."""
    label = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        if isinstance(source, (bytes, bytearray)):
            return PSDImage.open(io.BytesIO(source))
        return PSDImage.open(source)
    except FileNotFoundError:
        raise TemplateError(f"{label}: file not found") from None
    except IsADirectoryError:
        raise TemplateError(f"{label}: is a directory, not a PSD file") from None
    except Exception as exc:  # psd-tools raises many kinds on bad bytes
        raise TemplateError(f"{label}: not a readable Photoshop file "
                            f"({type(exc).__name__}: {exc})") from exc


def load_template(source: str | os.PathLike | bytes | PSDImage) -> Template:
    """Describe a PSD/PSB as a Template (raises TemplateError on unreadable input)."""
    psd = source if isinstance(source, PSDImage) else open_psd(source)
    unsupported: list[str] = []
    try:
        layers = _read_group(psd, unsupported)
    except TemplateError:
        raise
    except Exception as exc:
        raise TemplateError(f"cannot read the layer tree ({type(exc).__name__}: {exc})") from exc
    icc = None
    if Resource.ICC_PROFILE in psd.image_resources:
        icc = psd.image_resources.get_data(Resource.ICC_PROFILE)
    if psd.color_mode in (ColorMode.MULTICHANNEL, ColorMode.DUOTONE):
        unsupported.append(f"document: {psd.color_mode.name.lower()} colour mode is drawn "
                           f"from its first channels only")
    return Template(
        width=psd.width,
        height=psd.height,
        color_mode=psd.color_mode,
        depth=psd.depth,
        layers=layers,
        unsupported=unsupported,
        icc_profile=icc,
        has_composite=psd.has_preview(),
        psd=psd,
        channels=get_color_channels(psd),
    )


def _kind(layer) -> str:
    if isinstance(layer, Group):  # Artboard is a Group
        return "group"
    if isinstance(layer, SmartObjectLayer):
        return "smartobject"
    if isinstance(layer, AdjustmentLayer) or _legacy_adjustment(layer):
        return "adjustment"
    if isinstance(layer, FillLayer):
        return "fill"
    if isinstance(layer, ShapeLayer):
        return "shape"
    if isinstance(layer, TypeLayer):
        return "type"
    if isinstance(layer, PixelLayer):
        return "pixel"
    return "pixel"


def _legacy_adjustment(layer) -> bool:
    # Brightness/Contrast saved with "use legacy" keeps only its old fixed
    # block (no descriptor), which psd-tools reads as an empty pixel layer.
    return isinstance(layer, PixelLayer) and Tag.BRIGHTNESS_AND_CONTRAST in layer.tagged_blocks \
        and Tag.CONTENT_GENERATOR_EXTRA_DATA not in layer.tagged_blocks and not layer.has_pixels()


def _read_mask(layer) -> RasterMask | None:
    from compositor.masks import user_mask  # noqa: PLC0415

    mask = layer.mask
    stored = user_mask(layer)
    if stored is None:
        return None
    density, feather = 1.0, 0.0
    params = mask.parameters
    if params is not None:
        # A mask without a density of its own takes the vector mask's (this
        # matches Photoshop's composite on files with only a vector density).
        user_density = params.user_mask_density
        if user_density is None:
            user_density = params.vector_mask_density
        if user_density is not None:
            density = user_density / 255.0
        if params.user_mask_feather is not None:
            feather = float(params.user_mask_feather)
    return RasterMask(box=stored.box, background=stored.background,
                      density=density, feather=feather, disabled=stored.disabled)


def _enabled_effects(layer) -> list[str]:
    from compositor.effects import layer_effects  # noqa: PLC0415
    try:
        return sorted({type(e).__name__ for e in layer_effects(layer) if e.enabled})
    except Exception:
        return []


# Artboard background types in the artboard descriptor.
_ARTBOARD_WHITE, _ARTBOARD_BLACK, _ARTBOARD_TRANSPARENT, _ARTBOARD_CUSTOM = 1, 2, 3, 4


def _read_artboard(layer, node: LayerNode) -> None:
    data = None
    for tag in (Tag.ARTBOARD_DATA1, Tag.ARTBOARD_DATA2, Tag.ARTBOARD_DATA3):
        data = layer.tagged_blocks.get_data(tag)
        if data is not None:
            break
    if data is None or b"artboardRect" not in data:
        node.artboard_rect = node.box
        return
    rect = data[b"artboardRect"]
    node.artboard_rect = (int(round(float(rect[b"Left"]))), int(round(float(rect[b"Top "]))),
                          int(round(float(rect[b"Rght"]))), int(round(float(rect[b"Btom"]))))
    kind = int(data.get(b"artboardBackgroundType", _ARTBOARD_WHITE))
    if kind == _ARTBOARD_WHITE:
        node.artboard_background = (1.0, 1.0, 1.0)
    elif kind == _ARTBOARD_BLACK:
        node.artboard_background = (0.0, 0.0, 0.0)
    elif kind == _ARTBOARD_CUSTOM and b"Clr " in data:
        color = data[b"Clr "]
        node.artboard_background = tuple(float(color[key]) / 255.0 for key in (b"Rd  ", b"Grn ", b"Bl  "))


def _clipped(layer) -> bool:
    """Whether the layer is clipped to the one below.

    Read from the layer record: psd-tools reports groups as never clipped, but
    Photoshop (CC and later) clips groups too and its composite shows it.
    """
    return layer._record.clipping == Clipping.NON_BASE


def _read_node(layer, unsupported: list[str]) -> LayerNode:
    kind = _kind(layer)
    where = f"layer {layer.name!r}"
    fill = layer.tagged_blocks.get_data(Tag.BLEND_FILL_OPACITY, 255) / 255.0
    node = LayerNode(
        name=layer.name,
        kind=kind,
        blend_mode=layer.blend_mode,
        opacity=layer.opacity / 255.0,
        fill_opacity=float(fill),
        visible=bool(layer.visible),
        clipping=_clipped(layer),
        box=tuple(layer.bbox),
        mask=_read_mask(layer),
        has_vector_mask=bool(layer.has_vector_mask()),
        effects=_enabled_effects(layer),
        layer=layer,
    )
    node.blend_clipped_as_group = bool(layer.tagged_blocks.get_data(Tag.BLEND_CLIPPING_ELEMENTS, 1))
    node.effects_renderer, missing_effects = _effects_plan(layer, kind)
    knockout = layer.tagged_blocks.get_data(Tag.KNOCKOUT_SETTING, 0)
    node.knockout = knockout if knockout in (0, 1, 2) else 0
    if kind == "adjustment":
        node.adjustment_kind = "brightnesscontrast" if _legacy_adjustment(layer) else getattr(layer, "kind", None)
    if kind == "group":
        node.children = _read_group(layer, unsupported)
        if isinstance(layer, Artboard):
            _read_artboard(layer, node)
    if node.visible:
        for effect in missing_effects:
            unsupported.append(f"{where}: {effect} not rendered")
        if node.effects_renderer == "ours":
            from compositor.effects import approximated_effects  # noqa: PLC0415
            unsupported.extend(f"{where}: {note}" for note in approximated_effects(layer))
        if node.blend_mode == BlendMode.DISSOLVE:
            unsupported.append(f"{where}: dissolve approximated (Photoshop's noise pattern "
                               f"is not reproducible)")
        if node.knockout == 2:
            unsupported.append(f"{where}: deep knockout drawn as shallow")
        from compositor.fills import noise_gradients  # noqa: PLC0415
        for user in noise_gradients(layer, node.effects_renderer):
            unsupported.append(f"{where}: noise gradient of the {user} approximated (Photoshop's random "
                               f"colours are not reproducible)")
    return node


def _read_group(group, unsupported: list[str]) -> list[LayerNode]:
    """Children of a group (or the document) with clipped layers attached to their base."""
    nodes: list[LayerNode] = []
    base: LayerNode | None = None
    for layer in group:
        node = _read_node(layer, unsupported)
        if node.clipping and base is not None:
            base.clip_layers.append(node)
            continue
        # A clipped layer with nothing below it is drawn as an ordinary layer
        # (Photoshop does the same with the bottom layer of a group).
        node.clipping = False
        nodes.append(node)
        base = node
    return nodes
