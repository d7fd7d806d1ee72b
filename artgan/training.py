"""The training loop: snapshots of fixed samples, metrics, atomic checkpoints, resume, rollback."""
from __future__ import annotations

import json
import math
import os
import platform
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tomli_w
import torch
from torch import nn

import artgan
from artgan import checkpoint, distributed, precision, progress
from artgan.dataset import Dataset
from artgan.errors import ArtganError
from artgan.files import atomic_path, write_text_atomic
from artgan.images import grid, to_uint8
from artgan.kinds import Context, Model
from artgan.pace import Pace
from artgan.plugins import hooks
from artgan.recipe import Recipe, TrainOptions

RANK_SEEDS = 1_000_003  # process r > 0 of a torchrun job seeds its random numbers with seed + r x this


@dataclass
class Run:
    """A training run, as plugins see it in the on_* hooks."""

    name: str
    dir: Path
    recipe: Recipe
    model: Model
    device: str
    precision: str = "fp32"  # what the passes run in: fp32, bf16 or fp16 (see artgan.precision)
    step: int = 0
    images_seen: int = 0
    seconds: float = 0.0  # training time so far, across resumes
    started_at: int = 0  # the step this session started from (above 0 when resumed)
    fixed_z: torch.Tensor | None = None  # latents of the snapshot grid, (grid * grid, z_dim)
    interrupted: bool = field(default=False, repr=False)

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def snapshots(self) -> Path:
        return self.dir / "snapshots"


def resident_limit(device: str) -> int:
    """Datasets up to this many bytes are copied onto the device once; larger ones stay
    memory-mapped and each batch is read from the file (from the page cache, once read)."""
    if device.startswith("cuda"):
        return torch.cuda.mem_get_info(device)[0] // 4
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
        ram = 8 << 30
    return ram // 4 // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # torchrun: one copy per process


class BatchSampler:
    """Random batches of a uint8 image array (N, H, W, 3), each image once per epoch; resumable.
    The processes of a torchrun job draw the same batches and each takes its own part of them.
    ``in_memory``: copy the images onto the device once (default: if under resident_limit), or
    read each batch from ``images`` (a memory-mapped file)."""

    def __init__(self, images: np.ndarray, batch_size: int, seed: int, device: str,
                 channels_last: bool = False, part: tuple[int, int] = (0, 1), in_memory: bool | None = None):
        self.rank, self.parts = part
        if batch_size % self.parts:
            raise ArtganError(f"train.batch_size: {batch_size} images do not split evenly over {self.parts} "
                              f"processes; make it a multiple of {self.parts}")
        self.device = device
        self.batch_size = batch_size
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if in_memory is None:
            in_memory = images.nbytes <= resident_limit(device)
        if in_memory:  # read once, then (N, 3, H, W) on the device
            self.images: torch.Tensor | np.ndarray = torch.from_numpy(np.array(images)).to(device).permute(0, 3, 1, 2)
        else:
            self.images = images
        self.count = len(images)
        self.generator = torch.Generator().manual_seed(seed)
        self._shuffle()

    def _shuffle(self) -> None:
        # The order lives where the images do, so that picking a batch copies nothing else.
        where = self.images.device if isinstance(self.images, torch.Tensor) else "cpu"
        self.order = torch.randperm(self.count, generator=self.generator).to(where)
        self.position = 0

    def next(self) -> torch.Tensor:
        """This process's part of the next batch: floats (B / processes, 3, H, W) in [-1, 1]."""
        picked = []
        needed = self.batch_size
        while needed:
            if self.position == self.count:
                self._shuffle()
            take = self.order[self.position:self.position + needed]
            picked.append(take)
            self.position += len(take)
            needed -= len(take)
        mine = torch.cat(picked).tensor_split(self.parts)[self.rank]
        if isinstance(self.images, torch.Tensor):
            batch = self.images[mine]
        else:  # (B, H, W, 3) read from the memory-mapped file
            batch = torch.from_numpy(self.images[mine.numpy()]).to(self.device).permute(0, 3, 1, 2)
        return batch.float().div_(127.5).sub_(1.0).contiguous(memory_format=self.memory_format)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order.cpu(), "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"].to(self.order.device), state["position"]


def pick_device(choice: str) -> str:
    """The device to train on: ``auto`` picks CUDA, then MPS, then the CPU."""
    mps = getattr(torch.backends, "mps", None)
    available = {"cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available()), "cpu": True}
    if choice == "auto":
        choice = next(name for name, ok in available.items() if ok)
    elif not available.get(choice):
        raise ArtganError(f"train.device: {choice} is not available on this machine; use auto or cpu")
    return f"cuda:{distributed.local_rank()}" if choice == "cuda" and distributed.launched() else choice


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
    distributed.barrier()  # every process has looked before rank 0 writes the first checkpoint
    device = pick_device(recipe.train.device)
    chosen = precision.choose(recipe.train.precision, device)
    torch.backends.cudnn.benchmark = True  # the shapes never change: let cuDNN time its algorithms once
    seed_everything(recipe.seed)
    with recipe.blame(recipe.model):
        model = recipe.model.build(Context(resolution=recipe.resolution, seed=recipe.seed, device=device,
                                           precision=chosen))
    if distributed.rank():  # the same weights in every process, then each its own random numbers
        torch.manual_seed(recipe.seed + RANK_SEEDS * distributed.rank())
    side = recipe.train.grid
    fixed_z = torch.randn(side * side, model.z_dim, generator=torch.Generator().manual_seed(recipe.seed))
    run = Run(recipe.name, folder, recipe, model, device, chosen, fixed_z=fixed_z)
    channels_last = use_channels_last(recipe.train, device)
    sampler = BatchSampler(dataset.images, recipe.train.batch_size, recipe.seed, device, channels_last,
                           part=(distributed.rank(), distributed.world_size()))
    resumed_from = existing[-1] if resume and existing else None
    if resumed_from is not None:
        _restore(run, sampler, checkpoint.load(resumed_from))
        run.started_at = run.step
    elif recipe.train.init_from is not None:
        _start_from(run, recipe.train.init_from)
    with recipe.blame(recipe.model):
        model.wrap(wrapper(recipe.train, device, channels_last))
        if recipe.train.lr_ramp_down:  # now: a model without optimizers fails before any file is written
            ramp_learning_rates(model, run.step, recipe.train)
    if distributed.is_main():
        _trim_metrics(run)
        _write_lock(run, dataset)
    _announce("on_run_start", run=run)
    tracker = Pace(run, dataset.count, resumed_from)
    try:
        if run.step == 0:
            _snapshot(run)
            _checkpoint(run, sampler)
        _loop(run, sampler, tracker)
    finally:
        _announce("on_run_end", run=run)
    return run


def use_channels_last(options: TrainOptions, device: str) -> bool:
    """Whether the networks keep their images channels-last (train.channels_last; auto: on CPUs,
    where it made dcgan's step 10% faster, and on CUDA GPUs, whose tensor cores work in it)."""
    if options.channels_last == "auto":
        return torch.device(device).type in ("cpu", "cuda")
    return options.channels_last


def wrapper(options: TrainOptions, device: str, channels_last: bool) -> Callable[[nn.Module], nn.Module]:
    """The function :meth:`Model.wrap` readies each network with: memory layout, torch.compile
    when asked, and DistributedDataParallel when several processes train."""

    def wrap(network: nn.Module) -> nn.Module:
        if channels_last:
            network.to(memory_format=torch.channels_last)
        if options.compile:
            network.compile()
        return distributed.wrap(network, device)

    return wrap


def _announce(hook: str, **kwargs: Any) -> None:
    """Call a broadcast hook, in rank 0 only: the other processes of a torchrun job train copies."""
    if distributed.is_main():
        getattr(hooks(), hook)(**kwargs)


def _loop(run: Run, sampler: BatchSampler, tracker: Pace) -> None:
    options = run.recipe.train
    retries = 0
    window: list[dict[str, float]] = []
    with _stop_on_ctrl_c(run), progress.task("train", options.steps, run.step, options.log_every) as bar:
        started = time.perf_counter() - run.seconds
        while run.step < options.steps and not _stopping(run):
            tick = time.perf_counter()
            batch = sampler.next()
            with run.recipe.blame(run.recipe.model):
                if options.lr_ramp_down:
                    ramp_learning_rates(run.model, run.step, options)
                losses = run.model.train_step(batch)
            losses = distributed.mean_all(losses)  # so that every process decides alike on NaN
            if not all(math.isfinite(v) for v in losses.values()):
                retries += 1
                _roll_back(run, sampler, losses, retries)
                bar.done = run.step
                continue
            run.step += 1
            run.images_seen += options.batch_size
            run.seconds = time.perf_counter() - started
            tracker.stepped()
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


def ramp_learning_rates(model: Model, step: int, options: TrainOptions) -> None:
    """Scale each learning rate of ``model`` for ``step``: full until the last ``lr_ramp_down``
    fraction of the run, then falling linearly to zero at its end. Each rate's full value is kept
    in its parameter group (``initial_lr``, torch's key for it), so a resumed run ramps alike."""
    ramp = options.lr_ramp_down * options.steps
    scale = min(1.0, (options.steps - step) / ramp) if ramp else 1.0
    for optimizer in model.optimizers():
        for group in optimizer.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * scale


def _stopping(run: Run) -> bool:
    """Whether Ctrl-C reached any process: then all of them stop after the same step."""
    run.interrupted = distributed.any_all(run.interrupted)
    return run.interrupted


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
    # the same randomness would fail the same way
    torch.manual_seed(run.recipe.seed + 7919 * attempt + RANK_SEEDS * distributed.rank())
    _append_metrics(run, {"step": run.step, "event": "rollback", "failed_at": failed_at,
                          "reason": bad, "attempt": attempt})


def _snapshot(run: Run) -> None:
    if not distributed.is_main():
        return
    images = to_uint8(run.model.sample(run.fixed_z.to(run.device)))
    with atomic_path(run.snapshots / f"step-{run.step:07d}.png") as tmp:
        grid(images, columns=run.recipe.train.grid).save(tmp, format="PNG")
    _announce("on_snapshot", run=run, step=run.step, images=images)


def _checkpoint(run: Run, sampler: BatchSampler) -> None:
    rng = distributed.gather(_rng_state(run.device))  # every process's, for an exact resume
    if not distributed.is_main():
        return
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
        "trainer": {"sampler": sampler.state_dict(), "rng": rng, "fixed_z": run.fixed_z},
    })
    checkpoint.prune(run.checkpoints, run.recipe.train.keep_checkpoints)
    _announce("on_checkpoint", run=run, step=run.step, path=path)


def _rng_state(device: str) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.startswith("cuda"):
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore(run: Run, sampler: BatchSampler, payload: dict[str, Any]) -> None:
    run.model.load_state_dict(payload["state"])
    sampler.load_state_dict(payload["trainer"]["sampler"])
    run.fixed_z = payload["trainer"]["fixed_z"]
    run.step, run.images_seen, run.seconds = payload["step"], payload["images_seen"], payload["seconds"]
    states = payload["trainer"]["rng"]
    if len(states) != distributed.world_size():  # resumed on another number of processes: new streams
        torch.manual_seed(run.recipe.seed + RANK_SEEDS * distributed.rank() + run.step)
        return
    state = states[distributed.rank()]
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and run.device.startswith("cuda"):
        torch.cuda.set_rng_state(state["cuda"], run.device)


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
    if not distributed.is_main():
        return
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
        "device": run.device, "precision": run.precision, "cpu": precision.cpu_name(),
        "channels_last": use_channels_last(run.recipe.train, run.device), "processes": distributed.world_size(),
        "dataset": str(dataset.folder), "dataset_images": dataset.count,
        "command": " ".join(sys.argv),
    }}
    run.dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run.dir / "recipe.lock.toml", tomli_w.dumps(lock))
