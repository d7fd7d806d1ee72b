"""R1 and lazy regularisation: penalties on D that run every few steps; any model plugin may use them."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def lazy_adam(module: nn.Module, lr: float, betas: tuple[float, float], lazy_every: int | None):
    """Adam; when a regulariser runs every N steps, lr and betas shrink by N / (N + 1) so that
    the optimiser's pace over main and regularisation steps stays as asked (StyleGAN2, app. C)."""
    c = lazy_every / (lazy_every + 1) if lazy_every else 1.0
    return torch.optim.Adam(module.parameters(), lr * c, betas=(betas[0] ** c, betas[1] ** c))


def r1_loss(discriminator: Callable, real: torch.Tensor, gamma: float, every: int,
            prepare: Callable = lambda images: images) -> tuple[torch.Tensor, torch.Tensor]:
    """The lazy R1 loss (gamma / 2 x D's squared gradient at the reals, times ``every`` since it
    runs every that many steps; Mescheder et al. 2018) and the penalty itself, for the log (on the
    device: the trainer reads it when it logs).
    ``prepare`` is what the reals go through before D (augmentation)."""
    real = real.detach().requires_grad_(True)
    logits = discriminator(prepare(real))
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)  # (B, 3, H, W)
    penalty = grad.square().sum((1, 2, 3)).mean()
    # "+ logits * 0" changes no number but ties every weight of D to the loss (D's last bias plays
    # no part in R1), as DistributedDataParallel expects (StyleGAN2-ADA's trick).
    return penalty * (gamma / 2) * every + logits.sum() * 0, penalty.detach()
