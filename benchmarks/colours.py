"""What showing pictures in sRGB as viewers do costs.

Photos (artgan.images.open_rgb): a 12 MP JPEG (the tests' astronaut photo enlarged to 4000x3000)
read without a profile, with a Display P3 profile (converted to sRGB by Little CMS) and with an
sRGB one (left as it is); the median CPU seconds of --repeat reads, each against the read without
a profile. Video frames (video-frames' Decoder): 4 s of 1080p HLG HDR HEVC (ffmpeg's testsrc2, as
a phone films) sampled at 10 frames a second, with the conversion to sRGB and without it (wrong
colours, for the cost alone); CPU seconds of ffmpeg, the median of --repeat decodes.

    python benchmarks/colours.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import io
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from icc import DISPLAY_P3, SRGB, rgb_profile  # noqa: E402

from artgan.images import open_rgb  # noqa: E402
from artgan_plugins.video_frames import Decoder, probe  # noqa: E402
from artgan.toolkit.precision import cpu_name  # noqa: E402

PHOTO = Path(__file__).parents[1] / "tests" / "fixtures" / "astronaut.jpg"


def cpu_seconds(data: bytes, repeat: int) -> float:
    """The median CPU time of reading ``data`` with open_rgb."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        open_rgb(io.BytesIO(data))
        times.append(time.process_time() - start)
    return statistics.median(times)


def hdr_clip(path: Path) -> Path:
    """4 s of ffmpeg's testsrc2 at 1080p 30 fps, as HLG BT.2020 10-bit HEVC."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=1920x1080:rate=30:duration=4", "-vf",
                    "format=gbrp,zscale=tin=iec61966-2-1:min=gbr:pin=bt709:rin=full:t=arib-std-b67:m=2020_ncl:"
                    "p=bt2020:r=tv:npl=203,format=yuv420p10le", "-c:v", "libx265", "-preset", "ultrafast",
                    "-x265-params", "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
                    str(path)], check=True)
    return path


def decode_seconds(path: Path, colours: str | None, repeat: int) -> tuple[float, float]:
    """The median ffmpeg CPU seconds and wall seconds of sampling ``path`` at 10 frames a second."""
    cpu, wall = [], []
    for _ in range(repeat):
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        frames = sum(1 for _ in Decoder(path, 0, 10, 128, None, colours).frames())
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert frames == 40
        wall.append(time.perf_counter() - start)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    photo = Image.open(PHOTO).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
    profiles = {"no profile": None, "Display P3": rgb_profile(DISPLAY_P3, "Display P3"),
                "sRGB": rgb_profile(SRGB, "sRGB IEC61966-2.1")}
    print(f"CPU: {cpu_name()}; a 4000x3000 JPEG (quality 90), median of {args.repeat} reads")
    base = None
    for name, profile in profiles.items():
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=90, icc_profile=profile)
        seconds = cpu_seconds(buffer.getvalue(), args.repeat)
        base = base or seconds
        print(f"{name:>11}: {seconds:.3f} CPU-s, {seconds / base:.2f}x the read without a profile")
    with tempfile.TemporaryDirectory() as folder:
        clip = hdr_clip(Path(folder) / "hlg.mp4")
        print(f"1080p HLG HEVC, 40 frames sampled, median of {args.repeat} decodes")
        plain = decode_seconds(clip, None, args.repeat)
        converted = decode_seconds(clip, probe(clip).colours, args.repeat)
        for name, (cpu, wall) in (("as SDR", plain), ("to sRGB", converted)):
            print(f"{name:>11}: {cpu:.2f} CPU-s, {wall:.2f} s wall, {cpu / plain[0]:.2f}x the CPU of the wrong colours")


if __name__ == "__main__":
    main()
