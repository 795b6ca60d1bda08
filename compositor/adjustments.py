"""Photoshop adjustment layers, re-applied to float32 RGB.

`read_adjustment(layer)` turns a psd-tools adjustment layer into an
`Adjustment`; `Adjustment.apply(rgb)` maps straight float32 RGB (..., 3) in
[0, 1] to the adjusted colours. An adjustment layer behaves like a layer whose
colour is the adjusted backdrop, with the layer's own blend mode, opacity and
mask: `Adjustment.composite(mode, cb, ab, strength)` does exactly that and
keeps the backdrop's alpha (an adjustment never adds coverage).

Unsupported settings (Color Lookup tables other than an embedded .cube,
Photo Filter colours not stored as Lab, non-RGB gradient stops) raise
`UnsupportedFeature` naming the adjustment, so the renderer can list them.

Accuracy against Photoshop differs per kind (tests/corpus/test_pixelops_reference.py
holds the measured bounds). Mean error in 8-bit levels on the references:
- matches Photoshop: Levels 0.4, Curves 0 (whole-level tables; RGB, CMYK
  and grayscale documents), Exposure 0.2, Invert 0,
  Posterize 0.3, Threshold 0, legacy Brightness/Contrast 0.15,
  Hue/Saturation colorize 0.5 and single colour ranges 0.3-0.8,
  Color Balance midtones without luminosity 0.5;
- fitted models (`approximate` is True): non-legacy Brightness/Contrast
  1.7-2.5 (2.4 on a setting not used for the fit), Hue/Saturation with
  overlapping colour ranges 1-20;
- not measured, no isolated reference in the corpus (`approximate` is True):
  Vibrance, Color Balance shadows/highlights and preserve luminosity,
  Black & White, Photo Filter, Channel Mixer, Color Lookup (trilinear);
  Gradient Map and Selective Color only on one colour at the end of a
  16-adjustment chain (within 2 levels).
`Adjustment.approximate` tells the renderer which ones to report per template.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from compositor.blend import blend, lum
from compositor.errors import UnsupportedFeature

# --- colour helpers -----------------------------------------------------------


def _clip01(x):
    return np.clip(x, 0, 1).astype(np.float32, copy=False)


def rgb_to_hsl(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in [0, 1), HSL saturation and lightness, each shaped (...)."""
    high = rgb.max(axis=-1)
    low = rgb.min(axis=-1)
    chroma = high - low
    lightness = (high + low) / 2
    denominator = 1 - np.abs(2 * lightness - 1)
    saturation = np.divide(chroma, denominator, out=np.zeros_like(chroma),
                           where=denominator > 1e-6)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    safe = np.where(chroma > 0, chroma, 1)
    hue = np.where(
        high == r, ((g - b) / safe) % 6,
        np.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    hue = np.where(chroma > 0, hue / 6, 0).astype(np.float32)
    return hue, _clip01(saturation), lightness.astype(np.float32)


def hsl_to_rgb(hue, saturation, lightness) -> np.ndarray:
    """Inverse of `rgb_to_hsl`; returns (..., 3)."""
    a = saturation * np.minimum(lightness, 1 - lightness)
    twelfths = (hue % 1) * 12
    channels = []
    for n in (0, 8, 4):  # red, green, blue
        k = (n + twelfths) % 12
        channels.append(lightness - a * np.clip(np.minimum(k - 3, 9 - k), -1, 1))
    return _clip01(np.stack(channels, axis=-1))


def _apply_curve_lut(values: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Evaluate a curve sampled at len(lut) evenly spaced inputs, by linear
    interpolation in float32 (np.interp would make a float64 copy)."""
    lut = np.asarray(lut, np.float32)
    last = len(lut) - 1
    position = np.clip(np.asarray(values, np.float32), 0, 1) * np.float32(last)
    index = np.minimum(position.astype(np.int32), last - 1)
    fraction = position - index.astype(np.float32)
    return lut[index] * (1 - fraction) + lut[index + 1] * fraction


def natural_cubic_spline(xs, ys, samples: int = 1024) -> np.ndarray:
    """A natural cubic spline through (xs, ys), sampled on [0, 1]; flat
    beyond the first and last point, clipped to [0, 1] (as Curves does)."""
    xs = np.asarray(xs, np.float64)
    ys = np.asarray(ys, np.float64)
    order = np.argsort(xs)
    xs, ys = xs[order], ys[order]
    t = np.linspace(0, 1, samples)
    if len(xs) == 1:
        return np.full(samples, ys[0], np.float32)
    if len(xs) == 2:
        return _clip01(np.interp(t, xs, ys))
    # Second derivatives M with M0 = Mn = 0 (tiny tridiagonal system).
    h = np.diff(xs)
    n = len(xs)
    system = np.zeros((n, n))
    rhs = np.zeros(n)
    system[0, 0] = system[-1, -1] = 1
    for i in range(1, n - 1):
        system[i, i - 1] = h[i - 1]
        system[i, i] = 2 * (h[i - 1] + h[i])
        system[i, i + 1] = h[i]
        rhs[i] = 6 * ((ys[i + 1] - ys[i]) / h[i] - (ys[i] - ys[i - 1]) / h[i - 1])
    m = np.linalg.solve(system, rhs)
    tc = np.clip(t, xs[0], xs[-1])
    i = np.clip(np.searchsorted(xs, tc, side="right") - 1, 0, n - 2)
    dx = tc - xs[i]
    hi = h[i]
    b = (ys[i + 1] - ys[i]) / hi - hi * (2 * m[i] + m[i + 1]) / 6
    value = ys[i] + b * dx + m[i] / 2 * dx**2 + (m[i + 1] - m[i]) / (6 * hi) * dx**3
    return _clip01(value)


# --- the Adjustment interface ------------------------------------------------------


@dataclass
class Adjustment(ABC):
    """One adjustment layer's settings; subclasses implement `apply`."""

    name: ClassVar[str] = "adjustment"
    # True where the formula is a model that measurably misses Photoshop (or
    # could not be measured): the renderer should list it per template.
    approximate: ClassVar[bool] = False
    # True when `apply` maps each channel on its own by one curve, so it also
    # holds for grayscale and CMYK documents.
    per_channel: ClassVar[bool] = False

    @abstractmethod
    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """The adjusted colours of straight float32 RGB (..., 3)."""

    def composite(self, mode: str, cb: np.ndarray, ab: np.ndarray, strength: np.ndarray | float):
        """Apply as a layer over the backdrop (cb, ab): the layer's colour is
        the adjusted backdrop, blended in `mode`, mixed in by `strength`
        (opacity x fill x mask, shaped (..., 1) or a scalar). The alpha is the
        backdrop's: an adjustment only recolours what is there.
        Returns (colour, alpha)."""
        adjusted = self.apply(cb)
        blended = adjusted if mode in ("normal", "pass_through") else blend(mode, cb, adjusted)
        colour = cb + np.float32(1) * strength * (blended - cb)
        return colour.astype(np.float32, copy=False), ab


def _check_rgb(rgb):
    if rgb.shape[-1] != 3:
        raise UnsupportedFeature(
            f"adjustment on a {rgb.shape[-1]}-channel image", "only RGB is supported"
        )
    return np.asarray(rgb, np.float32)


# --- simple per-channel adjustments --------------------------------------------------


@dataclass
class Invert(Adjustment):
    name = "Invert"

    def apply(self, rgb):
        return 1 - _check_rgb(rgb)


@dataclass
class Posterize(Adjustment):
    levels: int
    name = "Posterize"

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        n = max(2, int(self.levels))
        # n bands of equal width on the 0..255 scale, each mapped to a level.
        band = np.minimum(np.floor(rgb * 255 * n / 256), n - 1)
        return (band / (n - 1)).astype(np.float32)


@dataclass
class Threshold(Adjustment):
    level: int  # 1..255: pixels whose luminance is >= level/255 turn white
    name = "Threshold"

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        luminance = lum(rgb)
        white = np.round(luminance * 255) >= self.level
        return np.repeat(white, 3, axis=-1).astype(np.float32)


@dataclass
class Levels(Adjustment):
    # One (input_black, input_white, gamma, output_black, output_white) per
    # channel, in 0..255 and gamma as a ratio: [master, red, green, blue].
    records: list[tuple[float, float, float, float, float]]
    name = "Levels"

    @staticmethod
    def _level(x, record):
        in_black, in_white, gamma, out_black, out_white = record
        span = max(in_white - in_black, 1e-6)
        x = np.clip((x * 255 - in_black) / span, 0, 1)
        x = x ** np.float32(1 / gamma)
        return ((out_black + x * (out_white - out_black)) / 255).astype(np.float32)

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        master, *per_channel = self.records
        out = np.empty_like(rgb)
        for c in range(3):
            out[..., c] = self._level(rgb[..., c], per_channel[c]) if c < len(per_channel) else rgb[..., c]
        return self._level(out, master)


@dataclass
class Curves(Adjustment):
    # Channel id (0 master, then the document's channels in order: red,
    # green, blue or cyan, magenta, yellow, black) -> [(input, output)] in 0..255.
    points: dict[int, list[tuple[float, float]]]
    name = "Curves"
    # Each channel through its own curve, then all through the master one:
    # Photoshop applies them to CMYK as stored (1 = no ink) and to grayscale.
    per_channel: ClassVar[bool] = True

    def apply(self, values):
        # Photoshop's 8-bit Curves are two table look-ups on whole levels:
        # round(255 * spline) per channel, then the master table on the
        # channel's output level. Measured: exact on every pixel of a CMYK
        # document, where interpolating the smooth curves leaves 1-level errors.
        values = np.asarray(values, np.float32)
        levels = np.clip(np.rint(values * 255), 0, 255).astype(np.intp)
        for channel in range(1, values.shape[-1] + 1):  # a grayscale curve is channel 1
            if channel in self.points:
                levels[..., channel - 1] = self._level_table(channel)[levels[..., channel - 1]]
        if 0 in self.points:
            levels = self._level_table(0)[levels]
        return (levels / np.float32(255)).astype(np.float32)

    def _lut(self, channel):
        inputs, outputs = zip(*self.points[channel])
        return natural_cubic_spline(np.array(inputs) / 255, np.array(outputs) / 255)

    def _level_table(self, channel) -> np.ndarray:
        """The curve as 256 whole output levels, one per input level."""
        curve = self._lut(channel)
        return np.rint(_apply_curve_lut(np.arange(256, dtype=np.float32) / 255, curve) * 255).astype(np.intp)


@dataclass
class Exposure(Adjustment):
    exposure: float  # stops
    offset: float
    gamma: float
    name = "Exposure"

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        # Photoshop works in linear light; 8-bit RGB is taken as gamma 2.2.
        linear = rgb ** np.float32(2.2)
        linear = np.clip(linear * np.float32(2.0**self.exposure) + np.float32(self.offset), 0, 1)
        linear = linear ** np.float32(1 / max(self.gamma, 0.01))
        return _clip01(linear ** np.float32(1 / 2.2))


@dataclass
class BrightnessContrast(Adjustment):
    brightness: int  # -150..150 (legacy: -100..100)
    contrast: int  # -50..100 (legacy: -100..100)
    legacy: bool
    mean: int = 127  # the midpoint contrast pivots around, 0..255
    name = "Brightness/Contrast"
    # The same curve on every channel, whatever they are: Photoshop applies it
    # to grayscale and to CMYK as stored (1 = no ink) too.
    per_channel: ClassVar[bool] = True

    @property
    def approximate(self):  # the non-legacy curve is a fitted model (~3 levels rms)
        return not self.legacy

    def apply(self, rgb):
        rgb = np.asarray(rgb, np.float32)
        if self.legacy:
            # Legacy: two straight lines, a shift by the brightness and a
            # slope about the mean (1 / (1 - c) for c > 0, 1 + c below). The
            # brightness goes in before a steepening contrast and after a
            # flattening one, so it always moves mid-grey by exactly b/255.
            shift = np.float32(self.brightness / 255)
            c = self.contrast / 100
            slope = np.float32(1 / max(1 - c, 1e-3) if c > 0 else 1 + c)
            pivot = np.float32(self.mean / 255)
            if c > 0:
                return _clip01((rgb + shift - pivot) * slope + pivot)
            return _clip01((rgb - pivot) * slope + pivot + shift)
        return _apply_curve_lut(rgb, self._modern_lut())

    def _modern_lut(self):
        # Adobe publishes no formula. Model, fitted to Photoshop's own curves
        # for four (brightness, contrast) settings (about 4 levels rms):
        # contrast is a natural spline S-curve through (0, 0), (p, p - a*c),
        # (1 - p, 1 - p + a*c), (1, 1); brightness then slides every point of
        # that curve along the anti-diagonal by
        # sign(b) |b/150|^e * t(1 - t)(k0 + k1 t + k2 t^2), keeping black and
        # white fixed (small brightnesses act more than in proportion).
        t = np.linspace(0, 1, 1024)
        c = self.contrast / 100
        p, a = BRIGHTNESS_CONTRAST_MODEL["pivot"], BRIGHTNESS_CONTRAST_MODEL["contrast_gain"]
        contrast_curve = natural_cubic_spline([0, p, 1 - p, 1], [0, p - a * c, 1 - p + a * c, 1], samples=len(t))
        k0, k1, k2 = BRIGHTNESS_CONTRAST_MODEL["brightness_shape"]
        strength = np.sign(self.brightness) * abs(self.brightness / 150) ** BRIGHTNESS_CONTRAST_MODEL["exponent"]
        slide = strength * t * (1 - t) * (k0 + k1 * t + k2 * t * t)
        inputs, outputs = t - slide, contrast_curve + slide
        order = np.argsort(inputs)
        return _clip01(np.interp(t, inputs[order], outputs[order]))


# Fitted to Photoshop's curves for four settings (3 levels rms); a fifth,
# independent setting (brightness 14) comes out 3 levels short.
BRIGHTNESS_CONTRAST_MODEL = {
    "pivot": 0.2121,
    "contrast_gain": 0.0909,
    "brightness_shape": (0.4355, 0.4188, 0.6225),
    "exponent": 0.8681,
}


# --- colour adjustments ----------------------------------------------------------------


def _range_weight(hue_degrees, hue_range):
    """Weight of a Hue/Saturation colour range (a, b, c, d) in degrees: 0
    outside a..d, ramping up from a to b, 1 from b to c, down from c to d
    (all on the colour wheel, so ranges may wrap through 0)."""
    a, b, c, d = (float(v) for v in hue_range)
    # Express everything relative to a, so that a..d is increasing.
    def rel(v):
        return (v - a) % 360

    h = rel(hue_degrees)
    rb, rc, rd = rel(b), rel(c), rel(d)
    rising = np.where(rb > 0, h / max(rb, 1e-6), 1)
    falling = np.where(rd > rc, (rd - h) / max(rd - rc, 1e-6), 1)
    weight = np.where(h < rb, rising, np.where(h <= rc, 1, np.where(h <= rd, falling, 0)))
    return np.clip(weight, 0, 1).astype(np.float32)


def _saturate(rgb, amount):
    """Move colours away from (amount > 0) or towards (amount < 0) their
    grey of equal HSL lightness; amount in [-1, 1] (may be an array)."""
    amount = np.asarray(amount, np.float32)
    hue, saturation, lightness = rgb_to_hsl(rgb)
    more = saturation + (1 - saturation) * saturation * np.maximum(amount, 0) * 2
    less = saturation * (1 + np.minimum(amount, 0))
    new_saturation = np.where(amount >= 0, np.minimum(more, 1), less)
    return hsl_to_rgb(hue, new_saturation, lightness)


def _lighten(rgb, amount):
    """Hue/Saturation lightness: towards white (amount > 0) or black."""
    amount = np.asarray(amount, np.float32)
    return _clip01(np.where(amount >= 0, rgb + (1 - rgb) * amount, rgb * (1 + amount)))


@dataclass
class HueSaturation(Adjustment):
    master: tuple[int, int, int]  # hue -180..180, saturation -100..100, lightness -100..100
    # [((a, b, c, d) hue range in degrees, (hue, saturation, lightness))] for
    # reds, yellows, greens, cyans, blues, magentas
    ranges: list[tuple[tuple[int, int, int, int], tuple[int, int, int]]]
    colorize: tuple[int, int, int] | None = None  # hue 0..360, saturation 0..100, lightness
    name = "Hue/Saturation"

    @property
    def approximate(self):
        # Overlapping colour ranges do not simply add up in Photoshop (a +89
        # and a -92 saturation on the same range gave +89); we add them.
        active = [r for r, values in self.ranges if values != (0, 0, 0)]
        return self.colorize is None and len(active) > 1

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        if self.colorize is not None:
            hue, saturation, lightness = self.colorize
            # The pixel's HSL lightness, moved by the lightness setting, then
            # the chosen hue and saturation (checked against Photoshop).
            light = _lighten(rgb_to_hsl(rgb)[2], lightness / 100)
            return hsl_to_rgb(np.float32(hue / 360), np.float32(saturation / 100), light)
        # Master lightness first: a straight move towards white or black.
        out = _lighten(rgb, self.master[2] / 100)
        # Each colour range's weight follows the pixel's hue.
        pixel_hue = rgb_to_hsl(out)[0] * 360
        hue_shift = np.full(rgb.shape[:-1], self.master[0], np.float32)
        range_saturation = np.zeros(rgb.shape[:-1], np.float32)
        range_lightness = np.zeros(rgb.shape[:-1], np.float32)
        for hue_range, (h, s, l) in self.ranges:
            if (h, s, l) == (0, 0, 0):
                continue
            weight = _range_weight(pixel_hue, hue_range)
            hue_shift += weight * h
            range_saturation += weight * s
            range_lightness += weight * l
        out = _range_lighten(out, range_lightness[..., None] / 100)
        hue, sat, light = rgb_to_hsl(out)
        sat = _scale_saturation(sat, self.master[1] / 100)
        sat = _scale_saturation(sat, range_saturation / 100)
        return hsl_to_rgb(hue + hue_shift / 360, sat, light)


def _range_lighten(rgb, amount):
    """A colour range's lightness: positive amounts lift the lower channels
    towards the highest (+100 % gives a grey at the pixel's maximum),
    negative ones lower the higher channels towards the lowest."""
    high = rgb.max(axis=-1, keepdims=True)
    low = rgb.min(axis=-1, keepdims=True)
    lifted = rgb + (high - rgb) * np.maximum(amount, 0)
    return lifted - (lifted - low) * np.maximum(-amount, 0)


def _scale_saturation(saturation, amount):
    """HSL saturation scaled down by (1 + amount) for amount < 0, or up
    towards full for amount > 0 (+100 % saturates any colour fully)."""
    amount = np.clip(np.asarray(amount, np.float32), -1, 1)
    up = np.divide(saturation, 1 - amount, out=np.ones_like(saturation), where=amount < 1)
    down = saturation * (1 + amount)
    return _clip01(np.where(amount > 0, np.where(saturation > 0, up, 0), down))


@dataclass
class Vibrance(Adjustment):
    vibrance: int  # -100..100
    saturation: int  # -100..100
    name = "Vibrance"
    approximate = True  # not measured against Photoshop yet

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        out = _saturate(rgb, self.saturation / 100) if self.saturation else rgb
        if self.vibrance:
            # Vibrance saturates dull colours more than vivid ones.
            current = rgb_to_hsl(out)[1]
            out = _saturate(out, self.vibrance / 100 * (1 - current))
        return out


@dataclass
class ColorBalance(Adjustment):
    # (cyan-red, magenta-green, yellow-blue), each -100..100
    shadows: tuple[int, int, int]
    midtones: tuple[int, int, int]
    highlights: tuple[int, int, int]
    preserve_luminosity: bool
    name = "Color Balance"

    @property
    def approximate(self):
        # Only the midtones without luminosity preservation are measured.
        return self.preserve_luminosity or any(self.shadows) or any(self.highlights)

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        # Midtones (measured): each slider is a gamma on its own channel,
        # value ** 2^(-amount/100); +100 is a square root.
        gamma = np.float32(2.0) ** (-np.float32(self.midtones) / 100)
        out = rgb ** gamma
        # Shadows and highlights (not measured: no reference isolates them):
        # a shift weighted towards the dark or light end of each channel.
        shadow_weight = np.clip((out - 1 / 3) / -0.25 + 0.5, 0, 1) * 0.7
        highlight_weight = np.clip((out + 1 / 3 - 1) / 0.25 + 0.5, 0, 1) * 0.7
        out = _clip01(out + (shadow_weight * np.float32(self.shadows)
                             + highlight_weight * np.float32(self.highlights)) / 100)
        if self.preserve_luminosity:
            # Keeps the HSL lightness; Photoshop's result differs (unconfirmed).
            hue, saturation, _ = rgb_to_hsl(out)
            out = hsl_to_rgb(hue, saturation, rgb_to_hsl(rgb)[2])
        return out


@dataclass
class BlackAndWhite(Adjustment):
    # Percent weights, -200..300: reds, yellows, greens, cyans, blues, magentas
    weights: tuple[float, float, float, float, float, float]
    tint: tuple[float, float, float] | None = None  # RGB 0..1 when "Tint" is on
    name = "Black & White"
    approximate = True  # not measured against Photoshop yet

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        reds, yellows, greens, cyans, blues, magentas = (w / 100 for w in self.weights)
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        ordered = np.sort(rgb, axis=-1)
        low, mid, high = ordered[..., 0], ordered[..., 1], ordered[..., 2]
        # The top channel picks a primary, the top two a secondary.
        primary = np.where(high == r, reds, np.where(high == g, greens, blues))
        secondary = np.where(low == b, yellows, np.where(low == r, cyans, magentas))
        grey = _clip01(low + (mid - low) * secondary + (high - mid) * primary)[..., None]
        if self.tint is None:
            return np.repeat(grey, 3, axis=-1)
        tint = np.broadcast_to(np.float32(self.tint), rgb.shape)
        return blend("color", np.repeat(grey, 3, axis=-1), tint)


def lab_to_rgb(lightness, a, b) -> np.ndarray:
    """CIE L*a*b* (D50, as Photoshop stores it) to sRGB in [0, 1]."""
    fy = (lightness + 16) / 116
    fx = fy + a / 500
    fz = fy - b / 200

    def finv(t):
        return t**3 if t**3 > 216 / 24389 else (116 * t - 16) / (24389 / 27)

    xyz_d50 = np.array([0.9642 * finv(fx), 1.0 * finv(fy), 0.8249 * finv(fz)])
    # Bradford-adapted D50 -> linear sRGB (D65).
    to_srgb = np.array(
        [
            [3.1338561, -1.6168667, -0.4906146],
            [-0.9787684, 1.9161415, 0.0334540],
            [0.0719453, -0.2289914, 1.4052427],
        ]
    )
    linear = np.clip(to_srgb @ xyz_d50, 0, 1)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(srgb, 0, 1).astype(np.float32)


@dataclass
class PhotoFilter(Adjustment):
    color: tuple[float, float, float]  # RGB 0..1
    density: float  # 0..1
    preserve_luminosity: bool
    name = "Photo Filter"
    approximate = True  # not measured against Photoshop yet

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        filtered = rgb * np.float32(self.color)
        out = rgb + np.float32(self.density) * (filtered - rgb)
        if self.preserve_luminosity:
            out = blend("color", rgb, out)
        return _clip01(out)


@dataclass
class ChannelMixer(Adjustment):
    # Output red, green, blue rows: (from red %, from green %, from blue %, constant %)
    rows: list[tuple[float, float, float, float]]
    monochrome: bool = False
    name = "Channel Mixer"
    approximate = True  # not measured against Photoshop yet

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        rows = self.rows[:1] if self.monochrome else self.rows[:3]
        matrix = np.float32([row[:3] for row in rows]) / 100
        constant = np.float32([row[3] for row in rows]) / 100
        out = _clip01(rgb @ matrix.T + constant)
        return np.repeat(out, 3, axis=-1) if self.monochrome else out


@dataclass
class GradientMap(Adjustment):
    # [(location 0..1, midpoint 0..1, (r, g, b) 0..1)] sorted by location
    stops: list[tuple[float, float, tuple[float, float, float]]]
    reverse: bool = False
    method: str = "classic"  # how colours mix: "classic", "linear" or "perceptual" (see effects)
    name = "Gradient Map"
    approximate = True  # not measured against Photoshop yet

    def lut(self, samples: int = 1024) -> np.ndarray:
        """The gradient sampled at `samples` evenly spaced positions, (n, 3)."""
        from compositor.effects import from_mixing_space, to_mixing_space

        t = np.linspace(0, 1, samples)
        locations = [s[0] for s in self.stops]
        out = np.zeros((samples, 3))
        colours = to_mixing_space(np.array([s[2] for s in self.stops], np.float64), self.method)
        out[:] = colours[0]
        for i in range(len(self.stops) - 1):
            start, end = locations[i], locations[i + 1]
            inside = (t >= start) & (t <= end)
            if end <= start or not inside.any():
                continue
            u = (t[inside] - start) / (end - start)
            # The midpoint is where the two colours mix half and half.
            midpoint = min(max(self.stops[i][1], 0.01), 0.99)
            u = np.where(u < midpoint, 0.5 * u / midpoint, 0.5 + 0.5 * (u - midpoint) / (1 - midpoint))
            out[inside] = colours[i] + u[:, None] * (colours[i + 1] - colours[i])
        out[t > locations[-1]] = colours[-1]
        out = np.clip(from_mixing_space(out, self.method), 0, 1)
        if self.reverse:
            out = out[::-1]
        return out.astype(np.float32)

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        lut = self.lut()
        position = lum(rgb)[..., 0]
        index = np.clip(np.round(position * (len(lut) - 1)), 0, len(lut) - 1).astype(np.int32)
        return lut[index]


@dataclass
class SelectiveColor(Adjustment):
    # Colour class -> (cyan, magenta, yellow, black) in percent, for "reds",
    # "yellows", "greens", "cyans", "blues", "magentas", "whites", "neutrals", "blacks".
    settings: dict[str, tuple[int, int, int, int]]
    absolute: bool
    name = "Selective Color"
    approximate = True  # not measured against Photoshop yet

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        ordered = np.sort(rgb, axis=-1)
        low, mid, high = ordered[..., 0], ordered[..., 1], ordered[..., 2]
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        # How much of each class a pixel holds.
        amounts = {
            "reds": np.where(high == r, high - mid, 0),
            "greens": np.where((high == g) & (high != r), high - mid, 0),
            "blues": np.where((high == b) & (high != r) & (high != g), high - mid, 0),
            "cyans": np.where(low == r, mid - low, 0),
            "magentas": np.where((low == g) & (low != r), mid - low, 0),
            "yellows": np.where((low == b) & (low != r) & (low != g), mid - low, 0),
            "whites": np.clip(2 * low - 1, 0, 1),
            "blacks": np.clip(1 - 2 * high, 0, 1),
            "neutrals": 1 - (np.abs(2 * high - 1) + np.abs(2 * low - 1)) / 2,
        }
        out = rgb.copy()
        for colour_class, (c, m, y, k) in self.settings.items():
            if (c, m, y, k) == (0, 0, 0, 0):
                continue
            amount = amounts[colour_class][..., None]
            inks = np.float32([c, m, y]) / 100
            black = np.float32(k) / 100
            # Work in ink: 1 - channel. Relative scales by the ink present.
            ink = 1 - rgb
            if self.absolute:
                change = inks + black
            else:
                change = (inks + black) * ink
            change = np.clip(change, -ink, rgb)  # stay in [0, 1]
            out = out - amount * change
        return _clip01(out)


@dataclass
class ColorLookup(Adjustment):
    """A 3D lookup table, indexed table[blue, green, red] -> RGB, sampled on
    an even grid over [0, 1]; trilinear interpolation between grid points."""

    table: np.ndarray  # (n, n, n, 3) float32
    name = "Color Lookup"
    approximate = True  # Photoshop's interpolation between grid points is unmeasured

    def apply(self, rgb):
        rgb = _check_rgb(rgb)
        size = self.table.shape[0]
        position = np.clip(rgb, 0, 1) * np.float32(size - 1)
        low = np.minimum(position.astype(np.int32), size - 2)
        fraction = position - low.astype(np.float32)
        r0, g0, b0 = low[..., 0], low[..., 1], low[..., 2]
        fr, fg, fb = fraction[..., 0:1], fraction[..., 1:2], fraction[..., 2:3]
        out = np.zeros_like(rgb)
        for db, wb in ((0, 1 - fb), (1, fb)):
            for dg, wg in ((0, 1 - fg), (1, fg)):
                for dr, wr in ((0, 1 - fr), (1, fr)):
                    out += wb * wg * wr * self.table[b0 + db, g0 + dg, r0 + dr]
        return _clip01(out)


def parse_cube(text: str) -> np.ndarray:
    """A .cube 3D LUT (Adobe/Resolve text format) as table[b, g, r] -> RGB."""
    size, values = None, []
    domain_min, domain_max = np.zeros(3), np.ones(3)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("TITLE"):
            continue
        key, *rest = line.split()
        if key == "LUT_3D_SIZE":
            size = int(rest[0])
        elif key == "LUT_1D_SIZE":
            raise UnsupportedFeature("Color Lookup adjustment", "1D lookup tables")
        elif key == "DOMAIN_MIN":
            domain_min = np.array(rest, float)
        elif key == "DOMAIN_MAX":
            domain_max = np.array(rest, float)
        elif key[0].isdigit() or key[0] in "-.":
            values.append([float(key), *map(float, rest[:2])])
    if size is None or len(values) != size**3:
        raise UnsupportedFeature("Color Lookup adjustment", "malformed .cube table")
    if not (np.allclose(domain_min, 0) and np.allclose(domain_max, 1)):
        raise UnsupportedFeature("Color Lookup adjustment", "table domain other than 0..1")
    # Red varies fastest, then green, then blue.
    return np.asarray(values, np.float32).reshape(size, size, size, 3)


@dataclass
class Identity(Adjustment):
    """An adjustment whose settings change nothing (e.g. Color Lookup with no
    table loaded)."""

    name = "Identity"

    def apply(self, rgb):
        return _check_rgb(rgb).copy()


# --- reading psd-tools layers ----------------------------------------------------------

_SELECTIVE_COLOR_CLASSES = (
    "reds", "yellows", "greens", "cyans", "blues", "magentas", "whites", "neutrals", "blacks",
)


def _descriptor_value(descriptor, key, default=None):
    value = descriptor.get(key, default) if descriptor is not None else default
    return getattr(value, "value", value)


def _read_brightness_contrast(block, generator):
    if generator is not None and b"Brgh" in generator:
        return BrightnessContrast(
            brightness=int(_descriptor_value(generator, b"Brgh", 0)),
            contrast=int(_descriptor_value(generator, b"Cntr", 0)),
            legacy=bool(_descriptor_value(generator, b"useLegacy", False)),
            mean=int(_descriptor_value(generator, b"means", 127)),
        )
    # Only the old fixed block: that is the legacy algorithm. Its values are
    # signed 16-bit integers (psd-tools reads them unsigned).
    return BrightnessContrast(brightness=_signed16(block.brightness), contrast=_signed16(block.contrast),
                              legacy=True, mean=block.mean or 127)


def _signed16(value: int) -> int:
    return value - 65536 if value >= 32768 else value


def _read_levels(block):
    records = [
        (r.input_floor, r.input_ceiling, max(r.gamma, 1) / 100, r.output_floor, r.output_ceiling)
        for r in list(block)[:4]
    ]
    return Levels(records=records)


def _read_curves(block):
    points = {}
    if block.extra is not None:
        for item in block.extra:
            points[item.channel_id] = [(x, y) for y, x in item.points]
    else:
        for channel, curve in enumerate(block.data[:4]):
            points[channel] = [(x, y) for y, x in curve]
    # The stored curve may list points in any order; inputs must be distinct.
    for channel, curve in points.items():
        deduplicated = dict(sorted(curve))
        points[channel] = sorted(deduplicated.items())
    return Curves(points=points)


def _read_hue_saturation(block):
    if block.enable:
        return HueSaturation(master=(0, 0, 0), ranges=[], colorize=tuple(block.colorization))
    ranges = [(tuple(item[0]), tuple(item[1])) for item in block.items]
    return HueSaturation(master=tuple(block.master), ranges=ranges)


def _read_black_and_white(data):
    keys = (b"Rd  ", b"Yllw", b"Grn ", b"Cyn ", b"Bl  ", b"Mgnt")
    weights = tuple(float(_descriptor_value(data, key, 0)) for key in keys)
    tint = None
    if _descriptor_value(data, b"useTint", False):
        colour = data[b"tintColor"]
        tint = tuple(float(_descriptor_value(colour, key, 0)) / 255
                     for key in (b"Rd  ", b"Grn ", b"Bl  "))
    return BlackAndWhite(weights=weights, tint=tint)


def _signed16(value):
    return value - 65536 if value >= 32768 else value


def _read_photo_filter(block):
    if block.version != 2 or block.color_space != 7:
        raise UnsupportedFeature(
            "Photo Filter adjustment",
            f"colour stored as version {block.version}, colour space {block.color_space}",
        )
    lightness, a, b, _ = block.color_components
    colour = lab_to_rgb(lightness / 100, _signed16(a) / 100, _signed16(b) / 100)
    return PhotoFilter(color=tuple(colour), density=block.density / 100,
                       preserve_luminosity=bool(block.luminosity))


def _read_channel_mixer(block):
    values = list(block.data) + list(
        np.frombuffer(block.unknown[: len(block.unknown) // 10 * 10], ">i2")
    )
    records = [values[i : i + 5] for i in range(0, len(values) - 4, 5)]
    # Each record: red, green, blue, (black, CMYK only), constant.
    rows = [(r[0], r[1], r[2], r[4]) for r in records[:3]]
    return ChannelMixer(rows=rows, monochrome=bool(block.monochrome))


def _read_gradient_map(block):
    if block.method not in (b"Gcls", b"Lnr ", b"Perc", b"Smoo"):
        raise UnsupportedFeature("Gradient Map adjustment", f"interpolation {block.method!r}")
    stops = []
    for stop in block.color_stops:
        if stop.mode != 0:
            raise UnsupportedFeature("Gradient Map adjustment", "stop colour not RGB")
        colour = tuple(c / 65535 for c in stop.color[:3])
        stops.append((stop.location / 4096, stop.midpoint / 100, colour))
    stops.sort(key=lambda s: s[0])
    method = {b"Perc": "perceptual", b"Lnr ": "linear"}.get(block.method, "classic")
    return GradientMap(stops=stops, reverse=bool(block.is_reversed), method=method)


def _read_selective_color(block):
    # Entry 0 is unused; entries 1..9 follow _SELECTIVE_COLOR_CLASSES.
    settings = {
        name: tuple(int(v) for v in block.data[i + 1])
        for i, name in enumerate(_SELECTIVE_COLOR_CLASSES)
    }
    return SelectiveColor(settings=settings, absolute=bool(block.method))


def _read_color_lookup(data):
    if data is None or len(data) == 0:
        return Identity()  # no table loaded: Photoshop leaves the image as is
    table_format = data.get(b"LUTFormat")
    table_format = getattr(table_format, "enum", table_format)
    if table_format != b"LUTFormatCUBE" or b"LUT3DFileData" not in data:
        raise UnsupportedFeature("Color Lookup adjustment", f"table format {table_format!r}")
    raw = data[b"LUT3DFileData"]
    text = getattr(raw, "value", raw).decode("latin-1")
    return ColorLookup(table=parse_cube(text))


def read_adjustment(layer) -> Adjustment:
    """The `Adjustment` for a psd-tools adjustment layer.

    Raises UnsupportedFeature naming the adjustment when we cannot
    reproduce it, and ValueError when the layer is not an adjustment."""
    from psd_tools.constants import Tag

    blocks = layer.tagged_blocks
    generator = blocks.get_data(Tag.CONTENT_GENERATOR_EXTRA_DATA)
    readers = [
        (Tag.BRIGHTNESS_AND_CONTRAST, lambda b: _read_brightness_contrast(b, generator)),
        (Tag.LEVELS, _read_levels),
        (Tag.CURVES, _read_curves),
        (Tag.EXPOSURE, lambda b: Exposure(b.exposure, b.offset, b.gamma)),
        (Tag.VIBRANCE, lambda d: Vibrance(int(_descriptor_value(d, b"vibrance", 0)),
                                          int(_descriptor_value(d, b"Strt", 0)))),
        (Tag.HUE_SATURATION, _read_hue_saturation),
        (Tag.HUE_SATURATION_V4, _read_hue_saturation),
        (Tag.COLOR_BALANCE, lambda b: ColorBalance(tuple(b.shadows), tuple(b.midtones),
                                                   tuple(b.highlights), bool(b.luminosity))),
        (Tag.BLACK_AND_WHITE, _read_black_and_white),
        (Tag.PHOTO_FILTER, _read_photo_filter),
        (Tag.CHANNEL_MIXER, _read_channel_mixer),
        (Tag.COLOR_LOOKUP, _read_color_lookup),
        (Tag.INVERT, lambda b: Invert()),
        (Tag.POSTERIZE, lambda b: Posterize(int(b))),
        (Tag.THRESHOLD, lambda b: Threshold(int(b))),
        (Tag.GRADIENT_MAP, _read_gradient_map),
        (Tag.SELECTIVE_COLOR, _read_selective_color),
    ]
    for tag, reader in readers:
        if tag in blocks:
            return reader(blocks.get_data(tag))
    raise ValueError(f"layer {layer.name!r} is not an adjustment layer")
