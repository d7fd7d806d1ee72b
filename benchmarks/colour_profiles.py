"""What applying an embedded colour profile costs when a photo is read (artgan.images.open_rgb):
a 12 MP JPEG (the tests' astronaut photo enlarged to 4000x3000) read without a profile, with a
Display P3 profile (converted to sRGB by Little CMS) and with an sRGB one (left as it is).
Prints the median CPU seconds of --repeat reads and each against the read without a profile.

    python benchmarks/colour_profiles.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from icc import DISPLAY_P3, SRGB, rgb_profile  # noqa: E402

from artgan.images import open_rgb  # noqa: E402
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


if __name__ == "__main__":
    main()
