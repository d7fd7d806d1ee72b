"""Choosing the device to train, sample and render on."""
from __future__ import annotations

import torch

from artgan import distributed
from artgan.errors import ArtganError


def pick_device(choice: str) -> str:
    """The device for ``choice``: ``auto`` picks CUDA, then MPS, then the CPU; a device already
    picked (``cuda:1``) is kept."""
    mps = getattr(torch.backends, "mps", None)
    available = {"cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available()), "cpu": True}
    if choice == "auto":
        choice = next(name for name, ok in available.items() if ok)
    elif not available.get(choice.split(":")[0]):
        raise ArtganError(f"train.device: {choice} is not available on this machine; use auto or cpu")
    if ":" in choice:
        return choice
    return f"cuda:{distributed.local_rank()}" if choice == "cuda" and distributed.launched() else choice
