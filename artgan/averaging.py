"""Averaged weights: the slowly moving copy of G that snapshots, samples and films come from."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def update_average(average: nn.Module, live: nn.Module, beta: float) -> None:
    """Move ``average``'s parameters toward ``live``'s, keeping the fraction ``beta`` of the old
    value; buffers (batch-norm statistics, running means) are copied as they are."""
    for avg, new in zip(average.parameters(), live.parameters()):
        avg.lerp_(new, 1.0 - beta)
    for avg, new in zip(average.buffers(), live.buffers()):
        avg.copy_(new)
