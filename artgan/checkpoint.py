"""Checkpoints: plain dicts of tensors and numbers, written atomically, read weights-only."""
from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
from pydantic import ValidationError

from artgan import plugins
from artgan.errors import ArtganError
from artgan.files import write_bytes_atomic
from artgan.kinds import Context, Model
from artgan.runfolder import RunFolder, list_checkpoints

FORMAT = 2


def _per_process_rng(payload: dict) -> dict:
    """Format 2 keeps the random state of every process of a torchrun job, not one."""
    trainer = {**payload["trainer"], "rng": [{"cpu": payload["trainer"]["torch_rng"]}]}
    del trainer["torch_rng"]
    return {**payload, "trainer": trainer, "format": 2}


# Upgrades from older formats: UPGRADES[n] turns a format-n dict into a format-(n+1) dict, so
# checkpoints from every earlier artgan release keep loading.
UPGRADES: dict[int, Callable[[dict], dict]] = {1: _per_process_rng}


# What a checkpoint holds (after the format upgrades), with its type, checked on load so that a
# crafted or foreign dict is one clear error and never a KeyError deep inside a command. Every
# checkpoint has the MODEL fields (enough to sample); one written by training also has the
# TRAINING fields, which --resume needs and which must have their type wherever they are present.
MODEL_FIELDS: dict[str, type | tuple[type, ...]] = {"model": dict, "resolution": int, "seed": int, "state": dict}
TRAINING_FIELDS: dict[str, type | tuple[type, ...]] = {
    "dataset": str, "step": int, "images_seen": int, "seconds": (int, float), "trainer": dict}
ZIP = b"PK\x03\x04"  # torch.save writes a zip file; anything else is not one of ours


def save(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus the format number) to ``path`` atomically. It is serialised in
    memory first, so that a disk without room for it is an error before any byte is written."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save({**payload, "format": FORMAT}, buffer)
    # getvalue, not getbuffer: the same bytes without a copy, and no view of the buffer left in a
    # failed write's traceback (Python 3.13 then printed "Exception ignored ... BufferError")
    write_bytes_atomic(path, buffer.getvalue())
    return path


def load(path: str | Path, lazy: bool = False, resumable: bool = False) -> dict[str, Any]:
    """Read a checkpoint without running any code from it; upgrade older formats. ``lazy``
    maps the tensors from the file instead of reading them, for a quick look at the numbers;
    ``resumable`` also requires what training needs to continue from it."""
    path = Path(path)
    if path.is_dir():
        kept = RunFolder(path).checkpoints() or list_checkpoints(path)
        example = f", such as its newest: {kept[-1]}" if kept else " from a run's checkpoints/ folder"
        raise ArtganError(f"{path}: a folder, not a checkpoint; give one .pt file{example}")
    if not path.is_file():
        raise ArtganError(f"{path}: checkpoint not found; give a .pt file from a run's checkpoints/ folder")
    _check_kind(path)
    try:
        with warnings.catch_warnings():  # torch's warnings about odd files: artgan's message says it all
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True, mmap=lazy)
    except pickle.UnpicklingError:
        raise ArtganError(f"{path}: refused: it holds pickled objects or code, not plain tensors; "
                          "artgan only loads checkpoints it wrote") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ArtganError(f"{path}: not a readable checkpoint ({exc.__class__.__name__}); "
                          "the file may be truncated or of another kind") from None
    return _upgraded(path, payload, resumable)


def _check_kind(path: Path) -> None:
    """Refuse, before torch reads a byte of it, a file that is not a torch zip file."""
    with open(path, "rb") as file:
        head = file.read(4)
    if head == ZIP:
        return
    if head[:1] == b"\x80":  # a pickle's protocol opcode: an old-style torch file, or any pickle
        raise ArtganError(f"{path}: refused: a raw pickle (which can hold code), not a checkpoint "
                          "artgan wrote; artgan only loads checkpoints it wrote")
    raise ArtganError(f"{path}: not a checkpoint (not a file torch wrote); give a .pt file "
                      "from a run's checkpoints/ folder")


def _upgraded(path: Path, payload: Any, resumable: bool) -> dict[str, Any]:
    if not isinstance(payload, dict) or "format" not in payload:
        raise ArtganError(f"{path}: not an artgan checkpoint (no format number)")
    version = payload["format"]
    if type(version) is not int:
        raise ArtganError(f"{path}: not an artgan checkpoint (its format is {version!r}, not a number)")
    if version > FORMAT:
        raise ArtganError(f"{path}: written by a newer artgan (format {version}); upgrade artgan")
    while version < FORMAT:
        if version not in UPGRADES:
            raise ArtganError(f"{path}: checkpoint format {version} is not supported")
        try:
            payload = UPGRADES[version](payload)
        except (KeyError, TypeError):
            raise ArtganError(f"{path}: not an artgan checkpoint (format {version} fields missing)") from None
        version = payload["format"]
    required = {**MODEL_FIELDS, **TRAINING_FIELDS} if resumable else MODEL_FIELDS
    odd = [key for key, kind in {**MODEL_FIELDS, **TRAINING_FIELDS}.items()
           if (key in required or key in payload) and not _is(payload.get(key), kind)]
    if not odd and not isinstance(payload["model"].get("use"), str):
        odd = ["model.use"]
    if odd:
        raise ArtganError(f"{path}: not an artgan checkpoint (missing or odd fields: {', '.join(odd)})")
    return payload


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)  # True is an int to Python


def build_model(payload: dict[str, Any], device: str = "cpu") -> Model:
    """The model a checkpoint describes, with its weights loaded, on ``device``, to sample from;
    a checkpoint whose options or weights do not fit its model plugin is an ArtganError.

    Only the weights are loaded (``init_from``, where the plugin has it): optimiser states and
    counters are what resuming a run restores (training.py), and the built-in models make their
    optimisers on first use, which spares a film or ``artgan sample`` 2 s of start-up."""
    table = dict(payload["model"])
    info = plugins.get("model", table.pop("use"))
    try:
        options = info.cls.Options.model_validate(table)
    except ValidationError as exc:
        raise ArtganError(f"its [model] options do not fit the installed {info.name} plugin "
                          f"({exc.errors()[0]['loc']}: {exc.errors()[0]['msg']})") from None
    model = info.cls(options, Context(resolution=payload["resolution"], seed=payload["seed"], device=device))
    try:
        if type(model).init_from is Model.init_from:  # a plugin that cannot load weights alone
            model.load_state_dict(payload["state"])
        else:
            model.init_from(payload["state"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise ArtganError(f"its weights do not fit a {info.name} model at {payload['resolution']} px "
                          f"({str(exc).splitlines()[0]})") from None
    return model
