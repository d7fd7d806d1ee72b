"""Real photos for the stylegan2 benchmarks, made from the pictures in tests/fixtures/, and the
helpers both benchmarks share (the CPU's name, training with a time limit, PSNR)."""
from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

import artgan
from artgan import plugins, pipeline
from artgan.dataset import build_dataset
from artgan.toolkit.precision import cpu_name
from artgan.recipe import parse_recipe

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures"
FACE = (150, 40, 320, 210)  # the astronaut's face in astronaut.jpg (512 x 512)


def face(side: int = 64) -> Image.Image:
    """The astronaut's face, side x side pixels: the one photo of the single-image experiment."""
    return Image.open(FIXTURES / "astronaut.jpg").convert("RGB").crop(FACE).resize((side, side), Image.LANCZOS)


def other_framings(count: int, side: int = 64, seed: int = 3) -> list[Image.Image]:
    """``count`` other pictures of the same face: crops of astronaut.jpg around it, 0.8 to 1.3 times
    as wide as ``face()``'s, moved up to 15% of that either way, half of them mirrored."""
    rng = random.Random(seed)
    photo = Image.open(FIXTURES / "astronaut.jpg").convert("RGB")
    left, top, right, bottom = FACE
    width, cx, cy = right - left, (left + right) / 2, (top + bottom) / 2
    out = []
    for _ in range(count):
        size = width * rng.uniform(0.8, 1.3)
        x, y = cx + rng.uniform(-0.15, 0.15) * width, cy + rng.uniform(-0.15, 0.15) * width
        box = (int(x - size / 2), int(y - size / 2), int(x + size / 2), int(y + size / 2))
        image = photo.crop(box).resize((side, side), Image.LANCZOS)
        out.append(ImageOps.mirror(image) if rng.random() < 0.5 else image)
    return out


def crops(names: list[str], count: int, side: int = 64, seed: int = 0) -> list[Image.Image]:
    """``count`` square crops at random places and scales (a quarter to two thirds of the
    picture's shorter side) of the fixture photos ``names``, taken in turn: a small real dataset."""
    rng = random.Random(seed)
    photos = [Image.open(FIXTURES / f"{name}.jpg").convert("RGB") for name in names]
    out = []
    for i in range(count):
        photo = photos[i % len(photos)]
        size = int(min(photo.size) * rng.uniform(0.25, 0.67))
        left, top = rng.randrange(photo.width - size + 1), rng.randrange(photo.height - size + 1)
        out.append(photo.crop((left, top, left + size, top + size)).resize((side, side), Image.LANCZOS))
    return out


def save_all(images: list[Image.Image], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        image.save(folder / f"{i:04d}.png")
    return folder


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """--threads, --set and --out, which both stylegan2 benchmarks take."""
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--set", action="append", default=[], dest="overrides", help="override every run's recipe")
    parser.add_argument("--out", default=None, help="working folder (default: a temporary one)")


def setup(args: argparse.Namespace, prefix: str, model: dict, train: dict) -> Path:
    """Apply --threads, print the CPU and the settings; the working folder."""
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(args.out or tempfile.mkdtemp(prefix=prefix))
    print(f"cpu: {cpu_name()}, torch threads: {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"model: {model} train: {train} {' '.join(args.overrides)}; working in {root}")
    print("time limits and times are CPU seconds of this process (all its threads)")
    return root


def psnr(images: np.ndarray, target: np.ndarray) -> float:
    """PSNR in dB of uint8 images (N, H, W, 3) against one uint8 picture (H, W, 3), pooled."""
    mse = np.mean((images.astype(np.float64) - target.astype(np.float64)) ** 2)
    return 10 * math.log10(255 ** 2 / max(mse, 1e-10))


class _TimeLimit:
    """A plugin that watches the snapshots and stops the run after ``seconds`` of CPU time (this
    process's, all threads: on a machine shared with other work this is what the run would take
    alone), or as soon as ``watch(run, step, images, cpu_seconds)`` returns True."""

    def __init__(self, seconds: float, watch):
        self.seconds, self.watch, self.started = seconds, watch, time.process_time()

    @artgan.hookimpl
    def on_snapshot(self, run, step, images):
        cpu = time.process_time() - self.started
        if self.watch(run, step, images, cpu) or cpu >= self.seconds:
            run.interrupted = True  # as after Ctrl-C: the loop saves a checkpoint and stops


def train_for(data: dict, root: Path, seconds: float, overrides: list[str], watch=lambda *args: False):
    """Build and train recipe ``data`` in ``root`` for about ``seconds`` of CPU time; ``watch(run,
    step, images, cpu_seconds)`` sees every snapshot and stops the run early by returning True.
    Returns the run."""
    recipe = parse_recipe({**data, "train": {**data["train"], "steps": 10 ** 9}}, root / f"{data['name']}.toml",
                          overrides)
    build_dataset(recipe, root)
    limit = plugins.register(_TimeLimit(seconds, watch), name=f"time-limit-{data['name']}")
    try:
        return pipeline.train(recipe, root)
    finally:
        plugins.unregister(limit)
