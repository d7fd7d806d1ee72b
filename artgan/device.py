"""Choosing the device to train, sample and render on."""
from __future__ import annotations

import os

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


def device_memory(device: str) -> int | None:
    """The bytes of memory of ``device`` (the RAM for the CPU and for MPS, which shares it); None
    where it cannot be read."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
        return None


def release_cached_memory(device: str | torch.device) -> None:
    """Give the memory torch keeps cached on a GPU back to it (after running out of memory, so
    a smaller try has it); nothing to do on the CPU."""
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.empty_cache()
    elif kind == "mps":
        torch.mps.empty_cache()
