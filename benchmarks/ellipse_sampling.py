"""Where a trained dcgan's spread goes: the same latents through each way of sampling it.

For one checkpoint of an ellipse run (the demo's, or examples/ellipses.toml's) and its dataset,
prints ellipse_quality.py's figures (clean share, std ratio / W1 of each feature, checkerboard)
for the averaged G as it samples (standing batch-norm statistics recomputed), with the statistics
it was saved with, with each batch's own statistics, for the live G the same three ways, and
the averaged G with latents scaled (truncation above 1). Sampling only: no training. When every
row misses the data's spread alike, it is lost in training, not in the average, in batch
normalisation or in a sampling default.

    python benchmarks/ellipse_sampling.py RUN_DIR_OR_CHECKPOINT DATASET_DIR
"""
from __future__ import annotations

import argparse
import copy
import json
import resource
import sys
from pathlib import Path

import numpy as np
import torch

from artgan import checkpoint, sampling
from artgan.images import to_uint8
from artgan.toolkit.averaging import recompute_batchnorm
from artgan.toolkit.precision import cpu_name

sys.path.insert(0, str(Path(__file__).parent))
from ellipse_analysis import analyse, checkerboard_energy, spread_report  # noqa: E402
from ellipse_quality import SAMPLES  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="a run folder (its newest checkpoint) or a checkpoint file")
    parser.add_argument("dataset", help="the run's dataset folder (data/NAME)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = checkpoint.build_model(checkpoint.load(sampling.resolve_checkpoint(args.target)))
    meta = json.loads((Path(args.dataset) / "dataset.json").read_text())
    side = meta["resolution"]
    data = np.memmap(Path(args.dataset) / "images.u8", np.uint8, "r", shape=(meta["count"], side, side, 3))[:1000]
    data_features = [analyse(image) for image in data]
    z = sampling.latents(model, SAMPLES, seed=12345)  # ellipse_quality.py's latents
    standing = torch.randn(512, model.z_dim, generator=torch.Generator().manual_seed(0)).split(64)
    print(f"cpu: {cpu_name()}, 1 torch thread; {SAMPLES} samples against {len(data)} training images")
    for name, network in (("averaged G", model.generator_ema), ("live G", model.generator)):
        recomputed = copy.deepcopy(network)
        recompute_batchnorm(recomputed, standing)
        report(f"{name}, standing statistics", recomputed, z, data, data_features)
        report(f"{name}, saved statistics", copy.deepcopy(network), z, data, data_features)
        report(f"{name}, each batch's statistics", copy.deepcopy(network), z, data, data_features, train=True)
        if network is model.generator_ema:
            for scale in (1.1, 1.2):
                report(f"averaged G, latents x {scale}", recomputed, z * scale, data, data_features)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{usage.ru_utime + usage.ru_stime:.1f} CPU s")


def report(name: str, network, z, data, data_features, train: bool = False) -> None:
    network.train(train)
    with torch.no_grad():  # batches of 64 in eval mode; of 32, as in training, with batch statistics
        images = np.concatenate([to_uint8(network(part)) for part in z.split(32 if train else 64)])
    features = [analyse(image) for image in images]
    clean = sum(f["ok"] for f in features) / len(features)
    spread = "  ".join(f"{key[:3]} {v['std_ratio']:.2f}/{v['w1_in_std']:.2f}"
                       for key, v in spread_report(data_features, features).items())
    checkerboard = checkerboard_energy(images) / checkerboard_energy(np.asarray(data))
    print(f"{name:<36} clean {clean:6.1%}  checkerboard {checkerboard:.2f}  std ratio/W1: {spread}", flush=True)


if __name__ == "__main__":
    main()
