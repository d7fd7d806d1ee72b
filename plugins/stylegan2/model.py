"""The "stylegan2" model itself, in plain PyTorch (imported when a model is built; its options and
registration, without torch, are in __init__.py).

Top to bottom: layers with an equalised learning rate; the mapping network (z -> w,
with the running mean of w that truncation pulls toward); the synthesis network (modulated
convolutions, noise inputs, RGB outputs summed over resolutions); the residual discriminator with
minibatch standard deviation; then the model: non-saturating logistic losses with lazy R1 and
path-length regularisation, style mixing, the averaged G, augmentation and starting points.
"""
from __future__ import annotations

import copy
import functools
import math

import torch
from torch import nn
from torch.nn import functional as F

import artgan
from artgan import distributed
from artgan.toolkit.augment import Augment
from artgan.toolkit.averaging import update_average
from artgan.toolkit.layers import minibatch_stddev
from artgan.toolkit.precision import MixedPrecision
from artgan.toolkit.regularisation import lazy_adam, r1_loss
from artgan_plugins.stylegan2 import StyleGAN2, StyleGAN2Options

MAPPING_LR = 0.01  # the mapping network learns 100x slower than the rest (StyleGAN)
W_AVG_BETA = 0.995  # the running mean of w keeps this much of itself per step
PL_DECAY = 0.01  # the running mean of path lengths moves this far toward each new batch
PL_BATCH_SHRINK = 2  # path-length regularisation runs on half a batch: it is costly and noisy anyway


def _widths(resolution: int, o: StyleGAN2Options) -> dict[int, int]:
    """Channels at each resolution from 4x4 up: fewer where the pictures are larger."""
    sides = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
    return {side: max(1, round(o.capacity * min(o.channel_base / side, o.channel_max))) for side in sides}


# ---------------------------------------------------------------------------------------- layers

def lrelu(x):
    """Leaky ReLU, scaled so that the signal keeps its variance."""
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


def upsample(x):  # (B, C, H, W) -> (B, C, 2H, 2W)
    # Bilinear doubling is StyleGAN2's [1, 3, 3, 1] filter, without a custom op.
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def blur_kernel() -> torch.Tensor:
    """StyleGAN2's [1, 3, 3, 1] filter as a (1, 1, 4, 4) kernel: kept as a buffer of each layer
    that downsamples, since a tensor built from numbers on every call is a blocking copy to the GPU."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    return (torch.outer(taps, taps) / 64)[None, None]


def downsample(x, kernel):  # (B, C, H, W), (1, 1, 4, 4) -> (B, C, H/2, W/2)
    # Blur before dropping every other pixel, so that D does not alias.
    kernel = kernel.to(x.dtype).expand(x.shape[1], 1, 4, 4)  # (C, 1, 4, 4)
    return F.conv2d(x, kernel, stride=2, padding=1, groups=x.shape[1])


class Linear(nn.Module):
    """A fully connected layer whose weights are scaled when used, not when initialised
    ("equalised learning rate"): Adam then moves every layer at the same pace."""

    def __init__(self, c_in: int, c_out: int, bias_init: float = 0.0, lr_mul: float = 1.0, act: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), float(bias_init) / lr_mul))
        self.scale, self.lr_mul, self.act = lr_mul / math.sqrt(c_in), lr_mul, act

    def forward(self, x):  # (B, c_in) -> (B, c_out)
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(x) if self.act else x


class Conv(nn.Module):
    """A convolution of D with an equalised learning rate, optionally halving the resolution first."""

    def __init__(self, c_in: int, c_out: int, kernel: int, act: bool = True, bias: bool = True,
                 down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale, self.act, self.down = 1 / math.sqrt(c_in * kernel * kernel), act, down
        if down:  # not saved: checkpoints hold only what training changes
            self.register_buffer("blur", blur_kernel(), persistent=False)

    def forward(self, x):  # (B, c_in, H, W) -> (B, c_out, H or H/2, W or W/2)
        if self.down:
            x = downsample(x, self.blur)
        x = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)
        return lrelu(x) if self.act else x


# ------------------------------------------------------------------------------- mapping network

class MappingNetwork(nn.Module):
    """z -> w through a few fully connected layers; keeps the running mean of w for truncation."""

    def __init__(self, z_dim: int, w_dim: int, layers: int):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.net = nn.Sequential(*[Linear(a, b, lr_mul=MAPPING_LR, act=True) for a, b in zip(dims, dims[1:])])
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z, track: bool = False):  # (B, z_dim) -> (B, w_dim)
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)  # only z's direction matters
        w = self.net(z)
        if track:
            self.w_avg.copy_(w.detach().float().mean(0).lerp(self.w_avg, W_AVG_BETA))  # w may be bf16
        return w


# ----------------------------------------------------------------------------- synthesis network

class ModulatedConv(nn.Module):
    """A convolution whose input channels are scaled per sample by a style computed from w, and
    whose outputs are then scaled back to unit variance ("demodulation", StyleGAN2's fix for the
    droplet artefacts of AdaIN)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, w_dim: int, demodulate: bool = True,
                 up: bool = False):
        super().__init__()
        self.affine = Linear(w_dim, c_in, bias_init=1.0)  # styles start at 1: a plain convolution
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.scale, self.demodulate, self.up = 1 / math.sqrt(c_in * kernel * kernel), demodulate, up

    def forward(self, x, w):  # x (B, c_in, H, W), w (B, w_dim) -> (B, c_out, H or 2H, W or 2W)
        styles = self.affine(w)  # (B, c_in)
        weight = self.weight * self.scale  # (c_out, c_in, k, k)
        if self.up:
            x = upsample(x)
        # Scaling the inputs, convolving, then scaling the outputs equals convolving each sample
        # with its own modulated kernel, but runs as one ordinary convolution over the batch.
        x = F.conv2d(x * styles[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if self.demodulate:
            norms = styles.square() @ weight.square().sum((2, 3)).T  # (B, c_out)
            x = x * torch.rsqrt(norms + 1e-8)[:, :, None, None]
        return x


class StyleLayer(nn.Module):
    """A modulated 3x3 convolution, then per-pixel noise (for hair, pores, grain…), bias, activation."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, side: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv(c_in, c_out, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(c_out))
        # Fixed noise for snapshots and films, so the same z always gives the same picture.
        self.register_buffer("noise_const", torch.randn(1, 1, side, side))

    def forward(self, x, w, noise: str):  # (B, c_in, H, W) -> (B, c_out, side, side)
        x = self.conv(x, w)
        if noise == "random":
            x = x + torch.randn_like(x[:, :1]) * self.noise_strength
        elif noise == "const":
            x = x + (self.noise_const * self.noise_strength).to(x.dtype)
        # The float32 bias cast to the activations' dtype: added as it is, it would turn every
        # bf16/fp16 layer output into float32, and autocast would be half effective.
        return lrelu(x + self.bias[None, :, None, None].to(x.dtype))


class SynthesisBlock(nn.Module):
    """One resolution of G: (doubling and) style layers, and an RGB picture added to the
    upsampled picture of the resolutions below (StyleGAN2's skip generator)."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, side: int):
        super().__init__()
        self.conv0 = StyleLayer(c_in, c_out, w_dim, side, up=True) if side > 4 else None
        self.conv1 = StyleLayer(c_out if side > 4 else c_in, c_out, w_dim, side)
        self.to_rgb = ModulatedConv(c_out, 3, 1, w_dim, demodulate=False)
        self.rgb_bias = nn.Parameter(torch.zeros(3))
        self.num_convs = 2 if side > 4 else 1

    def forward(self, x, rgb, ws, noise: str):
        # x (B, c_in, side/2, side/2), rgb (B, 3, side/2, side/2) or None, ws (B, num_convs + 1, w_dim)
        if self.conv0 is not None:
            x = self.conv0(x, ws[:, 0], noise)
        x = self.conv1(x, ws[:, self.num_convs - 1], noise)  # (B, c_out, side, side)
        # The RGB output uses the next block's first w, as in StyleGAN2.
        y = self.to_rgb(x, ws[:, self.num_convs])
        y = y + self.rgb_bias[None, :, None, None].to(y.dtype)
        return x, y if rgb is None else upsample(rgb) + y


class SynthesisNetwork(nn.Module):
    """A learned 4x4 constant, refined block by block up to the resolution; w enters every layer."""

    def __init__(self, w_dim: int, widths: dict[int, int]):
        super().__init__()
        sides = sorted(widths)
        self.const = nn.Parameter(torch.randn(widths[4], 4, 4))
        self.blocks = nn.ModuleList(SynthesisBlock(widths[max(side // 2, 4)], widths[side], w_dim, side)
                                    for side in sides)
        self.num_ws = sum(block.num_convs for block in self.blocks) + 1

    def forward(self, ws, noise: str = "random"):  # (B, num_ws, w_dim) -> (B, 3, H, W)
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)  # (B, C4, 4, 4)
        rgb, first = None, 0
        for block in self.blocks:
            x, rgb = block(x, rgb, ws[:, first:first + block.num_convs + 1], noise)
            first += block.num_convs
        return rgb


class Generator(nn.Module):
    def __init__(self, o: StyleGAN2Options, widths: dict[int, int]):
        super().__init__()
        self.mapping = MappingNetwork(o.z_dim, o.w_dim, o.mapping_layers)
        self.synthesis = SynthesisNetwork(o.w_dim, widths)
        self.num_ws = self.synthesis.num_ws

    def styles(self, z, truncation: float = 1.0, mixing: float = 0.0, track: bool = False, mapping=None):
        """The per-layer styles (B, num_ws, w_dim) for latents z (B, z_dim); ``mapping`` is the
        module to run the mapping network through (while training: the core's wrapped one)."""
        mapping = mapping or self.mapping
        w = mapping(z, track)  # (B, w_dim)
        if truncation != 1.0:
            w = self.mapping.w_avg.lerp(w, truncation)  # toward the average: tamer, more typical images
        ws = w[:, None].expand(-1, self.num_ws, -1)
        if mixing > 0 and torch.rand([]).item() < mixing:
            # Style mixing: from a random layer on, the styles come from a second latent, so
            # that neighbouring layers cannot rely on sharing one style. Its w is not tracked: the
            # mean of w moves once a step, by W_AVG_BETA (StyleGAN2-ADA's skip_w_avg_update).
            cut = int(torch.randint(1, self.num_ws, []))
            other = mapping(torch.randn_like(z))[:, None].expand(-1, self.num_ws - cut, -1)
            ws = torch.cat([ws[:, :cut], other], dim=1)
        return ws

    def forward(self, z, truncation: float = 1.0, noise: str = "random"):  # (B, z_dim) -> (B, 3, H, W)
        return self.synthesis(self.styles(z, truncation), noise)


# --------------------------------------------------------------------------------- discriminator

class DiscriminatorBlock(nn.Module):
    """Two convolutions halving the resolution, plus a residual 1x1 path (StyleGAN2's resnet D)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv0 = Conv(c_in, c_in, 3)
        self.conv1 = Conv(c_in, c_out, 3, down=True)
        self.skip = Conv(c_in, c_out, 1, act=False, bias=False, down=True)

    def forward(self, x):  # (B, c_in, H, W) -> (B, c_out, H/2, W/2)
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)  # the sum keeps unit variance


class Discriminator(nn.Module):
    def __init__(self, widths: dict[int, int], mbstd_group: int):
        super().__init__()
        sides = sorted(widths, reverse=True)
        self.from_rgb = Conv(3, widths[sides[0]], 1)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(widths[side], widths[side // 2]) for side in sides[:-1]])
        c = widths[4]
        self.mbstd_group = mbstd_group
        self.conv = Conv(c + 1, c, 3)
        self.fc = Linear(c * 16, c, act=True)
        self.out = Linear(c, 1)

    def forward(self, images):  # (B, 3, H, W) -> (B,) logits
        x = self.blocks(self.from_rgb(images))  # (B, C4, 4, 4)
        x = self.conv(minibatch_stddev(x, self.mbstd_group))  # (B, C4, 4, 4)
        return self.out(self.fc(x.flatten(1))).squeeze(1)


# ----------------------------------------------------------------------------------------- model

class StyleGAN2Model(StyleGAN2):
    """StyleGAN2 with a residual D, lazy R1 and path-length regularisation, and adaptive augmentation:
    what ``StyleGAN2(options, context)`` builds, and what a subclass of StyleGAN2 is built on."""

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        o, res, device = self.options, self.context.resolution, self.context.device
        if res < 32 or res > 1024 or res & (res - 1):
            raise artgan.ArtganError(f"stylegan2: resolution {res} must be a power of two from 32 to 1024")
        self.z_dim = o.z_dim
        widths = _widths(res, o)
        self.generator = Generator(o, widths).to(device)
        self.discriminator = Discriminator(widths, o.mbstd_group).to(device)
        self.generator_ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.mapping, self.synthesis, self.d = self.generator.mapping, self.generator.synthesis, self.discriminator
        self.precision = MixedPrecision(self.context.precision if o.amp else "fp32", device)
        self.augment = Augment(o)
        self.steps = 0  # train_step calls, for the lazy regularisation schedule
        self.images_seen = 0  # by all processes together, for the warm-up of the average
        # running mean of path lengths, the length the penalty pulls toward; on the device, read
        # only for checkpoints
        self.pl_mean = torch.zeros((), device=device)

    # The optimisers are made when training first uses them: a model built to sample (films,
    # `artgan sample`) needs none, and torch's first optimiser imports torch._dynamo, 2 s.
    @functools.cached_property
    def opt_g(self) -> torch.optim.Adam:
        o = self.options
        return lazy_adam(self.generator, o.lr_g, o.betas, o.pl_every if o.pl_weight > 0 else None)

    @functools.cached_property
    def opt_d(self) -> torch.optim.Adam:
        o = self.options
        return lazy_adam(self.discriminator, o.lr_d, o.betas, o.r1_every if o.r1_gamma != 0 else None)

    def wrap(self, wrap):
        # G's two networks are wrapped apart: the path-length penalty needs the styles between them.
        self.mapping, self.synthesis, self.d = (wrap(self.generator.mapping), wrap(self.generator.synthesis),
                                                wrap(self.discriminator))

    def _styles(self, z, track: bool = False):  # (B, z_dim) -> (B, num_ws, w_dim)
        return self.generator.styles(z, mixing=self.options.style_mixing, track=track, mapping=self.mapping)

    def _fake(self, batch: int, device, track: bool = False):  # -> (B, 3, H, W)
        return self.synthesis(self._styles(torch.randn(batch, self.z_dim, device=device), track))

    def _d_step(self, real) -> torch.Tensor:
        with torch.no_grad(), self.precision.autocast():
            fake = self._fake(real.shape[0], real.device)
        with self.precision.autocast():
            fake_logits = self.d(self.augment(fake)).float()
            real_logits = self.d(self.augment(real)).float()
        self.augment.observe(real_logits)
        loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()  # non-saturating logistic
        self.precision.step(self.opt_d, loss)
        return loss.detach()

    def _g_step(self, batch: int, device) -> torch.Tensor:
        # No weight gradients for D during G's step: they would be thrown away. So D runs as the
        # plain network here, outside DistributedDataParallel, which expects them.
        self.discriminator.requires_grad_(False)
        with self.precision.autocast():
            logits = self.discriminator(self.augment(self._fake(batch, device, track=True))).float()
        loss = F.softplus(-logits).mean()
        self.precision.step(self.opt_g, loss)
        self.discriminator.requires_grad_(True)
        return loss.detach()

    def r1_weight(self, batch: int) -> float:
        """R1's gamma for steps of ``batch`` images (the whole batch, over every process)."""
        res = self.context.resolution
        return self.options.r1_gamma if self.options.r1_gamma is not None else 0.0002 * res * res / batch

    def average_beta(self, batch: int) -> float:
        """The fraction of the averaged G kept by a step of ``batch`` images (over every process)."""
        half_life = self.options.ema_images
        if self.options.ema_rampup is not None:  # early on, average over the images there are
            half_life = min(half_life, self.images_seen * self.options.ema_rampup)
        return 0.5 ** (batch / max(half_life, 1e-8))

    def _r1_step(self, real, batch: int) -> torch.Tensor:
        """Penalise D's gradient at the reals: D stays smooth where the data is."""
        loss, penalty = r1_loss(self.d, real, self.r1_weight(batch), self.options.r1_every, self.augment)
        self.precision.step(self.opt_d, loss)
        return penalty

    def _pl_step(self, batch: int, device) -> torch.Tensor:
        """Penalise how unevenly the image changes for a step in w (StyleGAN2's path length)."""
        z = torch.randn(max(1, batch // PL_BATCH_SHRINK), self.z_dim, device=device)
        ws = self._styles(z)  # (N, num_ws, w_dim)
        images = self.synthesis(ws)  # (N, 3, H, W)
        noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
        (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)  # (N, num_ws, w_dim)
        lengths = grad.square().sum(2).mean(1).sqrt()  # (N,)
        # The running mean is of every process's path lengths, so that all hold the same one.
        length = distributed.sum_tensor(lengths.mean().detach()) / distributed.world_size()
        self.pl_mean = self.pl_mean.lerp(length, PL_DECAY)
        penalty = (lengths - self.pl_mean).square().mean()
        # "+ images * 0": every weight of G tied to the loss, as for R1.
        self.precision.step(self.opt_g, penalty * self.options.pl_weight * self.options.pl_every
                            + images[:, 0, 0, 0].sum() * 0)
        return penalty.detach()

    def double_backward(self):
        return [name for name, on in (("r1_gamma", self.options.r1_gamma != 0), ("pl_weight", self.options.pl_weight > 0))
                if on]

    def train_step(self, real):
        o, batch = self.options, real.shape[0]  # batch: this process's part of the step's batch
        # R1's weight and the average's pace follow the whole batch (docs/stylegan2.md): under
        # torchrun they must not change with the number of processes.
        whole = batch * distributed.world_size()
        self.steps += 1
        self.images_seen += whole
        losses = {"loss_d": self._d_step(real), "loss_g": self._g_step(batch, real.device)}
        # Lazy regularisation: the penalties run every few steps, scaled up to match.
        if o.r1_gamma != 0 and self.steps % o.r1_every == 0:
            losses["r1"] = self._r1_step(real, whole)
        if o.pl_weight > 0 and self.steps % o.pl_every == 0:
            losses["pl"] = self._pl_step(batch, real.device)
        update_average(self.generator_ema, self.generator, self.average_beta(whole))
        return {**losses, **self.augment.metrics()}

    @torch.no_grad()
    def sample(self, z, truncation: float = 1.0):
        return self.generator_ema(z, truncation, noise="const")

    def optimizers(self):
        return [self.opt_g, self.opt_d]

    def state_dict(self):
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "generator_ema": self.generator_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "augment": self.augment.state_dict(),
            "steps": self.steps,
            "images_seen": self.images_seen,
            "pl_mean": float(self.pl_mean),
            "precision": self.precision.state_dict(),
        }

    def load_state_dict(self, state):
        self.init_from(state)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.augment.load_state_dict(state["augment"])
        self.steps, self.images_seen = state["steps"], state["images_seen"]
        self.pl_mean = torch.tensor(float(state["pl_mean"]), device=self.pl_mean.device)
        self.precision.load_state_dict(state.get("precision", {}))

    def init_from(self, state):
        # The weights, the average and w's mean (a buffer of the mapping); optimisers, counters
        # and augmentation start afresh for the new dataset.
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.generator_ema.load_state_dict(state["generator_ema"])

