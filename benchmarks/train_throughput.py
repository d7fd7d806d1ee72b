"""Training speed: artgan's dcgan next to the PyTorch DCGAN example, and how near the CPU's limit.

Trains artgan's dcgan (default options) at 64 px, batch 64, set up as `artgan train` sets it up
(precision, memory layout, batches from the packed uint8 array), step by step interleaved in this
process with a re-implementation of the training step of the PyTorch DCGAN example
(pytorch/examples, dcgan/main.py: ngf = ndf = 64, nz = 100, batch norm, Sigmoid in D with
BCELoss, Adam lr 2e-4 beta1 0.5; per iteration one D step on a real and a fake batch, then one G
step on the same fakes; in float32 and contiguous layout, as written), with its data already in
memory. Prints images/s of both and their ratio, stylegan2 at 64 px, the fraction of the CPU's
measured peak matmul FLOP/s a dcgan step reaches, and (with --demo) how long `artgan demo` takes.

    python benchmarks/train_throughput.py [--rounds 6] [--threads N] [--demo]

Other work on the machine slows every figure; the ratio, measured interleaved, is fairer.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from artgan import batches, training
from artgan.toolkit import precision
from artgan.kinds import Context
from artgan.recipe import TrainOptions
from artgan_plugins.dcgan import DCGAN
from artgan_plugins.stylegan2 import StyleGAN2

SIDE, BATCH, NZ, WIDTH = 64, 64, 100, 64


class ReferenceDCGAN:
    """The training step of the PyTorch DCGAN example."""

    def __init__(self):
        w = WIDTH
        self.netG = nn.Sequential(  # z (B, nz, 1, 1) -> (B, 3, 64, 64)
            *self._up(NZ, w * 8, 1, 0), *self._up(w * 8, w * 4), *self._up(w * 4, w * 2), *self._up(w * 2, w),
            nn.ConvTranspose2d(w, 3, 4, 2, 1, bias=False), nn.Tanh())
        self.netD = nn.Sequential(  # (B, 3, 64, 64) -> (B, 1, 1, 1) probabilities
            nn.Conv2d(3, w, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            *self._down(w, w * 2), *self._down(w * 2, w * 4), *self._down(w * 4, w * 8),
            nn.Conv2d(w * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
        for net in (self.netG, self.netD):
            net.apply(self._init)
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.criterion = nn.BCELoss()

    @staticmethod
    def _up(c_in, c_out, stride=2, padding=1):
        return [nn.ConvTranspose2d(c_in, c_out, 4, stride, padding, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]

    @staticmethod
    def _down(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True)]

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, 0.02)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)

    def step(self, real: torch.Tensor) -> None:
        b = real.shape[0]
        self.netD.zero_grad()
        loss_real = self.criterion(self.netD(real).view(-1), torch.ones(b))
        loss_real.backward()
        fake = self.netG(torch.randn(b, NZ, 1, 1))
        loss_fake = self.criterion(self.netD(fake.detach()).view(-1), torch.zeros(b))
        loss_fake.backward()
        self.optD.step()
        self.netG.zero_grad()
        loss_g = self.criterion(self.netD(fake).view(-1), torch.ones(b))
        loss_g.backward()
        self.optG.step()


class Artgan:
    """A model set up as the trainer sets it up: chosen precision and layout, wrapped, fed by the sampler."""

    def __init__(self, model_class, options, resolution: int, batch: int, packed: np.ndarray):
        train = TrainOptions()
        self.precision = precision.choose(train.precision, "cpu")
        self.channels_last = training.use_channels_last(train, "cpu")
        context = Context(resolution=resolution, seed=0, device="cpu", precision=self.precision)
        self.model = model_class(model_class.Options(**options), context)
        self.model.wrap(training.wrapper(train, "cpu", self.channels_last))
        self.sampler = batches.BatchSampler(packed, batch, 0, "cpu", self.channels_last)

    def step(self) -> None:
        self.model.train_step(self.sampler.next())


def packed_images(count: int, side: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, side, side, 3), dtype=np.uint8)


def timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def cpu_timed(step) -> tuple[float, float]:
    """Wall and CPU seconds (all of this process's threads) of ``step()``: on a shared machine the
    CPU seconds say more about the work than the wall time does."""
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


def peak_matmul_flops(n: int = 2048, repeats: int = 5) -> float:
    """The best FLOP/s of a float32 n x n matrix product on this CPU, with torch's threads."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    return 2 * n ** 3 / min(timed(lambda: a @ b) for _ in range(repeats))


def step_flops(gan: Artgan) -> int:
    """FLOPs of the convolutions and matrix products one training step runs (forward passes, and
    the input and weight gradients each backward pass computes)."""
    with FlopCounterMode(display=False) as counter:
        gan.step()
    return counter.get_total_flops()


def cpu_line() -> str:
    flags = precision.cpu_flags()
    native = sorted(flags & precision.NATIVE_BF16) or ["no avx512_bf16/amx_bf16"]
    simd = [f for f in ("avx2", "fma", "avx512f") if f in flags]
    return (f"{precision.cpu_name()}, {torch.get_num_threads()} threads, {' '.join(simd + native)}, "
            f"torch {torch.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed steps of each, interleaved (fewer: a noisier ratio)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--demo", action="store_true", help="also time `artgan demo` end to end (minutes)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = cpu_line()
    print(f"cpu: {cpu}; load average {os.getloadavg()[0]:.1f} at the start")
    torch.manual_seed(0)
    packed = packed_images(512, SIDE)
    data = torch.from_numpy(packed).permute(0, 3, 1, 2).float().div(127.5).sub(1).contiguous()
    reference, ours = ReferenceDCGAN(), Artgan(DCGAN, {}, SIDE, BATCH, packed)
    print(f"artgan: precision {ours.precision} (train.precision = auto), channels_last {ours.channels_last}; "
          f"reference: fp32, contiguous")

    def reference_step():
        reference.step(data[torch.randint(len(data), (BATCH,))])

    reference_step(), ours.step()  # warm-up
    times: dict[str, list[float]] = {"reference": [], "artgan": []}
    cpu_times: dict[str, list[float]] = {"reference": [], "artgan": []}
    for _ in range(args.rounds):
        for name, step in (("reference", reference_step), ("artgan", ours.step)):
            wall, cpu_seconds = cpu_timed(step)
            times[name].append(wall)
            cpu_times[name].append(cpu_seconds)
    speed = {name: BATCH / statistics.median(t) for name, t in times.items()}
    per_cpu = {name: BATCH / statistics.median(t) for name, t in cpu_times.items()}
    print(f"dcgan 64 px, batch {BATCH}, median of {args.rounds} steps:")
    print(f"  reference PyTorch DCGAN step: {speed['reference']:6.1f} images/s   [{cpu}]")
    print(f"  artgan dcgan step:            {speed['artgan']:6.1f} images/s   [{cpu}]")
    print(f"  ratio artgan / reference:     {speed['artgan'] / speed['reference']:6.2f}x     [{cpu}]")
    print(f"  per CPU second: reference {per_cpu['reference']:.1f}, artgan {per_cpu['artgan']:.1f} images, "
          f"ratio {per_cpu['artgan'] / per_cpu['reference']:.2f}x")

    flops = step_flops(ours)
    peak = peak_matmul_flops()
    reached = flops * speed["artgan"] / BATCH
    print(f"dcgan step: {flops / 1e9:.1f} GFLOP (convolutions, forward and backward); "
          f"{reached / 1e9:.1f} GFLOP/s of a measured matmul peak of {peak / 1e9:.1f} GFLOP/s: "
          f"{reached / peak:.0%}   [{cpu}]")

    sg_batch, sg_steps = 16, 8
    stylegan = Artgan(StyleGAN2, {"capacity": 0.125, "mapping_layers": 2}, SIDE, sg_batch, packed)
    stylegan.step()
    # eight steps: two path-length penalties (every 4th step); R1 comes every 16th, left out
    wall, cpu_seconds = cpu_timed(lambda: [stylegan.step() for _ in range(sg_steps)])
    print(f"stylegan2 64 px (capacity 0.125, mapping_layers 2), batch {sg_batch}, {sg_steps} steps: "
          f"{sg_batch * sg_steps / wall:6.1f} images/s, {sg_batch * sg_steps / cpu_seconds:6.1f} images "
          f"per CPU second   [{cpu}]")

    if args.demo:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "artgan", "--quiet", "demo", "--out", folder], check=True,
                           stdout=subprocess.DEVNULL)
            print(f"artgan demo end to end: {time.perf_counter() - started:.0f} s   [{cpu}]")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
