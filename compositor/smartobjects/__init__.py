"""Smart objects: read their descriptors and content, and re-warp artwork.

Public API (used by the compositor for every smart-object layer):
    read_smart_object(layer, psd) -> SmartObject
    build_warp_map(so, canvas_size, content_size=None) -> WarpMap   # at ingest
    warp_content(warp_map, content_rgba) -> float32 (bh, bw, 4)     # per render
    layer_fidelity(psd) -> list[dict]                                 # vs Photoshop's cache
    save_warp_map(warp_map, file) / load_warp_map(file)               # persist ingest results
"""

from .errors import SmartObjectError
from .fidelity import layer_fidelity
from .model import MeasuredGeometry, SmartObject, read_smart_object
from .warpmap import WarpMap, build_warp_map, load_warp_map, save_warp_map, warp_content

__all__ = [
    "MeasuredGeometry",
    "SmartObject",
    "SmartObjectError",
    "WarpMap",
    "build_warp_map",
    "layer_fidelity",
    "load_warp_map",
    "read_smart_object",
    "save_warp_map",
    "warp_content",
]
