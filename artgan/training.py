"""The training loop: snapshots of fixed samples, metrics, atomic checkpoints, resume, rollback.
Every file it writes goes through the run's RunFolder."""
from __future__ import annotations

import io
import json
import math
import platform
import random
import signal
import sys
import time
import traceback
import warnings
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

import artgan
from artgan import checkpoint, distributed, progress
from artgan.toolkit import precision
from artgan.batches import BatchSampler
from artgan.dataset import Dataset
from artgan.device import device_memory, pick_device
from artgan.diversity import ALIKE, CollapseWatch, reference
from artgan.errors import ArtganError, PluginError, out_of_memory
from artgan.images import grid
from artgan.kinds import Context, Model, described
from artgan.pace import Pace, say
from artgan.plugins import hooks
from artgan.portable import read_stored, stored
from artgan.recipe import Recipe, TrainOptions
from artgan.runfolder import RecipeLock, RunFolder, RunStatus, State, step_of
from artgan.runs import Run
from artgan.sampling import generate

RANK_SEEDS = 1_000_003  # process r > 0 of a torchrun job seeds its random numbers with seed + r x this
# What a resumed run keeps (besides its model, which its checkpoint checks): another seed draws
# another dataset, another batch size miscounts the images seen, another grid breaks the
# snapshots' fixed samples, another starting point is not where it started. Steps, snapshot and
# checkpoint intervals, threads and renders may change.
KEPT_ON_RESUME = ("seed", "train.batch_size", "train.grid", "train.init_from")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check(recipe: Recipe, root: Path, resume: bool = False) -> None:
    """Raise the ArtganError training would raise for ``recipe`` at its start (a run that exists,
    a missing device, a resolution the model cannot train at), before any work such as building
    the dataset. Cheap: the model is built on the "meta" device, which holds no numbers."""
    existing = _refuse_existing(recipe, root, resume)
    start = None
    if existing:
        _resumable(existing, recipe, lazy=True)
    elif recipe.train.init_from is not None:
        start = _starting_point(recipe, lazy=True)
    distributed.check_split(recipe.train.batch_size, bool(existing))
    try:
        device = pick_device(recipe.train.device)
    except ArtganError as exc:
        raise ArtganError(f"{recipe.path}: {exc}") from None
    with recipe.blame(recipe.model):
        try:
            model = _on_meta(recipe)
        except ArtganError:
            raise
        except Exception:  # a model that cannot be built without real tensors: training builds it
            return
    if start is not None:  # do its layers fit? (into meta tensors, which copy nothing)
        _load_starting_point(model, start, recipe)
    if recipe.train.compile:
        _refuse_compile(recipe, model)
    _refuse_too_large(model, recipe, device)


def _on_meta(recipe: Recipe, changes: dict[str, Any] | None = None) -> Model:
    """The recipe's model with ``changes`` to its options, built on the "meta" device: its layers'
    shapes, without numbers."""
    step = recipe.model
    if changes:
        step = replace(step, options=type(step.options).model_validate({**step.options.model_dump(), **changes}))
    with torch.device("meta"):  # layers made before a model moves them to its device hold no memory either
        return step.build(Context(resolution=recipe.resolution, seed=recipe.seed, device="meta"))


def _refuse_too_large(model: Model, recipe: Recipe, device: str) -> None:
    """An ArtganError when the weights of ``model`` (built on "meta"), their gradients and Adam's
    moments outgrow the memory of ``device``: it could never train there."""
    weights = {id(p): p for network in _networks(model) for p in network.parameters()}
    needed = sum(p.numel() * p.element_size() for p in weights.values()) + _training_bytes(model)
    memory = device_memory(device)
    if memory is not None and needed > memory:
        raise ArtganError(f"{recipe.path}: model: its weights, gradients and optimiser state take "
                          f"{needed / 2**30:,.1f} GB, more than the {memory / 2**30:,.1f} GB of memory of {device}; "
                          f"make it narrower (`artgan plugins {recipe.model.name}` lists its widths)")


def _refuse_existing(recipe: Recipe, root: Path, resume: bool) -> list[Path]:
    """The run's checkpoints; an ArtganError if there are some and ``resume`` is off, or if
    resuming would change what the run is (see KEPT_ON_RESUME)."""
    folder = RunFolder.of(recipe, root)
    existing = folder.checkpoints()
    if existing and not resume:
        raise ArtganError(f"{folder.path}: a run with this name exists; pass --resume to continue it, "
                          f"or --set name=... for a new one")
    if existing:
        _same_run(recipe, folder, existing[-1])
    elif (trained := folder.newest_step()) > 0:  # its checkpoints deleted or moved: a new start would mix in
        raise ArtganError(f"{folder.path}: a run with this name exists, trained to step {trained}, "
                          f"but {folder.checkpoints_dir} holds no checkpoint to continue from (deleted or moved?); "
                          f"put its checkpoints back to --resume, or give the new run a name (--set name=...)")
    return existing


def _same_run(recipe: Recipe, folder: RunFolder, newest: Path) -> None:
    """An ArtganError if ``recipe`` would continue the run in ``folder`` with another of the
    KEPT_ON_RESUME values than its recipe.lock.toml records, or, without one (deleted), its
    ``newest`` checkpoint."""
    try:
        lock = folder.lock()
    except ArtganError:  # unreadable: the checkpoint's own check still applies
        return
    recorded, source = lock.recipe, folder.lock_file.name
    if not recorded:
        recorded, source = _kept_in(newest), f"checkpoint {newest.name}"
    ours = recipe.as_dict()
    differ = []
    for key in KEPT_ON_RESUME:
        theirs, now = _dotted(recorded, key), _dotted(ours, key)
        if key == "train.init_from" and isinstance(theirs, str):  # with "\\" if written on Windows by an older artgan
            theirs = stored(read_stored(theirs))
        # a key the lock leaves out is one an older lock did not record, but for init_from, which
        # every lock leaves out when it is none
        if theirs != now and (theirs is not None or key == "train.init_from"):
            differ.append((key, "none" if theirs is None else theirs, "none" if now is None else now))
    if differ:
        was = ", ".join(f"{key} {theirs} (now {now})" for key, theirs, now in differ)
        sets = " ".join(f"--set {key}={theirs}" for key, theirs, _ in differ)
        raise ArtganError(f"{folder.path}: --resume: this run trained with {was}, as its {source} "
                          f"says; resume with them ({sets}), or give the new run a name (--set name=...)")


def _kept_in(path: Path) -> dict[str, Any]:
    """The KEPT_ON_RESUME values a checkpoint records, as recipe tables (empty if it does not read:
    resuming says why)."""
    try:
        payload = checkpoint.load(path, lazy=True, resumable=True)
    except ArtganError:
        return {}
    step, fixed_z = payload["step"], payload["trainer"].get("fixed_z")
    return {"seed": payload["seed"], "train": {
        "grid": math.isqrt(len(fixed_z)) if isinstance(fixed_z, torch.Tensor) else None,
        "batch_size": payload["images_seen"] // step if step else None,
        "init_from": payload.get("init_from")}}


def _dotted(table: dict[str, Any], key: str) -> Any:
    """The value at dotted ``key`` of nested tables (None: not there)."""
    for part in key.split("."):
        table = table.get(part) if isinstance(table, dict) else None
    return table


def train(recipe: Recipe, dataset: Dataset, root: Path, resume: bool = False,
          sweep: tuple[str, str] | None = None) -> Run:
    """Train ``recipe``'s model on ``dataset`` in runs/NAME/, which this process holds (rank 0
    of a torchrun job holds it for all) while it trains; returns the run, finished or stopped
    by Ctrl-C or SIGTERM (``run.interrupted``). ``sweep``: the (name, label) of the [sweep] the
    recipe is one run of, recorded in its lock."""
    threads = torch.get_num_threads()  # the run times and keeps its own count (Pace); the process gets this back
    try:
        if not distributed.is_main():
            return _train(recipe, dataset, root, resume, sweep)
        with RunFolder.of(recipe, root).hold(then="--resume (or --set name=... for a new run)"):
            return _train(recipe, dataset, root, resume, sweep)
    finally:
        torch.set_num_threads(threads)


def _train(recipe: Recipe, dataset: Dataset, root: Path, resume: bool, sweep: tuple[str, str] | None) -> Run:
    folder = RunFolder.of(recipe, root)
    existing = _refuse_existing(recipe, root, resume)
    distributed.barrier()  # every process has looked before rank 0 writes the first checkpoint
    device = pick_device(recipe.train.device)
    chosen = precision.choose(recipe.train.precision, device)
    torch.backends.cudnn.benchmark = True  # the shapes never change: let cuDNN time its algorithms once
    precision.allow_tf32(device)
    seed_everything(recipe.seed)
    with recipe.blame(recipe.model):
        model = recipe.model.build(Context(resolution=recipe.resolution, seed=recipe.seed, device=device,
                                           precision=chosen))
        if not (isinstance(model.z_dim, int) and model.z_dim > 0):
            raise PluginError(f"the model {described(model)} has z_dim = {model.z_dim!r}; set self.z_dim, the "
                              "length of its latent vectors, when it is built")
    if recipe.train.compile:
        _refuse_compile(recipe, model)
    if distributed.rank():  # the same weights in every process, then each its own random numbers
        torch.manual_seed(recipe.seed + RANK_SEEDS * distributed.rank())
    side = recipe.train.grid
    fixed_z = torch.randn(side * side, model.z_dim, generator=torch.Generator().manual_seed(recipe.seed))
    run = Run(folder, recipe, model, device, chosen, fixed_z=fixed_z)
    channels_last = use_channels_last(recipe.train, device)
    sampler = BatchSampler(dataset.images, recipe.train.batch_size, recipe.seed, device, channels_last,
                           part=(distributed.rank(), distributed.world_size()), reserved=_training_bytes(model))
    resumed_from = existing[-1] if resume and existing else None
    if resume and not existing:  # --resume of a run moved away, or of a name mistyped: not a silent fresh start
        say(f"nothing to resume in {folder.path} (no checkpoint there): a new run")
    if resumed_from is not None:
        _resume(run, sampler, existing)
        run.started_at = run.step
    elif recipe.train.init_from is not None:
        _start_from(run)
    with recipe.blame(recipe.model):
        model.wrap(wrapper(recipe.train, device, channels_last))
        if recipe.train.lr_ramp_down:  # now: a model without optimizers fails before any file is written
            ramp_learning_rates(model, run.step, recipe.train)
    if channels_last:  # also the networks wrap() is not given, such as the averaged G
        for network in _networks(model):
            network.to(memory_format=torch.channels_last)
    if distributed.is_main():
        folder.trim_metrics(run.step if resumed_from is not None else -1)  # a fresh start keeps no row
        _write_lock(run, dataset, sweep)
        _write_status(run, "training")
        options = recipe.train
        warning = folder.snapshots_outgrow_disk((options.steps - run.step) // options.snapshot_every + 1,
                                                options.grid, recipe.resolution)
        if warning:
            say(warning)
    watch = _collapse_watch(run, dataset) if distributed.is_main() else None
    _announce("on_run_start", run=run)
    tracker = Pace(run, dataset.count, resumed_from)
    try:
        if resumed_from is None:  # resumed from step 0, the run has both already
            _snapshot(run, watch)
            _checkpoint(run, sampler, watch)
        _loop(run, sampler, tracker, watch)
    except BaseException as exc:  # a second Ctrl-C, another process's end or delay leave it interrupted, not failed
        lost, waited = distributed.peer_lost(exc), distributed.timed_out(exc)
        _write_status(run, "interrupted" if lost or waited or isinstance(exc, (KeyboardInterrupt, SystemExit))
                      else "failed")
        if lost:
            raise distributed.PeerLost(folder.checkpoints()) from exc
        if waited:
            raise distributed.waited_too_long(folder.checkpoints()) from None
        if out_of_memory(exc):
            raise _out_of_memory_error(run) from None
        raise
    else:
        _write_status(run, "interrupted" if run.interrupted else "finished")
    finally:
        _announce("on_run_end", run=run)
    return run


def _out_of_memory_error(run: Run) -> ArtganError:
    """The one line for a training that ran out of memory: a smaller batch, as a new run (--resume
    keeps the batch size), from the newest checkpoint when there is one past step 0."""
    o = run.recipe.train
    kept = [path for path in run.folder.checkpoints() if step_of(path) > 0]
    start = f" --set train.init_from={kept[-1]}" if kept else ""
    return ArtganError(f"{run.recipe.path}: out of memory on {run.device} at step {run.step} (train.batch_size = "
                       f"{o.batch_size}, resolution {run.recipe.resolution}); start a new run with a smaller batch"
                       f"{' from its newest checkpoint' if kept else ''}: --set name={run.name}-smaller "
                       f"--set train.batch_size={max(1, o.batch_size // 2)}{start} (or make the model narrower)")


def use_channels_last(options: TrainOptions, device: str) -> bool:
    """Whether the networks keep their images channels-last (train.channels_last; auto: on CPUs,
    where it made dcgan's step 10% faster, and on CUDA GPUs, whose tensor cores work in it)."""
    if options.channels_last == "auto":
        return torch.device(device).type in ("cpu", "cuda")
    return options.channels_last


def _networks(model: Model) -> list[nn.Module]:
    """The plain networks ``model`` holds: its G and D, an averaged G, and the like."""
    return [value for value in vars(model).values()
            if isinstance(value, nn.Module) and not isinstance(value, nn.parallel.DistributedDataParallel)]


def _training_bytes(model: Model) -> int:
    """What training will add on the device beside the weights: their gradients and Adam's two
    running moments, for the weights that train."""
    weights = {id(p): p for network in _networks(model) for p in network.parameters() if p.requires_grad}
    return 3 * sum(p.numel() * p.element_size() for p in weights.values())


def _refuse_compile(recipe: Recipe, model: Model) -> None:
    """torch.compile cannot back-propagate through a gradient ("aot_autograd does not currently
    support double backward"), which the R1 and path-length penalties do: say so before training
    starts rather than crash at the first penalty step."""
    options = model.double_backward()
    if options:
        listed = ", ".join(f"model.{name}" for name in options)
        turn_off = " ".join(f"--set model.{name}=0" for name in options)
        raise ArtganError(f"{recipe.path}: train.compile = true cannot train with {listed}: torch.compile does "
                          f"not support the gradient of a gradient these penalties take; set "
                          f"train.compile = false, or turn them off ({turn_off})")


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
    if not distributed.is_main():
        return
    caller = getattr(hooks(), hook)
    try:
        caller(**kwargs)
    except Exception as exc:  # a bug in a plugin: name it under the traceback
        by_code = {getattr(impl.function, "__code__", None): impl.plugin_name for impl in caller.get_hookimpls()}
        frames = traceback.walk_tb(exc.__traceback__)
        raised_by = next((by_code[frame.f_code] for frame, _ in frames if frame.f_code in by_code), None)
        if raised_by and sys.version_info >= (3, 11):
            exc.add_note(f"raised by the {hook} hook of the plugin {raised_by}")
        raise


def _loop(run: Run, sampler: BatchSampler, tracker: Pace, watch: CollapseWatch | None) -> None:
    options = run.recipe.train
    if run.step >= options.steps:  # trained already, maybe past a lowered train.steps (Pace said so): no bar
        return
    retries = 0
    stop, alone = False, distributed.world_size() == 1
    pending: list[dict[str, Any]] = []  # losses of the steps not read yet (tensors on the device)
    read: list[dict[str, float]] = []  # read, for the next line of metrics.jsonl
    status = ""
    begun = run.step
    with _stop_on_signals(run), progress.task("train", options.steps, run.step, options.log_every) as bar:
        started, since = time.perf_counter() - run.seconds, time.perf_counter()
        # alone, a Ctrl-C or SIGTERM during a snapshot or checkpoint (all read before them) stops at once
        while run.step < options.steps and not stop and not (run.interrupted and not pending and alone):
            batch = sampler.next()
            with run.recipe.blame(run.recipe.model):
                if options.lr_ramp_down:
                    ramp_learning_rates(run.model, run.step, options)
                pending.append(_losses(run.model, run.model.train_step(batch)))
            run.step += 1
            run.images_seen += options.batch_size
            run.seconds = time.perf_counter() - started
            tracker.stepped()
            was_read = _read_due(run)
            if was_read:
                rows, stop = _read_losses(run, pending)
                pending = []
                bad = next((i for i, row in enumerate(rows) if not all(map(math.isfinite, row.values()))), None)
                if bad is not None:
                    retries += 1
                    _roll_back(run, sampler, rows[bad], run.step - len(rows) + bad + 1, retries)
                    read, since, bar.done = [], time.perf_counter(), run.step
                    continue
                # measured over the steps read: on a GPU a step's own time is only how long it took to queue
                speed = options.batch_size * len(rows) / (time.perf_counter() - since)
                read += [{**row, "images_per_s": speed} for row in rows]
                status = " ".join(f"{k}={v:.3f}" for k, v in rows[-1].items()) + f" {speed:.0f} img/s"
            if run.step % options.metrics_every == 0 or run.step == options.steps:
                _log_metrics(run, read)
                read = []
            if run.step % options.snapshot_every == 0:
                _snapshot(run, watch)
            if run.step % options.checkpoint_every == 0:
                _checkpoint(run, sampler, watch)
                retries = 0
            if was_read:  # the next speed counts from here, without this step's snapshot and checkpoint
                since = time.perf_counter()
            bar.advance(1, status=status)
        if run.step == begun:  # nothing trained (a finished run run again): its last files stand
            return
        if run.step % options.snapshot_every:
            _snapshot(run, watch)
        if run.step % options.checkpoint_every:
            _checkpoint(run, sampler, watch)


def _read_due(run: Run) -> bool:
    """Whether to read the losses after this step: every metrics_every steps, before a checkpoint
    (which must not keep a diverged model), before a snapshot (which waits for the device anyway,
    and after which a Ctrl-C that came during it stops at once) and at the end; also once Ctrl-C
    or SIGTERM reached any process (the read then stops them all: torchrun kills its processes 30 s
    after it passes a signal on). Reading waits for the device, so steps in between run without
    stopping it."""
    o, step = run.recipe.train, run.step
    return (step % o.metrics_every == 0 or step % o.snapshot_every == 0 or step % o.checkpoint_every == 0
            or step == o.steps or distributed.any_of(run.interrupted))


def _losses(model: Model, returned: Any) -> dict[str, Any]:
    """What ``train_step`` returned, when it is losses by name (numbers or one-element tensors,
    whose size is known without waiting for the device); a PluginError naming the model if not."""
    if isinstance(returned, dict) and all(
            isinstance(value, (int, float)) or (hasattr(value, "numel") and value.numel() == 1)
            for value in returned.values()):
        return returned
    raise PluginError(f"the model {described(model)} returned {returned!r:.80} from train_step(real); return its "
                      'losses by name, as one-element tensors: {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}')


def _read_losses(run: Run, pending: list[dict[str, Any]]) -> tuple[list[dict[str, float]], bool]:
    """The losses of the steps since the last read, averaged over the processes, and whether
    Ctrl-C or SIGTERM reached any process (then all stop after this step): one copy to the host
    and one collective for them all."""
    if run.interrupted and not run.stopped_by:  # set by code (a hook, a benchmark): stop as Ctrl-C does
        run.stopped_by = signal.SIGINT
    flat = {f"{i}/{key}": value for i, row in enumerate(pending) for key, value in row.items()}
    means = distributed.mean_all({**flat, "sigterm": float(run.stopped_by == signal.SIGTERM),
                                  "sigint": float(run.stopped_by == signal.SIGINT)})
    # every process stops after the same step, agreeing on the signal (SIGTERM over SIGINT: the job is being ended)
    sigterm, sigint = means.pop("sigterm"), means.pop("sigint")
    agreed = signal.SIGTERM if sigterm else signal.SIGINT if sigint else 0
    if agreed:  # a signal that came during the collective is not in it: kept, the next read carries it
        run.stopped_by, run.interrupted = agreed, True
    rows: list[dict[str, float]] = [{} for _ in pending]
    for name, value in means.items():
        i, key = name.split("/", 1)
        rows[int(i)][key] = value
    return rows, bool(agreed)


def ramp_learning_rates(model: Model, step: int, options: TrainOptions) -> None:
    """Scale each learning rate of ``model`` for ``step``: full until the last ``lr_ramp_down``
    fraction of the run, then falling linearly to zero at its end. Each rate's full value is kept
    in its parameter group (``initial_lr``, torch's key for it), so a resumed run ramps alike."""
    ramp = options.lr_ramp_down * options.steps
    scale = min(1.0, (options.steps - step) / ramp) if ramp else 1.0
    for optimizer in model.optimizers():
        for group in optimizer.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * scale


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, and what timeout, Slurm, Kubernetes and systemd send


class _stop_on_signals:
    """The first Ctrl-C or SIGTERM asks the loop to stop after the current step (it then saves a
    checkpoint); a second one acts at once, as it would without this."""

    def __init__(self, run: Run):
        self.run = run
        self.previous: dict[int, Any] = {}

    def __enter__(self):
        try:
            for number in STOP_SIGNALS:
                self.previous[number] = signal.signal(number, self._ask)
        except ValueError:  # not the main thread: leave the signals alone
            pass

    def _ask(self, signum, frame):
        self.run.stopped_by = self.run.stopped_by or signum
        self.run.interrupted = True
        signal.signal(signum, self.previous[signum])

    def __exit__(self, *exc):
        for number, handler in self.previous.items():
            signal.signal(number, handler)


def _roll_back(run: Run, sampler: BatchSampler, losses: dict[str, float], failed_at: int, attempt: int) -> None:
    """Go back to the newest checkpoint with fresh randomness, or stop after too many tries."""
    bad = ", ".join(f"{k}={v}" for k, v in losses.items() if not math.isfinite(v))
    if attempt > run.recipe.train.nan_retries:
        # --resume keeps the model's options: lower rates go on as a new run from the last good weights
        lower = " ".join(f"--set model.{key}={value / 2:g}" for key, value in run.recipe.model.as_table().items()
                         if key.startswith("lr") and isinstance(value, float)) or "and lower the model's learning rates"
        raise ArtganError(f"training diverged at step {failed_at} ({bad}) after {attempt - 1} rollbacks; to go on "
                          f"with lower learning rates, start a new run from its last good checkpoint: --set "
                          f"name={run.name}-calmer --set train.init_from={run.folder.checkpoints()[-1]} {lower}")
    newest = run.folder.checkpoints()[-1]
    _restore(run, sampler, checkpoint.load(newest))
    # the same randomness would fail the same way
    torch.manual_seed(run.recipe.seed + 7919 * attempt + RANK_SEEDS * distributed.rank())
    _append_metrics(run, {"step": run.step, "event": "rollback", "failed_at": failed_at,
                          "reason": bad, "attempt": attempt})


def _snapshot(run: Run, watch: CollapseWatch | None) -> None:
    """Save the grid of the fixed samples; ``watch`` measures how varied they are (rank 0)."""
    if not distributed.is_main():
        return
    # in batches of the training's own size, which fits on the device: grid x grid at once may not
    part = max(1, run.recipe.train.batch_size // distributed.world_size())
    images = np.concatenate(list(generate(run.model, run.fixed_z, batch_size=part)))
    png = io.BytesIO()  # encoded first, so that a full disk is told the size needed
    grid(images, columns=run.recipe.train.grid).save(png, format="PNG")
    run.folder.write_snapshot(run.step, png.getvalue())  # getvalue: see checkpoint.save
    if watch is not None:
        _append_metrics(run, {"step": run.step, "event": "snapshot",
                              "diversity": round(watch.check(run.step, images), 4)})
    _announce("on_snapshot", run=run, step=run.step, images=images)


def _collapse_watch(run: Run, dataset: Dataset) -> CollapseWatch | None:
    """The watch over the run's snapshots, knowing the diversity of those before a resume; None
    for a dataset of copies of one picture, against which variety means nothing."""
    spread = reference(dataset.images)
    if spread < ALIKE:
        return None
    watch = CollapseWatch(spread, say, lambda step: _sample_hint(run, step))
    if run.folder.metrics_file.exists():
        for row in run.folder.metrics():
            if row.get("event") == "snapshot":
                watch.remember(row["step"], row["diversity"])
    return watch


def _sample_hint(run: Run, step: int) -> str:
    """How to sample the model as it was at ``step``: from the newest checkpoint kept up to then."""
    kept = _kept_at(run, step)
    if kept is None:
        return (f"no checkpoint of step {step} or before was kept (raise train.keep_checkpoints or "
                f"lower train.checkpoint_every to keep one)")
    return f"to sample the model of then: artgan sample {kept} --n 16 --out picks"


def _kept_at(run: Run, step: int) -> Path | None:
    """The newest checkpoint of ``step`` or before, if one is kept."""
    kept = [path for path in run.folder.checkpoints() if step_of(path) <= step]
    return kept[-1] if kept else None


def _checkpoint(run: Run, sampler: BatchSampler, watch: CollapseWatch | None) -> None:
    """Save a checkpoint; prune older ones but the one ``watch`` saw the most varied samples at."""
    rng = distributed.gather(_rng_state(run.device))  # every process's, for an exact resume
    if not distributed.is_main():
        return
    path = checkpoint.save(run.folder.checkpoint_path(run.step), {
        "artgan": artgan.__version__,
        "model": run.recipe.model.as_table(),
        "resolution": run.recipe.resolution,
        "seed": run.recipe.seed,
        "dataset": run.recipe.dataset,
        "init_from": None if run.recipe.train.init_from is None else stored(run.recipe.train.init_from),
        "step": run.step,
        "images_seen": run.images_seen,
        "seconds": run.seconds,
        "state": _model_state(run.model),
        "trainer": {"sampler": sampler.state_dict(), "rng": rng, "fixed_z": run.fixed_z},
    })
    run.folder.prune_checkpoints(run.recipe.train.keep_checkpoints, watch and _kept_at(run, watch.best_step))
    _announce("on_checkpoint", run=run, step=run.step, path=path)


# What a checkpoint holds besides tensors, dicts, lists and tuples: what torch.load(weights_only=True) reads.
PLAIN = {int, float, bool, str, bytes, type(None), torch.Size, torch.dtype, torch.device}


def _model_state(model: Model) -> dict[str, Any]:
    """``model.state_dict()``, if a checkpoint can hold it; a PluginError naming the model and
    the first value that a checkpoint could not give back (at save, not hours later at resume)."""
    state = model.state_dict()
    odd = _not_plain(state, "")
    if odd is not None:
        raise PluginError(f"the model {described(model)} returned {odd} from state_dict(): checkpoints are read "
                          "without running code, so they hold tensors, numbers, text, None, and dicts, lists and "
                          "tuples of them; convert it (torch.from_numpy(array), float(number))")
    return state


def _not_plain(value: Any, where: str) -> str | None:
    """The first value in ``value`` that is not plain, and where (``where`` names ``value``)."""
    if isinstance(value, torch.Tensor) or type(value) in PLAIN:
        return None
    if type(value) in (dict, OrderedDict):
        items = value.items()
    elif type(value) in (list, tuple):
        items = enumerate(value)
    else:
        return f"a value of type {type(value).__module__}.{type(value).__qualname__} at {where or 'its top'}"
    return next((odd for key, item in items if (odd := _not_plain(item, f"{where}[{key!r}]")) is not None), None)


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


def _resume(run: Run, sampler: BatchSampler, existing: list[Path]) -> None:
    """Continue from the newest of the run's checkpoints ``existing``."""
    newest = existing[-1]
    payload, changed = _resumable(existing, run.recipe)
    fresh = _optimiser_settings(run.model) if changed else None
    try:
        _restore(run, sampler, payload)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:  # same options, other weights
        raise ArtganError(f"{newest}: --resume: the checkpoint's weights do not fit this model "
                          f"({str(exc).splitlines()[0]}); {_older_checkpoint(existing[:-1], newest)}") from None
    if changed:  # hyperparameters only (_resumable): the recipe's learning rates and betas, not the checkpoint's
        for optimizer, groups in zip(run.model.optimizers(), fresh):
            for group, settings in zip(optimizer.param_groups, groups):
                group.pop("initial_lr", None)  # lr_ramp_down's full rate: the new one
                group.update(settings)
        say(f"model options changed since {newest.name}: {', '.join(changed['lines'])}")
    drawn_from = len(payload["trainer"]["sampler"]["order"])
    if drawn_from != sampler.count:  # rebuilt since (pictures added to a folder, a source changed)
        say(f"the dataset has changed since {newest.name} ({drawn_from} images, now {sampler.count}): "
            f"training goes on over the new one")


def _resumable(existing: list[Path], recipe: Recipe, lazy: bool = False) -> tuple[dict[str, Any], dict[str, list]]:
    """The newest of the run's checkpoints ``existing``, read, and how its model options differ from
    ``recipe``'s (hyperparameters only: see _differences); one that cannot be read, or whose model
    is not ``recipe``'s, is an ArtganError that says what to do."""
    newest = existing[-1]
    try:
        payload = checkpoint.load(newest, lazy=lazy, resumable=True)
    except ArtganError as exc:
        raise ArtganError(f"{exc}; {_older_checkpoint(existing[:-1], newest)}") from None
    differ = _differences(payload, recipe)
    if differ and (fixed := _kept_model_options(payload, recipe)) != []:
        differ = _differences(payload, recipe, fixed)
        sets = " ".join(f"--set {key}={value}" for key, value in differ["sets"])
        raise ArtganError(f"{newest}: --resume: this checkpoint's model is not the recipe's "
                          f"({', '.join(differ['lines'])}); resume with its options ({sets}), "
                          f"or give the new run a name (--set name=...)")
    return payload, differ


def _older_checkpoint(older: list[Path], newest: Path) -> str:
    """What to do when the newest checkpoint cannot be used: name the newest older one that
    reads, and the files to move out of the way."""
    unusable = [newest]
    for path in reversed(older):
        try:
            checkpoint.load(path, lazy=True, resumable=True)
        except ArtganError:
            unusable.append(path)
            continue
        return (f"the older {path.name} reads fine: move {', '.join(p.name for p in reversed(unusable))} "
                f"out of {newest.parent}, then --resume again to continue from it")
    return "no older checkpoint reads either; start a new run (--set name=...)"


def _differences(payload: dict[str, Any], recipe: Recipe, only: list[str] | None = None) -> dict[str, list]:
    """How a checkpoint's model differs from ``recipe``'s (in the options ``only``, if given):
    readable lines, and the --set values that would make the recipe match it (empty when nothing
    differs)."""
    # options a newer artgan added to the model are at their defaults in an older checkpoint
    theirs = {**recipe.model.read_now(payload["model"]), "resolution": payload["resolution"]}
    ours = {**recipe.model.as_table(), "resolution": recipe.resolution}
    keys = [key for key in sorted(theirs.keys() | ours.keys()) if theirs.get(key) != ours.get(key)
            and (only is None or key in only)]
    if not keys:
        return {}
    lines = [f"{key} {theirs.get(key, '(unset)')} -> {ours.get(key, '(unset)')}" for key in keys]
    sets = [("resolution" if key == "resolution" else f"model.{key}", json.dumps(theirs[key]))
            for key in keys if key in theirs]
    return {"lines": lines, "sets": sets}


def _starting_point(recipe: Recipe, lazy: bool = False) -> dict[str, Any]:
    """The checkpoint ``train.init_from`` names, read (``lazy``: its tensors left on disk); an
    ArtganError if it does not read or is another model kind or resolution than the recipe's."""
    where, path = f"{recipe.path}: train.init_from", recipe.train.init_from
    try:
        payload = checkpoint.load(path, lazy=lazy)
    except ArtganError as exc:
        raise ArtganError(f"{where}: {exc}") from None
    theirs, ours = payload["model"], recipe.model.as_table()
    if theirs["use"] != ours["use"] or payload["resolution"] != recipe.resolution:
        raise ArtganError(f"{where}: {path} is a {theirs['use']} at {payload['resolution']} px; this recipe "
                          f"trains {ours['use']} at {recipe.resolution} px; start from a checkpoint that matches")
    return payload


def _start_from(run: Run) -> None:
    """Load the weights of the recipe's ``train.init_from`` (a checkpoint of the same model kind
    and resolution) into a fresh run (a "starting point"); the optimisers and the step count
    start afresh."""
    _load_starting_point(run.model, _starting_point(run.recipe), run.recipe)


def _load_starting_point(model: Model, payload: dict[str, Any], recipe: Recipe) -> None:
    """``model.init_from`` the starting point ``payload``; layers of other shapes, or other
    layers, are an ArtganError naming the model options that shape them."""
    where, path = f"{recipe.path}: train.init_from", recipe.train.init_from
    try:
        with warnings.catch_warnings():  # into a meta model, torch warns that every copy is a no-op
            warnings.simplefilter("ignore", UserWarning)
            model.init_from(payload["state"])
    except ArtganError as exc:
        raise ArtganError(f"{where}: {exc}") from None
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:  # layers of other shapes, or other layers
        because = _shaping_differences(payload, recipe) or str(exc).splitlines()[0]
        raise ArtganError(f"{where}: the weights in {path} do not fit this model ({because})") from None


def _kept_model_options(payload: dict[str, Any], recipe: Recipe) -> list[str] | None:
    """The model options a resume of the checkpoint ``payload`` must keep: those that shape the
    layers. The others (learning rates, penalties, augmentation) may change, when the model gives
    the optimisers that hold its learning rates (``optimizers``). None: all of them (another
    model or resolution, no optimisers, or a model the meta device cannot build)."""
    if payload["model"].get("use") != recipe.model.name or payload["resolution"] != recipe.resolution:
        return None
    try:
        _on_meta(recipe).optimizers()
        return _shaping_keys(payload, recipe)
    except Exception:  # noqa: BLE001 - see above
        return None


def _optimiser_settings(model: Model) -> list[list[dict[str, Any]]]:
    """Each optimiser's parameter groups' settings (lr, betas…) as ``model`` was built with them."""
    return [[{key: value for key, value in group.items() if key != "params"} for group in optimizer.param_groups]
            for optimizer in model.optimizers()]


def _shaping_keys(payload: dict[str, Any], recipe: Recipe) -> list[str]:
    """The model options in which ``recipe`` differs from the checkpoint ``payload`` that change
    its layers' shapes (each tried alone, on the meta device; a learning rate may differ)."""
    theirs, ours = recipe.model.read_now(payload["model"]), recipe.model.as_table()
    shapes = _shapes(_on_meta(recipe))
    keys = []
    for key in sorted(theirs.keys() - {"use"}):
        if theirs[key] == ours.get(key):
            continue
        try:
            changed = _shapes(_on_meta(recipe, {key: theirs[key]}))
        except Exception:  # noqa: BLE001 - not a value this model takes alone: not named
            continue
        if changed != shapes:
            keys.append(key)
    return keys


def _shaping_differences(payload: dict[str, Any], recipe: Recipe) -> str:
    """The options of :func:`_shaping_keys` and the --set values that take the checkpoint's;
    empty when no option changes the shapes alone."""
    theirs, ours = recipe.model.read_now(payload["model"]), recipe.model.as_table()
    keys = _shaping_keys(payload, recipe)
    if not keys:
        return ""
    return (f"options that shape its layers differ: {', '.join(f'{key} {theirs[key]} -> {ours.get(key)}' for key in keys)}"
            f"; start from it with {' '.join(f'--set model.{key}={json.dumps(theirs[key])}' for key in keys)}")


def _shapes(model: Model) -> dict[str, tuple[int, ...]]:
    """The shape of every weight and buffer of the model's networks, by network and name."""
    return {f"{index}/{name}": tuple(tensor.shape) for index, network in enumerate(_networks(model))
            for name, tensor in network.state_dict().items()}


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
    _write_status(run, "training", means.get("images_per_s"))


def _append_metrics(run: Run, row: dict[str, Any]) -> None:
    if distributed.is_main():
        run.folder.append_metrics(row)


def _write_status(run: Run, state: State, images_per_s: float | None = None) -> None:
    """status.json, for whoever watches the run (the studio, a notebook): where it is and how
    fast it goes."""
    if not distributed.is_main():
        return
    total = max(run.recipe.train.steps, run.step)  # a run trained past a lowered train.steps ended where it is
    left = total - run.step
    seconds_left = left * run.recipe.train.batch_size / images_per_s if images_per_s and state == "training" else None
    run.folder.write_status(RunStatus(state, run.step, total, images_per_s, seconds_left))


def _write_lock(run: Run, dataset: Dataset, sweep: tuple[str, str] | None) -> None:
    swept = {"sweep": sweep[0], "sweep_label": sweep[1]} if sweep else {}
    run.folder.write_lock(RecipeLock(run.recipe.as_dict(), {
        "artgan": artgan.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "device": run.device, "precision": run.precision, "cpu": precision.cpu_name(),
        **precision.lock_entries(run.device),
        "channels_last": use_channels_last(run.recipe.train, run.device), "processes": distributed.world_size(),
        "dataset": stored(dataset.folder), "dataset_images": dataset.count,
        "command": " ".join(sys.argv), **swept, **_dataset_sizes(run, dataset.count),
    }))


def _dataset_sizes(run: Run, images: int) -> dict[str, list[list[int]]]:
    """The lock's record of the dataset's size by step, up to where this session starts, then this
    session's size if it differs (a timelapse's epochs stay right when the folder grew); written
    only once the size has changed (RecipeLock.dataset_sizes)."""
    sizes = [(step, count) for step, count in run.folder.lock().dataset_sizes if step < run.step] if run.step else []
    if not sizes or sizes[-1][1] != images:
        sizes.append((run.step, images))
    return {"dataset_sizes": [list(pair) for pair in sizes]} if len(sizes) > 1 else {}
