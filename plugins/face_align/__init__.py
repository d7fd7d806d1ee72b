"""Preprocessor "face-align": find faces with mediapipe's BlazeFace and cut each out aligned as FFHQ."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
from PIL import Image
from pydantic import Field

import artgan
from artgan.images import to_rgb
from artgan.kinds import RGB
from artgan_plugins.face_align.align import Fill, apply, face_matrix, warp, yaw
from artgan_plugins.face_align.detect import FULL_RANGE, KEYPOINTS, SHORT_RANGE, Detector, Face

# BlazeFace places keypoints well only on upright faces (on a face rolled by 20° the eye line comes
# out several degrees off), so each face is detected again in upright crops of itself: two passes
# bring the eyes within two pixels (at 256 px) of where an upright photo puts them.
REFINE_PASSES = 2
REFINE_SIZE = 128  # the short-range model's input side: larger crops are scaled down to it anyway
# Candidates get a second look, which drops what a tile made look like a face (fabric under a
# chin, a galaxy): in upright crops of a real face BlazeFace finds it again about where its
# keypoints put it, and still does in a crop of twice the width (CONTEXT_ZOOM), with the head and
# what is around it; a false face moves around from crop to crop, or gives way to a real face
# beside it. Dropped: eyes that move more than WANDER crop sides summed over the refining passes,
# or more than SETTLED sides in the wide crop. On benchmarks/face_align.py's group photos and the
# fixtures, real faces' eyes moved up to 0.15 and 0.03 sides (3 blurry faces of 72 more), false
# faces' 0.21 and 0.075 or more. A real face may score a little lower in the crops than at the
# first look: REFINE_SCORE is enough there (or `min_score` when lower).
WANDER = 0.2
SETTLED = 0.04
CONTEXT_ZOOM = 0.5
REFINE_SCORE = 0.5
# Narrower faces are never searched for (a tiny `min_face` would tile a photo into thousands of
# pieces), and would be blurs in any training image
NARROWEST = 16
MODELS = {"short-range": SHORT_RANGE, "full-range": FULL_RANGE}
# A face at most WORN_SIZE times as wide as another, within that one's head-and-shoulders square
# (the crop at CONTEXT_ZOOM), is taken for a print, a badge or a fold of their collar: fabric
# under the astronaut's chin passes the second look (benchmarks/face_align.py's 1024 px photos)
WORN_SIZE = 0.5


class FaceAlignOptions(artgan.Options):
    size: int | None = Field(
        None, ge=8, le=4096, description="side of each aligned face in pixels (default: the recipe's resolution)")
    zoom: float = Field(
        1.0, ge=0.1, le=10, description="how much of the picture the face fills: 1 frames the head like FFHQ "
                               "(eye-to-mouth distance a quarter of the side), 2 the inner face, "
                               "0.5 adds shoulders and background")
    min_score: float = Field(
        0.6, ge=0, le=1, description="detections scoring lower (0-1) are not taken for faces (the "
                                     "second look, in crops of each face, takes 0.5 or this when lower)")
    min_face: float = Field(
        0.05, gt=0, description="the narrowest face searched for: pixels of the source image (1 or "
                                f"more) or a fraction of its longer side (below 1), at least {NARROWEST} "
                                "px; narrower faces found anyway are skipped. Smaller values search "
                                "finer tiles and take longer; 0.2 or more searches the whole image "
                                "only (fast, enough for portraits)")
    max_faces: int = Field(
        1, ge=1, description="faces kept per image, largest first; each becomes its own image")
    frontal_only: bool = Field(
        False, description="skip faces turned left or right by more than `max_yaw`")
    max_yaw: float = Field(
        25.0, gt=0, lt=90, description="degrees a face may be turned when `frontal_only` "
                                       "(estimated from the nose and eye keypoints)")
    fill: Fill = Field(
        "reflect", description='what shows beyond the source image\'s edges: its mirror image, '
                               'blurred and fading to its median colour as FFHQ ("reflect"), or `color`')
    color: RGB = Field((0, 0, 0), description='RGB of the fill when fill is "color"')
    model: Literal["short-range", "full-range"] = Field(
        "short-range", description="which shipped BlazeFace model searches the image and its tiles "
                                   "(keypoints are always refined with the short-range one)")
    model_path: Path | None = Field(
        None, description="another BlazeFace .tflite file for mediapipe's FaceDetector, used instead "
                          "of `model`; relative to the current directory")


class FaceAlign(artgan.Preprocessor):
    """Detect faces and crop each one aligned: eyes level, same size, same place (FFHQ style)."""

    Options = FaceAlignOptions

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self._detector()  # an unusable model_path fails the build here rather than every image

    def process(self, item):
        image = to_rgb(item.image)
        smallest = self.smallest_face(image.size)
        candidates = self._detector().search(np.asarray(image), smallest)
        faces = sorted(self._confirmed(image, candidates), key=lambda face: -face.box[2])
        faces = [face for index, face in enumerate(faces) if not any(worn(face, by) for by in faces[:index])]
        if not faces:
            return [artgan.Skipped(item.origin, f"no face as wide as min_face (searched down to {smallest:.0f} px wide)")]
        return list(self._aligned(item, image, faces, smallest))

    def smallest_face(self, size: tuple[int, int]) -> float:
        """The narrowest face searched for in an image of ``size``, in pixels (see `min_face`)."""
        min_face = self.options.min_face
        return max(min_face if min_face >= 1 else min_face * max(size), NARROWEST)

    def _confirmed(self, image: Image.Image, candidates: list[Face]) -> Iterator[Face]:
        """The ``candidates`` found again in crops of themselves, with refined keypoints (see
        WANDER); one face of several candidates that refine to the same eyes."""
        kept: list[np.ndarray] = []
        for face in candidates:  # best score first
            keypoints = self._refined(image, face.keypoints)
            if keypoints is None:
                continue
            eyes, eye_gap = keypoints[:2].mean(0), np.hypot(*(keypoints[1] - keypoints[0]))
            if all(np.hypot(*(eyes - other)) > eye_gap / 2 for other in kept):
                kept.append(eyes)
                yield dataclasses.replace(face, keypoints=keypoints)

    def _aligned(self, item: artgan.Item, image: Image.Image, faces: list[Face],
                 smallest: float) -> Iterator[artgan.Item | artgan.Skipped]:
        o = self.options
        size = o.size or self.context.resolution
        kept = 0
        for face in faces:  # largest first
            width = face.box[2]
            if width < smallest:
                yield artgan.Skipped(item.origin, f"face too small ({width} px < {smallest:.0f} px)")
                continue
            if kept == o.max_faces:
                yield artgan.Skipped(item.origin, f"over max_faces ({o.max_faces})")
                continue
            turned = yaw(face.keypoints)
            if o.frontal_only and abs(turned) > o.max_yaw:
                yield artgan.Skipped(item.origin, f"turned away (yaw {abs(turned):.0f}° > {o.max_yaw:g}°)")
                continue
            matrix = face_matrix(face.keypoints, size, o.zoom)
            yield item.derive(warp(image, matrix, size, o.fill, o.color), face={
                "index": kept,
                "score": round(face.score, 3),
                "box": list(face.box),  # left, top, width, height in the source image
                "keypoints": dict(zip(KEYPOINTS, face.keypoints.round(1).tolist())),
                "yaw": round(turned, 1),
                "source_size": list(image.size),
                "transform": np.round(matrix, 6).tolist(),  # source pixels -> output pixels
            })
            kept += 1

    def _refined(self, image: Image.Image, keypoints: np.ndarray) -> np.ndarray | None:
        """``keypoints`` detected again in upright crops of their face (see REFINE_PASSES), or
        None when the crops show no face where the keypoints put one (see WANDER)."""
        wandered = 0.0
        for _ in range(REFINE_PASSES):
            matrix = face_matrix(keypoints, REFINE_SIZE)
            found, moved = self._found_again(image, keypoints, matrix)
            if found is None:
                return None
            wandered += moved
            keypoints = found
        if wandered > WANDER * REFINE_SIZE:
            return None
        _, moved = self._found_again(image, keypoints, face_matrix(keypoints, REFINE_SIZE, CONTEXT_ZOOM))
        return keypoints if moved <= SETTLED * REFINE_SIZE else None

    def _found_again(self, image: Image.Image, keypoints: np.ndarray,
                     matrix: np.ndarray) -> tuple[np.ndarray | None, float]:
        """The keypoints of the face nearest the eyes of ``keypoints`` in the crop ``matrix`` cuts
        from ``image``, in source pixels, and how far its eyes are from those (in crop pixels);
        (None, inf) when the crop shows no face."""
        crop = warp(image, matrix, REFINE_SIZE, "color", supersample=1)
        found = self._refiner().faces(np.asarray(crop))
        if not found:
            return None, np.inf
        expected = apply(matrix, keypoints[:2]).mean(0)
        distances = [np.hypot(*(face.keypoints[:2].mean(0) - expected)) for face in found]
        nearest = int(np.argmin(distances))
        return apply(np.linalg.inv(matrix), found[nearest].keypoints), distances[nearest]

    def _detector(self) -> Detector:
        model = self.options.model_path or MODELS[self.options.model]
        return Detector.for_process(model, self.options.min_score)

    def _refiner(self) -> Detector:
        """The short-range model, made for faces that fill its input as the refining crops do."""
        return Detector.for_process(SHORT_RANGE, min(self.options.min_score, REFINE_SCORE))


def worn(face: Face, by: Face) -> bool:
    """Whether ``face`` is something ``by``'s person wears rather than a face (see WORN_SIZE)."""
    if face.box[2] > WORN_SIZE * by.box[2]:
        return False
    x, y = apply(face_matrix(by.keypoints, 1, CONTEXT_ZOOM), face.keypoints[:2].mean(0, keepdims=True))[0]
    return 0 <= x <= 1 and 0 <= y <= 1


@artgan.hookimpl
def register_preprocessors(register):
    register("face-align", FaceAlign)
