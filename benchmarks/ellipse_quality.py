"""Does the DCGAN of examples/ellipses.toml learn clean ellipses without collapse?

Trains the recipe from scratch (time limited by its own step count), then checks 256 samples:
each must be one clean, single-coloured filled ellipse (see ellipse_analysis.py), the spread
of position, size and colour must match the training data's, and the samples must have no more
checkerboard than the data: their share of energy at a period of 2 px, across or down.
Given an --out that holds a finished run, it only checks that run's samples.

    python benchmarks/ellipse_quality.py [--recipe examples/ellipses.toml] [--set KEY=VALUE]...
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from artgan import checkpoint, pipeline, sampling
from artgan.dataset import build_dataset
from artgan.toolkit.precision import cpu_name
from artgan.recipe import load_recipe

sys.path.insert(0, str(Path(__file__).parent))
from ellipse_analysis import analyse, checkerboard_energy, spread_report  # noqa: E402

SAMPLES = 256
BAR = 0.90  # fraction of samples that must be clean ellipses
STD_RATIO = (0.8, 1.25)  # sample spread / data spread, per feature
MAX_W1 = 0.25  # distance between sample and data distributions, in data standard deviations
MAX_CHECKERBOARD = 2.0  # energy at a period of 2 px of the samples / the data's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(Path(__file__).parents[1] / "examples" / "ellipses.toml"))
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--out", default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(args.out or tempfile.mkdtemp(prefix="ellipse-quality-"))
    recipe = load_recipe(args.recipe, args.overrides)
    print(f"cpu: {cpu_name()}, torch threads: {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"recipe: {args.recipe} {' '.join(args.overrides)}; working in {root}")

    dataset = build_dataset(recipe, root).dataset
    started, cpu_started = time.perf_counter(), time.process_time()
    run = pipeline.train(recipe, root, resume=True)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"trained {run.step} steps in {run.precision} in {seconds:.0f}s wall ({run.step / seconds:.1f} steps/s), "
          f"{cpu:.0f} CPU s (all threads; with one thread, what the run takes alone on one core)")

    model = checkpoint.build_model(checkpoint.load(sampling.resolve_checkpoint(run.dir)))
    images = np.concatenate(list(sampling.generate(model, sampling.latents(model, SAMPLES, seed=12345))))
    data_images = np.asarray(dataset.images[:1000])
    report([analyse(image) for image in images], [analyse(image) for image in data_images])
    report_checkerboard(images, data_images)


def report(samples: list[dict], data: list[dict]) -> None:
    clean = sum(s["ok"] for s in samples) / len(samples)
    print(f"training data clean: {sum(d['ok'] for d in data) / len(data):.1%} (analyser sanity check)")
    print(f"clean ellipses: {clean:.1%} of {len(samples)} samples (bar {BAR:.0%}) "
          f"-> {'PASS' if clean >= BAR else 'FAIL'}")
    reasons = Counter(s["why"] for s in samples if not s["ok"])
    if reasons:
        print("  rejected: " + ", ".join(f"{n} {why}" for why, n in reasons.most_common()))
    spread_ok = True
    print(f"{'feature':<11}{'std ratio':>10}{'W1/std':>8}")
    for feature, figures in spread_report(data, samples).items():
        ok = STD_RATIO[0] <= figures["std_ratio"] <= STD_RATIO[1] and figures["w1_in_std"] <= MAX_W1
        spread_ok &= ok
        print(f"{feature:<11}{figures['std_ratio']:>10.2f}{figures['w1_in_std']:>8.2f}  {'ok' if ok else 'off'}")
    print(f"spread like the data (std ratio in {STD_RATIO}, W1 <= {MAX_W1} std): "
          f"{'PASS' if spread_ok else 'FAIL'}")


def report_checkerboard(images: np.ndarray, data_images: np.ndarray) -> None:
    """The checkerboard figure: energy at a period of 2 px in the samples against the data's."""
    samples, data = checkerboard_energy(images), checkerboard_energy(data_images)
    ratio = samples / data
    print(f"checkerboard (energy at a period of 2 px): samples {samples:.3%}, data {data:.3%}, "
          f"ratio {ratio:.2f} (bar {MAX_CHECKERBOARD}) -> {'PASS' if ratio <= MAX_CHECKERBOARD else 'FAIL'}")

if __name__ == "__main__":
    main()
