"""Batches for the trainer from a dataset's packed uint8 array: on the device when it fits there,
else read from the memory-mapped file one batch ahead of training."""
from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

CHUNK_BYTES = 64 << 20  # the host memory a copy onto the device passes through at a time


def resident_limit(device: str, reserved: int = 0) -> int:
    """Datasets up to this many bytes are copied onto ``device`` once; larger ones stay
    memory-mapped and each batch is read from the file (from the page cache, once read).
    On a GPU: a quarter of what is free once ``reserved`` bytes (what training will add: optimiser
    state, gradients) are set aside; on a CPU: a quarter of the RAM, shared by the processes of a
    torchrun job on this machine."""
    if device.startswith("cuda"):
        return max(0, torch.cuda.mem_get_info(device)[0] - reserved) // 4
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
        ram = 8 << 30
    return ram // 4 // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # torchrun: one copy per process


def copy_to_device(images: np.ndarray, device: str) -> torch.Tensor | None:
    """``images`` (N, H, W, 3) as a uint8 tensor (N, 3, H, W) on ``device``, filled chunk by chunk
    from the (memory-mapped) array, so that host memory never holds more than a chunk of it; None
    when the device has no room for it."""
    cuda = device.startswith("cuda")
    rows = max(1, CHUNK_BYTES // max(1, images[:1].nbytes))
    try:
        resident = torch.empty(images.shape, dtype=torch.uint8, device=device)
        for start in range(0, len(images), rows):
            chunk = torch.from_numpy(np.array(images[start:start + rows]))  # one chunk in host memory
            resident[start:start + rows].copy_(chunk.pin_memory() if cuda else chunk, non_blocking=cuda)
    except torch.OutOfMemoryError:
        return None
    return resident.permute(0, 3, 1, 2)


class BatchSampler:
    """Random batches of a uint8 image array (N, H, W, 3), each image once per epoch; resumable.
    The processes of a torchrun job draw the same batches and each takes its own part of them.
    ``in_memory``: copy the images onto the device once (default: if under resident_limit, with
    ``reserved`` bytes of the device set aside for training), or read each batch from ``images``
    (a memory-mapped file), the next one while the current one trains."""

    def __init__(self, images: np.ndarray, batch_size: int, seed: int, device: str,
                 channels_last: bool = False, part: tuple[int, int] = (0, 1), in_memory: bool | None = None,
                 reserved: int = 0):
        self.rank, self.parts = part
        if batch_size % self.parts:  # training.check has told the user (distributed.check_split)
            raise ValueError(f"BatchSampler: a batch of {batch_size} does not split into {self.parts} parts")
        self.device = device
        self.batch_size = batch_size
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if in_memory is None:
            in_memory = images.nbytes <= resident_limit(device, reserved)
        resident = copy_to_device(images, device) if in_memory else None
        self.images: torch.Tensor | np.ndarray = images if resident is None else resident
        self.count = len(images)
        self.generator = torch.Generator().manual_seed(seed)
        self._reader: ThreadPoolExecutor | None = None
        self._ahead: tuple[dict[str, Any], Future] | None = None  # (state before its draw, its read)
        self._shuffle()

    def _shuffle(self) -> None:
        # The order lives where the images do, so that picking a batch copies nothing else.
        where = self.images.device if isinstance(self.images, torch.Tensor) else "cpu"
        self.order = torch.randperm(self.count, generator=self.generator).to(where)
        self.position = 0

    def _draw(self) -> torch.Tensor:
        """The indices of this process's part of the next batch."""
        picked = []
        needed = self.batch_size
        while needed:
            if self.position == self.count:
                self._shuffle()
            take = self.order[self.position:self.position + needed]
            picked.append(take)
            self.position += len(take)
            needed -= len(take)
        return torch.cat(picked).tensor_split(self.parts)[self.rank]

    def _read(self, mine: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) from the memory-mapped file, in page-locked memory when the device is a
        GPU, so that the copy there runs without holding up the host."""
        batch = torch.from_numpy(np.take(self.images, mine.numpy(), axis=0))
        return batch.pin_memory() if self.device.startswith("cuda") else batch

    def _read_ahead(self) -> tuple[dict[str, Any], Future]:
        if self._reader is None:
            self._reader = ThreadPoolExecutor(1, thread_name_prefix="artgan-batches")
        before = self._state()
        return before, self._reader.submit(self._read, self._draw())

    def next(self) -> torch.Tensor:
        """This process's part of the next batch: floats (B / processes, 3, H, W) in [-1, 1]."""
        if isinstance(self.images, torch.Tensor):
            batch = self.images[self._draw()]
        else:
            _, read = self._ahead or self._read_ahead()
            self._ahead = self._read_ahead()  # the file is read while this batch trains
            batch = read.result().to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        return batch.float().div_(127.5).sub_(1.0).contiguous(memory_format=self.memory_format)

    def _state(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order.cpu(), "position": self.position}

    def state_dict(self) -> dict[str, Any]:
        """Where the batches handed out so far end (a batch read ahead is drawn again on resume)."""
        return self._ahead[0] if self._ahead is not None else self._state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go on where ``state`` ended; on a dataset of another size than the one it was drawn
        from (rebuilt since), with a new epoch over this one."""
        if self._ahead is not None:
            self._ahead[1].result()
            self._ahead = None
        self.generator.set_state(state["generator"])
        if len(state["order"]) != self.count:
            self._shuffle()
            return
        self.order, self.position = state["order"].to(self.order.device), state["position"]
