"""Source "video-frames": stills sampled from videos, with filters for the frames that hurt training.

ffmpeg (shipped by imageio-ffmpeg) seeks, samples and scales down; the filters run on the small
frames in NumPy. The results of each finished video are cached, so a rebuild or a run stopped
halfway through a season does not decode the finished episodes again.
"""
from __future__ import annotations

import errno
import functools
import glob
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections import deque
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Iterator

import imageio_ffmpeg
import numpy as np
from PIL import Image
from pydantic import Field, model_validator

import artgan
from artgan.images import open_rgb, shrunk
from artgan.kinds import GivenPattern
from artgan_plugins.blur_filter import LUMA, laplacian_variance
from artgan_plugins.folder import files_fingerprint

BAR_LEVEL = 24  # brightest channel at or below this counts as part of a black bar
BAR_PROBE = 10  # bars are decided from this many frames that are not wholly dark
BLUR_NEIGHBOURS = 7  # a frame's sharpness is compared with the sampled frames this far each side
THUMB_SIDE = 64  # longer side of the thumbnails near-duplicates are compared at
CHANGE_LEVEL = 12.0  # a thumbnail cell changed when its brightness moved by more than this (0-255)
# A passing lack of open files, memory or processes: the video is not at fault, so the build
# stops with what to do instead of skipping it, and the video is decoded again next time.
SHORTAGE = {  # errno -> what to do (ENFILE first: its message contains EMFILE's)
    errno.ENFILE: "the system has too many open files: close some programs or lower `workers`",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) or lower `workers`",
    errno.ENOMEM: "out of memory: close some programs or lower `workers`",
    errno.EAGAIN: "out of memory or processes (resource temporarily unavailable): close some programs "
                  "or lower `workers`",
}


class VideoFramesOptions(artgan.CreditOptions):
    paths: list[GivenPattern] = Field(
        min_length=1, description="video files, folders (searched recursively) or glob patterns "
        "such as 'season1/*.mkv' (a path that exists is taken as written, even with [ ] * ? in "
        "it); relative paths are relative to the current directory")
    extensions: list[str] = Field(
        ["mp4", "mkv", "avi", "mov", "webm", "m4v", "mpg", "mpeg", "wmv", "flv", "ogv", "ts"],
        min_length=1, description="file name endings read from folders, case-insensitive")
    every: float | None = Field(None, gt=0, description="seconds between sampled frames (default 1; "
                                                        "at least one frame of the video's)")
    fps: float | None = Field(None, gt=0, description="sampled frames per second, instead of `every` (at "
                                                       "most the video's own frame rate)")
    scene_cuts: bool = Field(
        False, description="keep only the sampled frames that start a new shot; sample densely "
        "(e.g. fps = 4) so they land close to the cut")
    cut_threshold: float = Field(
        0.2, gt=0, lt=1, description="a shot starts where a sampled frame differs from the one "
        "before by more than this (mean absolute difference of small thumbnails, 0-1)")
    skip_start: float = Field(0.0, ge=0, description="seconds skipped at the start of each video (intros)")
    skip_end: float = Field(0.0, ge=0, description="seconds skipped at the end of each video (outros, credits)")
    trim: dict[str, tuple[float, float]] = Field(
        {}, description="per-file [skip_start, skip_end], keyed by file name or glob pattern, "
        "e.g. {\"s01e01.mkv\" = [95, 40]}; the first matching key wins, and a key that names one "
        "of the videos is that file only")
    max_per_video: int | None = Field(
        None, ge=1, description="at most this many frames per video; the sampling interval "
        "widens so they spread over the whole video")
    max_total: int | None = Field(None, ge=1, description="stop after this many frames in all")
    decode_size: int | None = Field(
        None, ge=8, description="shorter side the frames are decoded at, in pixels (default: "
        "twice the recipe's resolution); videos are never scaled up")
    crop_bars: bool = Field(True, description="crop black letterbox and pillarbox bars")
    min_brightness: float | None = Field(
        16.0, ge=0, description="drop near-black frames: mean brightness (0-255) below this; "
        "none keeps them")
    min_contrast: float | None = Field(
        4.0, ge=0, description="drop near-uniform frames: standard deviation of the brightness "
        "(0-255) below this; none keeps them")
    blur_ratio: float | None = Field(
        0.2, gt=0, lt=1, description="drop blurry frames: sharpness (variance of the Laplacian "
        "of the brightness) below this fraction of the median sharpness of the sampled frames "
        f"around it ({BLUR_NEIGHBOURS} each side), so soft-focus footage keeps its frames and a "
        "cartoon drops its smeared in-betweens; none keeps them")
    min_sharpness: float | None = Field(
        None, ge=0, description="drop blurry frames by an absolute bar as well: sharpness at the "
        "decode size below this (cartoons: 50 or more); none keeps them")
    duplicate_change: float | None = Field(
        0.002, ge=0, lt=1, description="drop a frame when less than this fraction of its "
        f"{THUMB_SIDE}-px thumbnail differs from the last kept frame's (by more than "
        f"{CHANGE_LEVEL:g} of 255 in brightness): a small figure moving over a still background "
        "is a change; none keeps them")

    @model_validator(mode="after")
    def _one_rate(self):
        if self.every is not None and self.fps is not None:
            raise ValueError("set `every` or `fps`, not both")
        return self


@dataclass
class Frame:
    """A sampled frame: seconds from the start of the video, RGB pixels (H, W, 3), and the box
    (left, top, right, bottom) of the decoded frame they were cropped to, if any."""

    time: float
    pixels: np.ndarray
    box: tuple[int, int, int, int] | None = None


class VideoFrames(artgan.Source):
    """Stills from videos: sampled, trimmed, capped, de-duplicated and cleaned of bad frames."""

    Options = VideoFramesOptions

    def items(self):
        total = 0
        for path in self._videos():
            for result in self._video(path):
                yield result
                if isinstance(result, artgan.Item):
                    total += 1
                    if total == self.options.max_total:
                        return

    def fingerprint(self) -> str | None:
        """What changes when a video is added, removed or replaced (see the folder source's);
        None when a path leads to no video."""
        try:
            return files_fingerprint(self._videos())
        except artgan.ArtganError:  # the build says what is missing
            return None

    @functools.cached_property
    def _names(self) -> set[str]:
        """The name and the path of every input video."""
        return {name for path in self._videos() for name in (path.name, str(path))}

    def _videos(self) -> list[Path]:
        """Every input video, each once, in the order given (folders and globs sorted)."""
        found: dict[Path, None] = {}
        for entry in self.options.paths:
            for path in self._expand(entry):
                found.setdefault(path.absolute(), None)
        return list(found)

    def _expand(self, entry: str) -> list[Path]:
        suffixes = {"." + ext.lower().lstrip(".") for ext in self.options.extensions}
        if os.path.exists(entry) or not glob.has_magic(entry):  # "Show [720p].mp4" is a name
            hits = [Path(entry)]
        else:
            hits = sorted(map(Path, glob.glob(entry, recursive=True)))
        files = []
        for hit in hits:
            if hit.is_dir():
                files += sorted(p for p in hit.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
            elif hit.is_file():
                files.append(hit)
        if not files:
            what = ("matches nothing" if not hits else "no such file or folder" if not hits[0].exists()
                    else f"no video files ({', '.join(sorted(suffixes))}) there")
            raise artgan.ArtganError(f"{entry}: {what}; set the video-frames source's `paths` to "
                                     f"video files, folders or glob patterns")
        return files

    def _video(self, path: Path) -> Iterator[artgan.Item | artgan.Skipped]:
        """The results of one video: replayed from the cache when an earlier build finished it."""
        with _shortage_stops(path):
            folder = self._cache_folder(path)
            if folder is None:
                yield from self._extract(path)
            elif (folder / "done").exists():
                yield from _replay(folder, path, self.options.work(path))
            else:
                yield from _record(folder, self._extract(path))

    def _cache_folder(self, path: Path) -> Path | None:
        if self.context.cache_dir is None:
            return None
        stat = path.stat()
        key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{self._decode_side()}|colours as players show them"
        return self.context.cache_dir / hashlib.sha256(key.encode()).hexdigest()[:16]

    def _decode_side(self) -> int:
        return self.options.decode_size or 2 * self.context.resolution

    def _extract(self, path: Path) -> Iterator[artgan.Item | artgan.Skipped]:
        """Decode, sample, crop and filter one video; a broken video yields what it can."""
        try:
            probed = probe(path)
        except ValueError as exc:
            yield artgan.Skipped(str(path), str(exc))
            return
        start, end = self._trim(path)
        length = None if probed.duration is None else probed.duration - start - end
        if length is not None and length <= 0:
            yield artgan.Skipped(str(path), too_short(probed.duration, start, end))
            return
        rate = self.options.fps or 1 / (self.options.every or 1.0)
        if probed.fps:  # faster than the video's own frames would only repeat them
            rate = min(rate, probed.fps)
        if self.options.max_per_video and length:  # spread the capped frames over the whole video
            rate = min(rate, self.options.max_per_video / length)
        count = None if length is None else math.ceil(length * rate - 1e-6)  # k / rate < length
        decoder = Decoder(path, start, rate, self._decode_side(), count, probed.colours)
        yield from self._filtered(decoder, path)
        if decoder.error:
            last = f"t={decoder.last_time:.1f}s" if decoder.last_time is not None else "no frame"
            of = f" of {start + length:.1f}s" if length else ""
            yield artgan.Skipped(str(path), f"decoding error (read up to {last}{of}; {decoder.error})")

    def _filtered(self, decoder: Decoder, path: Path) -> Iterator[artgan.Item | artgan.Skipped]:
        """The decoder's frames through scene cuts, bar cropping and the filters, up to the cap."""
        o = self.options
        frames = decoder.frames()
        if o.scene_cuts:
            frames = scene_starts(frames, o.cut_threshold)
        if o.crop_bars:
            frames = crop_bars(frames)
        kept = 0
        work = self.options.work(path)
        for result in FrameFilter(o, work).apply(frames, path):
            yield result
            kept += isinstance(result, artgan.Item)
            if kept == o.max_per_video:
                decoder.stop()
                return

    def _trim(self, path: Path) -> tuple[float, float]:
        """The first `trim` entry for ``path``: a key that is the name or path of one of the
        videos means that file only ("Show [1].mp4" is not "Show 1.mp4"); any other is a pattern."""
        for key, trim in self.options.trim.items():
            if key in (path.name, str(path)):
                return trim
            if key not in self._names and (fnmatch(path.name, key) or fnmatch(str(path), key)):
                return trim
        return self.options.skip_start, self.options.skip_end


@contextmanager
def _shortage_stops(path: Path):
    """Turn an OSError of a passing shortage (see SHORTAGE) into a one-line ArtganError."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in SHORTAGE:
            raise
        raise artgan.ArtganError(f"{path}: cannot decode it now: {SHORTAGE[exc.errno]}; then run "
                                 "again (the video is decoded again from its start)") from None


def _shortage_in(text: str) -> None:
    """Raise the OSError of the shortage that ``text`` (a message of ffmpeg or Python) names, if any."""
    for code in SHORTAGE:
        if os.strerror(code) in text:
            raise OSError(code, os.strerror(code))


def _record(folder: Path, results: Iterator[artgan.Item | artgan.Skipped]):
    """Pass ``results`` through, saving each in ``folder``; marked done only once all have passed,
    and deleted if they do not (a full disk, an error, a stop half-way).
    Credits are not saved: they are read afresh, so editing a credits file needs no new decode."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = open(folder / "results.jsonl", "w", encoding="utf-8")
    try:
        for index, result in enumerate(results):
            name = f"{index:06d}.png"
            if isinstance(result, artgan.Item):
                result.image.save(folder / name)
                record = {"time": result.info["time"], "file": name, "letterbox": result.info.get("letterbox")}
            else:
                record = {"origin": result.origin, "reason": result.reason}
                if result.preview is not None:
                    result.preview.save(folder / name)
                    record["preview"] = name
            log.write(json.dumps(record) + "\n")
            yield result
        log.close()
        (folder / "done").touch()
    except BaseException:
        with suppress(OSError):  # the last lines may not fit on a full disk either
            log.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _replay(folder: Path, path: Path, work: dict[str, str]) -> Iterator[artgan.Item | artgan.Skipped]:
    with open(folder / "results.jsonl", encoding="utf-8") as log:
        for line in log:
            record = json.loads(line)
            if "reason" in record:
                picture = open_rgb(folder / record["preview"]) if record.get("preview") else None
                yield artgan.Skipped(record["origin"], record["reason"], picture)
            else:
                box = record.get("letterbox")
                yield frame_item(path, record["time"], open_rgb(folder / record["file"]),
                                 tuple(box) if box else None, work)


def frame_item(path: Path, time: float, image: Image.Image, box: tuple[int, int, int, int] | None,
               work: dict[str, str]) -> artgan.Item:
    """An extracted still; ``letterbox`` is the (left, top, right, bottom) box of the decoded
    frame kept when black bars were cropped."""
    info = {"video": str(path), "time": time, **({"letterbox": box} if box else {}), "work": work}
    return artgan.Item(image, origin=f"{path}@{time:.2f}s", info=info)


def too_short(duration: float, start: float, end: float) -> str:
    """The skip reason of a video shorter than the seconds trimmed off it, with the fix."""
    return (f"too short to sample (a {duration:.1f} s video, but {start:g} s are skipped at the start "
            f"and {end:g} s at the end: lower them, e.g. --set source.skip_start=0 --set "
            f"source.skip_end=0, with the source's index, source.N.skip_start, when there are several "
            f"sources, or set `trim` for this file)")


@dataclass(frozen=True)
class Probe:
    """What ffmpeg says of a video before it is decoded."""

    duration: float | None  # seconds; None when the container does not say
    fps: float | None  # the video's own frame rate; None when the container does not say
    colours: str | None  # ffmpeg filters showing its pictures in sRGB as players do; None: ffmpeg's own conversion


# An HDR video (HLG, what phones film by default, or PQ) in sRGB: BT.2408's reference white
# (203 nits) becomes sRGB's white, and brighter highlights are clipped. ffmpeg's own conversion
# would read it as SDR: washed out, red 255 shown as 169, 72, 38.
HDR_TO_SRGB = "zscale=t=iec61966-2-1:npl=203:p=bt709:m=bt709:r=full,format=gbrp"
HDR_TRANSFERS = {"arib-std-b67", "smpte2084"}


def probe(path: Path) -> Probe:
    """The video's duration, frame rate and colours; ValueError if unusable."""
    # moviepy takes most of a second to import: only pay for it when a video is read.
    from moviepy.video.io.ffmpeg_reader import FFmpegInfosParser

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)]
    try:  # ffmpeg says what it found on stderr, then "At least one output file must be specified"
        said = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True).stderr.decode(errors="replace")
    except OSError as exc:  # ffmpeg could not start
        _shortage_in(str(exc))
        raise ValueError(_unreadable(str(exc))) from None
    _shortage_in(said)
    try:
        infos = FFmpegInfosParser(said, str(path)).parse()
    except Exception:  # the parser fails in many ways on what it does not expect, as moviepy's own caller knows
        raise ValueError(_unreadable(said)) from None
    if not infos.get("video_found"):
        raise ValueError("no video stream")
    return Probe(infos.get("video_duration") or infos.get("duration") or None, infos.get("video_fps") or None,
                 _colours(said, *infos["video_size"]))


def _colours(said: str, width: int, height: int) -> str | None:
    """The filters that show the first video stream ffmpeg describes in ``said`` in sRGB as players
    do, where ffmpeg's own conversion differs: HDR (see HDR_TO_SRGB), and YUV that names no colour
    matrix ("yuv420p(progressive)", not "yuv420p(tv, bt709, progressive)"). ffmpeg reads the
    latter with BT.601; players take one of HD size for BT.709, as its makers almost surely meant
    (mpv's rule: 1280 columns, or more than 576 lines), and show other colours (red 255 as 232)."""
    stream = re.search(r"Stream #\d+:\d+.*?: Video: [^,]*, (\w+)(?:\(([^)]*)\))?", said)
    if stream is None or not stream[1].startswith("yuv"):
        return None
    # the tags: the range (tv, pc), matrix/primaries/transfer (one name when all three are the
    # same), the field order ("progressive", "top first"…), each left out when unknown
    tags = [tag.strip() for tag in (stream[2] or "").split(",")]
    spaces = [tag.split("/") for tag in tags if tag not in ("tv", "pc", "progressive") and " " not in tag]
    matrix, transfer = (spaces[0][0], spaces[0][-1]) if spaces else ("unknown", "unknown")
    if transfer in HDR_TRANSFERS:
        return HDR_TO_SRGB
    if matrix == "unknown" and (width >= 1280 or height > 576):
        return "setparams=colorspace=bt709"
    return None


def _unreadable(ffmpeg_output: str) -> str:
    """Why ffmpeg could not open a file: "not a video" for a still image (a JPEG named .mp4,
    where ffmpeg's last words are an unhelpful "At least one output file must be specified"),
    else its last complaint."""
    if still := re.search(r"Input #0, (\w+_pipe|image2),", ffmpeg_output):
        return f"not a video (a still image; ffmpeg reads it as {still[1]})"
    if "moov atom not found" in ffmpeg_output:  # the index an mp4 writes last is missing
        return "unreadable video (moov atom not found: the file is cut short, e.g. an unfinished download or copy)"
    lines = [line for line in ffmpeg_output.splitlines() if line.strip()]
    return f"unreadable video ({_ffmpeg_line(lines[-1])})"


class Decoder:
    """One ffmpeg process: seek to ``start``, sample ``rate`` frames per second (``count`` of them,
    or to the end), scale the shorter side down to ``side``, and pipe the frames out as PPM images
    (which carry their own size). ``colours`` are the filters that make its pictures sRGB as
    players show them, where ffmpeg's own conversion does not (see :func:`probe`)."""

    def __init__(self, path: Path, start: float, rate: float, side: int, count: int | None = None,
                 colours: str | None = None):
        self.path, self.start, self.rate, self.side, self.count = path, start, rate, side, count
        self.colours = colours
        self.error = ""  # ffmpeg's last complaint, once the frames have run out
        self.last_time: float | None = None
        self._process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        # fps: output frame k is the one on screen at start + k / rate (round=up), counted from the
        # seek point (start_time=0). scale: square pixels (sar), the shorter side at most `side`,
        # area averaging for large reductions.
        f = f"min(1,{self.side}/min(iw*sar,ih))"
        scale = f"scale=w='max(1,round(iw*sar*{f}))':h='max(1,round(ih*{f}))':flags=area,setsar=1"
        count = ["-frames:v", str(self.count)] if self.count is not None else []
        colours = f"{self.colours}," if self.colours else ""  # each sampled frame, before it is scaled
        return [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-ss", f"{self.start:.3f}",
                "-i", str(self.path), "-an", "-sn", "-dn", *count,
                "-vf", f"fps={self.rate:.6g}:round=up:start_time=0,{colours}{scale}",
                "-f", "image2pipe", "-c:v", "ppm", "-pix_fmt", "rgb24", "-"]

    def frames(self) -> Iterator[Frame]:
        with tempfile.TemporaryFile() as log:  # a file, not a pipe: ffmpeg never blocks on it
            self._process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=log)
            try:
                index = 0
                while (pixels := _read_ppm(self._process.stdout)) is not None:
                    self.last_time = self.start + index / self.rate
                    yield Frame(self.last_time, pixels)
                    index += 1
                code = self._process.wait()
                log.seek(0)
                output = log.read().decode(errors="replace")
                if code < 0:
                    raise artgan.ArtganError(self._stopped(-code))
                _shortage_in(output)
                lines = [line for line in output.splitlines() if line.strip()]
                if code != 0 or lines:
                    self.error = _ffmpeg_line(lines[-1]) if lines else f"ffmpeg exit status {code}"
            finally:
                self.stop()

    def _stopped(self, signum: int) -> str:
        """The error of an ffmpeg ended by signal ``signum``: the process, not the video, is at fault."""
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        killer = " (the out-of-memory killer or kill -9)" if signum == signal.SIGKILL else ""
        at = f"t={self.last_time:.1f}s" if self.last_time is not None else "its first frame"
        return (f"{self.path}: ffmpeg was stopped by {name}{killer} while decoding it, at {at}; run "
                "again, and if it stops again, free some memory or re-encode the video")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def _read_ppm(stream) -> np.ndarray | None:
    """The next binary PPM image from ``stream`` as (H, W, 3) uint8, or None at the end."""
    if not stream.readline():
        return None
    width, height = map(int, stream.readline().split())
    stream.readline()  # maximum value: 255, as -pix_fmt rgb24 asks
    data = stream.read(width * height * 3)
    if len(data) < width * height * 3:
        return None
    return np.frombuffer(data, np.uint8).reshape(height, width, 3)


def _ffmpeg_line(line: str) -> str:
    """An ffmpeg log line without its "[h264 @ 0x55d…]" prefixes."""
    return re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip())[:200]


def scene_starts(frames: Iterator[Frame], threshold: float) -> Iterator[Frame]:
    """The first frame, and every frame that differs from the frame before by more than ``threshold``."""
    previous = None
    for frame in frames:
        thumb = np.asarray(Image.fromarray(frame.pixels).resize((16, 16), Image.Resampling.BOX), np.float32)
        if previous is None or np.abs(thumb - previous).mean() / 255 > threshold:
            yield frame
        previous = thumb


def crop_bars(frames: Iterator[Frame]) -> Iterator[Frame]:
    """Frames without black bars. The bars are found once per video, from the brightest pixel at
    each position over the first frames that are not wholly dark, so a dark scene is not cut."""
    probe: list[Frame] = []
    peak = None
    informative = 0
    box = None
    for frame in frames:
        if box is not None:
            yield _crop(frame, box)
            continue
        probe.append(frame)
        bright = frame.pixels.max(axis=2)
        informative += bool(bright.max() > BAR_LEVEL)
        peak = bright if peak is None else np.maximum(peak, bright)
        if informative == BAR_PROBE:
            box = _bars_box(peak)
            yield from (_crop(f, box) for f in probe)
    if box is None and probe:
        box = _bars_box(peak)
        yield from (_crop(f, box) for f in probe)


def _bars_box(peak: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the part brighter than a bar; the whole frame when unsure."""
    height, width = peak.shape
    rows = np.flatnonzero(peak.max(axis=1) > BAR_LEVEL)
    cols = np.flatnonzero(peak.max(axis=0) > BAR_LEVEL)
    if len(rows) == 0:
        return 0, height, 0, width
    box = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)
    if box[1] - box[0] < height / 3 or box[3] - box[2] < width / 3:
        return 0, height, 0, width  # mostly dark frames, not bars
    return box


def _crop(frame: Frame, box: tuple[int, int, int, int]) -> Frame:
    top, bottom, left, right = box
    return Frame(frame.time, frame.pixels[top:bottom, left:right], (int(left), int(top), int(right), int(bottom)))


@dataclass
class Judged:
    """A frame with its brightness, its sharpness and why it is dropped (None: not yet)."""

    frame: Frame
    luma: np.ndarray
    sharpness: float
    reason: str | None


class FrameFilter:
    """Drops near-black, near-uniform, blurry and near-duplicate frames, each with its reason and
    a small picture of it for the contact sheet of dropped frames."""

    def __init__(self, options: VideoFramesOptions, work: dict[str, str]):
        self.options, self.work = options, work

    def apply(self, frames: Iterator[Frame], path: Path) -> Iterator[artgan.Item | artgan.Skipped]:
        previous: tuple[np.ndarray, float] | None = None  # (thumbnail, time) of the last kept frame
        for judged in self._judged(frames):
            frame, reason = judged.frame, judged.reason
            thumb = thumbnail(judged.luma)
            reason = reason or self._duplicate(thumb, previous)
            if reason:
                yield artgan.Skipped(f"{path}@{frame.time:.2f}s", reason, shrunk(Image.fromarray(frame.pixels)))
                continue
            previous = (thumb, frame.time)
            yield frame_item(path, round(frame.time, 3), Image.fromarray(frame.pixels), frame.box, self.work)

    def _judged(self, frames: Iterator[Frame]) -> Iterator[Judged]:
        """The frames in order, each judged once the sampled frames around it are known."""
        wait = BLUR_NEIGHBOURS if self.options.blur_ratio is not None else 0
        before: deque[float] = deque(maxlen=wait)  # sharpness of the usable frames before
        ahead: deque[Judged] = deque()
        for frame in frames:
            luma = frame.pixels.astype(np.float32) @ LUMA
            sharpness = laplacian_variance(luma)
            ahead.append(Judged(frame, luma, sharpness, self._reason(luma, sharpness)))
            if len(ahead) > wait:
                yield self._relative_blur(ahead.popleft(), before, ahead)
        while ahead:
            yield self._relative_blur(ahead.popleft(), before, ahead)

    def _relative_blur(self, judged: Judged, before: deque[float], ahead: deque[Judged]) -> Judged:
        ratio = self.options.blur_ratio
        if judged.reason is not None:
            return judged  # dark and flat frames say nothing about the clip's sharpness
        if ratio is not None:
            around = [*before, judged.sharpness, *(j.sharpness for j in ahead if j.reason is None)]
            median = float(np.median(around))
            if judged.sharpness < ratio * median:
                judged.reason = (f"blurry (sharpness {judged.sharpness:.1f} < {ratio:g} x {median:.1f}, "
                                 f"the median of the {len(around)} frames around it)")
        before.append(judged.sharpness)
        return judged

    def _reason(self, luma: np.ndarray, sharpness: float) -> str | None:
        o = self.options
        mean, std = float(luma.mean()), float(luma.std())
        if o.min_brightness is not None and mean < o.min_brightness:
            return f"near-black (mean brightness {mean:.1f} < {o.min_brightness:g})"
        if o.min_contrast is not None and std < o.min_contrast:
            return f"near-uniform (brightness std {std:.1f} < {o.min_contrast:g})"
        if o.min_sharpness is not None and sharpness < o.min_sharpness:
            return f"blurry (laplacian var {sharpness:.1f} < {o.min_sharpness:g})"
        return None

    def _duplicate(self, thumb: np.ndarray, previous: tuple[np.ndarray, float] | None) -> str | None:
        limit = self.options.duplicate_change
        if limit is None or previous is None or thumb.shape != previous[0].shape:
            return None
        changed = float((np.abs(thumb - previous[0]) > CHANGE_LEVEL).mean())
        if changed < limit:
            return f"near-duplicate (of t={previous[1]:.2f}s, {100 * changed:.2f}% changed)"
        return None


def thumbnail(luma: np.ndarray) -> np.ndarray:
    """The brightness at THUMB_SIDE pixels on the longer side, area-averaged (codec noise and
    grain average out; a figure a few percent of the frame wide still covers whole cells)."""
    height, width = luma.shape
    scale = THUMB_SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(luma).resize(size, Image.Resampling.BOX), np.float32)


@artgan.hookimpl
def register_sources(register):
    register("video-frames", VideoFrames)
