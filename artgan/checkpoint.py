"""Checkpoints: plain dicts of tensors and numbers, written atomically, read weights-only."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch

from artgan import plugins
from artgan.errors import ArtganError
from artgan.files import atomic_path
from artgan.kinds import Context, Model

FORMAT = 2


def _per_process_rng(payload: dict) -> dict:
    """Format 2 keeps the random state of every process of a torchrun job, not one."""
    trainer = {**payload["trainer"], "rng": [{"cpu": payload["trainer"]["torch_rng"]}]}
    del trainer["torch_rng"]
    return {**payload, "trainer": trainer, "format": 2}


# Upgrades from older formats: UPGRADES[n] turns a format-n dict into a format-(n+1) dict, so
# checkpoints from every earlier artgan release keep loading.
UPGRADES: dict[int, Callable[[dict], dict]] = {1: _per_process_rng}


def save(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the format number) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({**payload, "format": FORMAT}, tmp)
    return path


def load(path: str | Path, lazy: bool = False) -> dict[str, Any]:
    """Read a checkpoint without running any code from it; upgrade older formats. ``lazy``
    maps the tensors from the file instead of reading them, for a quick look at the numbers."""
    path = Path(path)
    if not path.is_file():
        raise ArtganError(f"{path}: checkpoint not found; give a .pt file from a run's checkpoints/ folder")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=lazy)
    except pickle.UnpicklingError:
        raise ArtganError(f"{path}: refused: it holds pickled objects or code, not plain tensors; "
                          "artgan only loads checkpoints it wrote") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise ArtganError(f"{path}: not a readable checkpoint ({exc.__class__.__name__}); "
                          "the file may be truncated or of another kind") from None
    if not isinstance(payload, dict) or "format" not in payload:
        raise ArtganError(f"{path}: not an artgan checkpoint (no format number)")
    version = payload["format"]
    if version > FORMAT:
        raise ArtganError(f"{path}: written by a newer artgan (format {version}); upgrade artgan")
    while version < FORMAT:
        if version not in UPGRADES:
            raise ArtganError(f"{path}: checkpoint format {version} is not supported")
        payload = UPGRADES[version](payload)
        version = payload["format"]
    return payload


def build_model(payload: dict[str, Any], device: str = "cpu") -> Model:
    """The model a checkpoint describes, with its weights loaded, on ``device``."""
    table = dict(payload["model"])
    info = plugins.get("model", table.pop("use"))
    options = info.cls.Options.model_validate(table)
    model = info.cls(options, Context(resolution=payload["resolution"], seed=payload["seed"], device=device))
    model.load_state_dict(payload["state"])
    return model


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}.pt"


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints in ``folder``, oldest first."""
    return sorted(folder.glob("step-*.pt"))


def prune(folder: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints (``keep`` 0 keeps all)."""
    if keep > 0:
        for old in list_checkpoints(folder)[:-keep]:
            old.unlink()

