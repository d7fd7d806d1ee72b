"""How training speed grows with resolution and model, and memory and time with dataset size.

Prints the tables of docs/performance.md, measured on this machine:
1. training images/s of dcgan (default options) and stylegan2 (capacity 0.125, mapping_layers 2)
   at 32, 64 and 128 px, each set up as `artgan train` sets it up (mean over --steps steps);
2. for packed datasets of N images at 64 px: the file's size, the memory the trainer's batch
   sampler holds of its own, the time it needs to start and the time per batch, with the images
   copied into memory (up to a quarter of the RAM) and read from the memory-mapped file (beyond);
3. the time `artgan dataset` takes to build a shapes dataset of N images at 64 px.

    python benchmarks/train_scaling.py [--steps 4] [--batch 32] [--sizes 1000,10000,50000] [--threads 1]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from artgan import batches, training
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe
from artgan_plugins.dcgan import DCGAN
from artgan_plugins.stylegan2 import StyleGAN2
from train_throughput import Artgan, cpu_line, packed_images, timed

MODELS = {"dcgan": (DCGAN, {}), "stylegan2": (StyleGAN2, {"capacity": 0.125, "mapping_layers": 2})}


def speed_table(steps: int, batch: int) -> None:
    print(f"| model | 32 px | 64 px | 128 px |  (images/s, batch {batch}, mean of {steps} steps)")
    print("| --- | --- | --- | --- |")
    for name, (model_class, options) in MODELS.items():
        cells = []
        for side in (32, 64, 128):
            gan = Artgan(model_class, options, side, batch, packed_images(4 * batch, side))
            gan.step()
            cells.append(f"{batch * steps / sum(timed(gan.step) for _ in range(steps)):.1f}")
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


def sampler_row(folder: Path, count: int, batch: int, streamed: bool) -> str:
    path = folder / f"images-{count}.u8"
    if not path.exists():
        packed = np.memmap(path, np.uint8, "w+", shape=(count, 64, 64, 3))
        for start in range(0, count, 10_000):
            packed[start:start + 10_000] = packed_images(min(10_000, count - start), 64)
        packed.flush()
        del packed
    mapped = np.memmap(path, np.uint8, "r", shape=(count, 64, 64, 3))
    started = time.perf_counter()
    sampler = batches.BatchSampler(mapped, batch, 0, "cpu", channels_last=True, in_memory=not streamed)
    start_s = time.perf_counter() - started
    sampler.next()
    per_batch = min(timed(sampler.next) for _ in range(20))
    # What it holds of its own: the copy, or nothing (pages read from the file are the kernel's
    # page cache, shared, and dropped when memory runs short)
    held = 0 if streamed else sampler.images.untyped_storage().nbytes()
    how = "memory-mapped" if streamed else "in memory"
    return (f"| {count:,} | {path.stat().st_size / 2**20:,.0f} MB | {how} | {held / 2**20:,.0f} MB | "
            f"{start_s:.2f} s | {per_batch * 1000:.1f} ms |")


def dataset_table(sizes: list[int], batch: int) -> None:
    print(f"| images (64 px) | packed file | batches | memory taken | start | per batch of {batch} |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for count in sizes:
            for streamed in (False, True):
                print(sampler_row(Path(folder), count, batch, streamed), flush=True)


def build_table(sizes: list[int]) -> None:
    print("| images (64 px, shapes source) | artgan dataset |")
    print("| --- | --- |")
    for count in sizes:
        with tempfile.TemporaryDirectory() as folder:
            recipe = parse_recipe({"name": "scale", "resolution": 64, "source": [{"use": "shapes", "count": count}],
                                   "model": {"use": "dcgan"}}, Path(folder) / "scale.toml")
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # its progress line
                build_dataset(recipe, Path(folder))
            print(f"| {count:,} | {time.perf_counter() - started:.1f} s |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per model and size")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--sizes", default="1000,10000,50000", help="dataset sizes for the memory table")
    parser.add_argument("--build-sizes", default="250,1000", help="dataset sizes for the build table")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"cpu: {cpu_line()}; load average {os.getloadavg()[0]:.1f}\n")
    speed_table(args.steps, args.batch)
    print()
    dataset_table([int(n) for n in args.sizes.split(",")], args.batch)
    print()
    build_table([int(n) for n in args.build_sizes.split(",")])
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
