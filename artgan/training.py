"""The training loop: snapshots of fixed samples, metrics, atomic checkpoints, resume, rollback."""
from __future__ import annotations

import json
import math
import platform
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w
import torch

import artgan
from artgan import checkpoint, progress
from artgan.dataset import Dataset
from artgan.errors import ArtganError
from artgan.files import atomic_path, write_text_atomic
from artgan.images import grid, to_uint8
from artgan.kinds import Context, Model
from artgan.plugins import hooks
from artgan.recipe import Recipe


@dataclass
class Run:
    """A training run, as plugins see it in the on_* hooks."""

    name: str
    dir: Path
    recipe: Recipe
    model: Model
    device: str
    step: int = 0
    images_seen: int = 0
    seconds: float = 0.0  # training time so far, across resumes
    fixed_z: torch.Tensor | None = None  # latents of the snapshot grid, (grid * grid, z_dim)
    interrupted: bool = field(default=False, repr=False)

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def snapshots(self) -> Path:
        return self.dir / "snapshots"


class BatchSampler:
    """Random batches of a uint8 image array, each image once per epoch; resumable."""

    def __init__(self, images: np.ndarray, batch_size: int, seed: int, device: str):
        # (N, H, W, 3) read into memory, then (N, 3, H, W) on the device, once
        self.images = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).to(device)
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(self.images), generator=self.generator)
        self.position = 0

    def next(self) -> torch.Tensor:
        """A float batch (B, 3, H, W) in [-1, 1]."""
        picked = []
        needed = self.batch_size
        while needed:
            if self.position == len(self.order):
                self.order = torch.randperm(len(self.images), generator=self.generator)
                self.position = 0
            take = self.order[self.position:self.position + needed]
            picked.append(take)
            self.position += len(take)
            needed -= len(take)
        batch = self.images[torch.cat(picked).to(self.images.device)]
        return batch.float().div_(127.5).sub_(1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"], state["position"]


def pick_device(choice: str) -> str:
    """The device to train on: ``auto`` picks CUDA, then MPS, then the CPU."""
    mps = getattr(torch.backends, "mps", None)
    available = {"cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available()), "cpu": True}
    if choice == "auto":
        return next(name for name, ok in available.items() if ok)
    if not available.get(choice):
        raise ArtganError(f"train.device: {choice} is not available on this machine; use auto or cpu")
    return choice


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_folder(recipe: Recipe, root: Path) -> Path:
    return Path(root) / "runs" / recipe.name


def train(recipe: Recipe, dataset: Dataset, root: Path, resume: bool = False) -> Run:
    """Train ``recipe``'s model on ``dataset`` in runs/NAME/; returns the finished run."""
    folder = run_folder(recipe, root)
    existing = checkpoint.list_checkpoints(folder / "checkpoints")
    if existing and not resume:
        raise ArtganError(f"{folder}: a run with this name exists; pass --resume to continue it, "
                          f"or --set name=... for a new one")
    device = pick_device(recipe.train.device)
    seed_everything(recipe.seed)
    model = recipe.model.build(Context(resolution=recipe.resolution, seed=recipe.seed, device=device))
    side = recipe.train.grid
    fixed_z = torch.randn(side * side, model.z_dim, generator=torch.Generator().manual_seed(recipe.seed))
    run = Run(recipe.name, folder, recipe, model, device, fixed_z=fixed_z)
    sampler = BatchSampler(dataset.images, recipe.train.batch_size, recipe.seed, device)
    if resume and existing:
        _restore(run, sampler, checkpoint.load(existing[-1]))
    elif recipe.train.init_from is not None:
        _start_from(run, recipe.train.init_from)
    _trim_metrics(run)
    _write_lock(run, dataset)
    hooks().on_run_start(run=run)
    try:
        if run.step == 0:
            _snapshot(run)
            _checkpoint(run, sampler)
        _loop(run, sampler)
    finally:
        hooks().on_run_end(run=run)
    return run


def _loop(run: Run, sampler: BatchSampler) -> None:
    options = run.recipe.train
    retries = 0
    window: list[dict[str, float]] = []
    with _stop_on_ctrl_c(run), progress.task("train", options.steps, run.step, options.log_every) as bar:
        started = time.perf_counter() - run.seconds
        while run.step < options.steps and not run.interrupted:
            tick = time.perf_counter()
            losses = run.model.train_step(sampler.next())
            if not all(math.isfinite(v) for v in losses.values()):
                retries += 1
                _roll_back(run, sampler, losses, retries)
                bar.done = run.step
                continue
            run.step += 1
            run.images_seen += options.batch_size
            run.seconds = time.perf_counter() - started
            speed = options.batch_size / (time.perf_counter() - tick)
            window.append({**losses, "images_per_s": speed})
            if run.step % options.metrics_every == 0 or run.step == options.steps:
                _log_metrics(run, window)
                window = []
            if run.step % options.snapshot_every == 0:
                _snapshot(run)
            if run.step % options.checkpoint_every == 0:
                _checkpoint(run, sampler)
                retries = 0
            bar.advance(1, status=" ".join(f"{k}={v:.3f}" for k, v in losses.items()) + f" {speed:.0f} img/s")
        if run.step % options.snapshot_every:
            _snapshot(run)
        if run.step % options.checkpoint_every:
            _checkpoint(run, sampler)


class _stop_on_ctrl_c:
    """The first Ctrl-C asks the loop to stop after the current step (it then saves a checkpoint);
    a second one interrupts at once."""

    def __init__(self, run: Run):
        self.run = run

    def __enter__(self):
        self.previous = signal.getsignal(signal.SIGINT)
        try:
            signal.signal(signal.SIGINT, self._ask)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self.previous = None

    def _ask(self, signum, frame):
        self.run.interrupted = True
        signal.signal(signal.SIGINT, self.previous)

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _roll_back(run: Run, sampler: BatchSampler, losses: dict[str, float], attempt: int) -> None:
    """Go back to the newest checkpoint with fresh randomness, or stop after too many tries."""
    bad = ", ".join(f"{k}={v}" for k, v in losses.items() if not math.isfinite(v))
    if attempt > run.recipe.train.nan_retries:
        raise ArtganError(f"training diverged at step {run.step + 1} ({bad}) after "
                          f"{attempt - 1} rollbacks; lower the model's learning rates and --resume")
    newest = checkpoint.list_checkpoints(run.checkpoints)[-1]
    failed_at = run.step + 1
    _restore(run, sampler, checkpoint.load(newest))
    torch.manual_seed(run.recipe.seed + 7919 * attempt)  # the same randomness would fail the same way
    _append_metrics(run, {"step": run.step, "event": "rollback", "failed_at": failed_at,
                          "reason": bad, "attempt": attempt})


def _snapshot(run: Run) -> None:
    images = to_uint8(run.model.sample(run.fixed_z.to(run.device)))
    with atomic_path(run.snapshots / f"step-{run.step:07d}.png") as tmp:
        grid(images, columns=run.recipe.train.grid).save(tmp, format="PNG")
    hooks().on_snapshot(run=run, step=run.step, images=images)


def _checkpoint(run: Run, sampler: BatchSampler) -> None:
    path = checkpoint.save(run.checkpoints / checkpoint.checkpoint_name(run.step), {
        "artgan": artgan.__version__,
        "model": run.recipe.model.as_table(),
        "resolution": run.recipe.resolution,
        "seed": run.recipe.seed,
        "dataset": run.recipe.dataset,
        "init_from": None if run.recipe.train.init_from is None else str(run.recipe.train.init_from),
        "step": run.step,
        "images_seen": run.images_seen,
        "seconds": run.seconds,
        "state": run.model.state_dict(),
        "trainer": {"sampler": sampler.state_dict(), "torch_rng": torch.get_rng_state(),
                    "fixed_z": run.fixed_z},
    })
    checkpoint.prune(run.checkpoints, run.recipe.train.keep_checkpoints)
    hooks().on_checkpoint(run=run, step=run.step, path=path)


def _restore(run: Run, sampler: BatchSampler, payload: dict[str, Any]) -> None:
    run.model.load_state_dict(payload["state"])
    sampler.load_state_dict(payload["trainer"]["sampler"])
    torch.set_rng_state(payload["trainer"]["torch_rng"])
    run.fixed_z = payload["trainer"]["fixed_z"]
    run.step, run.images_seen, run.seconds = payload["step"], payload["images_seen"], payload["seconds"]


def _start_from(run: Run, path: Path) -> None:
    """Load the weights of a checkpoint of the same model kind and resolution into a fresh run
    (a "starting point"); the optimisers and the step count start afresh."""
    where = f"{run.recipe.path}: train.init_from"
    try:
        payload = checkpoint.load(path)
    except ArtganError as exc:
        raise ArtganError(f"{where}: {exc}") from None
    theirs, ours = payload["model"], run.recipe.model.as_table()
    if theirs["use"] != ours["use"] or payload["resolution"] != run.recipe.resolution:
        raise ArtganError(f"{where}: {path} is a {theirs['use']} at {payload['resolution']} px; this recipe "
                          f"trains {ours['use']} at {run.recipe.resolution} px; start from a checkpoint that matches")
    try:
        run.model.init_from(payload["state"])
    except ArtganError as exc:
        raise ArtganError(f"{where}: {exc}") from None
    except (RuntimeError, KeyError) as exc:  # load_state_dict: layers of other shapes, or other layers
        differ = [f"{key} {theirs.get(key, '(unset)')} -> {ours.get(key, '(unset)')}"
                  for key in sorted(theirs.keys() | ours.keys()) if theirs.get(key) != ours.get(key)]
        because = f"options that differ: {', '.join(differ)}" if differ else str(exc).splitlines()[0]
        raise ArtganError(f"{where}: the weights in {path} do not fit this model ({because}); "
                          "use the checkpoint's model options") from None


def _log_metrics(run: Run, window: list[dict[str, float]]) -> None:
    # A model may report some values only on some steps (a penalty computed every 16 steps):
    # each is averaged over the steps that have it.
    values: dict[str, list[float]] = {}
    for row in window:
        for key, value in row.items():
            values.setdefault(key, []).append(value)
    means = {key: sum(column) / len(column) for key, column in values.items()}
    _append_metrics(run, {"step": run.step, "images_seen": run.images_seen,
                          "seconds": round(run.seconds, 3), **means})


def _append_metrics(run: Run, row: dict[str, Any]) -> None:
    with open(run.dir / "metrics.jsonl", "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


def _trim_metrics(run: Run) -> None:
    """On resume, forget metrics logged after the checkpoint the run continues from."""
    path = run.dir / "metrics.jsonl"
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line)["step"] <= run.step]
    write_text_atomic(path, "".join(line + "\n" for line in kept))


def _write_lock(run: Run, dataset: Dataset) -> None:
    lock = {**run.recipe.as_dict(), "lock": {
        "artgan": artgan.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "device": run.device, "dataset": str(dataset.folder), "dataset_images": dataset.count,
        "command": " ".join(sys.argv),
    }}
    run.dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run.dir / "recipe.lock.toml", tomli_w.dumps(lock))
