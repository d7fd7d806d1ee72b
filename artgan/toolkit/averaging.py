"""Averaged weights: the slowly moving copy of G that snapshots, samples and films come from."""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def update_average(average: nn.Module, live: nn.Module, beta: float) -> None:
    """Move ``average``'s parameters toward ``live``'s, keeping the fraction ``beta`` of the old
    value; buffers (batch-norm statistics, running means) are copied as they are."""
    # One foreach call for all the weights: a loop would launch a kernel per parameter on a GPU.
    torch._foreach_lerp_(list(average.parameters()), list(live.parameters()), 1.0 - beta)
    for avg, new in zip(average.buffers(), live.buffers()):
        avg.copy_(new)


@torch.no_grad()
def recompute_batchnorm(module: nn.Module, inputs: Iterable[torch.Tensor]) -> None:
    """Recompute ``module``'s batch-norm running statistics as plain averages over its outputs for
    ``inputs`` (BigGAN's "standing statistics"). An averaged copy needs this: the statistics it was
    given were gathered by the live network, whose weights differ."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over every batch
    was_training = module.training
    module.train()
    for x in inputs:
        module(x)
    module.train(was_training)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
