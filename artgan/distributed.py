"""Training on several processes with torch.distributed, as started by torchrun.

``torchrun --nproc_per_node=N -m artgan train RECIPE`` starts N processes ("ranks") with RANK,
WORLD_SIZE and LOCAL_RANK in their environment. Each trains on its share of every batch through
DistributedDataParallel, which averages the gradients, so all ranks hold the same weights; only
rank 0 builds the dataset and writes files. Without torchrun every function here works for the
one process there is (rank 0 of 1).
"""
from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import distributed as dist
from torch import nn

from artgan.errors import ArtganError
from artgan.runfolder import step_of


# How long the other ranks wait while rank 0 alone works: builds the dataset (face alignment and
# video decoding can take hours) or renders a sweep's films. A crashed rank 0 does not leave them
# waiting that long: torchrun ends every process of a job when one fails.
WAIT_HOURS = 48
_waiting: Any = None  # the gloo group those waits run in, apart from the training collectives
_flags: Any = None  # a gloo group with the training collectives' timeout, for flags kept on the host


def _timeout(variable: str, default: timedelta | None) -> timedelta | None:
    """A timeout in seconds from the environment variable ``variable``, else ``default``."""
    seconds = os.environ.get(variable)
    return timedelta(seconds=float(seconds)) if seconds else default


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Whether this process writes files and prints (rank 0)."""
    return rank() == 0


def local_rank() -> int:
    """The index of this process among those on its machine: its GPU."""
    return int(os.environ.get("LOCAL_RANK", "0"))


@contextmanager
def session(device: str) -> Iterator[None]:
    """Join the job torchrun started (gloo for CPU training, nccl for CUDA) for the block, and end
    the process when the block is done; a process started without torchrun, or already in a job,
    just runs the block. Training's collectives time out after ARTGAN_DIST_TIMEOUT seconds
    (default: torch's, 10 minutes for nccl); waits for rank 0's work alone after
    ARTGAN_WAIT_TIMEOUT (default: WAIT_HOURS)."""
    global _waiting, _flags
    if not launched() or active():
        yield
        return
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group("nccl" if cuda else "gloo", timeout=_timeout("ARTGAN_DIST_TIMEOUT", None))
    # nccl's own barrier would time out with the training collectives, and would hold a GPU stream
    _waiting = dist.new_group(backend="gloo", timeout=_timeout("ARTGAN_WAIT_TIMEOUT", timedelta(hours=WAIT_HOURS)))
    _flags = dist.new_group(backend="gloo", timeout=_timeout("ARTGAN_DIST_TIMEOUT", None))
    try:
        yield
    finally:
        _waiting = _flags = None
        dist.destroy_process_group()
    _exit_now()


def _exit_now() -> None:
    """End this process of a finished job without the interpreter's teardown. Once
    DistributedDataParallel has held the gloo process group, its threads outlive
    destroy_process_group (torch 2.13), and a process that then shut down normally sometimes
    aborted in that teardown ("terminate called without an active exception"), failing the job
    after all its work was done. Every file is written and closed by now; the output streams are
    flushed here."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def check_split(batch_size: int, resuming: bool) -> None:
    """An ArtganError if ``batch_size`` images do not split evenly over the job's processes; a
    resumed run keeps its batch size, so then the advice is another number of processes."""
    size = world_size()
    if batch_size % size == 0:
        return
    if resuming:
        fits = max(n for n in range(1, size) if batch_size % n == 0)
        raise ArtganError(f"train.batch_size: this run's batches of {batch_size} images do not split evenly over "
                          f"{size} processes, and --resume keeps the batch size; resume on a number of processes "
                          f"that divides {batch_size}, such as {fits}")
    raise ArtganError(f"train.batch_size: {batch_size} images do not split evenly over {size} processes; "
                      f"make it a multiple of {size}")


def check_same_recipe(table: dict[str, Any]) -> None:
    """An ArtganError in every process if the processes of the job read other recipes (``table``:
    this one's, resolved): a file edited as the job started, another copy on another machine,
    other --set values. They would train out of step, or apart, without a word."""
    tables = gather(_flat(table))
    for other, theirs in enumerate(tables[1:], start=1):
        differ = sorted(key for key in tables[0].keys() | theirs.keys() if tables[0].get(key) != theirs.get(key))
        if differ:
            ours, other_value = (json.dumps(t.get(differ[0], "(unset)")) for t in (tables[0], theirs))
            raise ArtganError(f"the processes of the job read other recipes: {differ[0]} is {ours} on rank 0, "
                              f"{other_value} on rank {other}; start every process with the same recipe and "
                              "--set values")


def _flat(value: Any, key: str = "") -> dict[str, Any]:
    """Nested tables (and arrays of tables) as one table by dotted key: ``source[0].count``."""
    if isinstance(value, dict):
        return {k: v for name, item in value.items() for k, v in _flat(item, f"{key}.{name}" if key else name).items()}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return {k: v for i, item in enumerate(value) for k, v in _flat(item, f"{key}[{i}]").items()}
    return {key: value}


class PeerLost(Exception):
    """Another process of the job ended (killed, crashed, its machine gone) while this one trained
    (``checkpoints``: the run's) or waited for it."""

    def __init__(self, checkpoints: list[Path] | None = None):
        other = f" (rank {1 - rank()})" if world_size() == 2 else ""
        kept = "" if checkpoints is None else (
            f"; the checkpoints up to step {step_of(checkpoints[-1])} are kept in {checkpoints[-1].parent}"
            if checkpoints else "; no checkpoint was saved yet")
        super().__init__(f"another process of the job{other} ended{kept}")


def peer_lost(error: BaseException) -> bool:
    """Whether ``error`` is torch.distributed's for a process of the job that went away."""
    gone = ("Connection reset by peer", "Connection closed by peer")
    return active() and not timed_out(error) and (
        isinstance(error, (dist.DistBackendError, dist.DistNetworkError)) or
        isinstance(error, RuntimeError) and any(words in str(error) for words in gone))


def timed_out(error: BaseException) -> bool:
    """Whether ``error`` is torch.distributed's for a wait on the other processes that outlasted
    its timeout (gloo's words, then nccl's)."""
    waited = ("Timed out waiting", "collective operation timeout")
    return active() and isinstance(error, RuntimeError) and any(words in str(error) for words in waited)


def waited_too_long(checkpoints: list[Path]) -> ArtganError:
    """The one line for a training collective that timed out (see :func:`timed_out`): another
    process was busy longer (rank 0 alone writes the snapshots and checkpoints and calls the
    plugins' hooks) or stuck; ``checkpoints``: the run's."""
    kept = (f"the checkpoints up to step {step_of(checkpoints[-1])} are kept in {checkpoints[-1].parent}"
            if checkpoints else "no checkpoint was saved yet")
    return ArtganError(f"waited for another process of the job longer than {_allowed('ARTGAN_DIST_TIMEOUT')}: "
                       f"it was busy (rank 0 writes the snapshots and checkpoints and calls the plugins' hooks) "
                       f"or stuck; {kept}; set ARTGAN_DIST_TIMEOUT to more seconds, then --resume")


def _allowed(variable: str, default: str = "torch's timeout") -> str:
    """How long ``variable`` lets a process wait, as an error says it."""
    seconds = os.environ.get(variable)
    return f"{variable}={seconds} seconds allows" if seconds else f"{default} ({variable} unset) allows"


def _error_key(of_rank: int) -> str:
    return f"artgan/error/{of_rank}"


def leave_error(line: str) -> None:
    """Leave this process's one-line error in the store of the job, where the others read it
    (``errors_left``): only rank 0 prints, so that an error every process meets is said once,
    and yet an error only another rank meets is said too."""
    if not active():
        return
    try:
        store = dist.distributed_c10d._get_default_store()
        store.set(_error_key(rank()), line)
        store.check([_error_key(rank())])  # a round trip: set is not answered, and this process ends next
    except RuntimeError:  # the store went with rank 0, which holds it under launchers other than torchrun
        pass


def errors_left() -> dict[int, str]:
    """The lines the other ranks left with ``leave_error``, by rank."""
    if not active():
        return {}
    keys = {other: _error_key(other) for other in range(world_size()) if other != rank()}
    try:
        store = dist.distributed_c10d._get_default_store()
        return {other: store.get(key).decode() for other, key in keys.items() if store.check([key])}
    except RuntimeError:  # as in leave_error
        return {}


def barrier() -> None:
    if active():
        dist.barrier()


def _wait_for_each_other() -> None:
    """A barrier without the training collectives' timeout: for waits on rank 0's work alone."""
    if not active():
        return
    try:
        dist.barrier(group=_waiting)
    except RuntimeError as exc:
        if not timed_out(exc):
            raise
        raise ArtganError(f"waited for rank 0 to build the dataset (or render a sweep's films) longer than "
                          f"{_allowed('ARTGAN_WAIT_TIMEOUT', f'{WAIT_HOURS} hours')}; set ARTGAN_WAIT_TIMEOUT "
                          "to more seconds") from None


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first; the others wait for it (up to ARTGAN_WAIT_TIMEOUT), then run
    it and find its work done."""
    if not is_main():
        _wait_for_each_other()
    yield
    if is_main():
        _wait_for_each_other()


def wrap(module: nn.Module, device: str) -> nn.Module:
    """``module`` in DistributedDataParallel when several processes train, else as it is. Buffers
    (batch-norm statistics, StyleGAN2's mean w) start as rank 0's and then stay each process's own:
    training reads none of them, and rank 0's are the ones saved."""
    if world_size() == 1:
        return module
    # torch 2.13 renamed the switch that stops DDP from broadcasting buffers before every forward
    # pass (which would overwrite batch-norm statistics a pending backward pass still holds).
    names = inspect.signature(nn.parallel.DistributedDataParallel).parameters
    keep_buffers = {"forward_sync_buffers" if "forward_sync_buffers" in names else "broadcast_buffers": False}
    ids = [torch.device(device).index] if device.startswith("cuda") else None
    for param in module.parameters():
        if 1 in param.shape and param.requires_grad:
            param.register_hook(functools.partial(_strided_as, param))
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, **keep_buffers)


def _strided_as(param: nn.Parameter, grad: torch.Tensor) -> torch.Tensor:
    """``grad`` with ``param``'s strides where only the strides of its size-1 dimensions differ
    (the same memory layout): autograd's layout contract ignores those, but DDP compares every
    stride and warns "Grad strides do not match bucket view strides" once per process. StyleGAN2's
    last layer of D, weight (1, C), gets such a gradient from R1: its two paths through the layer
    meet at the transposed weight (C, 1), whose sum comes out with strides (1, 1)."""
    if grad.stride() == param.stride() or any(
            size != 1 and a != b for size, a, b in zip(grad.shape, grad.stride(), param.stride())):
        return grad
    return grad.as_strided(grad.shape, param.stride())


def _collective_device() -> str:
    return f"cuda:{local_rank()}" if dist.get_backend() == "nccl" else "cpu"


def sum_tensor(value: torch.Tensor) -> torch.Tensor:
    """``value`` (a tensor on the training device) summed over all ranks, on the device: no
    process waits to read it."""
    if world_size() == 1:
        return value
    total = value.clone()
    dist.all_reduce(total)
    return total


def mean_all(values: dict[str, float | torch.Tensor]) -> dict[str, float]:
    """Each value (a number, or a one-element tensor on the training device) averaged over all
    ranks. The tensors are read to the host in one copy, and all values summed in one collective:
    the trainer calls this every few steps for every loss of those steps."""
    on_device = [v.detach().reshape(()).float() for v in values.values() if isinstance(v, torch.Tensor)]
    numbers = [float(v) for v in values.values() if not isinstance(v, torch.Tensor)]
    stacked = torch.stack(on_device) if on_device else torch.zeros(0)
    if world_size() == 1:
        read = stacked.tolist() + numbers
    else:
        where = _collective_device()
        total = torch.cat([stacked.to(where), torch.tensor(numbers, device=where)])
        dist.all_reduce(total)
        read = [value / world_size() for value in total.tolist()]
    tensors, plain = iter(read[:len(on_device)]), iter(read[len(on_device):])
    return {key: next(tensors if isinstance(v, torch.Tensor) else plain) for key, v in values.items()}


def any_of(flag: bool) -> bool:
    """Whether ``flag`` is set in any process of the job: one collective of one number on the
    host, which never waits for a GPU."""
    if world_size() == 1:
        return flag
    total = torch.tensor([float(flag)], device="cpu" if _flags is not None else _collective_device())
    dist.all_reduce(total, group=_flags)  # without a group of its own: a job joined before session()
    return bool(total.item())


def gather(value: Any) -> list[Any]:
    """``value`` of every rank, in rank order (picklable values only)."""
    if world_size() == 1:
        return [value]
    values: list[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values
