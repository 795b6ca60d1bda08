"""Which stored channel holds a layer's user (pixel) mask.

A layer record has up to two mask channels. When a layer has a vector mask
(pixel, shape or fill layer alike; the mask flags say so), Photoshop may
write its composite mask into channel -2: the user mask
times the rasterised path ("user mask came from rendering other data"). The
user mask itself then sits in channel -3, the "real user mask", with its own
box and background. Measured on the corpus: channel -2 equals channel -3
times the path's coverage to under 0.002 on every such layer, and equals
the path alone where no channel -3 was written (no user mask at all).

The renderer applies the path itself (exact coverage, with the vector mask's
own density), so it must take the user mask from channel -3, or have none:
reading channel -2 as well would apply the path twice, squaring every
anti-aliased edge, and would give the path the user mask's density.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from psd_tools.constants import ChannelID

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class StoredMask:
    channel: ChannelID
    box: Box
    background: float  # 0..1, the value outside `box`
    disabled: bool


def _channel_ids(layer) -> list:
    return [info.id for info in layer._record.channel_info]


def fill_path_is_softened(layer) -> bool:
    """Whether a shape or fill layer's enabled path has a density below 100 %
    or a feather.

    Its cached pixels are cut by the sharp path at full density, but
    Photoshop draws the fill over the whole canvas and applies the softened
    path at composite time (measured: a density of 80 % shows the fill at
    20 % across the canvas; a 2 px path feather blurs the edge like a raster
    mask feather), so the renderer applies the path itself.
    """
    from psd_tools.composite import utils as pt_utils  # noqa: PLC0415

    if not pt_utils.has_fill(layer) or layer.mask is None:
        return False
    vector_mask = layer.vector_mask
    if vector_mask is None or vector_mask.disabled:
        return False
    parameters = layer.mask.parameters
    if parameters is None:
        return False
    density, feather = parameters.vector_mask_density, parameters.vector_mask_feather
    return (density is not None and density < 255) or bool(feather)


def _path_rendered_into_mask(layer) -> bool:
    # Any layer with an enabled path, shape and fill layers included, may
    # have that path rendered into channel -2; the flag says so. (A shape
    # layer's cached pixels carry the path as well: its channel -2 is then
    # never the user mask, which sits in channel -3 when there is one.)
    vector_mask = layer.vector_mask
    if vector_mask is None or vector_mask.disabled:
        return False
    return bool(layer.mask._data.flags.user_mask_from_render)


def user_mask(layer) -> StoredMask | None:
    """Where the layer's user mask is stored, or None when it has none."""
    mask = layer.mask
    if mask is None:
        return None
    data = mask._data
    if _path_rendered_into_mask(layer):
        if ChannelID.REAL_USER_LAYER_MASK not in _channel_ids(layer) or data.real_left is None:
            return None  # channel -2 is the path alone
        return _real_user_mask(data)
    if mask.has_real():
        return _real_user_mask(data)
    return StoredMask(ChannelID.USER_LAYER_MASK, tuple(mask.bbox), mask.background_color / 255.0,
                      bool(mask.disabled))


def _real_user_mask(data) -> StoredMask:
    # Channel -3 has its own flags: the user mask can be off while channel -2
    # (then the path alone) is on.
    box = (data.real_left, data.real_top, data.real_right, data.real_bottom)
    disabled = bool(data.real_flags.mask_disabled) if data.real_flags is not None else bool(data.flags.mask_disabled)
    return StoredMask(ChannelID.REAL_USER_LAYER_MASK, box, (data.real_background_color or 0) / 255.0, disabled)


def read_user_mask(layer, stored: StoredMask) -> np.ndarray | None:
    """The mask values (h, w, 1) float32 in 0..1 over `stored.box`."""
    from psd_tools.api.numpy_io import _parse_array  # noqa: PLC0415

    width, height = stored.box[2] - stored.box[0], stored.box[3] - stored.box[1]
    if width <= 0 or height <= 0:
        return None
    psd = layer._psd
    for info, channel in zip(layer._record.channel_info, layer._channels, strict=False):
        if info.id == stored.channel and len(channel.data) > 0:
            values = _parse_array(channel.get_data(width, height, psd.depth, psd.version), psd.depth, width)
            return values.reshape(height, width, 1).astype(np.float32)
    return None
