"""Images from a trained model: batched generation from seeds, and finding checkpoints."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image

from artgan import checkpoint
from artgan.errors import ArtganError
from artgan.files import atomic_path
from artgan.images import to_uint8
from artgan.kinds import Model
from artgan.training import pick_device


def resolve_checkpoint(target: str | Path) -> Path:
    """A checkpoint file, or the newest checkpoint of a run folder."""
    target = Path(target)
    if target.is_dir():
        found = checkpoint.list_checkpoints(target / "checkpoints") or checkpoint.list_checkpoints(target)
        if not found:
            raise ArtganError(f"{target}: no checkpoints in this folder; give a run folder or a .pt file")
        return found[-1]
    if not target.exists():
        raise ArtganError(f"{target}: no such checkpoint or run folder")
    return target


def load_model(target: str | Path, device) -> tuple[Model, Path]:
    """The model of a checkpoint (or a run's newest one) on ``device``, and the folder its
    renderings go to by default: the run folder given, else the checkpoint's folder."""
    path = resolve_checkpoint(target)
    folder = Path(target) if Path(target).is_dir() else path.parent
    return checkpoint.build_model(checkpoint.load(path), device), folder


def latents(model: Model, count: int, seed: int) -> torch.Tensor:
    """``count`` latent vectors (count, z_dim), the same for the same seed on every machine."""
    return torch.randn(count, model.z_dim, generator=torch.Generator().manual_seed(seed))


def generate(model: Model, z: torch.Tensor, truncation: float = 1.0,
             batch_size: int = 64) -> Iterator[np.ndarray]:
    """uint8 images (b, H, W, 3) for latents ``z``, one batch at a time."""
    device = model.context.device
    for start in range(0, len(z), batch_size):
        with torch.inference_mode():  # no autograd bookkeeping, whatever the model's sample() does
            images = to_uint8(model.sample(z[start:start + batch_size].to(device), truncation=truncation))
        yield images  # outside the mode, which would otherwise hold in the caller's code too


def write_samples(target: str | Path, count: int, out: str | Path, seed: int = 0,
                  truncation: float = 1.0, device: str = "auto") -> list[Path]:
    """Write ``count`` PNG samples of a checkpoint (or a run's newest one) into folder ``out``."""
    model, _ = load_model(target, pick_device(device))
    out = Path(out)
    paths = []
    for batch in generate(model, latents(model, count, seed), truncation):
        for image in batch:
            path = out / f"sample-{seed:04d}-{len(paths):05d}.png"
            with atomic_path(path) as tmp:
                Image.fromarray(image).save(tmp, format="PNG")
            paths.append(path)
    return paths
