"""FFHQ-style alignment: an oriented square from the eye and mouth keypoints, cut out and filled."""
from __future__ import annotations

import math
from functools import reduce
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter

EYE_TO_MOUTH = 0.25  # eye-to-mouth distance over the output side at zoom 1: FFHQ's framing

Fill = Literal["reflect", "color"]


def face_matrix(keypoints: np.ndarray, size: int, zoom: float = 1.0) -> np.ndarray:
    """The 3x3 matrix from source pixels to the ``size`` square of the face: eyes level, the
    eye-to-mouth distance ``size * EYE_TO_MOUTH * zoom``, centred just below the eyes as FFHQ."""
    right_eye, left_eye, _, mouth = keypoints[:4]
    eyes = (right_eye + left_eye) / 2
    eye_to_eye, eye_to_mouth = left_eye - right_eye, mouth - eyes
    # FFHQ's "across" direction: the eye line averaged with the normal of the eye-to-mouth line,
    # so one misplaced keypoint tilts the face only half as much
    across = eye_to_eye + np.array([eye_to_mouth[1], -eye_to_mouth[0]])
    across /= np.hypot(*across)
    down = np.array([-across[1], across[0]])
    rotate = size * EYE_TO_MOUTH * zoom / np.hypot(*eye_to_mouth) * np.stack([across, down])
    shift = size / 2 - rotate @ (eyes + 0.1 * eye_to_mouth)
    return np.vstack([np.column_stack([rotate, shift]), [0.0, 0.0, 1.0]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` (N, 2) mapped by the 3x3 ``matrix``."""
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def yaw(keypoints: np.ndarray) -> float:
    """Degrees the face is turned left or right, positive when the nose points to the image's
    right. Estimated from the nose tip's offset from the eyes' midpoint along the eye line: the
    nose tip sits about as far in front of the eyes as each eye is from the middle of the face,
    so turning the head by θ moves it by tan θ half eye distances."""
    right_eye, left_eye, nose = keypoints[:3]
    half = (left_eye - right_eye) / 2
    return math.degrees(math.atan2((nose - (right_eye + left_eye) / 2) @ half, half @ half))


def warp(image: Image.Image, matrix: np.ndarray, size: int, fill: Fill = "reflect",
         color: tuple[int, int, int] = (0, 0, 0), supersample: int = 2) -> Image.Image:
    """The ``size`` square that ``matrix`` maps the RGB ``image`` onto, sampled ``supersample``
    times finer and averaged (FFHQ samples 4x). Parts outside the image show its mirror image,
    blurred and fading to its median colour further out ("reflect", as FFHQ), or ``color``."""
    canvas = size * supersample
    side = size / np.hypot(*matrix[0, :2])  # of the square, in source pixels
    # Average blocks of a larger source first: bilinear sampling reads only 2x2 pixels.
    shrink = max(1, int(side / canvas))
    corners = apply(np.linalg.inv(matrix), np.array([[0, 0], [size, 0], [size, size], [0, size]]))
    margin = 2 * shrink  # bilinear reads a pixel beyond the square
    want = np.concatenate([np.floor(corners.min(0) - margin), np.ceil(corners.max(0) + margin)]).astype(int)
    have = np.maximum(np.minimum(want, [*image.size, *image.size]), 0)  # (left, top, right, bottom)
    pixels = np.asarray(image.crop(tuple(have)).reduce(shrink))
    origin = have[:2]
    before, after = np.ceil((have[:2] - want[:2]) / shrink), np.ceil((want[2:] - have[2:]) / shrink)
    if fill == "reflect" and (before.any() or after.any()):
        (left, top), (right, bottom) = before.astype(int), after.astype(int)
        pixels = _reflect(pixels, ((top, bottom), (left, right)), side / shrink)
        origin = origin - shrink * before
    to_canvas = np.diag([supersample, supersample, 1.0]) @ matrix @ np.array(
        [[shrink, 0, origin[0]], [0, shrink, origin[1]], [0, 0, 1]], dtype=float)
    sampled = Image.fromarray(pixels).transform(
        (canvas, canvas), Image.Transform.AFFINE, tuple(np.linalg.inv(to_canvas)[:2].ravel()),
        Image.Resampling.BILINEAR, fillcolor=tuple(color))
    return sampled.reduce(supersample) if supersample > 1 else sampled


def _reflect(pixels: np.ndarray, pad, side: float) -> np.ndarray:
    """``pixels`` mirrored into ``pad`` ((top, bottom), (left, right)) as FFHQ fills: blurred
    from a little inside each padded edge outwards and fading to the median colour, so no seam
    shows."""
    height, width = pixels.shape[:2]
    padded = np.pad(pixels, (*pad, (0, 0)), mode="reflect")
    blurred = np.asarray(Image.fromarray(padded).filter(ImageFilter.GaussianBlur(0.02 * side)), np.float32)
    (top, bottom), (left, right) = pad
    rows, columns = np.ogrid[:padded.shape[0], :padded.shape[1]]
    # distance beyond the padded edges (negative inside) in units of FFHQ's padding, 0.3 sides;
    # an edge without padding is where the crop cut the image, not the image's edge
    outside = reduce(np.maximum, [
        left - columns if left else -np.inf, columns - (left + width - 1) if right else -np.inf,
        top - rows if top else -np.inf, rows - (top + height - 1) if bottom else -np.inf,
    ])[..., None] / (0.3 * side)
    out = padded.astype(np.float32)
    out += (blurred - out) * np.clip(3 * outside + 1, 0, 1)
    out += (np.median(pixels, axis=(0, 1)) - out) * np.clip(outside, 0, 1)
    return np.uint8(np.clip(np.rint(out), 0, 255))
