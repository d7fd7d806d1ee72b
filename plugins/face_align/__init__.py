"""Preprocessor "face-align": find faces with mediapipe's BlazeFace and cut each out aligned as FFHQ."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image
from pydantic import Field

import artgan
from artgan.images import to_rgb
from artgan_plugins.face_align.align import Fill, apply, face_matrix, warp, yaw
from artgan_plugins.face_align.detect import KEYPOINTS, SHORT_RANGE, Detector, Face

# BlazeFace places keypoints well only on upright faces (on a face rolled by 20° the eye line comes
# out several degrees off), so each face is detected again in upright crops of itself: two passes
# bring the eyes within two pixels (at 256 px) of where an upright photo puts them.
REFINE_PASSES = 2
REFINE_SIZE = 128  # the short-range model's input side: larger crops are scaled down to it anyway


class FaceAlignOptions(artgan.Options):
    size: int | None = Field(
        None, ge=8, description="side of each aligned face in pixels (default: the recipe's resolution)")
    zoom: float = Field(
        1.0, gt=0, description="how much of the picture the face fills: 1 frames the head like FFHQ "
                               "(eye-to-mouth distance a quarter of the side), 2 the inner face, "
                               "0.5 adds shoulders and background")
    min_score: float = Field(
        0.5, ge=0, le=1, description="detections scoring lower (0-1) are not taken for faces")
    min_face: int = Field(
        0, ge=0, description="faces narrower than this many pixels of the source image are skipped")
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
    color: tuple[int, int, int] = Field((0, 0, 0), description='RGB of the fill when fill is "color"')
    model_path: Path | None = Field(
        None, description="a BlazeFace .tflite file for mediapipe's FaceDetector, e.g. the full-range "
                          "one for small faces; relative to the current directory (default: the "
                          "short-range model shipped with artgan)")


class FaceAlign(artgan.Preprocessor):
    """Detect faces and crop each one aligned: eyes level, same size, same place (FFHQ style)."""

    Options = FaceAlignOptions

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self._detector()  # an unusable model_path fails the build here rather than every image

    def process(self, item):
        image = to_rgb(item.image)
        faces = sorted(self._detector().faces(np.asarray(image)), key=lambda face: -face.box[2])
        if not faces:
            return [artgan.Skipped(item.origin, "no face")]
        return list(self._aligned(item, image, faces))

    def _aligned(self, item: artgan.Item, image: Image.Image,
                 faces: list[Face]) -> Iterator[artgan.Item | artgan.Skipped]:
        o = self.options
        size = o.size or self.context.resolution
        kept = 0
        for face in faces:  # largest first
            width = face.box[2]
            if width < o.min_face:
                yield artgan.Skipped(item.origin, f"face too small ({width} px < {o.min_face} px)")
                continue
            if kept == o.max_faces:
                yield artgan.Skipped(item.origin, f"over max_faces ({o.max_faces})")
                continue
            keypoints = self._refined(image, face.keypoints)
            turned = yaw(keypoints)
            if o.frontal_only and abs(turned) > o.max_yaw:
                yield artgan.Skipped(item.origin, f"turned away (yaw {abs(turned):.0f}° > {o.max_yaw:g}°)")
                continue
            matrix = face_matrix(keypoints, size, o.zoom)
            yield item.derive(warp(image, matrix, size, o.fill, o.color), face={
                "index": kept,
                "score": round(face.score, 3),
                "box": list(face.box),  # left, top, width, height in the source image
                "keypoints": dict(zip(KEYPOINTS, keypoints.round(1).tolist())),
                "yaw": round(turned, 1),
                "source_size": list(image.size),
                "transform": np.round(matrix, 6).tolist(),  # source pixels -> output pixels
            })
            kept += 1

    def _refined(self, image: Image.Image, keypoints: np.ndarray) -> np.ndarray:
        """``keypoints`` detected again in upright crops of their face (see REFINE_PASSES)."""
        for _ in range(REFINE_PASSES):
            matrix = face_matrix(keypoints, REFINE_SIZE)
            crop = warp(image, matrix, REFINE_SIZE, "color", supersample=1)
            found = self._detector().faces(np.asarray(crop))
            if not found:
                break
            middle = min(found, key=lambda face: np.hypot(*(face.keypoints[:4].mean(0) - REFINE_SIZE / 2)))
            keypoints = apply(np.linalg.inv(matrix), middle.keypoints)
        return keypoints

    def _detector(self) -> Detector:
        return Detector.for_process(self.options.model_path or SHORT_RANGE, self.options.min_score)


@artgan.hookimpl
def register_preprocessors(register):
    register("face-align", FaceAlign)
