"""Small videos written by the tests: a still shot with a walking figure, soft-focus footage."""
from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

FIXTURES = Path(__file__).parent / "fixtures"
FPS = 10
W = 320


def write_video(path, frames, draw, size):
    """An H.264 mp4 of ``frames`` frames at FPS, frame i drawn by ``draw(i)`` (H, W, 3)."""
    # faststart puts the index first, so a truncated copy still opens and decodes in part
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=FPS, macro_block_size=1, quality=8,
                                         output_params=["-movflags", "+faststart"])
    writer.send(None)
    for i in range(frames):
        writer.send(np.ascontiguousarray(draw(i)).tobytes())
    writer.close()


def still_shot_with_a_walker(i: int) -> np.ndarray:
    """A still photo (the cameraman) with a small figure, about 0.5% of the frame, walking for
    3 s (3 px a frame), then standing still for 2 s."""
    backdrop = Image.open(FIXTURES / "cameraman.jpg").convert("RGB").resize((W, 180), Image.Resampling.LANCZOS)
    x = 40 + 3 * min(i, 3 * FPS)
    draw = ImageDraw.Draw(backdrop)
    draw.ellipse((x + 2, 120, x + 10, 128), fill=(200, 40, 40))  # head
    draw.rectangle((x, 129, x + 12, 146), fill=(200, 40, 40))  # body, 12x26 px in all
    return np.asarray(backdrop)


def soft_focus_pan(i: int) -> np.ndarray:
    """Soft-focus footage: a blurred photo (the astronaut), the camera panning across it."""
    photo = Image.open(FIXTURES / "astronaut.jpg").convert("RGB").filter(ImageFilter.GaussianBlur(2.5))
    x = 4 * i
    return np.asarray(photo.crop((x, 100, x + W, 280)))
