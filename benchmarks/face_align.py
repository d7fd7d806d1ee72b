"""How fast is the face-align preprocessor on 1024 px photos?

Prints images/s for BlazeFace detection alone (the reference), for detect + align in this process,
and for whole dataset builds (decode, detect, align, store) with one process and with a pool.
The photos are the astronaut fixture scaled to 1024 px, rotated by -25..25 degrees, every other
one mirrored, so each has one face to find and straighten.

    python benchmarks/face_align.py [--images 48] [--size 256] [--workers N]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import mediapipe
import numpy as np
from artgan_plugins.face_align import FaceAlign
from artgan_plugins.face_align.detect import SHORT_RANGE, Detector
from PIL import Image

import artgan
from artgan.dataset import build_dataset
from artgan.precision import cpu_name
from artgan.recipe import parse_recipe

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "astronaut.jpg"
SIDE = 1024


def photos(count: int) -> list[Image.Image]:
    with Image.open(FIXTURE) as image:
        base = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    made = []
    for index, degrees in enumerate(np.linspace(-25, 25, count)):
        photo = base.rotate(degrees, Image.Resampling.BICUBIC)
        made.append(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if index % 2 else photo)
    return made


def timed(run):
    """What ``run()`` returns and the seconds it took."""
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def build(folder: Path, root: Path, size: int, workers: int) -> int:
    recipe = parse_recipe({"name": "faces", "resolution": size, "workers": workers,
                           "source": [{"use": "folder", "path": str(folder)}],
                           "preprocess": [{"use": "face-align"}], "model": {"use": "dcgan"}},
                          root / "recipe.toml")
    return build_dataset(recipe, root, force=True).dataset.count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--size", type=int, default=256, help="side of the aligned faces")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="processes in the pool")
    args = parser.parse_args()
    print(f"cpu: {cpu_name()}, {os.cpu_count()} cores; mediapipe {mediapipe.__version__}")
    print(f"{args.images} photos of {SIDE}x{SIDE} px, faces aligned to {args.size} px")

    images = photos(args.images)
    pixels = [np.asarray(image) for image in images]
    detector = Detector.for_process(SHORT_RANGE, 0.5)
    plugin = FaceAlign(FaceAlign.Options(size=args.size))
    items = [artgan.Item(image, f"photo#{i}") for i, image in enumerate(images)]
    plugin.process(items[0])  # warm up

    count = len(images)
    detect = count / timed(lambda: [detector.faces(p) for p in pixels])[1]
    aligned = count / timed(lambda: [plugin.process(item) for item in items])[1]
    print(f"detection alone:            {detect:6.1f} images/s")
    print(f"detect + align:             {aligned:6.1f} images/s  ({aligned / detect:.2f}x detection alone)")

    with tempfile.TemporaryDirectory(prefix="face-align-bench-") as temp:
        folder = Path(temp) / "photos"
        folder.mkdir()
        for index, image in enumerate(images):
            image.save(folder / f"{index:03d}.jpg", quality=95)
        single, pooled = Path(temp) / "single", Path(temp) / "pooled"
        faces, seconds = timed(lambda: build(folder, single, args.size, 1))
        one = count / seconds
        pool = count / timed(lambda: build(folder, pooled, args.size, args.workers))[1]
        same = all((single / "data" / "faces" / name).read_bytes()
                   == (pooled / "data" / "faces" / name).read_bytes()
                   for name in ("manifest.jsonl", "images.u8"))
    print(f"dataset build, 1 process:   {one:6.1f} images/s  ({one / detect:.2f}x detection alone)")
    print(f"dataset build, {args.workers} workers:   {pool:6.1f} images/s  "
          f"({pool / one:.2f}x one process, {pool / detect:.2f}x detection alone)")
    print(f"{faces} of {count} photos gave a face; pool and single-process datasets "
          f"{'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
