"""BlazeFace through mediapipe's FaceDetector: one detector per process, results in pixels,
searched for at several scales (the whole image, then overlapping tiles) and merged."""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import artgan

SHORT_RANGE = Path(__file__).with_name("face_detection_short_range.tflite")
FULL_RANGE = Path(__file__).with_name("face_detection_full_range_sparse.tflite")
# The narrowest face each model finds reliably, over its input's longer side (benchmarks/face_align.py
# on group photos: the short-range model, made for selfies, misses faces of 1/8 of its input).
# Levels are laid from the whole image down, so most faces are looked for at two scales: built
# from the finest level up instead (fewer, larger tiles), 18 of 24 faces of 1/14 were found, not 23
REACH = {SHORT_RANGE: 1 / 5, FULL_RANGE: 1 / 10}
# Each finer level's tiles are this many times smaller: with tiles overlapping by half their side,
# a face too small for one level (under REACH of it) is whole in some tile of the next and large
# enough there (at most half of that tile)
LEVEL_STEP = 2.5
# Two detections are one face when this much of the smaller box lies in the larger: a face cut by a
# tile's edge gives a partial box inside the whole one
SAME_FACE = 0.5
# BlazeFace's keypoints, in its order; right and left are the subject's own
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True)
class Face:
    """One detection, in pixels of the image it was found in."""

    box: tuple[int, int, int, int]  # left, top, width, height
    score: float
    keypoints: np.ndarray  # (6, 2) x, y in KEYPOINTS order

    def moved(self, left: int, top: int) -> Face:
        """This face in an image where its image's top left corner is at (``left``, ``top``)."""
        x, y, width, height = self.box
        return dataclasses.replace(self, box=(x + left, y + top, width, height),
                                   keypoints=self.keypoints + (left, top))


class Detector:
    """A mediapipe FaceDetector for one model file and minimum score."""

    # mediapipe detectors survive neither pickling nor fork: each process makes its own
    _made: dict[tuple, Detector] = {}

    @classmethod
    def for_process(cls, model: Path, min_score: float) -> Detector:
        """This process's detector for ``model``, made on first use."""
        key = (os.getpid(), str(model), min_score)
        if key not in cls._made:
            cls._made[key] = cls(model, min_score)
        return cls._made[key]

    def __init__(self, model: Path, min_score: float):
        self.reach = REACH.get(model, REACH[SHORT_RANGE])
        # mediapipe takes seconds to import: only recipes that use face-align pay for it
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(model)),
                                             min_detection_confidence=min_score)
        with _quiet_stderr():
            try:
                self._mediapipe = vision.FaceDetector.create_from_options(options)
            except FileNotFoundError:
                raise artgan.ArtganError(f"model_path {model}: no such file") from None
            except (ValueError, RuntimeError) as exc:
                raise artgan.ArtganError(f"model_path {model}: not a face detection model that "
                                         f"mediapipe can load ({exc})") from None
        # Close it while mediapipe's worker thread still runs (plain atexit handlers run after
        # threads are stopped): at interpreter exit its __del__ fails with a traceback.
        self._pid = os.getpid()
        threading._register_atexit(self.close)

    def faces(self, pixels: np.ndarray) -> list[Face]:
        """The faces in RGB ``pixels`` (H, W, 3) uint8, best score first."""
        import mediapipe

        height, width = pixels.shape[:2]
        frame = mediapipe.Image(image_format=mediapipe.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
        # LiteRT warns once per process when mediapipe hands it a tensor that happens to be
        # misaligned, which can be at any detection (a benchmark run met it after hundreds)
        with _quiet_stderr():
            detections = self._mediapipe.detect(frame).detections
        found = []
        for detection in detections:
            box = detection.bounding_box
            points = np.array([(point.x * width, point.y * height) for point in detection.keypoints])
            found.append(Face((box.origin_x, box.origin_y, box.width, box.height),
                              detection.categories[0].score, points))
        return found

    def search(self, pixels: np.ndarray, smallest: float) -> list[Face]:
        """The faces in RGB ``pixels`` down to ``smallest`` pixels wide, best score first: found in
        the whole image, then in overlapping square tiles, each level LEVEL_STEP times smaller
        until the model reaches ``smallest``; detections of one face in several tiles merged."""
        height, width = pixels.shape[:2]
        found = self.faces(pixels)
        for side in tile_sides(max(width, height), smallest / self.reach):
            for top in tile_starts(height, side):
                for left in tile_starts(width, side):
                    tile = pixels[top:top + side, left:left + side]
                    found += [face.moved(left, top) for face in self.faces(tile)]
        return merged(found)

    def close(self) -> None:
        # A forked process inherits this callback but not the thread that closing needs
        if os.getpid() == self._pid:
            with _quiet_stderr():
                self._mediapipe.close()


def tile_sides(longest: int, finest: float) -> list[int]:
    """Tile sides from ``longest`` down to ``finest``, LEVEL_STEP times smaller each level."""
    sides = []
    side = float(longest)
    while side > finest * 1.01:  # a level that would be only a rounding finer adds nothing
        side = max(side / LEVEL_STEP, finest)
        sides.append(round(side))
    return sides


def tile_starts(length: int, side: int) -> list[int]:
    """Where tiles of ``side`` start along ``length`` pixels: half a side apart, the last one
    flush with the end."""
    if side >= length:
        return [0]
    return [*range(0, length - side, max(side // 2, 1)), length - side]


def merged(faces: list[Face]) -> list[Face]:
    """``faces`` best score first, without those mostly inside a better one (non-maximum
    suppression, measured over the smaller box: see SAME_FACE)."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda face: -face.score):
        if all(_shared(face.box, other.box) < SAME_FACE for other in kept):
            kept.append(face)
    return kept


def _shared(a: tuple, b: tuple) -> float:
    """The part of the smaller of boxes ``a`` and ``b`` (left, top, width, height) inside the other."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(width, 0) * max(height, 0) / max(min(a[2] * a[3], b[2] * b[3]), 1)


@contextmanager
def _quiet_stderr():
    """Mute mediapipe's C++ log lines, which bypass ``sys.stderr``, by pointing the process's
    file descriptor 2 at /dev/null meanwhile (a few microseconds; other threads' writes to
    stderr in that time are lost too, and artgan's progress and messages go to stdout)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
