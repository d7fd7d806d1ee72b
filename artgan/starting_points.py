"""Starting points: checkpoints a new run can start from (``train.init_from``), found on disk."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from artgan import checkpoint
from artgan.errors import ArtganError
from artgan.kinds import Skipped
from artgan.runfolder import RUNS


@dataclass(frozen=True)
class StartingPoint:
    """A checkpoint and what it was trained as."""

    path: Path
    model: str  # the model plugin ("use" of its [model] table)
    dataset: str  # the name of the dataset it was trained on ("?" in a checkpoint without it)
    resolution: int
    step: int


def find_starting_points(runs: list[Path] | None = None,
                         library: Path | None = None) -> tuple[list[StartingPoint], list[Skipped]]:
    """Every checkpoint (*.pt) under the folders ``runs`` (default: ./runs, when it exists), then
    under the ``library`` folder, each folder's sorted by path; and the .pt files that could not
    be read, with why."""
    folders = list(runs) if runs else [Path(RUNS)] if Path(RUNS).is_dir() else []
    folders += [library] if library is not None else []
    for folder in folders:
        if not folder.is_dir():
            raise ArtganError(f"{folder}: no such folder; give a folder of runs or of checkpoints")
    points, skipped = [], []
    for path in dict.fromkeys(path for folder in folders for path in sorted(folder.rglob("*.pt"))):
        try:
            payload = checkpoint.load(path, lazy=True)  # lazy: large checkpoints are not read in full
        except ArtganError as exc:
            skipped.append(Skipped(str(path), str(exc).removeprefix(f"{path}: ")))
            continue
        points.append(StartingPoint(path, payload["model"]["use"], payload.get("dataset", "?"),
                                    payload["resolution"], payload.get("step", 0)))
    return points, skipped
