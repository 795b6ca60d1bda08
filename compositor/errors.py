"""Errors shared by the compositor modules.

`UnsupportedFeature` is raised when a PSD uses something we cannot re-render
faithfully (an adjustment type, a layer effect, a blend mode in an unsupported
colour mode...). The message names the feature so that it can be listed per
template instead of being silently dropped.
"""


class UnsupportedFeature(Exception):
    """A Photoshop feature the compositor cannot reproduce.

    `feature` is a short human-readable name ("Color Lookup adjustment",
    "pattern overlay effect"); `detail` optionally says why.
    """

    def __init__(self, feature: str, detail: str = ""):
        self.feature = feature
        self.detail = detail
        message = f"unsupported: {feature}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class InvalidOption(ValueError):
    """A render option is out of range or malformed.

    `field` is the option's name as the API spells it ("rotate", "quality",
    "adjustment_layers.brightness"); the message starts with it, so it can be
    shown to the user as is.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class InvalidArtwork(ValueError):
    """Artwork bytes we refuse to decode: not an image, truncated, an
    unsupported format, or more pixels than the limit. The message says which."""
