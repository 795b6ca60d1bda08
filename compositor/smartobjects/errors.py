"""Errors raised by the smart-object package.

`compositor.errors.UnsupportedFeature` (owned by the pixel-ops part) is the
project-wide error; until it is importable everywhere we define a local one
with the same meaning so callers can catch either.
"""

try:  # the shared compositor error, once it has landed
    from compositor.errors import UnsupportedFeature as _Base
except ImportError:  # pragma: no cover - depends on merge order
    _Base = Exception


class SmartObjectError(_Base):
    """A smart object cannot be read or rendered; the message names why."""

    def __init__(self, message: str):
        Exception.__init__(self, message)
        # the attributes UnsupportedFeature carries, so handlers can list it
        self.feature = message
        self.detail = ""
