"""Compile a template into a render plan: everything a render needs except the artwork.

A render that swaps artwork into a smart object changes only the pixels inside
that object's affected box. Inside the box every other layer is fixed, so the
final pixel is a fixed function of the object's warped pixels. For the layer
stacks mockups are made of that function is affine in the object's
premultiplied colour P = a*c and alpha a, per pixel and per channel:

    out_p = W * P + Z * a + Sp        (premultiplied colour of the result)
    out_a = Y * a + Sa                (its alpha)

This holds when every layer drawn after the object (above it, at the top of
the document) blends in a mode whose B(cb, cs) is affine in cb: normal,
multiply, screen. We do not derive W, Z, Sp, Y, Sa from the layers: we ask
the generic `Renderer` for them, drawing the object as a probe (a=0; a=1,
c=0; a=1, c=1), and then check the prediction against a render with random
colour and alpha. A stack that is not affine (adjustments, other blend modes,
isolated groups...) fails that check and the object falls back to the
generic renderer restricted to its box, so the fast path never changes the
picture.

Layers clipped to the object are drawn on its own colour as if it were
opaque, and the object's alpha applies once to the result (see
`Renderer._draw_clipped`). Normal, multiply and screen are affine in that
colour c = P / a, so the clipped run folds into colour' = Mc * c + Kc and
the object contributes a * colour' = Mc * P + Kc * a: the plain formula
with W*Mc for W and Z + W*Kc for Z.

Plans of version 9 and older folded clipped layers drawn over the object's
alpha (WM, WN, WK, Uc, Vc; out_p = ratio * (WM * P + WN * a + WK) + Z * a
+ Sp with ratio = a / (Uc * a + Vc)); they still load and render so.

Objects whose boxes overlap keep their formula (probed with the others as in
the base, from Photoshop's cache); a render that gives artwork to two
overlapping objects draws them with the generic renderer instead.

Levels: the plan holds every array at full size, 1/2 and 1/4 (area
downscales of premultiplied values, `downscale`; reduced levels only for
templates large enough, MIN_LEVEL_SIDE), so a render of a 2000 px image from
a 4000 px template never touches full-size pixels. Boxes are aligned to 4
pixels so the levels of a box are exact crops of the levels of the canvas.
"""
from __future__ import annotations

import dataclasses
import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field

import cv2
import numpy as np
import zstandard

from compositor.model import Box, LayerNode, Template, TemplateError, artwork_targets, content_id
from compositor.smartobjects.warpmap import mip_lod

PLAN_VERSION = 11
# Older versions are still read: 6 (zip deflate), 7 (zlib per array) and 8
# (zstandard per array) differ from 9 in how arrays are compressed and in lacking
# the objects' per-pixel mip level (mip_lod), which is then derived from their
# maps on loading. 9 and older hold clipped objects as the ratio formula (see
# the module docstring), still evaluated; 10 folds them into W and Z. 11 keeps
# what the compile measured of each object's geometry (`measured`; older plans
# were compiled before warped edges were measured, and their fallback objects
# measure again when first drawn). A change
# to what a plan holds that cannot be derived so bumps the version and drops
# the older ones from this list.
READABLE_PLAN_VERSIONS = (6, 7, 8, 9, 10, 11)
# Smart objects a render gives no artwork keep the pixels Photoshop cached for
# them (exact, where re-rendering their own content is not always); those
# given artwork are re-rendered from it in either mode.
SMART_OBJECT_MODE = "cached"
# Downscale factor of each pyramid level.
LEVELS = (1, 2, 4)
ALIGN = max(LEVELS)
# A reduced level is built only while its shorter side keeps this many pixels:
# a small template renders at full size in milliseconds anyway, and at a few
# hundred pixels the level's approximation (warping shrunk artwork instead of
# averaging the full render) would show on a large share of the image.
MIN_LEVEL_SIDE = 500
# Largest difference allowed between a region render and the same box of the
# full render for probes to draw the region alone (float32 noise is ~1e-6).
REGION_TOLERANCE = 1e-4
# Blend modes whose B(cb, cs) is affine in the backdrop cb (no clamp):
# (P, Q) with B = P * cb + Q, as functions of the source colour cs.
AFFINE_BLENDS = {
    "normal": (lambda cs: np.zeros_like(cs), lambda cs: cs),
    "multiply": (lambda cs: cs, lambda cs: np.zeros_like(cs)),
    "screen": (lambda cs: 1.0 - cs, lambda cs: cs),
}
# Threads the compile's work after the base render runs on: the base's levels,
# region checks and probe renders (see `compile_template`).
COMPILE_THREADS = 2
# Probe renders run side by side while each draws at most this many pixels: a render holds several
# float arrays of its region, and two full canvases of a huge template at once
# would double the ingest's peak memory.
PARALLEL_PROBE_PIXELS = 25_000_000
# A render with random probe colour and alpha must match the affine
# prediction to this (max abs difference, in [0, 1]): float32 rounding is
# ~1e-6, while a non-affine blend misses by 1e-2 or more.
AFFINE_TOLERANCE = 2e-4


# --- pyramid ------------------------------------------------------------------------


def level_size(size: tuple[int, int], factor: int) -> tuple[int, int]:
    """(w, h) of a `size` image at a pyramid level (rounded up)."""
    return -(-size[0] // factor), -(-size[1] // factor)


def downscale(values: np.ndarray, factor: int) -> np.ndarray:
    """Area-average `factor` x `factor` blocks (the edge repeated to fill the last ones).

    Used for every level of every array, and by tests on the full render, so
    a level is the full-size picture "downscaled the same way". Premultiplied
    colour averages correctly; straight colour does not.
    """
    if factor == 1:
        return values
    h, w = values.shape[:2]
    channels = values.shape[2:]  # OpenCV drops a trailing axis of 1
    pad_y, pad_x = (-h) % factor, (-w) % factor
    if pad_x or pad_y:
        values = cv2.copyMakeBorder(values, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
    out = cv2.resize(values, (values.shape[1] // factor, values.shape[0] // factor),
                     interpolation=cv2.INTER_AREA)
    return out.reshape(out.shape[:2] + channels)


def level_box(box: Box, factor: int) -> Box:
    left, top, right, bottom = box
    return left // factor, top // factor, -(-right // factor), -(-bottom // factor)


def aligned_box(box: Box, canvas: Box) -> Box:
    """`box` grown to multiples of ALIGN, inside the canvas."""
    left, top, right, bottom = box
    grown = (left - left % ALIGN, top - top % ALIGN, right + (-right) % ALIGN, bottom + (-bottom) % ALIGN)
    return (max(grown[0], canvas[0]), max(grown[1], canvas[1]), min(grown[2], canvas[2]), min(grown[3], canvas[3]))


def boxes_overlap(a: Box, b: Box) -> bool:
    return max(a[0], b[0]) < min(a[2], b[2]) and max(a[1], b[1]) < min(a[3], b[3])


# --- the plan -------------------------------------------------------------------------


@dataclass
class SmartObjectPlan:
    """How one smart object is redrawn.

    method: "affine" (the formula above, no clipped layers), "clipped" (with
    a folded clipped run), "hidden" (draws nothing) or "fallback" (the
    generic renderer on `box`; `reason` says why).
    levels[factor]: arrays over the box at that level -- map_x, map_y
    (content pixels at full content size), coverage, and the coefficient
    arrays of the method.
    """

    name: str
    uuid: str | None  # the id of its content, shared by linked instances (model.content_id)
    content_size: tuple[int, int]
    quad: list[float]
    box: Box
    method: str
    reason: str | None = None
    # content pixels per canvas pixel (x, y) and the prefilter sharpness
    content_scale: tuple[float, float] = (1.0, 1.0)
    # a plain (affine) placement: the warp's sharper shrink prefilter
    affine: bool = False
    # What the generic renderer draws to get `box` right: the box itself, or
    # the canvas when a region render differs from the full one.
    draw_region: Box | None = None
    # Indices of the objects whose boxes overlap this one's.
    overlaps: list[int] = field(default_factory=list)
    # The box around this object and every object overlapping it, directly or
    # through others, when the compile found it renders exactly as the canvas
    # does there: a render drawing several of them with the generic renderer
    # draws it once rather than each object's box (None: each its own box).
    group_region: Box | None = None
    # What the compile measured of its geometry on Photoshop's pixels
    # (MeasuredGeometry.to_json), for the generic renderer to take rather than
    # measure again; None when its geometry was not read (or an older plan).
    measured: dict | None = None
    levels: dict[int, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def manifest(self) -> dict:
        return {"name": self.name, "uuid": self.uuid, "content_size": list(self.content_size),
                "quad": self.quad, "box": list(self.box), "method": self.method, "reason": self.reason,
                "content_scale": list(self.content_scale), "affine": self.affine,
                "draw_region": list(self.draw_region) if self.draw_region else None,
                "overlaps": self.overlaps, "measured": self.measured,
                "group_region": list(self.group_region) if self.group_region else None,
                "arrays": sorted(self.levels.get(1, {}))}


@dataclass
class RenderPlan:
    """A compiled template: base render and smart-object plans at every level.

    `base[factor]` is the render with every smart object drawn from
    Photoshop's cached pixels (SMART_OBJECT_MODE), straight uint8 rounded as
    the exporter rounds: RGB when `opaque` (the base and every formula give
    alpha 1 everywhere), else RGBA. `psd` is kept only when some object falls
    back to the generic renderer.
    """

    width: int
    height: int
    opaque: bool
    base: dict[int, np.ndarray] = field(repr=False)
    smart_objects: list[SmartObjectPlan]
    unsupported: list[str] = field(default_factory=list)
    psd: bytes | None = field(default=None, repr=False)
    _template: Template | None = field(default=None, repr=False, compare=False)
    _renderer: object = field(default=None, repr=False, compare=False)
    # What the compile read of each smart object's geometry, {id(layer): (layer,
    # smart object, warp map)}: the ingest's fidelity check reuses it (never serialised).
    _geometry: dict | None = field(default=None, repr=False, compare=False)

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(sorted(self.base))

    def find(self, name: str) -> SmartObjectPlan:
        for so in self.smart_objects:
            if so.name == name:
                return so
        known = ", ".join(repr(so.name) for so in self.smart_objects) or "none"
        raise TemplateError(f"no smart object named {name!r} (smart objects: {known})")

    def artwork_targets(self, keys) -> dict[int, object]:
        """compositor.model.artwork_targets over the plan's smart objects, whose
        `uuid` is the id of their content (shared by linked instances)."""
        objects = self.smart_objects
        return artwork_targets([so.name for so in objects], [so.uuid for so in objects], keys)

    def template(self) -> Template:
        """The parsed template, for objects that fall back (loaded once)."""
        if self._template is None:
            if self.psd is None:
                raise TemplateError("this plan has no fallback objects and keeps no PSD")
            from compositor.model import load_template  # noqa: PLC0415
            self._template = load_template(self.psd)
        return self._template

    def renderer(self):
        """The generic renderer for fallback objects, kept: it caches their geometry."""
        if self._renderer is None:
            from compositor.composite import Renderer  # noqa: PLC0415
            from compositor.smartobjects.model import MeasuredGeometry  # noqa: PLC0415
            measured = {index: MeasuredGeometry.from_json(so.measured)
                        for index, so in enumerate(self.smart_objects) if so.measured is not None}
            self._renderer = Renderer(self.template(), smart_objects=SMART_OBJECT_MODE, measured=measured)
        return self._renderer

    def compiled_geometry(self, layer):
        """(smart object, warp map) the compile read for a psd-tools layer (from
        `read_smart_object(layer, psd)` and `build_warp_map` at the object's own
        content size), or None: not compiled here, or not read."""
        entry = (self._geometry or {}).get(id(layer))
        return entry[1:] if entry is not None and entry[0] is layer else None

    def nbytes(self) -> int:
        """Bytes held in memory by the plan's arrays (and PSD)."""
        total = sum(a.nbytes for a in self.base.values()) + len(self.psd or b"")
        for so in self.smart_objects:
            total += sum(a.nbytes for arrays in so.levels.values() for a in arrays.values())
        return total

    def manifest(self) -> dict:
        return {"version": PLAN_VERSION, "canvas": [self.width, self.height], "levels": list(self.levels),
                "opaque": self.opaque, "smart_objects": [so.manifest() for so in self.smart_objects],
                "unsupported": self.unsupported, "has_psd": self.psd is not None}

    # serialisation -------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """A zip: manifest.json, one zstandard-compressed .npy per array
        (`<name>.npy.zst`), the PSD if kept.

        Coefficients are stored as float16 (relative error 5e-4, under 0.15/255
        on a pixel) and widened back to float32 on load; warp maps stay float32
        (float16 cannot address pixels past 2048). Arrays are compressed each
        on its own, several at once (zstandard works outside the GIL): on a large
        template compression is most of the time serialising takes, and the
        zip's own deflate runs on one thread. Zstandard (ZSTD_LEVEL) takes a
        third of zlib's time for a smaller plan, and inflates in half of it.
        """
        named = [(f"base/{factor}", image) for factor, image in self.base.items()]
        for index, so in enumerate(self.smart_objects):
            for factor, arrays in so.levels.items():
                for key, values in arrays.items():
                    if values.dtype == np.float32 and not key.startswith("map_"):
                        values = values.astype(np.float16)
                    named.append((f"so/{index}/{factor}/{key}", values))
        blobs = _in_threads(_compress_array, [values for _, values in named])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("manifest.json", json.dumps(self.manifest(), indent=1))
            for (name, _), blob in zip(named, blobs):
                archive.writestr(name + ".npy.zst", blob)
            if self.psd is not None:
                archive.writestr("template.psd", self.psd, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "RenderPlan":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            manifest = json.loads(archive.read("manifest.json"))
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise TemplateError(f"not a render plan ({type(exc).__name__}: {exc})") from None
        version = manifest.get("version")
        if version not in READABLE_PLAN_VERSIONS:
            raise TemplateError(f"render plan version {version!r} is not {PLAN_VERSION}; "
                                f"compile the template again")
        with archive:
            names = [f"base/{factor}" for factor in manifest["levels"]]
            for index, entry in enumerate(manifest["smart_objects"]):
                if entry["method"] in ("affine", "clipped"):
                    names += [f"so/{index}/{factor}/{key}" for factor in manifest["levels"]
                              for key in entry["arrays"]]
            if version == 6:  # one deflated .npy per array, inflated by the zip reader
                stored = [archive.read(name + ".npy") for name in names]
                arrays = dict(zip(names, _in_threads(_load_array, stored)))
            elif version == 7:  # one zlib-compressed .npy per array
                stored = [archive.read(name + ".npy.zlib") for name in names]
                arrays = dict(zip(names, _in_threads(_inflate_array, stored)))
            else:
                stored = [archive.read(name + ".npy.zst") for name in names]
                arrays = dict(zip(names, _in_threads(_decompress_array, stored)))
            psd = archive.read("template.psd") if manifest["has_psd"] else None
        base = {factor: arrays[f"base/{factor}"] for factor in manifest["levels"]}
        objects = []
        for index, entry in enumerate(manifest["smart_objects"]):
            levels = {}
            if entry["method"] in ("affine", "clipped"):
                for factor in manifest["levels"]:
                    levels[factor] = {key: arrays[f"so/{index}/{factor}/{key}"] for key in entry["arrays"]}
                    if "mip_lod" not in levels[factor]:  # a plan of version 8 or older
                        level = levels[factor]
                        level["mip_lod"] = mip_lod(level["map_x"], level["map_y"], level["coverage"])
            objects.append(SmartObjectPlan(
                name=entry["name"], uuid=entry["uuid"], content_size=tuple(entry["content_size"]),
                quad=entry["quad"], box=tuple(entry["box"]), method=entry["method"], reason=entry["reason"],
                content_scale=tuple(entry["content_scale"]), affine=entry["affine"], levels=levels,
                draw_region=tuple(entry["draw_region"]) if entry["draw_region"] else None,
                overlaps=list(entry["overlaps"]), measured=entry.get("measured"),
                group_region=tuple(entry["group_region"]) if entry.get("group_region") else None))
        return cls(width=manifest["canvas"][0], height=manifest["canvas"][1], opaque=manifest["opaque"],
                   base=base, smart_objects=objects, unsupported=manifest["unsupported"], psd=psd)


# Threads that (de)compress a plan's arrays: zstandard and numpy's conversions run
# outside the GIL, so two cores serialise a large plan in about half the time.
SERIALISE_THREADS = 4
# The plan is written once per ingest and read once per render worker, so
# speed matters more than the last percent of size. On the 4000 px demo's
# arrays (220 MB): level 1 gives 81 MB in 0.7 s of CPU, level 2 65 MB in 1.1 s,
# level 3 the same 65 MB in 1.7 s (zlib level 1, version 7: 73 MB in 2.5 s).
ZSTD_LEVEL = 2


def _in_threads(function, items: list) -> list:
    """[function(item) for item in items], the largest items first on SERIALISE_THREADS threads."""
    if len(items) <= 1:
        return [function(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415
    with ThreadPoolExecutor(max_workers=min(SERIALISE_THREADS, len(items))) as pool:
        order = sorted(range(len(items)), key=lambda i: -len(items[i]) if isinstance(items[i], bytes)
                       else -items[i].nbytes)
        futures = {i: pool.submit(function, items[i]) for i in order}
        return [futures[i].result() for i in range(len(items))]


def _compress_array(values: np.ndarray) -> bytes:
    """The array as a .npy file, compressed: the header, then its memory as it is
    (no .npy copy of a large array made first). A compressor per call: they are
    not to be shared between threads."""
    values = np.ascontiguousarray(values)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(values))
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj(size=header.tell() + values.nbytes)
    return compressor.compress(header.getvalue()) + compressor.compress(values.data.cast("B")) \
        + compressor.flush()


def _load_array(npy: bytes) -> np.ndarray:
    values = np.load(io.BytesIO(npy), allow_pickle=False)
    if values.dtype == np.float16:
        values = values.astype(np.float32)
    return values


def _inflate_array(blob: bytes) -> np.ndarray:
    """A version 7 array (zlib)."""
    try:
        npy = zlib.decompress(blob)
    except zlib.error as exc:
        raise TemplateError(f"not a render plan (a damaged array: {exc})") from None
    return _load_array(npy)


def _decompress_array(blob: bytes) -> np.ndarray:
    try:
        npy = zstandard.ZstdDecompressor().decompress(blob)
    except zstandard.ZstdError as exc:
        raise TemplateError(f"not a render plan (a damaged array: {exc})") from None
    return _load_array(npy)


# --- compiling ------------------------------------------------------------------------------


def compile_template(source, *, levels: tuple[int, ...] = LEVELS,
                     min_level_side: int = MIN_LEVEL_SIDE, psd_bytes: bytes | None = None,
                     keep_geometry: bool = False) -> RenderPlan:
    """Compile PSD bytes (or a loaded Template) into a RenderPlan.

    Runs the generic renderer a few times per smart object (probes), so it
    takes seconds on a large template: done once, at ingest. `levels` are the
    candidate downscale factors; those whose shorter side would fall under
    `min_level_side` pixels are left out (full size always stays).
    `psd_bytes`: the file a Template was loaded from, kept as it is when some
    object falls back (otherwise psd-tools writes the PSD out again).
    `keep_geometry`: keep the smart objects and warp maps read on the plan, in
    memory, for `RenderPlan.compiled_geometry` (the ingest's fidelity check).
    """
    from psd_tools.constants import ColorMode  # noqa: PLC0415

    from compositor.composite import Renderer  # noqa: PLC0415
    from compositor.model import load_template  # noqa: PLC0415

    if isinstance(source, Template):
        template = source
    else:
        psd_bytes = bytes(source)
        template = load_template(psd_bytes)
    if not template.smart_objects:
        raise TemplateError("the template has no smart objects to put artwork in")
    if template.color_mode != ColorMode.RGB:
        raise TemplateError(f"render plans are made for RGB documents; this one is "
                            f"{template.color_mode.name} (render it with the generic renderer)")
    for factor in levels:
        if factor not in LEVELS:
            raise ValueError(f"levels must be among {LEVELS}, got {levels!r}")
    levels = tuple(sorted({1} | {f for f in levels if min(template.width, template.height) // f >= min_level_side}))

    renderer = Renderer(template, smart_objects=SMART_OBJECT_MODE)
    base_render = renderer.render()
    unsupported = list(dict.fromkeys(template.unsupported + base_render.unsupported))
    opaque = bool(base_render.alpha.min() >= 1.0)

    # What follows the base render is independent work on COMPILE_THREADS
    # threads (numpy and OpenCV run outside the GIL): the base's levels, each
    # object's region check and its probe renders.
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415
    with ThreadPoolExecutor(max_workers=COMPILE_THREADS) as pool:
        base_levels = pool.submit(_base_levels, base_render, levels, opaque)
        geometry: dict = {}
        placed = [(node, *_place_object(template, node, renderer, geometry)) for node in template.smart_objects]
        objects = [plan for _, plan, _ in placed]
        # Each with a renderer of its own, made here: threads must not share one.
        region_checks = [pool.submit(_region_render_is_exact, _renderer_sharing(template, renderer), base_render,
                                     plan.box) if warp_map is not None else None
                         for _, plan, warp_map in placed]
        # Overlaps first: objects that fall back for it are not probed.
        _mark_overlaps(objects)
        group_checks = [(members, region, pool.submit(_region_render_is_exact,
                                                      _renderer_sharing(template, renderer), base_render, region))
                        for members, region in _overlap_groups(objects, template.canvas_box)]
        # Probed over their box alone, as the region checks will most often confirm.
        pending = [(node, plan, warp_map) for node, plan, warp_map in placed if plan.method == "pending"]
        for node, plan, warp_map in pending:
            _reduce_object(template, node, plan, warp_map, levels, renderer, pool)
        for (node, plan, warp_map), check in zip(placed, region_checks):
            if check is None or check.result():
                continue
            # Some layer draws differently when only this box is drawn (effects
            # placed relative to the region): probes and fallback draw the canvas.
            plan.draw_region = template.canvas_box
            if any(plan is probed for _, probed, _ in pending):
                plan.method, plan.reason, plan.levels = "pending", None, {}
                _reduce_object(template, node, plan, warp_map, levels, renderer, None)
        for members, region, check in group_checks:
            if check.result():
                for index in members:
                    objects[index].group_region = region
        for so in objects:
            if so.method in ("affine", "clipped"):
                opaque = opaque and bool(so.levels[levels[0]].pop("_opaque"))
                for arrays in so.levels.values():
                    arrays.pop("_opaque", None)
        base = base_levels.result()
    if not opaque and base[1].shape[2] == 3:
        # The base is opaque but some object's formula is not: the base needs its alpha.
        base = _base_levels(base_render, levels, False)
    needs_psd = any(so.method == "fallback" or so.overlaps for so in objects)
    if needs_psd and psd_bytes is None:
        psd_bytes = _psd_bytes_of(template)
    plan = RenderPlan(width=template.width, height=template.height, opaque=opaque, base=base,
                      smart_objects=objects, unsupported=unsupported, psd=psd_bytes if needs_psd else None,
                      _geometry=geometry if keep_geometry else None)
    if needs_psd:
        plan._template = template
        plan._renderer = renderer
    return plan


def _base_levels(base_render, levels, opaque: bool) -> dict[int, np.ndarray]:
    """The base image at every level: straight uint8, RGB when `opaque`, else RGBA."""
    if opaque:
        # Alpha is 255 everywhere: keep RGB, which the encoder takes as it is.
        # Premultiplied colour is then the colour itself, and its area average
        # is divided by an alpha of exactly 1: the general path below without
        # building and dividing RGBA images (equal to a float32 ulp: OpenCV's
        # area resize of 3 and 4 channels rounds differently, so a level pixel
        # on a rounding edge may differ by one 8-bit step). to_uint8 clips.
        from compositor.export import to_uint8  # noqa: PLC0415
        return {factor: to_uint8(downscale(base_render.color, factor)) for factor in levels}
    base_p = _premultiplied(base_render.color, base_render.alpha)
    return {factor: _straight_uint8(downscale(base_p, factor)) for factor in levels}


def _psd_bytes_of(template: Template) -> bytes:
    buffer = io.BytesIO()
    template.psd.save(buffer)
    return buffer.getvalue()


def _premultiplied(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.concatenate([color * alpha, alpha], axis=-1).astype(np.float32)


def _straight_uint8(premultiplied: np.ndarray) -> np.ndarray:
    """Premultiplied float RGBA -> straight RGBA uint8, rounded like the exporter."""
    from compositor.export import to_uint8  # noqa: PLC0415
    alpha = premultiplied[..., 3:4]
    color = np.divide(premultiplied[..., :3], alpha, out=np.zeros_like(premultiplied[..., :3]),
                      where=alpha > 1e-6)
    return to_uint8(np.clip(np.concatenate([color, alpha], axis=-1), 0.0, 1.0))


def _mark_overlaps(objects: list[SmartObjectPlan]) -> None:
    """Note which visible objects' boxes overlap.

    Each object's formula is probed with the others drawn as in the base
    (Photoshop's cache), so it is exact as long as no overlapping object gets
    artwork in the same render; when two do, the render draws them with the
    generic renderer (see `render.render_level`). Hidden objects draw nothing.
    """
    for i, a in enumerate(objects):
        for j in range(i + 1, len(objects)):
            b = objects[j]
            if "hidden" not in (a.method, b.method) and boxes_overlap(a.box, b.box):
                a.overlaps.append(j)
                b.overlaps.append(i)


def _overlap_groups(objects: list[SmartObjectPlan], canvas: Box) -> list[tuple[list[int], Box]]:
    """The objects that overlap, directly or through others, in groups of two or
    more (indices), each with the box around its members' boxes."""
    groups, seen = [], set()
    for start in range(len(objects)):
        if start in seen or not objects[start].overlaps:
            continue
        members, stack = [], [start]
        while stack:
            index = stack.pop()
            if index not in seen:
                seen.add(index)
                members.append(index)
                stack.extend(objects[index].overlaps)
        boxes = [objects[index].box for index in members]
        region = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                  max(b[3] for b in boxes))
        groups.append((sorted(members), aligned_box(region, canvas)))
    return groups


def _place_object(template: Template, node: LayerNode, renderer, geometry: dict | None = None):
    """The object's plan without arrays yet: box, geometry, and why it must
    fall back if it must (method "pending" otherwise). Returns (plan, warp map);
    no warp map when its geometry cannot be read. `geometry` (a dict) gets
    {id(layer): (layer, smart object, warp map)} (see `RenderPlan.compiled_geometry`)."""
    canvas = template.canvas_box
    plan = SmartObjectPlan(name=node.name, uuid=content_id(node), content_size=(0, 0), quad=[],
                           box=aligned_box(node.box, canvas), method="fallback")
    try:
        # As the base render read them (a warped object's takes seconds: its edges
        # and preset mesh are measured on its pixels).
        so, warp_map = renderer.smart_object_geometry(node)
    except Exception as exc:  # geometry the reader does not know
        plan.reason = f"cannot read its geometry ({type(exc).__name__}: {exc})"
        return plan, None
    if geometry is not None:
        geometry[id(node.layer)] = (node.layer, so, warp_map)
    from compositor.smartobjects.model import MeasuredGeometry  # noqa: PLC0415
    plan.measured = MeasuredGeometry.of(so).to_json()
    # Its map is built: the inversion its edges were measured on (over a
    # million pixels on a large warp) need not stay in memory with the plan.
    so.kept_inverse = None
    from compositor.composite import affected_box_of  # noqa: PLC0415
    plan.box = aligned_box(affected_box_of(template, node, warp_map.box), canvas)
    plan.content_size = tuple(int(v) for v in so.content_size)
    plan.quad = [float(v) for v in (so.non_affine or so.transform)]
    plan.reason = _why_not_affine(template, node, so)
    if plan.reason is None:
        plan.method = "pending"
    elif not node.visible:
        plan.method = "hidden"  # artwork for it changes nothing, as in Photoshop
    return plan, warp_map


def _reduce_object(template: Template, node: LayerNode, plan: SmartObjectPlan, warp_map, levels, renderer,
                   pool=None) -> None:
    """Probe the layers around the object and store the formula's arrays at every level.
    `pool`: an executor the probe renders may run on (None: one after the other)."""
    box = plan.box
    try:
        coefficients = _probe_coefficients(template, node, box, plan.draw_region, renderer, pool)
    except NotAffine as exc:
        plan.method, plan.reason = "fallback", str(exc)
        return
    except Exception as exc:
        plan.method, plan.reason = "fallback", f"probing failed ({type(exc).__name__}: {exc})"
        return
    plan.method = "clipped" if node.clip_layers else "affine"
    plan.content_scale = tuple(float(v) for v in warp_map.content_scale)
    plan.affine = bool(getattr(warp_map, "affine", False))
    map_x, map_y, coverage = _maps_over_box(warp_map, box)
    for factor in levels:
        arrays = {key: downscale(values, factor) for key, values in coefficients.items() if not key.startswith("_")}
        arrays["_opaque"] = coefficients["_opaque"]
        # A map is sampled at the level pixel's centre: bilinear resize of the
        # full map does exactly that for boxes aligned to the factor.
        size = level_size((box[2] - box[0], box[3] - box[1]), factor)
        if factor == 1:
            arrays["map_x"], arrays["map_y"] = map_x, map_y
        else:
            arrays["map_x"] = cv2.resize(map_x, size, interpolation=cv2.INTER_LINEAR)
            arrays["map_y"] = cv2.resize(map_y, size, interpolation=cv2.INTER_LINEAR)
        arrays["coverage"] = downscale(coverage, factor)
        # each pixel's mip level for shrunk warped artwork, once here rather than per render
        arrays["mip_lod"] = mip_lod(arrays["map_x"], arrays["map_y"], arrays["coverage"])
        plan.levels[factor] = arrays


def _region_render_is_exact(renderer, base_render, box: Box) -> bool:
    if box == base_render.box:
        return True
    part = renderer.render(region=box)
    window = (slice(box[1], box[3]), slice(box[0], box[2]))
    # The base's window first: premultiplying the whole canvas to compare a box
    # cost as much as the box's render on large templates.
    base_color, base_alpha = base_render.color[window], base_render.alpha[window]
    return bool(np.abs(part.color * part.alpha - base_color * base_alpha).max()
                <= REGION_TOLERANCE and np.abs(part.alpha - base_alpha).max() <= REGION_TOLERANCE)


def _why_not_affine(template: Template, node: LayerNode, so) -> str | None:
    """Why the fast path cannot draw this object (None: it may, pending the probe check)."""
    from psd_tools.constants import ColorMode  # noqa: PLC0415

    if template.color_mode != ColorMode.RGB:
        return f"{template.color_mode.name} document"
    if not node.visible:
        return "hidden layer"
    if node.effects:
        return f"layer effects ({', '.join(node.effects)}) follow the artwork's shape"
    if node.knockout:
        return "knockout"
    if so.smart_filters:
        return "smart filters"
    if not getattr(node, "blend_clipped_as_group", True) and node.clip_layers:
        return "clipped layers blended one by one ('blend clipped layers as group' off)"
    from compositor.blend import mode_name  # noqa: PLC0415
    if mode_name(node.blend_mode) not in AFFINE_BLENDS:
        return f"blend mode {mode_name(node.blend_mode)}"
    for clipped in node.clip_layers:
        if clipped.kind in ("group", "adjustment") or clipped.effects or clipped.knockout \
                or clipped.clip_layers:
            return f"clipped layer {clipped.name!r} ({clipped.kind}) is not a plain layer"
        if clipped.visible and mode_name(clipped.blend_mode) not in AFFINE_BLENDS:
            return f"clipped layer {clipped.name!r} blends in {mode_name(clipped.blend_mode)}"
    return None


class NotAffine(Exception):
    """The layers around an object do not reduce to the affine formula."""


def _maps_over_box(warp_map, box: Box):
    """The warp map's arrays over `box`: the edge repeated outside the map (coverage 0)."""
    wl, wt, wr, wb = warp_map.box
    left, top, right, bottom = box
    pads = (wt - top, bottom - wb, wl - left, right - wr)
    if min(pads) < 0:
        raise NotAffine("the warped outline leaves the affected box")
    h, w = bottom - top, right - left
    if wr <= wl or wb <= wt:
        zero = np.zeros((h, w), np.float32)
        return zero, zero.copy(), zero.copy()
    map_x = cv2.copyMakeBorder(warp_map.map_x, *pads, cv2.BORDER_REPLICATE)
    map_y = cv2.copyMakeBorder(warp_map.map_y, *pads, cv2.BORDER_REPLICATE)
    coverage = cv2.copyMakeBorder(warp_map.coverage, *pads, cv2.BORDER_CONSTANT, value=0)
    return map_x, map_y, coverage


# --- probes ---------------------------------------------------------------------------------


def _with_node_replaced(layers: list[LayerNode], target: LayerNode, replacement: LayerNode):
    """A copy of the tree (only along the path to `target`) with `target` replaced."""
    out = []
    for node in layers:
        if node is target:
            out.append(replacement)
            continue
        children = _with_node_replaced(node.children, target, replacement)
        clips = _with_node_replaced(node.clip_layers, target, replacement)
        changed = any(a is not b for a, b in zip(children + clips, node.children + node.clip_layers))
        if changed:
            node = dataclasses.replace(node, children=children, clip_layers=clips)
        out.append(node)
    return out


def _renderer_sharing(template: Template, shared):
    """A renderer for a probe tree that starts from what `shared` (the base
    render's renderer, same nodes) already decoded: layer pixels, smart-object
    geometry, warp maps. Entries are keyed by node identity, and the probe
    replaces only the nodes on the path to the object, so nothing stale is used."""
    from compositor.composite import Renderer  # noqa: PLC0415

    renderer = Renderer(template, smart_objects=SMART_OBJECT_MODE)
    cache = getattr(shared, "_cache", None)
    if isinstance(cache, dict) and isinstance(getattr(renderer, "_cache", None), dict):
        renderer._cache.update(cache)
    return renderer


def _probe_render(template: Template, node: LayerNode, box: Box, color, alpha, keep_clipped: bool,
                  region: Box | None = None, shared=None):
    """Render `box` with the object replaced by fixed pixels (straight colour, alpha).

    `region`: what to draw to get `box` right (default the box itself)."""
    h, w = box[3] - box[1], box[2] - box[0]
    color = np.broadcast_to(np.asarray(color, np.float32), (h, w, 3)).astype(np.float32)
    alpha = np.broadcast_to(np.asarray(alpha, np.float32), (h, w, 1)).astype(np.float32)
    probe = dataclasses.replace(node, kind="pixel", box=box, pixels=(color, alpha), effects=[],
                                effects_renderer="none",
                                clip_layers=list(node.clip_layers) if keep_clipped else [])
    probed = dataclasses.replace(template, layers=_with_node_replaced(template.layers, node, probe))
    region = region or box
    result = _renderer_sharing(probed, shared).render(region=region)
    window = (slice(box[1] - region[1], box[3] - region[1]), slice(box[0] - region[0], box[2] - region[0]))
    return (result.color * result.alpha)[window], result.alpha[window]


def _probe_coefficients(template: Template, node: LayerNode, box: Box, region: Box | None,
                        shared=None, pool=None) -> dict[str, np.ndarray]:
    """W, Z, Sp, Y, Sa (and the folded clipped run) over `box`, checked by a random probe.

    The probe renders are independent of each other (each has its own
    renderer, sharing only the base render's decoded pixels, read-only), so
    they run side by side on `pool`'s threads while each draws at most
    PARALLEL_PROBE_PIXELS; one after the other without a pool.
    """
    h, w_ = box[3] - box[1], box[2] - box[0]
    rng = np.random.default_rng(4)
    color = rng.random((h, w_, 3), dtype=np.float32)
    alpha = rng.random((h, w_, 1), dtype=np.float32)
    drawn = region or box
    if (drawn[2] - drawn[0]) * (drawn[3] - drawn[1]) > PARALLEL_PROBE_PIXELS:
        pool = None
    run = pool.submit if pool is not None else _done
    # The random probe first: it is the one drawn with the clipped layers, the slowest.
    checked = run(_probe_render, template, node, box, color, alpha, True, region, shared)
    probes = [run(_probe_render, template, node, box, c, a, False, region, shared)
              for c, a in ((0.0, 0.0), (0.0, 1.0), (1.0, 1.0))]
    folded = run(_fold_clipped, template, node, box, region, shared) if node.clip_layers else None
    (p0, a0), (p1, a1), (p2, _) = (future.result() for future in probes)
    expected_p, expected_a = checked.result()
    fold = folded.result() if folded is not None else None
    sp, sa, z, y, w = p0, a0, p1 - p0, a1 - a0, p2 - p1
    out = {"Sp": sp, "Z": z}
    opaque = bool(sa.min() >= 1.0 and np.abs(y).max() <= AFFINE_TOLERANCE)
    if not opaque:
        out["Sa"], out["Y"] = sa, y
    out["_opaque"] = np.asarray(opaque)

    if fold is not None:
        mc, kc = fold
        out["Z"] = z + w * kc
        w = w * mc
    out["W"] = w
    predicted_p, predicted_a = apply_coefficients(out, color * alpha, alpha)
    error = max(float(np.abs(predicted_p - expected_p).max()), float(np.abs(predicted_a - expected_a).max()))
    if error > AFFINE_TOLERANCE:
        raise NotAffine(f"the layers over it are not affine in its pixels (probe error {error:.4f})")
    return out


def _done(function, *args):
    """function(*args) now, as a finished future (for work run without a pool)."""
    from concurrent.futures import Future  # noqa: PLC0415
    future = Future()
    try:
        future.set_result(function(*args))
    except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the result, as a pool does
        future.set_exception(exc)
    return future


def _fold_clipped(template: Template, node: LayerNode, box: Box, region: Box | None, shared=None):
    """The clipped run as colour' = Mc * c + Kc over the object's colour c (see the module docstring)."""
    from compositor.blend import mode_name  # noqa: PLC0415

    h, w = box[3] - box[1], box[2] - box[0]
    mc = np.ones((h, w, 3), np.float32)
    kc = np.zeros((h, w, 3), np.float32)
    for clipped in node.clip_layers:
        if not clipped.visible:
            continue
        # The layer alone, unclipped, over nothing: its colour and alpha
        # (mask, opacity and fill included) as the renderer draws them.
        alone = dataclasses.replace(clipped, clipping=False, clip_layers=[])
        region = region or box
        result = _renderer_sharing(dataclasses.replace(template, layers=[alone]), shared).render(region=region)
        window = (slice(box[1] - region[1], box[3] - region[1]), slice(box[0] - region[0], box[2] - region[0]))
        cs, a_l = result.color[window], result.alpha[window]
        # Over an opaque colour c the layer gives (1 - a_l) c + a_l B(c, cs),
        # with B(c, cs) = p_of(cs) c + q_of(cs).
        p_of, q_of = AFFINE_BLENDS[mode_name(clipped.blend_mode)]
        f = (1.0 - a_l) + a_l * p_of(cs)
        mc, kc = f * mc, f * kc + a_l * q_of(cs)
    return mc, kc


def apply_coefficients(arrays: dict[str, np.ndarray], p: np.ndarray, a: np.ndarray):
    """The formula of the module docstring: (out_p, out_a) from the object's P and a.

    The reference form, used to check probes; `compositor.render` evaluates
    the same with fewer passes.
    """
    if "WM" in arrays:
        den = arrays["Uc"] * a + arrays["Vc"]
        ratio = np.divide(a, den, out=np.zeros_like(a), where=den > 1e-6)
        out_p = ratio * (arrays["WM"] * p + arrays["WN"] * a + arrays["WK"]) + arrays["Z"] * a + arrays["Sp"]
    else:
        out_p = arrays["W"] * p + arrays["Z"] * a + arrays["Sp"]
    if "Y" in arrays:
        out_a = arrays["Y"] * a + arrays["Sa"]
    else:
        out_a = np.ones_like(a)
    return out_p, out_a
