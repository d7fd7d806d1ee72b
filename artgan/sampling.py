"""Images from a trained model: batched generation from seeds, and finding checkpoints."""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
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

# Threads writing sample files: one per core for PNG compression (which releases the GIL).
WRITERS = os.cpu_count() or 1


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
    payload, path, folder = open_checkpoint(target)
    return model_of(payload, path, device), folder


def open_checkpoint(target: str | Path) -> tuple[dict, Path, Path]:
    """A checkpoint's contents (or a run's newest one's), its path and the folder renderings go
    to by default, without building its model: enough to know its resolution."""
    path = resolve_checkpoint(target)
    return checkpoint.load(path), path, Path(target) if Path(target).is_dir() else path.parent


def model_of(payload: dict, path: Path, device) -> Model:
    """The model of the checkpoint ``path`` whose contents are ``payload``, on ``device``."""
    try:
        return checkpoint.build_model(payload, device)
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


@contextmanager
def sharing_cores(device: str) -> Iterator[None]:
    """Generate on half the CPU's cores while ffmpeg encodes, or PNG files are written, on the
    rest (unless OMP_NUM_THREADS says otherwise): torch's threads wait for each other by spinning,
    and beside such work the spinning cost more than the work. A film's frames of the 32 px demo
    model, on 2 busy cores: 0.37-0.59 CPU-s on 2 threads, 0.11 on 1 (docs/performance.md)."""
    threads = torch.get_num_threads()
    if torch.device(device).type == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def write_samples(target: str | Path, count: int, out: str | Path, seed: int = 0,
                  truncation: float = 1.0, device: str = "auto", batch_size: int = 64) -> list[Path]:
    """Write ``count`` PNG samples of a checkpoint (or a run's newest one) into folder ``out``.

    The model generates batch after batch while a pool of threads encodes and writes the files
    of the previous ones (PNG compression releases the GIL), so the model sets the pace.
    """
    check_request(count, seed, truncation, lambda name: f"--{name}")
    out = ensure_writable_folder(out)
    model, _ = load_model(target, pick_device(device))
    paths = [out / f"sample-{seed:04d}-{index:05d}.png" for index in range(count)]
    writing: deque[Future] = deque()
    with (ThreadPoolExecutor(WRITERS, thread_name_prefix="png") as pool, progress.task("sample", count) as bar,
          sharing_cores(model.context.device)):
        batches = generate(model, latents(model, count, seed), truncation, batch_size)
        for start, batch in zip(range(0, count, batch_size), batches):
            # A share of the batch per writer: one task each, not one per file (each costs GIL turns).
            shares = np.array_split(np.arange(len(batch)), min(WRITERS, len(batch)))
            writing.extend(pool.submit(_write_pngs, batch[share], paths[start + share[0]:start + share[-1] + 1])
                           for share in shares)
            while len(writing) > 2 * len(shares):  # at most two batches wait: memory stays flat
                bar.advance(writing.popleft().result())
        for done in writing:
            bar.advance(done.result())
    return paths


def _write_pngs(images: np.ndarray, paths: list[Path]) -> int:
    """Write ``images`` as PNG files ``paths``; returns how many."""
    for image, path in zip(images, paths):
        # Not flushed to disk one by one: the same command writes the same samples again, and a
        # file's fsync cost twice its PNG encoding (0.4 against 0.2 ms of CPU for 32 px samples).
        with atomic_path(path, durable=False) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
    return len(paths)
