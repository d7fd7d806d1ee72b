"""CPU seconds a training step of each bundled recipe costs as shipped, and its whole run extrapolated.

Builds each recipe's model at its resolution, precision and memory layout as `artgan train` does,
feeds it random batches of the recipe's batch size (a step costs the same whatever the pictures
show), runs --warmup steps, then times --steps steps in CPU seconds of this process (and wall
seconds). The figure for the recipe is its `train.steps` times the CPU seconds a step, with one
thread unless --threads says otherwise: what the recipe headers quote. Snapshots, checkpoints,
building the dataset and the films come on top (a few percent for the training recipes here).

    python benchmarks/recipe_time.py [NAME...] [--set KEY=VALUE]... [--steps 32] [--warmup 3] [--threads 1]

The steps timed must cover the lazy regularisers: stylegan2's R1 every 16 steps, so 32 steps
hold two. Other work on the machine shows in the wall seconds more than in the CPU seconds.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from artgan import bundled, training
from artgan.toolkit import precision
from artgan.kinds import Context
from artgan.recipe import load_recipe, required_keys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Stand-ins for what each recipe leaves to the user: only its model and [train] are used here.
FILLERS = {"init_from": "starting-point.pt", "query": "a name"}


def fillers(path) -> list[str]:
    """--set values for the recipe's required keys, so it validates without the user's files."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    sets = []
    for key, marker in required_keys(data).items():
        value = FILLERS.get(key.rsplit(".", 1)[-1], "placeholder")
        sets.append(f"{key}=[\"{value}\"]" if isinstance(marker, list) else f"{key}={value}")
    return sets


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, overrides: list[str], steps: int, warmup: int) -> dict:
    path = bundled.find_recipe(Path(name))
    recipe = load_recipe(path, fillers(path) + overrides)
    train = recipe.train
    chosen = precision.choose(train.precision, "cpu")
    channels_last = training.use_channels_last(train, "cpu")
    context = Context(resolution=recipe.resolution, seed=recipe.seed, device="cpu", precision=chosen)
    model = recipe.model.build(context)
    model.wrap(training.wrapper(train, "cpu", channels_last))
    side = recipe.resolution
    images = np.random.default_rng(0).integers(0, 256, (max(256, train.batch_size), side, side, 3), np.uint8)
    sampler = training.BatchSampler(images, train.batch_size, 0, "cpu", channels_last)
    for _ in range(warmup):
        model.train_step(sampler.next())
    cpu, wall = cpu_seconds(), time.perf_counter()
    for _ in range(steps):
        model.train_step(sampler.next())
    per_step = (cpu_seconds() - cpu) / steps
    return {"name": name, "model": recipe.model.name, "resolution": side, "batch": train.batch_size,
            "precision": chosen, "steps": train.steps, "cpu_per_step": per_step,
            "wall_per_step": (time.perf_counter() - wall) / steps, "cpu_minutes": per_step * train.steps / 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="bundled recipes or recipe files (default: every bundled recipe)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change the recipes as `artgan run --set` does")
    parser.add_argument("--steps", type=int, default=32, help="timed steps per recipe")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.names or [entry.name for entry in bundled.bundled_recipes()]
    print(f"cpu: {precision.cpu_name()} ({platform.machine()}, {os.cpu_count()} cores), {args.threads} thread(s), "
          f"torch {torch.__version__}; load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'recipe':<24} {'model':<10} {'px':>4} {'batch':>5} {'prec':>5} {'CPU-s/step':>10} "
          f"{'wall-s/step':>11} {'steps':>7} {'CPU minutes':>11}")
    for name in names:
        row = measure(name, args.overrides, args.steps, args.warmup)
        print(f"{name:<24} {row['model']:<10} {row['resolution']:>4} {row['batch']:>5} {row['precision']:>5} "
              f"{row['cpu_per_step']:>10.3f} {row['wall_per_step']:>11.3f} {row['steps']:>7} "
              f"{row['cpu_minutes']:>11.1f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}; CPU minutes = steps x CPU-s/step, "
          f"measured over {args.steps} steps after {args.warmup} and extrapolated")


if __name__ == "__main__":
    main()
