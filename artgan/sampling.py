"""Images from a trained model: batched generation from seeds, and finding checkpoints."""
from __future__ import annotations

import math
import os
import sys
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Iterator, Sized
from weakref import WeakKeyDictionary

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator

from artgan import checkpoint, progress
from artgan.errors import ArtganError, out_of_memory
from artgan.files import atomic_path, ensure_writable_folder
from artgan.folder_lock import remove_dead_temporaries
from artgan.images import samples
from artgan.kinds import Model, Seed
from artgan.device import pick_device, release_cached_memory
from artgan.runfolder import RunFolder, list_checkpoints, run_of_checkpoint

# Threads writing sample files: one per core (PNG compression releases the GIL).
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


def load_model(target: str | Path, device) -> Model:
    """The model of a checkpoint (or a run's newest one) on ``device``."""
    payload, path, _ = open_checkpoint(target)
    return model_of(payload, path, device)


def open_checkpoint(target: str | Path) -> tuple[dict, Path, Path]:
    """A checkpoint's contents (or a run's newest one's), its path and the folder renderings go
    to by default, without building its model: enough to know its resolution. That folder is
    the run folder given or holding the checkpoint in its checkpoints/ (where the studio shows
    them), else the checkpoint's own folder."""
    path = resolve_checkpoint(target)
    folder = Path(target) if Path(target).is_dir() else run_of_checkpoint(path) or path.parent
    return checkpoint.load(path), path, folder


def default_out(checkpoint: Path, folder: Path, name: str) -> Path:
    """Where a rendering ``name`` (grid.png) of ``checkpoint`` goes when no out is given:
    ``folder/name``, but for an older checkpoint of a run with its step in the name
    (grid-step-0000300.png), so that it does not replace the run's own."""
    if run_of_checkpoint(checkpoint) is not None and checkpoint != list_checkpoints(checkpoint.parent)[-1]:
        name = f"{Path(name).stem}-{checkpoint.stem}{Path(name).suffix}"
    return folder / name


def model_of(payload: dict, path: Path, device) -> Model:
    """The model of the checkpoint ``path`` whose contents are ``payload``, on ``device``."""
    try:
        return checkpoint.build_model(payload, device)
    except ArtganError as exc:
        raise ArtganError(f"{path}: {exc}") from None


class SampleRequest(BaseModel):
    """What ``Run.samples`` and ``artgan sample`` take, checked before a model is loaded."""

    # "4" or 2.5 images is a mistake, not a count; an infinite truncation gives black pictures
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    n: int = Field(ge=1)
    seed: Seed
    truncation: float = Field(ge=0.0)

    @field_validator("*", mode="before")
    @classmethod
    def _numpy_scalars(cls, value: Any) -> Any:  # np.int64(3), from a notebook's arithmetic, is 3
        return value.item() if isinstance(value, np.generic) else value


def check_request(n: int, seed: int, truncation: float, spell=str) -> SampleRequest:
    """The request, checked: an ArtganError names the argument (as ``spell`` writes it) when one
    is of the wrong type or range."""
    from artgan.rendering import validate_options

    return validate_options(SampleRequest, {"n": n, "seed": seed, "truncation": truncation}, spell)


def latents(model: Model, count: int, seed: int) -> torch.Tensor:
    """``count`` latent vectors (count, z_dim), the same for the same seed on every machine."""
    return torch.randn(count, model.z_dim, generator=torch.Generator().manual_seed(seed))


def latent_blocks(z_dim: int, count: int, seed: int, batch_size: int = 64) -> Iterator[torch.Tensor]:
    """The rows of ``latents(model, count, seed)`` (model.z_dim = ``z_dim``), a few batches at a
    time as they are asked for: memory stays flat for any count.

    torch's CPU generator makes normal numbers 16 at a time, and redraws the last 16 of a call
    whose count is not a multiple of 16. So the rows come out as in one call when every block
    but the last holds a multiple of 16 numbers and the last at least 16: blocks of a multiple
    of 16 rows, the last one taking in a remainder of fewer than 16 numbers. Blocks are whole
    batches, so :func:`generate` cuts the same batches from them as from all the latents."""
    generator = torch.Generator().manual_seed(seed)
    rows = math.lcm(batch_size, 16)
    start = 0
    while start < count:
        take = count - start if (count - start - rows) * z_dim < 16 else rows
        yield torch.randn(take, z_dim, generator=generator)
        start += take


def sample_name(seed: int, index: int, count: int = 1) -> str:
    """The file name of sample ``index`` of ``count`` of seed ``seed``: sample-0042-00007.png,
    and sample-minus0042-00007.png for seed -42; numbers of more than 5 digits where ``count``
    needs them, so the names of any count sort in order."""
    sign = "minus" if seed < 0 else ""
    return f"sample-{sign}{abs(seed):04d}-{index:0{max(5, len(str(count - 1)))}d}.png"


class SampleFiles(Sequence):
    """The files :func:`write_samples` writes, in order, each path made when it is asked for
    (a list of 100 million paths would take gigabytes)."""

    def __init__(self, folder: Path, seed: int, count: int):
        self.folder, self.seed, self.indices = folder, seed, range(count)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.folder / sample_name(self.seed, i, len(self)) for i in self.indices[index]]
        return self.folder / sample_name(self.seed, self.indices[index], len(self))

    def __repr__(self) -> str:
        return f"SampleFiles({str(self.folder)!r}, seed={self.seed}, count={len(self)})"


# The most images each model generated at once before it ran out of memory, halved: where later
# calls start (an interpolation film asks for each frame's images apart).
_FITS: WeakKeyDictionary[Model, int] = WeakKeyDictionary()


def generate(model: Model, z: torch.Tensor, truncation: float = 1.0,
             batch_size: int = 64) -> Iterator[np.ndarray]:
    """uint8 images (b, H, W, 3) for latents ``z``, one batch at a time. A batch that runs out of
    memory is made in halves (and so is every later batch of this model), down to one image at a
    time; only a single image that does not fit is an error."""
    device = model.context.device
    fits = min(batch_size, _FITS.get(model, batch_size))
    for start in range(0, len(z), batch_size):
        batch, pieces, done = z[start:start + batch_size], [], 0
        while done < len(batch):
            part = batch[done:done + fits]
            try:
                # No autograd bookkeeping, whatever the model's sample() does (no_grad, not inference_mode:
                # what a model caches while sampling must stay usable in training).
                with torch.no_grad():
                    images = samples(model, part.to(device), truncation=truncation)
            except Exception as exc:
                if len(part) == 1 or not out_of_memory(exc):
                    raise
                fits = _FITS[model] = len(part) // 2
                release_cached_memory(device)
                print(f"out of memory generating {len(part)} images at once: {fits} at a time from now on",
                      file=sys.stderr, flush=True)
                continue
            pieces.append(images)
            done += len(images)
        # yielded outside no_grad, which would otherwise hold in the caller's code too
        yield pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


class CoreShare:
    """torch's threads beside a film's encoder (or sample writers, :meth:`halve`) on the same
    CPU: on half the cores, or on all of them where that is faster.

    Beside a busy encoder, torch's threads wait for each other by spinning whenever one of them
    is not running: a small model generates faster on half the cores, which also leaves the
    encoder more, while a large one needs every core (docs/performance.md: on 2 cores the 32 px
    demo model's 512 px film is 1.1x faster on one, a 128 px dcgan's 1.5x faster on both). So
    generation starts on half the cores; when on two batches (after one that warms the model
    up) the encoder took less than half as long as generation, one batch tries every core,
    which stays if it made frames at least ``MARGIN`` times faster. Used as a context manager,
    which puts the thread count back. Nothing changes on a GPU, or when OMP_NUM_THREADS is set."""

    MARGIN = 1.25
    WARM_UP, TIMED = 1, 2  # batches: the warm-up, then those timed on half the cores

    def __init__(self, device: str | torch.device):
        self.threads = torch.get_num_threads()
        self.half = max(1, (os.cpu_count() or 1) // 2)
        self.shared = (torch.device(device).type == "cpu" and not os.environ.get("OMP_NUM_THREADS")
                       and self.half < self.threads)

    def paced(self, batches: Iterable[Sized]) -> Iterator:
        """``batches`` as they come, each made on the threads chosen for it."""
        if not self.shared:
            yield from batches
            return
        self.halve()
        making, waiting = [], []  # per sample of each batch: seconds to make it, seconds the consumer took after
        batches = iter(batches)
        while True:
            self._choose(making, waiting)
            started = time.perf_counter()
            batch = next(batches, None)
            if batch is None:
                return
            made = time.perf_counter()
            making.append((made - started) / len(batch))
            yield batch
            waiting.append((time.perf_counter() - made) / len(batch))

    def _choose(self, making: list[float], waiting: list[float]) -> None:
        """Set the threads for the next batch, from the batches made so far."""
        timed = slice(self.WARM_UP, self.WARM_UP + self.TIMED)
        if len(making) == self.WARM_UP + self.TIMED:
            if all(wait < make / 2 for make, wait in zip(making[timed], waiting[timed])):
                torch.set_num_threads(self.threads)  # generation was the slower side: try every core
        elif len(making) == self.WARM_UP + self.TIMED + 1 and torch.get_num_threads() == self.threads:
            if making[-1] * self.MARGIN > min(making[timed]):
                torch.set_num_threads(self.half)

    def halve(self) -> None:
        """Generate on half the cores from now on (unless on a GPU or OMP_NUM_THREADS is set)."""
        if self.shared:
            torch.set_num_threads(self.half)

    def __enter__(self) -> CoreShare:
        return self

    def __exit__(self, *exc) -> None:
        torch.set_num_threads(self.threads)


def write_samples(target: str | Path, count: int, out: str | Path, seed: int = 0,
                  truncation: float = 1.0, device: str = "auto", batch_size: int = 64) -> SampleFiles:
    """Write ``count`` PNG samples of a checkpoint (or a run's newest one) into folder ``out``;
    returns their paths. Latents and names are made batch by batch, so memory stays flat and
    the first files appear at once for any count; Ctrl-C (or SIGTERM) stops it within a batch,
    each file written so far whole.

    A pool of threads, one per core, encodes and writes each batch's files. On a GPU they do so
    while the next batches are generated. On a CPU generating and writing take turns, each on
    every core: side by side, torch's threads spin whenever a writer holds a core they wait for
    (docs/performance.md: a 128 px dcgan sampled at 0.64-0.67 of its generation speed that
    way, 0.82-0.85 in turns). Unless writing takes longer than generating, two batches in a row
    (after the first, which warms the model up), as for a small model like the demo's: from then
    on they run side by side, generation on half the cores.
    """
    asked = check_request(count, seed, truncation, lambda name: f"--{name}")
    count, seed, truncation = asked.n, asked.seed, asked.truncation
    out = ensure_writable_folder(out)
    remove_dead_temporaries(out, ".*.tmp")  # what a sampler killed before (kill -9) left half-written
    model = load_model(target, pick_device(device))
    paths = SampleFiles(out, seed, count)
    # Batches still being written while the next is generated; 0 (a CPU): in turns.
    ahead = 0 if torch.device(model.context.device).type == "cpu" else 2
    slower = 0  # batches in a row that took longer to write than to generate, in turns
    writing: deque[Future] = deque()
    with (ThreadPoolExecutor(WRITERS, thread_name_prefix="png") as pool, progress.task("sample", count) as bar,
          CoreShare(model.context.device) as cores):
        batches = (images for z in latent_blocks(model.z_dim, count, seed, batch_size)
                   for images in generate(model, z, truncation, batch_size))
        for index, start in enumerate(range(0, count, batch_size)):
            started = time.perf_counter()
            batch = next(batches)
            generated = time.perf_counter()
            # A share of the batch per writer: one task each, not one per file (each costs GIL turns).
            shares = np.array_split(np.arange(len(batch)), min(WRITERS, len(batch)))
            writing.extend(pool.submit(_write_pngs, batch[share], paths[start + share[0]:start + share[-1] + 1])
                           for share in shares)
            while len(writing) > ahead * len(shares):  # memory stays flat
                bar.advance(writing.popleft().result())
            if not ahead and index:  # in turns, after the warm-up
                slower = slower + 1 if time.perf_counter() - generated > generated - started else 0
                if slower == 2:  # twice in a row: not a moment's stall of the disk
                    ahead = 2
                    cores.halve()
        for done in writing:
            bar.advance(done.result())
    return paths


def _write_pngs(images: np.ndarray, paths: list[Path]) -> int:
    """Write ``images`` as PNG files ``paths``; returns how many."""
    for image, path in zip(images, paths):
        # Not flushed to disk one by one: the same command writes the same samples again, and a
        # file's fsync cost twice its PNG encoding (0.4 against 0.2 ms of CPU for 32 px samples).
        # Pillow, not libspng: Pillow's encoder releases the GIL, so the writers share the work.
        with atomic_path(path, durable=False) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
    return len(paths)
