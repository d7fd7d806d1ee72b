"""Images from a trained model: batched generation from seeds, and finding checkpoints."""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from artgan import checkpoint, progress
from artgan.errors import ArtganError
from artgan.files import atomic_path, ensure_writable_folder
from artgan.images import to_uint8
from artgan.kinds import Model, Seed
from artgan.device import pick_device
from artgan.runfolder import RunFolder, list_checkpoints

# Threads writing sample files: the cores for PNG compression, and more, because a file's fsync
# waits for the disk without using a core.
WRITERS = min(32, 2 * (os.cpu_count() or 1) + 2)


def resolve_checkpoint(target: str | Path) -> Path:
    """A checkpoint file, or the newest checkpoint of a run folder."""
    target = Path(target)
    if target.is_dir():
        found = RunFolder(target).checkpoints() or list_checkpoints(target)
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
    payload = checkpoint.load(path)
    try:
        return checkpoint.build_model(payload, device), folder
    except ArtganError as exc:
        raise ArtganError(f"{path}: {exc}") from None


class SampleRequest(BaseModel):
    """What ``Run.samples`` and ``artgan sample`` take, checked before a model is loaded."""

    model_config = ConfigDict(strict=True, extra="forbid")  # "4" or 2.5 images is a mistake, not a count
    n: int = Field(ge=1)
    seed: Seed
    truncation: float = Field(ge=0.0)


def check_request(n: int, seed: int, truncation: float, spell=str) -> None:
    """An ArtganError naming the argument (as ``spell`` writes it) when one is of the wrong type or range."""
    from artgan.rendering import validate_options

    validate_options(SampleRequest, {"n": n, "seed": seed, "truncation": truncation}, spell)


def latents(model: Model, count: int, seed: int) -> torch.Tensor:
    """``count`` latent vectors (count, z_dim), the same for the same seed on every machine."""
    return torch.randn(count, model.z_dim, generator=torch.Generator().manual_seed(seed))


def generate(model: Model, z: torch.Tensor, truncation: float = 1.0,
             batch_size: int = 64) -> Iterator[np.ndarray]:
    """uint8 images (b, H, W, 3) for latents ``z``, one batch at a time."""
    device = model.context.device
    for start in range(0, len(z), batch_size):
        # No autograd bookkeeping, whatever the model's sample() does (no_grad, not inference_mode:
        # what a model caches while sampling must stay usable in training).
        with torch.no_grad():
            images = to_uint8(model.sample(z[start:start + batch_size].to(device), truncation=truncation))
        yield images  # outside no_grad, which would otherwise hold in the caller's code too


def write_samples(target: str | Path, count: int, out: str | Path, seed: int = 0,
                  truncation: float = 1.0, device: str = "auto", batch_size: int = 64) -> list[Path]:
    """Write ``count`` PNG samples of a checkpoint (or a run's newest one) into folder ``out``.

    The model generates batch after batch while a pool of threads encodes and writes the files
    of the previous ones (PNG compression and fsync release the GIL), so the model sets the pace.
    """
    check_request(count, seed, truncation, lambda name: f"--{name}")
    out = ensure_writable_folder(out)
    model, _ = load_model(target, pick_device(device))
    paths = [out / f"sample-{seed:04d}-{index:05d}.png" for index in range(count)]
    writing: deque[Future] = deque()
    with ThreadPoolExecutor(WRITERS, thread_name_prefix="png") as pool, progress.task("sample", count) as bar:
        batches = generate(model, latents(model, count, seed), truncation, batch_size)
        for start, batch in zip(range(0, count, batch_size), batches):
            writing.extend(pool.submit(_write_png, image, path)
                           for image, path in zip(batch, paths[start:start + batch_size]))
            while len(writing) > 2 * batch_size:  # at most two batches wait: memory stays flat
                writing.popleft().result()
                bar.advance(1)
        for done in writing:
            done.result()
            bar.advance(1)
    return paths


def _write_png(image: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
