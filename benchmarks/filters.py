"""What dedupe and blur-filter cost per image, and how dedupe's comparisons grow with the dataset.

Per image (median CPU seconds of --repeat calls, one thread): each preprocessor's process() on
the tests' astronaut photo at 1 MP and at 12 MP (4000x3000, a phone photo), beside reading that
photo as a JPEG (artgan.images.open_rgb), which every folder build pays anyway. Growth: the CPU
seconds of deduping --count different images (random perceptual hashes stand in for their hashes,
so only the comparisons are timed), and the share of that the comparisons take.

    python benchmarks/filters.py [--repeat 7] [--count 20000]
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

import artgan
from artgan.images import open_rgb
from artgan.toolkit.precision import cpu_name
from artgan_plugins import dedupe as dedupe_module
from artgan_plugins.blur_filter import BlurFilter
from artgan_plugins.dedupe import Dedupe

PHOTO = Path(__file__).parents[1] / "tests" / "fixtures" / "astronaut.jpg"


def cpu_median(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return statistics.median(times)


def per_image(repeat: int) -> None:
    print("| photo | read JPEG | dedupe | blur-filter (256 px recipe) | both / read |")
    print("| --- | --- | --- | --- | --- |")
    for label, size in (("1 MP", (1155, 866)), ("12 MP", (4000, 3000))):
        jpeg = io.BytesIO()
        Image.open(PHOTO).convert("RGB").resize(size, Image.Resampling.LANCZOS).save(jpeg, "JPEG", quality=90)
        picture = open_rgb(io.BytesIO(jpeg.getvalue()))
        item = artgan.Item(picture, origin="photo")
        read = cpu_median(lambda: open_rgb(io.BytesIO(jpeg.getvalue())), repeat)
        dedupe = cpu_median(lambda: Dedupe(Dedupe.Options()).process(item), repeat)
        blur = cpu_median(lambda: BlurFilter(BlurFilter.Options(), artgan.Context(resolution=256)).process(item), repeat)
        print(f"| {label} | {read:.3f} s | {dedupe:.3f} s | {blur:.3f} s | {(dedupe + blur) / read:.2f} |")


def growth(count: int) -> None:
    hashes = np.random.default_rng(0).integers(0, 256, (count, 8), dtype=np.uint8)
    tiny = artgan.Item(Image.new("RGB", (8, 8)), origin="x")
    dedupe = Dedupe(Dedupe.Options())
    feed = iter(hashes)
    with mock.patch.object(dedupe_module, "perceptual_hash", lambda picture: next(feed)):
        start = time.process_time()
        kept = sum(isinstance(out, artgan.Item) for i in range(count) for out in dedupe.process(tiny))
        seconds = time.process_time() - start
    print(f"\n{count:,} images deduped (hashes given): {seconds:.1f} CPU-s, {1e6 * seconds / count:.0f} us an image "
          f"on average ({kept:,} kept); comparisons grow with the images kept, so twice the images take 4x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--count", type=int, default=20000)
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}; Python {sys.version.split()[0]}\n")
    per_image(args.repeat)
    growth(args.count)


if __name__ == "__main__":
    main()
