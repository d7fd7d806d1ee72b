"""Films: frames streamed to an H.264 mp4 (and a GIF that loops forever), plus the framing
helpers film renderers share. Encoding uses the ffmpeg binary of imageio-ffmpeg, a PyPI wheel,
so no system ffmpeg is needed.

Each encoder is an ffmpeg process fed by its own writer thread through a short queue, so the
renderer makes the next frames while ffmpeg encodes the last ones: a film costs the slower of
the two, not their sum."""
from __future__ import annotations

import errno
import functools
import glob
import math
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from itertools import chain
from pathlib import Path
from typing import Annotated, Callable, Iterable, Iterator, TypeVar

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import AfterValidator, Field

from artgan import progress
from artgan.errors import ArtganError
from artgan.files import atomic_path, ensure_writable
from artgan.folder_lock import remove_dead_temporaries
from artgan.kinds import GivenPath, Options

# "-f" names the container because the temporary file's name ends in .tmp, not .mp4/.gif.
# yuv420p and +faststart: what browsers and QuickTime need to play (and start) an H.264 mp4.
# Preset veryfast at CRF 17 instead of medium at CRF 18: half the encoder's CPU time for the same
# picture (on smooth 512 px GAN-like frames: PSNR 42.5 against medium's 42.7 dB, 9% larger
# files; docs/performance.md). The slower presets' extra search pays off on camera footage, not
# on the soft, slowly changing pictures of these films. Threads stay x264's automatic choice
# (1.5 per core, with frame threading), which the benchmark found fastest even beside generation.
# The colour tags say what the pixels are: sRGB's primaries and transfer, turned into YUV with the
# BT.601 matrix (ffmpeg's own, which -colorspace keeps) in the limited range. An untagged film is
# guessed at: browsers take one of 720 lines or more for BT.709 and shift its colours (Chromium:
# green 255 shown as 217); tagged, Chromium shows every colour within 2 of the frame's, at any
# size (tests/test_studio_browser.py plays one). -x264-params, because ffmpeg tags the primaries and
# transfer from the frames, which raw RGB leaves unknown.
MP4 = {"codec": "libx264", "pix_fmt_out": "yuv420p",
       "output_params": ["-crf", "17", "-preset", "veryfast", "-colorspace", "smpte170m", "-color_range", "tv",
                         "-x264-params", "colorprim=bt709:transfer=iec61966-2-1:colormatrix=smpte170m",
                         "-movflags", "+faststart", "-f", "mp4"]}
# One palette for the whole GIF, from every frame (ffmpeg holds the frames until the end, so GIFs
# suit short loops); -loop 0 repeats forever.
GIF = {"codec": "gif", "pix_fmt_out": "pal8", "output_params": ["-loop", "0", "-f", "gif"]}
# The palette's colour counts come from every n-th row and column of the frames, n chosen to keep
# at least PALETTE_SAMPLE of each: the same palette at a fraction of the work. Counting every
# pixel of a smooth 512-1024 px film cost more than mapping them (mp4 + GIF: 2-2.7x the ffmpeg
# CPU, for a GIF within 0.02 dB PSNR; docs/performance.md). Dithering stays paletteuse's
# default: it is the GIF's look.
PALETTE_SAMPLE = 128
# What the frames and a card are joined in, by encoder: x264's pixel format in the limited range
# of a film without a card, or RGB for the GIF's palette. Left to itself ffmpeg would join them
# in the PNG's full range and tag the whole film so (yuvj420p).
JOINED_AS = {"libx264": "pix_fmts=yuv420p:color_ranges=tv", "gif": "pix_fmts=rgb24"}
# Frames waiting for each encoder: enough to keep ffmpeg busy while a batch is generated (ffmpeg
# and x264 buffer more themselves), few enough that memory does not grow with the film.
QUEUED = 2
# Pictures read_ahead decodes before they are asked for.
AHEAD = 4
# Pixels: the longest side a film may be scaled to. An 8192 px square is past H.264's largest
# frame (level 6.2: 8192 x 4352), which players refuse, and x264 took 6 GB to encode it.
MAX_FILM = 4096
# Macroblocks (16 x 16 px): the largest frame of H.264's highest level (6.2), 8192 x 4352 px. A
# film of runs side by side, or of a large grid's snapshots at their own size, can pass it.
LARGEST_FRAME = 139_264
HOUR = 3600  # seconds: the longest a film holds its last frame or shows its card; more is a slip of the keyboard

T = TypeVar("T")


def mp4_name(path: Path) -> Path:
    """``path``, a film's name; a ValueError unless it ends in .mp4."""
    if path.suffix.lower() != ".mp4":
        raise ValueError("films are written as H.264 .mp4; give a name ending in .mp4")
    return path


# A film to write: its name is checked as the recipe loads, not after training.
FilmPath = Annotated[GivenPath, AfterValidator(mp4_name)]


class FilmOptions(Options):
    """Options every film renderer shares."""

    fps: int = Field(30, ge=1, le=120, description="frames per second")
    hold: float = Field(0.0, ge=0, le=HOUR, description="seconds the last frame stays on screen")
    size: int | None = Field(None, ge=16, le=MAX_FILM,
                             description="scale pictures so their longest side has this many pixels "
                                         "(default: as they are)")
    smooth: bool = Field(False, description="scale smoothly instead of in crisp blocks (nearest neighbour)")
    gif: bool = Field(False, description="also write a GIF that loops forever, beside the mp4")
    end_card: float = Field(0.0, ge=0, le=HOUR, description="seconds of a credits card at the end, naming the works "
                                                   "the run was trained on (see `artgan credits`); 0: none")

    @property
    def hold_frames(self) -> int:
        """``hold`` in frames, as :func:`write_film` takes it: at least one for any hold asked for."""
        return max(round(self.hold * self.fps), self.hold > 0)


class SnapshotFilmOptions(FilmOptions):
    """Options of films made of a run's snapshots: few frames, so slower, with the end held."""

    fps: int = Field(10, ge=1, le=120, description="frames (snapshots) per second")
    hold: float = Field(2.0, ge=0, le=HOUR, description="seconds the last snapshot stays on screen")
    caption: bool = Field(True, description="burn the training step into each frame")


def write_film(frames: Iterable[np.ndarray], out: str | Path, fps: int, *, gif: bool = False,
               hold: int = 0, total: int | None = None, label: str = "film",
               size: int | None = None, smooth: bool = False,
               shape: tuple[int, int] | None = None,
               card: Callable[[int, int], Image.Image] | None = None, card_frames: int = 0) -> list[Path]:
    """Encode uint8 frames (H, W, 3), as they come, to the mp4 ``out`` (and ``out`` as .gif);
    the last frame is repeated ``hold`` times, then ``card(width, height)``, a picture drawn at
    the film's size (a credits card), is shown for ``card_frames``. Returns the files written.

    ``size`` and ``smooth`` scale every frame as :func:`fit` does, inside ffmpeg: its scaler is
    several times cheaper than scaling in Python, and small frames cross the pipe. Odd sizes get
    a black row or column (H.264 in yuv420p needs even sides). Nothing appears under the final
    names unless every frame was encoded. Frames are encoded while the next ones are made, so a
    frame must not be changed after it was yielded. ``shape``, the frames' (height, width) when
    it is known before the first frame is made, starts ffmpeg first: it then gets ready while
    the first frame is made (a model loaded, say), not after. ffmpeg appends the card itself,
    so the frames before it still cross the pipe at their own size and are scaled in ffmpeg.
    """
    out = Path(out)
    try:
        mp4_name(out)
    except ValueError as exc:
        raise ArtganError(f"{out}: {exc}") from None
    ensure_writable(out)
    frames = iter(frames)
    if shape is None:
        first = next(frames, None)
        if first is None:
            raise ValueError("write_film: no frames")
        shape, frames = first.shape[:2], chain([first], frames)
    height, width = shape
    filters, film_size = _framing(width, height, size, smooth)
    if math.ceil(film_size[0] / 16) * math.ceil(film_size[1] / 16) > LARGEST_FRAME:
        raise ArtganError(f"{out}: a film of {film_size[0]} x {film_size[1]} px is larger than H.264 allows "
                          f"(8192 x 4352 px, or as many pixels); give the renderer a smaller `size`")
    paths = [(out, MP4, [])] + ([(out.with_suffix(".gif"), GIF, [_palette(*film_size)])] if gif else [])
    for path, _, _ in paths:  # what a render of this film killed before (kill -9, a power cut) left
        remove_dead_temporaries(path.parent, f".{glob.escape(path.name)}.*.tmp")
    with ExitStack() as stack, progress.task(label, total and total + hold) as bar:
        graphs = {settings["codec"]: filters for _, settings, _ in paths}
        if card is not None and card_frames > 0:  # read by ffmpeg at the end: kept until it is done
            picture = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="artgan-card-"))) / "card.png"
            card(*film_size).convert("RGB").save(picture)
            graphs = {codec: [_then_card(filters, picture, card_frames, fps, JOINED_AS[codec])] for codec in graphs}
        # Encoders are entered after their temporary files, so they finish before the renames.
        temporary = [stack.enter_context(atomic_path(path)) for path, _, _ in paths]
        encoders = [stack.enter_context(_encoder(tmp, (width, height), fps, settings, graphs[settings["codec"]] + own,
                                                 path))
                    for tmp, (path, settings, own) in zip(temporary, paths)]
        frame = None
        for frame in frames:
            frame = _checked(frame, (height, width, 3))
            _send(encoders, frame)
            bar.advance(1)
        if frame is None:
            raise ValueError("write_film: no frames")
        for _ in range(hold):
            _send(encoders, frame)
            bar.advance(1)
        for encoder in encoders:
            encoder.finish()
    return [path for path, _, _ in paths]


def _framing(width: int, height: int, size: int | None, smooth: bool) -> tuple[list[str], tuple[int, int]]:
    """ffmpeg filters that scale a width x height frame as :func:`fit` does, then pad it to even
    sides; and the film's (width, height) they give."""
    filters = []
    if size is not None and max(width, height) != size:
        width, height = fitted_size(width, height, size)
        filters.append(f"scale={width}:{height}:flags={'lanczos' if smooth else 'neighbor'}")
    if width % 2 or height % 2:
        width, height = width + width % 2, height + height % 2
        filters.append(f"pad={width}:{height}")
    return filters, (width, height)


def _then_card(filters: list[str], picture: Path, frames: int, fps: int, joined_as: str) -> str:
    """A filter graph: the piped frames through ``filters``, then the PNG ``picture`` (of the
    film's size) for ``frames`` frames at ``fps``, joined in the ``format`` filter's ``joined_as``."""
    # Both parts alike for concat: pixel aspect, and the pixel format and range, which the piped
    # frames reach in the same scaler step as in a film without a card (the same pixels).
    alike = f"format={joined_as},setsar=1"
    piped = ",".join([*filters, alike])
    # The picture's frames at the film's rate (concat would otherwise give the film an image's
    # 25 fps), without the PNG's RGB colour-space tag. settb first: frame times counted in the
    # picture's own 1/25 s would round together, and fps would drop a short card altogether.
    shown = (f"movie={_escaped(str(picture))},loop=loop={frames - 1}:size=1,settb=1/{fps},setpts=N,fps={fps},"
             f"{alike},setparams=colorspace=unknown")
    return f"{piped}[piped];{shown}[card];[piped][card]concat=n=2:v=1:a=0"


def _escaped(value: str) -> str:
    """``value`` as a filter option inside a filter graph: escaped for the option (``\\ ' :``),
    then for the graph (``\\ ' [ ] , ;``), as ffmpeg-filters' "Notes on filtergraph escaping" say."""
    option = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option)


def _palette(width: int, height: int) -> str:
    """The GIF's palette filters for width x height frames: made from a sample of their pixels."""
    step = max(1, min(width, height) // PALETTE_SAMPLE)
    sample = f"scale={-(-width // step)}:{-(-height // step)}:flags=neighbor," if step > 1 else ""
    return f"split[a][b];[a]{sample}palettegen[p];[b][p]paletteuse"


class _Encoder:
    """One ffmpeg process, reading raw RGB frames from its standard input, and the thread that
    writes frames into that pipe. ffmpeg runs in a process group of its own (Ctrl-C reaches
    artgan, which then stops it) and its messages are kept: its exit status and last message
    say whether, and why, the film failed (a full disk, say)."""

    def __init__(self, path: Path, size: tuple[int, int], fps: int, settings: dict, filters: list[str], film: Path):
        self.path, self.film = path, film
        self._messages = tempfile.TemporaryFile()
        self._process = subprocess.Popen(_command(path, size, fps, settings, filters), stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=self._messages, **_OWN_GROUP)
        self._frames: queue.Queue = queue.Queue(QUEUED)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name=f"encoder {path.name}", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        try:
            while (frame := self._frames.get()) is not None:
                self._process.stdin.write(frame)
            self._process.stdin.close()
            self._process.wait()
        except BaseException as exc:  # ffmpeg quit: handed to the producer at its next frame
            self._error = exc

    def send(self, frame: np.ndarray | None) -> None:
        """Queue ``frame`` (``None``: the end); raises the encoder's error if it failed."""
        while self._thread.is_alive():
            try:
                self._frames.put(frame, timeout=0.1)
                return
            except queue.Full:
                pass
        self._raise()

    def finish(self) -> None:
        """Wait until ffmpeg has written the whole file; raises the encoder's error."""
        self.send(None)
        self._thread.join()
        self._raise()

    def close(self) -> None:
        """Stop ffmpeg (killed, unless :meth:`finish` saw it end) and the thread."""
        if self._process.poll() is None:
            self._process.kill()
        while self._thread.is_alive():
            with suppress(queue.Empty):
                self._frames.get_nowait()
            with suppress(queue.Full):
                self._frames.put_nowait(None)
            self._thread.join(0.1)
        with suppress(OSError):
            self._process.stdin.close()
        self._process.wait()
        self._messages.close()

    def _raise(self) -> None:
        if self._error is not None and not isinstance(self._error, OSError):
            raise self._error
        if self._error is not None or self._process.returncode:  # a pipe closed by ffmpeg, or its exit
            raise self._failure()

    def _failure(self) -> Exception:
        """What ffmpeg's end says: an OSError for a full disk or a file size limit (which
        atomic_path words as such), else an ArtganError naming the film and ffmpeg's reason."""
        self._process.wait()
        self._messages.seek(0)
        said, status = self._messages.read().decode(errors="replace"), self._process.returncode
        if status == -getattr(signal, "SIGXFSZ", 0):  # how the file size limit (ulimit -f) ends a process
            said += os.strerror(errno.EFBIG)
        for number in (errno.ENOSPC, errno.EFBIG):
            if os.strerror(number) in said:
                return OSError(number, os.strerror(number), str(self.path))
        lines = said.strip().splitlines()
        reason = lines[-1] if lines else f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        own = ("; IMAGEIO_FFMPEG_EXE names an ffmpeg of your own: it needs version 7 or later"
               if os.environ.get("IMAGEIO_FFMPEG_EXE") else "")
        return ArtganError(f"{self.film}: ffmpeg failed: {reason}{own}")


# ffmpeg's own process group: a Ctrl-C in the terminal reaches artgan alone, which stops ffmpeg
# once the film is given up (and ffmpeg does not die first, leaving a broken pipe).
_OWN_GROUP = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if sys.platform == "win32"
              else {"start_new_session": True})


def _command(path: Path, size: tuple[int, int], fps: int, settings: dict, filters: list[str]) -> list[str]:
    """The ffmpeg command encoding raw RGB frames of ``size`` (width, height) from its standard
    input at ``fps`` into ``path`` with ``settings`` (MP4, GIF), through the video ``filters``."""
    width, height = size
    scaled = ["-vf", ",".join(filters)] if filters else []
    return [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
            "-r", str(fps), "-i", "-", "-an", "-vcodec", settings["codec"], "-pix_fmt", settings["pix_fmt_out"],
            *scaled, *settings["output_params"], "-v", "error", str(path)]


@contextmanager
def _encoder(path: Path, size: tuple[int, int], fps: int, settings: dict, filters: list[str],
             film: Path) -> Iterator[_Encoder]:
    """An encoder writing ``path``, the temporary file of ``film``; ffmpeg has ended on exit. A
    folder deleted or moved away meanwhile (ffmpeg then quits, or writes into nowhere) is an error
    naming the film."""
    encoder = _Encoder(path, size, fps, settings, filters, film)
    try:
        yield encoder
    except (OSError, ArtganError):  # ffmpeg failed, perhaps for want of its folder
        _still_there(path.parent, film)
        raise
    finally:
        encoder.close()
    _still_there(path.parent, film)


def _still_there(folder: Path, film: Path) -> None:
    if not folder.is_dir():
        raise ArtganError(f"{film}: its folder was deleted or moved away while the film was made") from None


def _send(encoders: list[_Encoder], frame: np.ndarray) -> None:
    for encoder in encoders:
        encoder.send(frame)


def _checked(frame: np.ndarray, shape: tuple) -> np.ndarray:
    if frame.shape != shape or frame.dtype != np.uint8:
        raise ValueError(f"write_film: every frame must be uint8 {shape}; got {frame.dtype} {frame.shape}")
    return np.ascontiguousarray(frame)


def read_ahead(loads: Iterable[Callable[[], T]], ahead: int = AHEAD) -> Iterator[T]:
    """The results of ``loads`` in order, each called once, up to ``ahead`` of them in a thread
    before they are asked for: a film's snapshot files are read from disk while the caller
    composes the last frame (and where Pillow decodes them, which releases the GIL unlike
    libspng, decoded on another core)."""
    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as pool:
        pending: deque[Future] = deque()
        for load in loads:
            pending.append(pool.submit(load))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def fitted_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) scaled so the longest side is ``size`` pixels (``None``: unchanged)."""
    if size is None:
        return width, height
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit(picture: Image.Image, size: int | None, smooth: bool = False) -> Image.Image:
    """``picture`` scaled so its longest side is ``size`` pixels (``None``: unchanged)."""
    if size is None or max(picture.size) == size:
        return picture
    return picture.resize(fitted_size(*picture.size, size),
                          Image.Resampling.LANCZOS if smooth else Image.Resampling.NEAREST)


def font_for(width: int, longest: str) -> ImageFont.FreeTypeFont:
    """The font captions of a ``width``-pixel picture use: as large as fits ``longest``.

    Chosen once per film, so the text does not change size from frame to frame.
    """
    size = max(8, width // 10)
    length = ImageFont.load_default(size).getlength(longest)
    if length > width * 0.9:  # text length is about proportional to size: start near the answer
        size = max(8, min(size - 1, int(size * width * 0.9 / length) + 1))
    while size > 8 and ImageFont.load_default(size).getlength(longest) > width * 0.9:
        size -= 1
    return ImageFont.load_default(size)


class Captions:
    """Black caption bars ``width`` pixels wide with light text centred in them, in the font
    :func:`font_for` picks for ``longest``: what :meth:`under` adds under a picture.

    Each character is rendered by Pillow once and kept: a film's captions differ only in a few
    digits, and rendering every caption whole cost more than the rest of a timelapse frame
    (1.3 of about 3 ms at 512 px). Pillow's basic text layout places each glyph at its pen
    position, rounded, and keeps the brighter of overlapping pixels; this does the same, with the
    same kerning, so a bar equals Pillow's own drawing of the text (tests/test_film.py)."""

    def __init__(self, width: int, longest: str):
        self.font = font_for(width, longest)
        self.width = width
        self.height = round(self.font.size * 1.6)
        self.height += self.height % 2  # keeps even picture heights even
        ascent, descent = self.font.getmetrics()
        self.baseline = round(self.height / 2 + (ascent - descent) / 2)
        self._glyphs: dict[str, tuple[np.ndarray, int, int]] = {}
        self._advances: dict[str, float] = {}

    def bar(self, text: str) -> np.ndarray:
        """The caption bar of ``text``, (height, width, 3) uint8."""
        ink = np.zeros((self.height, self.width), np.uint8)
        pens, length = self._layout(text)
        start = round((self.width - length) / 2)  # centred, on a whole pixel
        for char, pen in zip(text, pens):
            mask, left, top = self._glyph(char)
            x, y = round(start + pen) + left, self.baseline + top
            x0, y0 = max(x, 0), max(y, 0)
            x1, y1 = min(x + mask.shape[1], self.width), min(y + mask.shape[0], self.height)
            if x1 > x0 and y1 > y0:
                region = ink[y0:y1, x0:x1]
                np.maximum(region, mask[y0 - y:y1 - y, x0 - x:x1 - x], out=region)
        return _ink_colours()[ink]

    def _layout(self, text: str) -> tuple[list[float], float]:
        """Each character's pen position from the start of ``text``, and its whole length: the
        advances and kerning Pillow lays it out with (sums of 1/64 pixels, so exact in floats)."""
        pens, pen = [], 0.0
        for index, char in enumerate(text):
            if index:  # kerning between this character and the last, as Pillow applies it
                pen += self._advance(text[index - 1:index + 1]) - self._advance(text[index - 1]) - self._advance(char)
            pens.append(pen)
            pen += self._advance(char)
        return pens, pen

    def under(self, picture: np.ndarray, text: str, above: bool = False, size: int | None = None,
              smooth: bool = False) -> np.ndarray:
        """``picture`` (H, W, 3) scaled as :func:`scaled` scales it to ``size`` (by default as it
        is), ``width`` pixels wide, with the bar of ``text`` below it (or above it): one new
        array, the picture scaled straight into it."""
        width, height = fitted_size(picture.shape[1], picture.shape[0], size)
        frame = np.empty((height + self.height, width, 3), np.uint8)
        top, bar_top = (self.height, 0) if above else (0, height)
        scaled(picture, size, smooth, out=frame[top:top + height])
        frame[bar_top:bar_top + self.height] = self.bar(text)
        return frame

    def _advance(self, text: str) -> float:
        if text not in self._advances:
            self._advances[text] = self.font.getlength(text)
        return self._advances[text]

    def _glyph(self, char: str) -> tuple[np.ndarray, int, int]:
        """The character's coverage mask and its offset from the pen on the baseline."""
        if char not in self._glyphs:
            mask, (left, top) = self.font.getmask2(char, anchor="ls")
            width, height = mask.size
            pixels = np.frombuffer(bytes(mask), np.uint8).reshape(height, width) if width and height else \
                np.zeros((0, 0), np.uint8)
            self._glyphs[char] = (pixels, left, top)
        return self._glyphs[char]


@functools.cache
def _ink_colours() -> np.ndarray:
    """The colour Pillow draws text of each coverage 0-255 in on black: (256, 3) uint8."""
    coverage = Image.fromarray(np.arange(256, dtype=np.uint8)[None])
    canvas = Image.new("RGB", coverage.size)
    ImageDraw.Draw(canvas).bitmap((0, 0), coverage, fill=(235, 235, 235))
    return np.asarray(canvas)[0]


def scaled(picture: Image.Image | np.ndarray, size: int | None, smooth: bool = False,
           out: np.ndarray | None = None) -> np.ndarray:
    """:func:`fit` as a uint8 array (H, W, 3), written into ``out`` when it is given (a view of
    a frame, say). Blocks of a whole number of pixels are made by numpy, without the copies in
    and out of Pillow: what a timelapse frame mostly cost."""
    pixels = np.asarray(picture)
    height, width = pixels.shape[:2]
    longest = max(height, width)
    if size is not None and not smooth and size > longest and size % longest == 0:
        factor = size // longest
        rows = np.repeat(pixels, factor, axis=1)  # each row widened, then repeated: 4x cheaper than one broadcast
        # Splitting the first axis is always a view, so the blocks land in ``out`` itself.
        blocks = np.empty((height * factor, width * factor, 3), np.uint8) if out is None else out
        blocks.reshape(height, factor, width * factor, 3)[...] = rows[:, None]
        return blocks
    result = pixels if size is None or size == longest else np.asarray(fit(Image.fromarray(pixels), size, smooth))
    if out is None:
        return result
    out[...] = result
    return out
