"""Reduced precision: which number format a run trains in, and how a model trains in it.

``train.precision = "auto"`` picks bfloat16 on CUDA GPUs of compute capability 8.0 and up (Ampere
and newer; float16 with loss scaling on older ones, whose cuDNN has no bfloat16 convolutions) and on CPUs that compute bfloat16 natively (the avx512_bf16 or AMX flags); elsewhere
float32, because a CPU without those flags emulates bfloat16 and runs about twice as slowly. In
every format the weights, the optimiser state and the losses stay float32: autocast runs only the
convolutions and matrix products in the lower precision.
"""
from __future__ import annotations

import contextlib
import platform
from pathlib import Path
from typing import Any

import torch

NATIVE_BF16 = frozenset({"avx512_bf16", "amx_bf16"})  # x86 flags of CPUs with bfloat16 arithmetic
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _cpuinfo(path: Path) -> dict[str, str] | None:
    """The fields of /proc/cpuinfo (the first CPU's value of each); None where there is no such
    file (macOS, Windows)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for key, _, value in (line.partition(":") for line in lines):
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags; empty where /proc/cpuinfo does not list them."""
    return frozenset((_cpuinfo(cpuinfo) or {}).get("flags", "").split())


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name, for run records and benchmark reports."""
    fields = _cpuinfo(cpuinfo)
    if fields is None:
        return platform.processor() or platform.machine()
    return fields.get("model name", "unknown")


BF16_CAPABILITY = (8, 0)  # Ampere: the first GPUs with bfloat16 tensor cores and cuDNN convolutions


def capability(device: str) -> tuple[int, int] | None:
    """The CUDA compute capability of ``device`` (e.g. (8, 0) for an A100); None off CUDA."""
    if torch.device(device).type != "cuda":
        return None
    return torch.cuda.get_device_capability(device)


def choose(option: str, device: str, flags: frozenset[str] | None = None,
           cuda_capability: tuple[int, int] | None = None) -> str:
    """The precision (fp32, bf16 or fp16) a run on ``device`` trains in for ``train.precision``
    = ``option``; ``flags`` are the CPU's (read from /proc/cpuinfo when None), ``cuda_capability``
    the GPU's (asked of the device when None). torch.cuda.is_bf16_supported() is no guide: it is
    true on GPUs that can only store bfloat16 (T4, V100), where bf16 convolutions fail or crawl."""
    if option != "auto":
        return option
    kind = torch.device(device).type
    if kind == "cuda":
        return "bf16" if (cuda_capability or capability(device)) >= BF16_CAPABILITY else "fp16"
    if kind == "cpu":
        return "bf16" if NATIVE_BF16 & (cpu_flags() if flags is None else flags) else "fp32"
    return "fp32"


def allow_tf32(device: str) -> bool:
    """Let float32 matrix products and convolutions use TF32 on GPUs that have it (Ampere and
    up: several times faster, with bfloat16's rounding of the inputs, which GAN training does not
    notice); returns whether it is on, for the run's lock file."""
    on = (capability(device) or (0, 0)) >= BF16_CAPABILITY
    if on:  # cuDNN's convolutions already default to TF32; matrix products do not
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"
    return on


def lock_entries(device: str) -> dict[str, Any]:
    """What a run's lock file records of its GPU: the compute capability the precision was chosen
    by, and whether float32 passes run in TF32; nothing off CUDA."""
    found = capability(device)
    if found is None:
        return {}
    return {"cuda_capability": f"{found[0]}.{found[1]}", "tf32": torch.backends.cuda.matmul.fp32_precision == "tf32"}


class MixedPrecision:
    """How a model trains in a run's precision (``context.precision``): forward passes and losses
    inside :meth:`autocast`, each update through :meth:`step`. With fp16, step scales the loss so
    that small gradients do not vanish, and skips updates whose gradients overflowed; keep
    :meth:`state_dict` in the model's state so that a resumed run scales as the first did."""

    def __init__(self, precision: str, device: str):
        self.device_type = torch.device(device).type
        self.dtype = DTYPES.get(precision)
        self.scaler = torch.amp.GradScaler(self.device_type) if precision == "fp16" else None

    def autocast(self):
        """A context in which convolutions and matrix products run in the lower precision."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """Back-propagate ``loss`` (float32) and update ``optimizer``'s weights."""
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
