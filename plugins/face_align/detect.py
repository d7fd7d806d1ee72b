"""BlazeFace through mediapipe's FaceDetector: one detector per process, results in pixels."""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import artgan

SHORT_RANGE = Path(__file__).with_name("face_detection_short_range.tflite")
# BlazeFace's keypoints, in its order; right and left are the subject's own
KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True)
class Face:
    """One detection, in pixels of the image it was found in."""

    box: tuple[int, int, int, int]  # left, top, width, height
    score: float
    keypoints: np.ndarray  # (6, 2) x, y in KEYPOINTS order


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
            self.faces(np.zeros((8, 8, 3), np.uint8))  # the first detection warns: here, muted
        # Close it while mediapipe's worker thread still runs (plain atexit handlers run after
        # threads are stopped): at interpreter exit its __del__ fails with a traceback.
        self._pid = os.getpid()
        threading._register_atexit(self.close)

    def faces(self, pixels: np.ndarray) -> list[Face]:
        """The faces in RGB ``pixels`` (H, W, 3) uint8, best score first."""
        import mediapipe

        height, width = pixels.shape[:2]
        frame = mediapipe.Image(image_format=mediapipe.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
        found = []
        for detection in self._mediapipe.detect(frame).detections:
            box = detection.bounding_box
            points = np.array([(point.x * width, point.y * height) for point in detection.keypoints])
            found.append(Face((box.origin_x, box.origin_y, box.width, box.height),
                              detection.categories[0].score, points))
        return found

    def close(self) -> None:
        # A forked process inherits this callback but not the thread that closing needs
        if os.getpid() == self._pid:
            with _quiet_stderr():
                self._mediapipe.close()


@contextmanager
def _quiet_stderr():
    """Mute mediapipe's C++ start-up and shut-down log lines, which bypass ``sys.stderr``."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
