"""Films: frames streamed to an H.264 mp4 (and a GIF that loops forever), plus the framing
helpers film renderers share. Encoding uses the ffmpeg binary of imageio-ffmpeg, a PyPI wheel,
so no system ffmpeg is needed."""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import Field

from artgan import progress
from artgan.errors import ArtganError
from artgan.files import atomic_path, ensure_writable
from artgan.kinds import Options

# "-f" names the container because the temporary file's name ends in .tmp, not .mp4/.gif.
# yuv420p and +faststart: what browsers and QuickTime need to play (and start) an H.264 mp4.
MP4 = {"codec": "libx264", "pix_fmt_out": "yuv420p",
       "output_params": ["-crf", "18", "-preset", "medium", "-movflags", "+faststart", "-f", "mp4"]}
# One palette for the whole GIF, computed from every frame (ffmpeg holds the frames until the end,
# so GIFs suit short loops); -loop 0 repeats forever.
GIF = {"codec": "gif", "pix_fmt_out": "pal8",
       "output_params": ["-vf", "split[a][b];[a]palettegen[p];[b][p]paletteuse", "-loop", "0", "-f", "gif"]}


class FilmOptions(Options):
    """Options every film renderer shares."""

    fps: int = Field(30, ge=1, le=120, description="frames per second")
    hold: float = Field(0.0, ge=0, description="seconds the last frame stays on screen")
    size: int | None = Field(None, ge=16, le=8192,
                             description="scale pictures so their longest side has this many pixels "
                                         "(default: as they are)")
    smooth: bool = Field(False, description="scale smoothly instead of in crisp blocks (nearest neighbour)")
    gif: bool = Field(False, description="also write a GIF that loops forever, beside the mp4")
    end_card: float = Field(0.0, ge=0, description="seconds of a credits card at the end, naming the works "
                                                   "the run was trained on (see `artgan credits`); 0: none")

    @property
    def hold_frames(self) -> int:
        """``hold`` in frames, as :func:`write_film` takes it."""
        return round(self.hold * self.fps)


class SnapshotFilmOptions(FilmOptions):
    """Options of films made of a run's snapshots: few frames, so slower, with the end held."""

    fps: int = Field(10, ge=1, le=120, description="frames (snapshots) per second")
    hold: float = Field(2.0, ge=0, description="seconds the last snapshot stays on screen")
    caption: bool = Field(True, description="burn the training step into each frame")


def write_film(frames: Iterable[np.ndarray], out: str | Path, fps: int, *, gif: bool = False,
               hold: int = 0, total: int | None = None, label: str = "film") -> list[Path]:
    """Encode uint8 frames (H, W, 3), as they come, to the mp4 ``out`` (and ``out`` as .gif);
    the last frame is repeated ``hold`` times. Returns the files written.

    Odd sizes get a black row or column (H.264 in yuv420p needs even sides). Nothing appears
    under the final names unless every frame was encoded.
    """
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise ArtganError(f"{out}: films are written as H.264 .mp4; give a name ending in .mp4")
    ensure_writable(out)
    paths = [(out, MP4)] + ([(out.with_suffix(".gif"), GIF)] if gif else [])
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("write_film: no frames")
    shape = first.shape
    width, height = shape[1] + shape[1] % 2, shape[0] + shape[0] % 2
    with ExitStack() as stack, progress.task(label, total and total + hold) as bar:
        # Encoders are entered after their temporary files, so they finish before the renames.
        temporary = [stack.enter_context(atomic_path(path)) for path, _ in paths]
        encoders = [stack.enter_context(_encoder(tmp, (width, height), fps, settings))
                    for tmp, (_, settings) in zip(temporary, paths)]
        for frame in chain([first], frames):
            padded = _padded(frame, shape, width, height)
            _send(encoders, padded)
            bar.advance(1)
        for _ in range(hold):
            _send(encoders, padded)
            bar.advance(1)
    return [path for path, _ in paths]


@contextmanager
def _encoder(path: Path, size: tuple[int, int], fps: int, settings: dict) -> Iterator:
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=fps, quality=None, macro_block_size=1,
                                         ffmpeg_log_level="error", **settings)
    writer.send(None)
    try:
        yield writer
    finally:
        writer.close()  # waits for ffmpeg to finish the file


def _send(encoders: list, frame: np.ndarray) -> None:
    for encoder in encoders:
        encoder.send(frame)


def _padded(frame: np.ndarray, shape: tuple, width: int, height: int) -> np.ndarray:
    if frame.shape != shape or frame.dtype != np.uint8:
        raise ValueError(f"write_film: every frame must be uint8 {shape}; got {frame.dtype} {frame.shape}")
    if (height, width) != shape[:2]:
        frame = np.pad(frame, ((0, height - shape[0]), (0, width - shape[1]), (0, 0)))
    return np.ascontiguousarray(frame)


def fit(picture: Image.Image, size: int | None, smooth: bool = False) -> Image.Image:
    """``picture`` scaled so its longest side is ``size`` pixels (``None``: unchanged)."""
    if size is None or max(picture.size) == size:
        return picture
    scale = size / max(picture.size)
    new = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(new, Image.Resampling.LANCZOS if smooth else Image.Resampling.NEAREST)


def font_for(width: int, longest: str) -> ImageFont.FreeTypeFont:
    """The font captions of a ``width``-pixel picture use: as large as fits ``longest``.

    Chosen once per film, so the text does not change size from frame to frame.
    """
    size = max(8, width // 10)
    while size > 8 and ImageFont.load_default(size).getlength(longest) > width * 0.9:
        size -= 1
    return ImageFont.load_default(size)


def caption(picture: Image.Image, text: str, font: ImageFont.FreeTypeFont, above: bool = False) -> Image.Image:
    """``picture`` with a black bar holding ``text`` added below it (or above it)."""
    bar = round(font.size * 1.6)
    bar += bar % 2  # keeps even picture heights even
    framed = Image.new("RGB", (picture.width, picture.height + bar))
    framed.paste(picture, (0, bar if above else 0))
    middle = bar / 2 if above else picture.height + bar / 2
    ImageDraw.Draw(framed).text((picture.width / 2, middle), text, fill=(235, 235, 235), font=font, anchor="mm")
    return framed
