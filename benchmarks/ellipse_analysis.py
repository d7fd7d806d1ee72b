"""Decide whether an image is one clean, single-coloured filled ellipse on black, and measure it."""
from __future__ import annotations

import colorsys
import math

import numpy as np
from scipy import ndimage

FOREGROUND = 96  # a pixel whose brightest channel passes this is part of a shape
STRAY = 48  # brighter than this outside the shape counts as a stray mark
MIN_IOU = 0.85  # overlap of the shape with the ellipse of the same moments
MAX_COLOR_STD = 14.0  # spread of RGB inside the shape (0-255 scale)
MAX_STRAY_FRACTION = 0.01


def analyse(image: np.ndarray) -> dict:
    """Features of a (H, W, 3) uint8 image and whether it is a clean ellipse (``ok``)."""
    brightness = image.max(axis=2)
    labels, count = ndimage.label(brightness > FOREGROUND)
    if count == 0:
        return {"ok": False, "why": "empty"}
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=range(1, count + 1))
    shape = labels == 1 + int(np.argmax(sizes))
    ys, xs = np.nonzero(shape)
    if len(xs) < 3:
        return {"ok": False, "why": "empty"}
    cx, cy = xs.mean(), ys.mean()
    cov = np.cov(np.stack([xs - cx, ys - cy]))
    eigvals, eigvecs = np.linalg.eigh(cov)
    if eigvals[0] <= 0:
        return {"ok": False, "why": "degenerate"}
    fit = _ellipse_mask(image.shape[:2], cx, cy, eigvals, eigvecs)
    iou = (shape & fit).sum() / (shape | fit).sum()
    interior = ndimage.binary_erosion(shape, iterations=1)
    pixels = image[interior if interior.sum() >= 4 else shape].astype(np.float64)
    color_std = float(pixels.std(axis=0).mean())
    near = ndimage.binary_dilation(shape, iterations=2)
    stray = float(((brightness > STRAY) & ~near).mean())
    r, g, b = pixels.mean(axis=0) / 255
    hue, sat, val = colorsys.rgb_to_hsv(r, g, b)
    side = image.shape[0]
    features = {
        "cx": cx / side, "cy": cy / side,
        "major": 4 * math.sqrt(eigvals[1]) / side, "minor": 4 * math.sqrt(eigvals[0]) / side,
        "hue": hue, "saturation": sat, "value": val,
        "iou": float(iou), "color_std": color_std, "stray": stray,
    }
    reasons = [why for bad, why in (
        (iou < MIN_IOU, "not an ellipse"), (color_std > MAX_COLOR_STD, "not one colour"),
        (stray > MAX_STRAY_FRACTION, "stray marks")) if bad]
    return {**features, "ok": not reasons, "why": ", ".join(reasons)}


def _ellipse_mask(shape, cx, cy, eigvals, eigvecs) -> np.ndarray:
    """Filled ellipse with the given centre and second moments (semi-axis = 2 * sqrt(eigval))."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    d = np.stack([xs - cx, ys - cy], axis=-1) @ eigvecs  # coordinates along the principal axes
    return (d[..., 0] ** 2 / (4 * eigvals[0]) + d[..., 1] ** 2 / (4 * eigvals[1])) <= 1.0


def spread_report(data: list[dict], samples: list[dict]) -> dict[str, dict[str, float]]:
    """Per feature: std of samples / std of data, and the 1-D Wasserstein distance in data stds."""
    report = {}
    for key in ("cx", "cy", "major", "minor", "hue", "saturation", "value"):
        a = np.array([d[key] for d in data if d["ok"]])
        b = np.array([s[key] for s in samples if s["ok"]])
        if key == "hue":  # circular: compare the distance to the data's mean direction
            a, b = _unwrap_hue(a), _unwrap_hue(b)
        std = a.std() or 1e-9
        quantiles = np.linspace(0.005, 0.995, 100)
        w1 = np.abs(np.quantile(a, quantiles) - np.quantile(b, quantiles)).mean() if len(b) else math.inf
        report[key] = {"std_ratio": float(b.std() / std) if len(b) else 0.0, "w1_in_std": float(w1 / std)}
    return report


def _unwrap_hue(h: np.ndarray) -> np.ndarray:
    """Hue as its distance around the colour circle from red, in [0, 0.5]."""
    return np.minimum(h, 1 - h)


def checkerboard_energy(images: np.ndarray) -> float:
    """Share of the (N, H, W, 3) images' energy in patterns that repeat every 2 pixels across or down.

    A generator that upsamples with strided transposed convolutions weighs alternate pixels
    differently: a checkerboard, whose energy sits at that period (the highest frequency an image
    holds), where filled ellipses with smooth edges have little. Each channel's mean is removed
    first, so flat colour counts for nothing; energy is summed over all images before the share.
    """
    pixels = images.astype(np.float64) / 255
    pixels -= pixels.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(pixels, axes=(1, 2))) ** 2).sum(axis=(0, 3))  # (H, W)
    fy = np.abs(np.fft.fftfreq(power.shape[0]))[:, None]  # cycles per pixel, 0 to 0.5
    fx = np.abs(np.fft.fftfreq(power.shape[1]))[None, :]
    return float(power[(fy == 0.5) | (fx == 0.5)].sum() / power.sum())
