"""Augmenting what a discriminator sees, so that small datasets do not collapse.

Every image D sees, real or generated, goes through the same random, differentiable operations
(flips, 90° turns, shifts, cutout, colour), each applied to each image with probability ``p``.
Gradients flow through them back to G, so G learns the un-augmented images (DiffAugment, Zhao et
al. 2020). ``p`` is either fixed or adapted while training (ADA, Karras et al. 2020): raised when
D grows too sure of the reals (it is memorising them), lowered when it is not.

Public API for any model plugin: put :class:`AugmentOptions` in the model's options (import them
from :mod:`artgan.toolkit.augment_options`, which needs no torch), build an :class:`Augment` from
them, call it on every batch before D, feed it D's logits on reals with :meth:`Augment.observe`,
log :meth:`Augment.metrics`, and keep :meth:`Augment.state_dict` in the model's state. See
plugins/dcgan/.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.nn import functional as F

from artgan import distributed
from artgan.toolkit.augment_options import AUG_HELP, OPS, AugMode, AugmentOptions, Op  # noqa: F401 (re-exported)

ADA_EVERY = 4  # training steps between adjustments of p (StyleGAN2-ADA's interval)


class Augment:
    """A model's augmentation: the operations, the probability ``p`` and ADA's running tally.

    ``p`` and the tally live on the images' device and ADA adjusts ``p`` there, so that a training
    step never waits to copy a number to the host (on a GPU, each such read stalls the queue)."""

    def __init__(self, options: AugmentOptions):
        self.mode = options.aug
        self.ops = tuple(options.aug_ops)
        self.target = options.ada_target
        self.speed = options.ada_speed
        self.probability = torch.tensor(options.aug_p if self.mode != "none" else 0.0)  # p, as a tensor
        # Whether p may be above 0, known without reading it: until ADA first adjusts a p that
        # starts at 0, the images pass untouched and no random numbers are drawn.
        self.active = options.aug_p > 0 and self.mode != "none"
        self.signs = torch.zeros(())  # sum of sign(D(real)) since the last adjustment
        self.count = 0  # real images behind that sum, in this process
        self.calls = 0  # observe() calls since the last adjustment
        self.rt: torch.Tensor | None = None  # the last measured mean sign: how sure D is of the reals

    @property
    def p(self) -> float:
        """The probability of each operation (read from the device: for tests and reports)."""
        return float(self.probability)

    def _follow(self, device: torch.device) -> None:
        if self.probability.device != device:
            self.probability, self.signs = self.probability.to(device), self.signs.to(device)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` (B, 3, H, W) augmented; untouched (and no random numbers drawn) while p is
        known to be 0."""
        if not self.active:
            return images
        self._follow(images.device)
        return augment(images, self.probability, self.ops)

    def observe(self, real_logits: torch.Tensor) -> None:
        """Tally D's logits on (augmented) reals; with ada, adjust p every few calls."""
        if self.mode != "ada":
            return
        self._follow(real_logits.device)
        self.signs += real_logits.detach().sign().sum()
        self.count += real_logits.numel()
        self.calls += 1
        if self.calls == ADA_EVERY:
            # Counted over the reals of every process (all have batches of one size), so that
            # all of them hold the same p.
            count = self.count * distributed.world_size()
            self.rt = distributed.sum_tensor(self.signs) / count
            # Only the sign counts: the step depends on how many images were seen, not on how far
            # r_t is from the target (ADA, section 3).
            self.probability = (self.probability + (self.rt - self.target).sign() * (count / self.speed)).clamp(0, 1)
            self.active = True
            self.signs, self.count, self.calls = torch.zeros_like(self.signs), 0, 0

    def metrics(self) -> dict[str, torch.Tensor]:
        """What train_step adds to the metrics: ``aug_p`` (and ``ada_rt`` once measured), as
        tensors on the device for the trainer to read when it logs."""
        if self.mode == "none":
            return {}
        return {"aug_p": self.probability, **({"ada_rt": self.rt} if self.rt is not None else {})}

    def state_dict(self) -> dict[str, Any]:
        return {"p": self.p, "signs": float(self.signs), "count": self.count, "calls": self.calls,
                "rt": None if self.rt is None else float(self.rt)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """ADA's p and tally as ``state`` left them. A fixed p (or none) is the options' own, so a
        resumed run may change it."""
        if self.mode != "ada":
            return
        device = self.probability.device
        self.probability = torch.tensor(float(state["p"]), device=device)
        self.signs = torch.tensor(float(state["signs"]), device=device)
        self.count, self.calls = int(state["count"]), state["calls"]
        self.rt = None if state["rt"] is None else torch.tensor(float(state["rt"]), device=device)
        self.active = self.mode != "none" and (self.p > 0 or self.rt is not None)


def augment(images: torch.Tensor, p: float | torch.Tensor, ops: tuple[str, ...] = OPS) -> torch.Tensor:
    """Apply each of ``ops`` to each image of ``images`` (B, 3, H, W) in [-1, 1] with probability
    ``p`` (a number, or a tensor on the images' device), on the images' device. Differentiable with respect to ``images``."""
    batch = images.shape[0]
    for name in ops:
        chosen = torch.rand(batch, device=images.device) < p  # (B,)
        images = _OPERATIONS[name](images, chosen)
    return images


def _per_image(mask: torch.Tensor) -> torch.Tensor:
    return mask[:, None, None, None]  # (B,) -> (B, 1, 1, 1)


def _flip(images, chosen):
    """Mirror each chosen image, or not, at random (ADA): the unmirrored image stays the likeliest
    below p = 1, so G cannot learn mirrored ones (mirrored whenever chosen, most reals D saw would
    be mirrored from p = 0.5 on)."""
    flipped = chosen & (torch.rand(chosen.shape, device=images.device) < 0.5)  # (B,)
    return torch.where(_per_image(flipped), images.flip(3), images)


def _rotate90(images, chosen):
    """Turn each chosen image by 0, 90, 180 or 270 degrees at random (ADA: the upright image stays
    the likeliest below p = 1; without 0 among the turns, from p = 0.75 on it would not)."""
    turns = torch.randint(0, 4, chosen.shape, device=images.device)  # quarter turns: 0 to 3
    out = images
    for k in (1, 2, 3):
        out = torch.where(_per_image(chosen & (turns == k)), images.rot90(k, (2, 3)), out)
    return out


def _translation(images, chosen):
    """Shift by up to an eighth of the side, in whole pixels, filling in with a mirror image
    (a black border would tell D which images were shifted)."""
    b, _, h, w = images.shape
    pad = max(1, h // 8)
    padded = F.pad(images, [pad] * 4, mode="reflect")  # (B, C, H + 2 pad, W + 2 pad)
    shift = torch.randint(-pad, pad + 1, (b, 2), device=images.device) * chosen[:, None]  # (B, 2)
    rows = torch.arange(h, device=images.device) + pad - shift[:, :1]  # (B, H)
    cols = torch.arange(w, device=images.device) + pad - shift[:, 1:]  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    moved = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return moved.permute(0, 3, 1, 2)


def _cutout(images, chosen):
    """Grey out a square of half the side at a random place."""
    b, _, h, w = images.shape
    centre = torch.rand(b, 2, 1, device=images.device)  # (B, 2, 1), fractions of the side
    ys = (torch.arange(h, device=images.device) + 0.5) / h  # pixel centres, (H,)
    xs = (torch.arange(w, device=images.device) + 0.5) / w
    inside_y = (ys - centre[:, 0]).abs() < 0.25  # (B, H)
    inside_x = (xs - centre[:, 1]).abs() < 0.25  # (B, W)
    hole = inside_y[:, :, None] & inside_x[:, None, :] & chosen[:, None, None]  # (B, H, W)
    return images * (~hole)[:, None].to(images.dtype)


def _lognormal(images, spread: float):
    """A per-image factor 2**N(0, spread): (B, 1, 1, 1)."""
    return _per_image(torch.exp2(torch.randn(images.shape[0], device=images.device) * spread)).to(images.dtype)


def _brightness(images, chosen):
    offset = _per_image(torch.randn(images.shape[0], device=images.device) * 0.2).to(images.dtype)
    return torch.where(_per_image(chosen), images + offset, images)


def _contrast(images, chosen):
    mean = images.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return torch.where(_per_image(chosen), (images - mean) * _lognormal(images, 0.5) + mean, images)


def _saturation(images, chosen):
    grey = images.mean(dim=1, keepdim=True)  # (B, 1, H, W)
    return torch.where(_per_image(chosen), (images - grey) * _lognormal(images, 1.0) + grey, images)


_OPERATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "flip": _flip, "rotate90": _rotate90, "translation": _translation, "cutout": _cutout,
    "brightness": _brightness, "saturation": _saturation, "contrast": _contrast,
}
