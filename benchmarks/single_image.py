"""One photo copied 500 times: do stylegan2's samples become the photo, and sooner from a starting point?

RunwayML's experiment, at 64 px: the dataset is one photo (the astronaut's face from
tests/fixtures/astronaut.jpg) repeated 500 times. Three runs, each limited in training time:

1. from scratch on the photo (--minutes);
2. a starting point: the same recipe on 200 other pictures of the same face (crops of
   astronaut.jpg at other framings, half mirrored; see photos.other_framings) (--start-minutes),
   as an artist would start from their earlier run on one person's web photos, or RunwayML
   from a model of faces;
3. from that starting point (train.init_from) on the photo (--minutes).

At every snapshot the PSNR of the snapshot's samples (the averaged G, fixed latents, pooled over
the grid) against the photo is printed; at the end, the steps and CPU seconds each run needed to
reach 15, 20 and 25 dB. The bar: 25 dB within 20 minutes on 2 CPU cores.

    python benchmarks/single_image.py [--minutes 20] [--start-minutes 8] [--until 25] [--threads N] [--set KEY=VALUE]...
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from photos import add_common_arguments, face, other_framings, psnr, save_all, setup, train_for  # noqa: E402

THRESHOLDS = (15.0, 20.0, 25.0)
# A 64 px StyleGAN2 small enough for a CPU (16 channels at 64 px, 32 below), with the settings
# that converged fastest on the photo in short trials: twice the default learning rates, some
# momentum, a firmer R1 and a short average.
MODEL = {"use": "stylegan2", "capacity": 0.0625, "z_dim": 128, "w_dim": 128, "mapping_layers": 2,
         "pl_weight": 0.0, "lr_g": 0.005, "lr_d": 0.005, "betas": [0.5, 0.99], "r1_gamma": 1.0,
         "ema_images": 500, "aug": "none", "mbstd_group": 1}
# mbstd_group 1 turns D's minibatch spread off, as in examples/single-photo.toml: the copies do not
# vary at all and G's samples always vary a little, so with it D tells them apart by that alone
# and stops looking at the picture (trials: stuck near 17.7 dB with it, past 21 dB and rising
# without it, same steps). No augmentation: the point is to converge on the one picture.
TRAIN = {"batch_size": 4, "snapshot_every": 50, "checkpoint_every": 1000, "metrics_every": 50, "grid": 4,
         "device": "cpu"}


def recipe(name: str, folder: Path, **train) -> dict:
    return {"name": name, "seed": 0, "resolution": 64, "source": [{"use": "folder", "path": str(folder)}],
            "model": dict(MODEL), "train": {**TRAIN, **train}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training time of each run on the photo")
    parser.add_argument("--start-minutes", type=float, default=8.0, help="training time of the starting point")
    parser.add_argument("--until", type=float, default=max(THRESHOLDS),
                        help="stop a run on the photo once its PSNR reaches this many dB")
    add_common_arguments(parser)
    args = parser.parse_args()
    root = setup(args, "single-image-", MODEL, TRAIN)

    photo = face()
    target = np.asarray(photo)
    photo_folder = save_all([photo] * 500, root / "photo")  # 500 copies, as the experiment had
    others = save_all(other_framings(200), root / "other-framings")

    def watch(label: str, curve: list):
        def on_snapshot(run, step, images, cpu):
            curve.append((step, cpu, psnr(images, target)))
            print(f"{label:<14} step {step:>6}  {cpu:7.0f} CPU s ({run.seconds:.0f} s wall)  "
                  f"PSNR {curve[-1][2]:5.2f} dB", flush=True)
            return curve[-1][2] >= args.until
        return on_snapshot

    seconds = args.minutes * 60
    scratch: list = []
    train_for(recipe("scratch", photo_folder), root, seconds, args.overrides, watch("from scratch", scratch))
    started = time.perf_counter()
    start = train_for(recipe("starting-point", others), root, args.start_minutes * 60, args.overrides)
    print(f"starting point: {start.step} steps on other framings of the face in {time.perf_counter() - started:.0f}s")
    newest = sorted(start.checkpoints.glob("step-*.pt"))[-1]
    warm: list = []
    train_for(recipe("from-start", photo_folder, init_from=str(newest)), root, seconds, args.overrides,
              watch("from start", warm))

    print("\nsteps (CPU seconds) to reach each PSNR; best PSNR")
    for label, curve in (("from scratch", scratch), ("from start", warm)):
        reached = []
        for bar in THRESHOLDS:
            hit = next(((step, secs) for step, secs, value in curve if value >= bar), None)
            reached.append(f"{bar:.0f} dB: " + (f"{hit[0]} ({hit[1]:.0f}s)" if hit else "not reached"))
        print(f"{label:<14} " + "; ".join(reached) + f"; best {max(v for _, _, v in curve):.2f} dB")


if __name__ == "__main__":
    main()
