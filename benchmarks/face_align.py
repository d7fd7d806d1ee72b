"""How many faces does face-align find in group photos, and how fast is it?

Recall: group photos of 1500x1000 px (tests/group_photos.py: six real faces among face-free
photos), faces 1/8, 1/11 and 1/14 of the width; faces found by BlazeFace on the whole image (what
face-align did before it searched tiles) and by face-align with each shipped model, the faces it
finds in scikit-image's face-free photos, and CPU and wall seconds per group photo.

Speed: images/s for BlazeFace detection alone (the reference), for detect + align in this
process, and for whole dataset builds (decode, detect, align, store) with one process and with a
pool. The photos are the astronaut fixture scaled to 1024 px, rotated by -25..25 degrees, every
other one mirrored, so each has one face to find and straighten.

    python benchmarks/face_align.py [--groups 4] [--images 48] [--size 256] [--workers N]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
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
from artgan.toolkit.precision import cpu_name
from artgan.recipe import parse_recipe

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from group_photos import face_free, found, group_photo  # noqa: E402

FIXTURE = Path(__file__).parents[1] / "tests" / "fixtures" / "astronaut.jpg"
SIDE = 1024
FRACTIONS = (8, 11, 14)  # faces 1/8, 1/11, 1/14 of the group photo's width


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


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children."""
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def recall(groups: int) -> None:
    photos = {fraction: [group_photo(1 / fraction, seed=seed) for seed in range(groups)]
              for fraction in FRACTIONS}
    whole = Detector.for_process(SHORT_RANGE, 0.5)
    print(f"\nrecall on {groups} group photos of 1500x1000 px per face size, 6 real faces each")
    print("method                              " + "".join(f"   1/{f:<3d}" for f in FRACTIONS)
          + "  face-free  CPU s/photo  wall s/photo")
    total = 6 * groups
    hits = [sum(found(p.faces, [f.box for f in whole.faces(np.asarray(p.image))]) for p in photos[f])
            for f in FRACTIONS]
    print(f"{'whole image only (before)':36s}" + "".join(f"  {h:2d}/{total}" for h in hits))
    for model in ("short-range", "full-range"):
        plugin = FaceAlign(FaceAlign.Options(size=64, max_faces=20, model=model))
        plugin.process(artgan.Item(photos[FRACTIONS[0]][0].image, "warm-up"))
        hits, cpu, wall = [], 0.0, 0.0
        for fraction in FRACTIONS:
            count = 0
            for photo in photos[fraction]:
                started, cpu_started = time.perf_counter(), cpu_seconds()
                out = plugin.process(artgan.Item(photo.image, "group"))
                wall += time.perf_counter() - started
                cpu += cpu_seconds() - cpu_started
                count += found(photo.faces, [o.info["face"]["box"] for o in out if isinstance(o, artgan.Item)])
            hits.append(count)
        wrong = sum(isinstance(o, artgan.Item) for image in face_free().values()
                    for o in plugin.process(artgan.Item(image, "face-free")))
        photos_timed = groups * len(FRACTIONS)
        print(f"{'face-align, ' + model:36s}" + "".join(f"  {h:2d}/{total}" for h in hits)
              + f"  {wrong:9d}  {cpu / photos_timed:11.2f}  {wall / photos_timed:12.2f}")


def build(folder: Path, root: Path, size: int, workers: int) -> int:
    recipe = parse_recipe({"name": "faces", "resolution": size, "workers": workers,
                           "source": [{"use": "folder", "path": str(folder)}],
                           "preprocess": [{"use": "face-align"}], "model": {"use": "dcgan"}},
                          root / "recipe.toml")
    return build_dataset(recipe, root, force=True).dataset.count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=4, help="group photos per face size")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--size", type=int, default=256, help="side of the aligned faces")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="processes in the pool")
    args = parser.parse_args()
    print(f"cpu: {cpu_name()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"mediapipe {mediapipe.__version__}")
    recall(args.groups)
    print(f"\nspeed: {args.images} photos of {SIDE}x{SIDE} px, one face each, aligned to {args.size} px")

    images = photos(args.images)
    pixels = [np.asarray(image) for image in images]
    detector = Detector.for_process(SHORT_RANGE, 0.5)
    plugin = FaceAlign(FaceAlign.Options(size=args.size))
    items = [artgan.Item(image, f"photo#{i}") for i, image in enumerate(images)]
    plugin.process(items[0])  # warm up

    whole_only = FaceAlign(FaceAlign.Options(size=args.size, min_face=0.2))  # no tiles: as before
    whole_only.process(items[0])

    count = len(images)
    detect = count / timed(lambda: [detector.faces(p) for p in pixels])[1]
    cpu_started = cpu_seconds()
    aligned = count / timed(lambda: [plugin.process(item) for item in items])[1]
    cpu = (cpu_seconds() - cpu_started) / count
    cpu_started = cpu_seconds()
    whole = count / timed(lambda: [whole_only.process(item) for item in items])[1]
    whole_cpu = (cpu_seconds() - cpu_started) / count
    print(f"detection alone:            {detect:6.1f} images/s")
    print(f"detect + align:             {aligned:6.1f} images/s  ({aligned / detect:.2f}x detection alone, "
          f"{cpu:.3f} CPU s/image)")
    print(f"detect + align, no tiles:   {whole:6.1f} images/s  ({whole / detect:.2f}x detection alone, "
          f"{whole_cpu:.3f} CPU s/image; min_face = 0.2)")

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
