"""Fit a 4x4 Bezier warp to the pixels Photoshop cached for a layer.

Used at ingest for preset warp styles (inflate, twist, squeeze, ...) whose
formulas Adobe does not document: every preset is a 4x4 Bezier mesh, so we
find the 16 canvas control points whose surface carries the layer's own
content onto its cached pixels. Depends on the template only, never on the
artwork that will replace the content later.

Method (Gauss-Newton with image gradients, coarse to fine): for a grid of
content parameters (s, t), sample the cached layer at S(s, t), compare with
the content at (s, t); S is linear in the control points, so the Jacobian is
the cached image gradient times the Bernstein weights.
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import SmartObjectError
from .warpmap import WARPED_BLUR
from .surface import apply_homography, corners_of, homography, rect_corners

# The outline (alpha) pins the warp where the artwork has little texture.
ALPHA_WEIGHT = 1.0
MARGIN = 0.06  # sampled beyond the content edge (transparent there) to pin the outline
# (blur in canvas pixels, content samples per axis), coarse to fine: the
# coarse levels bring the mesh near, the fine ones (about a sample per
# canvas pixel) settle it to a fraction of a pixel.
LEVELS = ((16.0, 48), (8.0, 64), (4.0, 96), (2.0, 128), (1.0, 192), (0.0, 256))
ITERATIONS = 15  # per level; each accepted step is a Levenberg-Marquardt step
# Stop a level when an accepted step lowers the cost by less than this fraction.
MIN_IMPROVEMENT = 1e-4


def _bernstein(t):
    u = 1.0 - t
    return np.stack([u**3, 3 * u * u * t, 3 * u * t * t, t**3], axis=-1)


def initial_control(so) -> np.ndarray:
    """The unwarped 4x4 control grid in canvas pixels (Trnf then nonAffine)."""
    w, h = so.content_size
    a = homography(rect_corners(0, 0, w, h), corners_of(so.transform))
    n = homography(corners_of(so.transform), corners_of(so.non_affine))
    gx, gy = np.meshgrid(np.linspace(0, w, 4), np.linspace(0, h, 4))
    x, y = apply_homography(n @ a, gx, gy)
    return np.stack([x, y], axis=-1)


def fit_preset_mesh(so, cached_rgba: np.ndarray, cached_box, initial=None) -> np.ndarray:
    """(4, 4, 2) canvas control points reproducing the cached layer pixels.

    initial: (4, 4, 2) canvas control points to start from (a preset's
    formula); default the unwarped grid.
    """
    if so.content is None:
        raise SmartObjectError(f"cannot fit the warp of {so.name!r}: its content is not available")
    if cached_rgba is None or cached_rgba.size == 0:
        raise SmartObjectError(f"cannot fit the warp of {so.name!r}: Photoshop cached no pixels")
    left, top = cached_box[0], cached_box[1]
    cached = _premultiply(cached_rgba)
    content = _premultiply(so.content)
    ch, cw = content.shape[:2]
    start = initial_control(so) if initial is None else np.asarray(initial, dtype=np.float64)
    control = start.reshape(16, 2) - [left, top]  # in cached-box pixels

    area = max(cached.shape[0] * cached.shape[1], 1)
    content_per_canvas = np.sqrt(cw * ch / area)
    resampling_blur = WARPED_BLUR * np.sqrt(max(content_per_canvas**2 - 1.0, 0.0))

    for sigma, grid in LEVELS:
        u = np.linspace(-MARGIN, 1 + MARGIN, grid)
        s, t = np.meshgrid(u, u)
        s, t = s.ravel(), t.ravel()
        basis = (_bernstein(t)[:, :, None] * _bernstein(s)[:, None, :]).reshape(-1, 16)
        # coarse levels: mostly the outline (alpha), which has no local minima
        # from repeating artwork; fine levels: colour and alpha alike
        weight = np.array([1, 1, 1, ALPHA_WEIGHT if sigma >= 4 else 1.0], np.float32)
        target_img = _blur(cached, sigma) * weight
        # the cached pixels are the content resampled to canvas resolution:
        # blur the content as warp_content's prefilter does, plus the level's blur
        source_img = _blur(content, np.hypot(sigma * content_per_canvas, resampling_blur)) * weight
        source = _sample(source_img, s * cw - 0.5, t * ch - 0.5)
        grad_x = cv2.Sobel(target_img, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
        grad_y = cv2.Sobel(target_img, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
        damping = 1e-2
        residual, jac = _linearise(target_img, grad_x, grad_y, source, basis, control)
        cost = float(residual @ residual)
        for _ in range(ITERATIONS):
            normal = jac.T @ jac
            gradient = jac.T @ residual
            improved = False
            while damping < 1e6:  # Levenberg-Marquardt: shrink steps until the cost drops
                lm = normal + damping * np.diag(np.diag(normal) + 1e-9)
                step = np.linalg.solve(lm, -gradient)
                step = np.stack([step[:16], step[16:]], axis=-1)
                # never move a control point further than the blur scale per step
                limit = max(sigma, 2.0)
                step *= min(1.0, limit / max(np.abs(step).max(), 1e-12))
                trial = control + step
                trial_residual, trial_jac = _linearise(target_img, grad_x, grad_y, source, basis, trial)
                trial_cost = float(trial_residual @ trial_residual)
                if trial_cost < cost:
                    gain = (cost - trial_cost) / max(cost, 1e-12)
                    control, residual, jac, cost = trial, trial_residual, trial_jac, trial_cost
                    damping = max(damping / 3, 1e-7)
                    improved = True
                    break
                damping *= 4
            if not improved or np.abs(step).max() < 1e-3 or gain < MIN_IMPROVEMENT:
                break
    return (control + [left, top]).reshape(4, 4, 2)


def _linearise(target_img, grad_x, grad_y, source, basis, control):
    """Residual (cached at S(s,t) minus content at (s,t)) and its Jacobian."""
    pos = basis @ control
    px, py = pos[:, 0] - 0.5, pos[:, 1] - 0.5
    residual = (_sample(target_img, px, py) - source).ravel()
    gx = _sample(grad_x, px, py)  # (N, C)
    gy = _sample(grad_y, px, py)
    jac_x = (gx[:, :, None] * basis[:, None, :]).reshape(-1, 16)
    jac_y = (gy[:, :, None] * basis[:, None, :]).reshape(-1, 16)
    return residual, np.concatenate([jac_x, jac_y], axis=1)


def _premultiply(rgba):
    out = np.array(rgba, dtype=np.float32)
    out[..., :3] *= out[..., 3:4]
    return out


def _blur(image, sigma):
    if sigma <= 0.3:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_CONSTANT)


def _sample(image, x, y):
    """Bilinear samples (N, C) of image at float pixel-centre coordinates; 0 outside."""
    n = len(x)
    width = 1024  # cv2.remap takes at most 32767 columns: lay samples out in rows
    rows = -(-n // width)
    map_x = np.full(rows * width, -10.0, np.float32)
    map_y = np.full(rows * width, -10.0, np.float32)
    map_x[:n], map_y[:n] = x, y
    out = cv2.remap(
        image, map_x.reshape(rows, width), map_y.reshape(rows, width),
        cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    return out.reshape(rows * width, -1)[:n].astype(np.float64)
