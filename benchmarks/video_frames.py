"""Frames per second the "video-frames" source extracts from a 720p video, next to the bare ffmpeg
command that does the same decode, sampling and scaling, as a ratio; and which frames its default
filters keep from footage that is not a cartoon.

    python benchmarks/video_frames.py [--seconds 60] [--rate 5] [--resolution 64] [--repeat 5]

The video is ffmpeg's moving test pattern (testsrc2), 1280x720 at 25 fps, H.264, written to a
temporary folder. Figures are the best of --repeat runs. The footage is the tests' (tests/clips.py):
a still shot where a small figure (0.5% of the frame) walks for 3 s, then stands for 2 s, and a
soft-focus pan over a blurred photo; sampled every 0.5 s.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections import Counter
import time
from pathlib import Path

import imageio_ffmpeg
from artgan_plugins.video_frames import Decoder, VideoFrames

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from clips import soft_focus_pan, still_shot_with_a_walker, write_video  # noqa: E402

import artgan
from artgan.toolkit.precision import cpu_name

NO_FILTERS = dict(min_brightness=None, min_contrast=None, blur_ratio=None, duplicate_change=None,
                  crop_bars=False)


def make_video(path: Path, seconds: int) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc2=size=1280x720:rate=25:duration={seconds}",
                    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)], check=True)


def fastest(repeat: int, runs: dict) -> dict[str, tuple[float, int]]:
    """(seconds, frames) of the fastest of ``repeat`` runs of each; the runs take turns, so a
    busy moment on the machine does not favour one of them."""
    results: dict[str, list] = {label: [] for label in runs}
    for _ in range(repeat):
        for label, run in runs.items():
            start = time.perf_counter()
            frames = run()
            results[label].append((time.perf_counter() - start, frames))
    return {label: min(times) for label, times in results.items()}


def artgan_frames(video: Path, rate: float, resolution: int, **filters) -> int:
    """Sampled frames the source handled: kept ones and ones its filters dropped."""
    source = VideoFrames(VideoFrames.Options(paths=[str(video)], fps=rate, **filters),
                         artgan.Context(resolution=resolution))
    return sum(1 for _ in source.items())


def ffmpeg_frames(video: Path, seconds: int, rate: float, resolution: int) -> int:
    """The same command the source runs, its output read and thrown away."""
    command = Decoder(video, 0.0, rate, 2 * resolution, math.ceil(seconds * rate)).command()
    output = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    return output.count(b"P6\n")


def footage_table(folder: Path) -> None:
    """Frames the default filters keep from each clip, and why they drop the others."""
    clips = {"still shot, small figure walks 3 s then stands 2 s": (still_shot_with_a_walker, 50),
             "soft-focus pan over a blurred photo, 4 s": (soft_focus_pan, 40)}
    for label, (draw, frames) in clips.items():
        video = folder / f"{draw.__name__}.mp4"
        write_video(video, frames, draw, (320, 180))
        source = VideoFrames(VideoFrames.Options(paths=[str(video)], every=0.5), artgan.Context(resolution=90))
        results = list(source.items())
        kept = sum(isinstance(r, artgan.Item) for r in results)
        dropped = Counter(r.reason.split(" (")[0] for r in results if isinstance(r, artgan.Skipped))
        print(f"{label}: kept {kept} of {len(results)} sampled frames; dropped: {dict(dropped) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30, help="length of the test video")
    parser.add_argument("--rate", type=float, default=5.0, help="sampled frames per second of video")
    parser.add_argument("--resolution", type=int, default=64, help="recipe resolution (decoded at twice this)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, taking turns; the fastest counts")
    args = parser.parse_args()

    print(f"cpu: {cpu_name()} ({platform.machine()}, {os.cpu_count()} cores); "
          f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"ffmpeg: {imageio_ffmpeg.get_ffmpeg_version()}; video: 1280x720, 25 fps, {args.seconds} s; "
          f"sampling {args.rate:g} frames/s; decoded to a shorter side of {2 * args.resolution} px")
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "720p.mp4"
        make_video(video, args.seconds)
        artgan_frames(video, args.rate, args.resolution)  # warm-up: imports, disk cache
        results = fastest(args.repeat, {
            "bare ffmpeg (same command)": lambda: ffmpeg_frames(video, args.seconds, args.rate, args.resolution),
            "video-frames, no filters": lambda: artgan_frames(video, args.rate, args.resolution, **NO_FILTERS),
            "video-frames, all filters": lambda: artgan_frames(video, args.rate, args.resolution, min_sharpness=50),
        })
    bare_seconds, bare_frames = results["bare ffmpeg (same command)"]
    print(f"{'':32} {'sampled':>7} {'seconds':>8} {'frames/s':>9} {'ffmpeg/artgan':>14}")
    for label, (seconds, frames) in results.items():
        ratio = (bare_frames / bare_seconds) / (frames / seconds)
        print(f"{label:32} {frames:7d} {seconds:8.2f} {frames / seconds:9.1f} {ratio:14.2f}")
    print("ratio: bare ffmpeg's frames/s over video-frames' (1.00 = no overhead); 'all filters' "
          "counts every sampled frame, kept or dropped")
    with tempfile.TemporaryDirectory() as folder:
        footage_table(Path(folder))


if __name__ == "__main__":
    main()
