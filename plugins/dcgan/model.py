"""The "dcgan" model itself: G, D and their training (imported when a model is built; its options
and registration, without torch, are in __init__.py)."""
from __future__ import annotations

import copy
import functools
import math
import random

import torch
from torch import nn
from torch.nn import functional as F

import artgan
from artgan.toolkit.augment import Augment
from artgan.toolkit.averaging import recompute_batchnorm, update_average
from artgan.toolkit.layers import minibatch_stddev
from artgan.toolkit.precision import MixedPrecision
from artgan.toolkit.regularisation import lazy_adam, r1_loss
from artgan_plugins.dcgan import DCGAN


def _widths(resolution: int, base: int, cap: int) -> list[int]:
    """Channels at 4x4, 8x8, … up to resolution/2, widest first."""
    layers = int(math.log2(resolution)) - 2
    return [min(base * 2 ** (layers - 1 - i), cap) for i in range(layers)]


def _doubling(c_in: int, c_out: int, upsample: str, bias: bool) -> list[nn.Module]:
    """Layers that double the resolution: a strided transposed convolution, or resize-then-convolve."""
    if upsample == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias)]
    return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)]


class Generator(nn.Module):
    def __init__(self, z_dim: int, resolution: int, width: int, cap: int, upsample: str):
        super().__init__()
        widths = _widths(resolution, width, cap)
        layers = [nn.ConvTranspose2d(z_dim, widths[0], 4, 1, 0, bias=False),
                  nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [*_doubling(c_in, c_out, upsample, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [*_doubling(widths[-1], 3, upsample, bias=True), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):  # (B, z_dim) -> (B, 3, H, W)
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    def __init__(self, resolution: int, width: int, cap: int, mbstd_group: int = 0, batchnorm: bool = True,
                 brightness: bool = False, saturation: bool = False):
        super().__init__()
        widths = _widths(resolution, width, cap)[::-1]
        self.brightness, self.saturation = brightness, saturation
        layers = [nn.Conv2d(3 + brightness + saturation, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not batchnorm),
                       *([nn.BatchNorm2d(c_out)] if batchnorm else []), nn.LeakyReLU(0.2, True)]
        self.net = nn.Sequential(*layers)
        self.mbstd_group = mbstd_group
        self.head = nn.Conv2d(widths[-1] + (mbstd_group > 0), 1, 4, 1, 0)

    def forward(self, x):  # (B, 3, H, W) -> (B,) logits
        extra = [x.amax(1, keepdim=True)] * self.brightness + [x.amin(1, keepdim=True)] * self.saturation
        if extra:
            x = torch.cat([x, *extra], 1)  # (B, 3 + len(extra), H, W)
        x = self.net(x)  # (B, C, 4, 4)
        if self.mbstd_group:
            x = minibatch_stddev(x, self.mbstd_group)  # (B, C + 1, 4, 4)
        return self.head(x).flatten()


def _init_weights(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: N(0, 0.02) weights, BN scales around 1."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANModel(DCGAN):
    """DCGAN (Radford et al. 2015) with instance noise, label smoothing and an averaged G: what
    ``DCGAN(options, context)`` builds, and what a subclass of DCGAN is built on."""

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        o, res, device = self.options, self.context.resolution, self.context.device
        if res < 32 or res > 512 or res & (res - 1):
            raise artgan.ArtganError(f"dcgan: resolution {res} must be a power of two from 32 to 512")
        self.z_dim = o.z_dim
        self.generator = Generator(o.z_dim, res, o.g_width, o.max_width, o.upsample).to(device)
        self.discriminator = Discriminator(res, o.d_width, o.max_width, o.mbstd_group, o.d_batchnorm,
                                           o.d_brightness, o.d_saturation).to(device)
        self.generator.apply(_init_weights)
        self.discriminator.apply(_init_weights)
        self.generator_ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        if torch.device(device).type == "cpu":  # oneDNN's convolutions sample an NHWC batch 1.6x faster;
            # on a GPU both Gs keep one layout, so the EMA update stays one kernel (update_average)
            self.generator_ema.to(memory_format=torch.channels_last)
        self.g, self.d = self.generator, self.discriminator  # what train_step runs; see Model.wrap
        self.precision = MixedPrecision(self.context.precision, device)
        self.rng = random.Random(self.context.seed)  # noise levels and label smoothing draws
        self.augment = Augment(o)
        self.updates = 0  # training steps so far, for the EMA warm-up and the R1 schedule
        self.ema_statistics_stale = True  # the averaged G's batch-norm statistics are the live G's

    # The optimisers are made when training first uses them: a model built to sample (films,
    # `artgan sample`) needs none, and torch's first optimiser imports torch._dynamo, 2 s.
    @functools.cached_property
    def opt_g(self) -> torch.optim.Adam:
        return torch.optim.Adam(self.generator.parameters(), self.options.lr_g,
                                betas=(self.options.beta1, self.options.beta2))

    @functools.cached_property
    def opt_d(self) -> torch.optim.Adam:
        o = self.options
        return lazy_adam(self.discriminator, o.lr_d, (o.beta1, o.beta2), o.r1_every if o.r1_gamma > 0 else None)

    def _seen(self, images, stddev: float):
        """What D is shown: the images augmented, then with instance noise."""
        images = self.augment(images)
        return images + stddev * torch.randn_like(images) if stddev > 0 else images

    def _d_step(self, real) -> torch.Tensor:
        o = self.options
        noise = self.rng.uniform(*o.instance_noise)
        z = torch.randn(real.shape[0], self.z_dim, device=real.device)
        with torch.no_grad(), self.precision.autocast():
            fake = self.g(z)
        real_target = torch.empty(real.shape[0], device=real.device).uniform_(*o.real_label)
        # Reals and fakes go through D in two batches, as in the DCGAN paper: one batch of both
        # would change what batch normalisation computes.
        with self.precision.autocast():
            real_logits = self.d(self._seen(real, noise)).float()
            fake_logits = self.d(self._seen(fake, noise)).float()
        self.augment.observe(real_logits)
        if o.loss == "hinge":  # real_target scales the margin: label smoothing for the hinge loss
            loss = F.relu(real_target - real_logits).mean() + F.relu(1 + fake_logits).mean()
        else:
            loss = (F.binary_cross_entropy_with_logits(real_logits, real_target)
                    + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(real_target)))
        self.precision.step(self.opt_d, loss)
        return loss.detach()  # read by the trainer when it logs: no wait for the device here

    def _g_step(self, batch: int, device) -> torch.Tensor:
        noise = self.rng.uniform(*self.options.instance_noise)
        # No weight gradients for D during G's step: they would be thrown away. So D runs as the
        # plain network here, outside DistributedDataParallel, which expects them.
        self.discriminator.requires_grad_(False)
        with self.precision.autocast():
            fake = self.g(torch.randn(batch, self.z_dim, device=device))
            logits = self.discriminator(self._seen(fake, noise)).float()
        if self.options.loss == "hinge":
            loss = -logits.mean()
        else:
            loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        self.precision.step(self.opt_g, loss)
        self.discriminator.requires_grad_(True)
        return loss.detach()

    def _update_ema(self) -> None:
        # Warm up: early on, average over the few steps there are, not over the random init.
        self.updates += 1
        update_average(self.generator_ema, self.generator,
                       min(self.options.ema, (1 + self.updates) / (10 + self.updates)))
        self.ema_statistics_stale = True

    def _recompute_ema_statistics(self, device) -> None:
        """Give the averaged G batch-norm statistics of its own weights (from 512 fixed latents), not
        the live G's it was handed: with those, its colours come out duller and less varied."""
        latents = torch.randn(512, self.z_dim, generator=torch.Generator().manual_seed(0)).to(device)
        recompute_batchnorm(self.generator_ema, latents.split(64))
        self.ema_statistics_stale = False

    def _r1_step(self, real) -> torch.Tensor:
        """Penalise D's gradient at the reals: D stays smooth where the data is."""
        loss, penalty = r1_loss(self.d, real, self.options.r1_gamma, self.options.r1_every, self.augment)
        self.precision.step(self.opt_d, loss)
        return penalty

    def double_backward(self):
        return ["r1_gamma"] if self.options.r1_gamma > 0 else []

    def train_step(self, real):
        o = self.options
        self.generator.train()
        self.discriminator.train()
        losses = {"loss_d": sum(self._d_step(real) for _ in range(o.d_steps)) / o.d_steps}
        if o.r1_gamma > 0 and self.updates % o.r1_every == 0:  # lazy: every few steps, scaled up to match
            losses["r1"] = self._r1_step(real)
        losses["loss_g"] = sum(self._g_step(real.shape[0], real.device) for _ in range(o.g_steps)) / o.g_steps
        self._update_ema()
        return {**losses, **self.augment.metrics()}

    @torch.no_grad()
    def sample(self, z, truncation: float = 1.0):
        # DCGAN has no mapping network: truncation scales z toward the mean of its prior.
        if self.options.ema == 0:
            return self.generator.eval()(z * truncation)
        if self.ema_statistics_stale:
            self._recompute_ema_statistics(z.device)
        return self.generator_ema(z * truncation)

    def optimizers(self):
        return [self.opt_g, self.opt_d]

    def state_dict(self):
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "generator_ema": self.generator_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": list(self.rng.getstate()[1]),
            "updates": self.updates,
            "augment": self.augment.state_dict(),
            "precision": self.precision.state_dict(),
            # Snapshots recompute the averaged G's statistics, and training's last checkpoint follows
            # its last snapshot: saying so spares every later film and sample the recompute.
            "ema_statistics_fresh": not self.ema_statistics_stale,
        }

    def load_state_dict(self, state):
        self.init_from(state)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.setstate((3, tuple(state["rng"]), None))
        self.updates = state["updates"]
        if "augment" in state:  # checkpoints from before augmentation have none
            self.augment.load_state_dict(state["augment"])
        self.precision.load_state_dict(state.get("precision", {}))

    def init_from(self, state):
        # Weights and the average only: optimisers, the average's warm-up and augmentation
        # start afresh for the new dataset.
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.generator_ema.load_state_dict(state["generator_ema"])
        self.ema_statistics_stale = not state.get("ema_statistics_fresh", False)  # older checkpoints: stale

