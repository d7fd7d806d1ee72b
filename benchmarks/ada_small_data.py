"""100 real photos: does adaptive augmentation keep stylegan2's samples diverse, and does the
augmentation probability rise as D starts to memorise?

The dataset is 100 crops (64 px) of the three photos in tests/fixtures/. Two runs of the same
model, each limited in training time (--minutes): one with aug = "ada", one with aug = "none".
At every snapshot it prints the augmentation probability p, ADA's r_t (the mean sign of D's
outputs on reals; above the 0.6 target D is memorising) and the diversity of the 36 snapshot
samples: their mean pairwise RMS distance divided by that of the dataset's images (1: as varied
as the data; near 0: collapse), and their RMS distance to the nearest training image
(near 0: copies of training images).

    python benchmarks/ada_small_data.py [--minutes 30] [--policies ada,none] [--threads N] [--set KEY=VALUE]...
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from photos import add_common_arguments, crops, save_all, setup, train_for  # noqa: E402

MODEL = {"use": "stylegan2", "capacity": 0.125, "z_dim": 128, "w_dim": 128, "mapping_layers": 2,
         "pl_weight": 0.0, "ada_speed": 20000}
TRAIN = {"batch_size": 16, "snapshot_every": 100, "checkpoint_every": 1000, "metrics_every": 20, "grid": 6,
         "device": "cpu"}


def pairwise_rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RMS distances (len(a), len(b)) between float images (N, D) in [0, 1]."""
    squared = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None] - 2 * a @ b.T
    return np.sqrt(np.maximum(squared, 0) / a.shape[1])


def spread(images: np.ndarray) -> float:
    """Mean RMS distance between two different images of ``images`` (N, D)."""
    d = pairwise_rms(images, images)
    return float(d[~np.eye(len(images), dtype=bool)].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="training time of each run")
    parser.add_argument("--policies", default="ada,none", help="the runs to make, by aug policy, comma-separated")
    add_common_arguments(parser)
    args = parser.parse_args()
    root = setup(args, "ada-small-data-", MODEL, TRAIN)

    photos = crops(["astronaut", "cameraman", "rocket"], 100, seed=2)
    folder = save_all(photos, root / "photos")
    data = np.stack([np.asarray(p, np.float32).reshape(-1) / 255 for p in photos])  # (100, D)
    data_spread = spread(data)
    print(f"dataset: 100 images, mean pairwise RMS distance {data_spread:.3f}")

    summary = {}
    for aug in args.policies.split(","):
        rows: list = []

        def watch(run, step, images, cpu, rows=rows, aug=aug):
            samples = images.reshape(len(images), -1).astype(np.float32) / 255
            diversity = spread(samples) / data_spread
            nearest = float(pairwise_rms(samples, data).min(1).mean())
            augment = run.model.augment
            rows.append((step, cpu, augment.p, augment.rt, diversity, nearest))
            rt = "  -  " if augment.rt is None else f"{augment.rt:.2f}"
            print(f"aug={aug:<4} step {step:>6} {cpu:7.0f} CPU s  p {augment.p:.3f}  r_t {rt}  "
                  f"diversity {diversity:.2f}  nearest {nearest:.3f}", flush=True)

        recipe = {"name": f"photos-{aug}", "seed": 0, "resolution": 64, "source": [{"use": "folder", "path": str(folder)}],
                  "model": {**MODEL, "aug": aug}, "train": TRAIN}
        train_for(recipe, root, args.minutes * 60, args.overrides, watch)
        summary[aug] = rows

    print("\nrun       steps  p: start -> max -> end   diversity: min over 2nd half, end   nearest (end)")
    for aug, rows in summary.items():
        late = rows[len(rows) // 2:]
        ps = [r[2] for r in rows]
        print(f"aug={aug:<4} {rows[-1][0]:>7}   {ps[0]:.3f} -> {max(ps):.3f} -> {ps[-1]:.3f}"
              f"          {min(r[4] for r in late):.2f}, {rows[-1][4]:.2f}              {rows[-1][5]:.3f}")


if __name__ == "__main__":
    main()
