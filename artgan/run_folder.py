"""Reading a run folder as training writes it: snapshots/, recipe.lock.toml, metrics.jsonl."""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from artgan.errors import ArtganError
from artgan.images import open_rgb

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_SNAPSHOT = re.compile(r"step-(\d+)\.png")


@dataclass(frozen=True)
class Snapshot:
    """One saved grid of the run's fixed samples."""

    step: int
    path: Path

    def picture(self) -> Image.Image:
        """The snapshot grid as an RGB image."""
        try:
            return open_rgb(self.path)
        except ValueError as exc:
            raise ArtganError(f"{self.path}: {exc}; delete the file or copy it again") from None


def snapshots(run_dir: str | Path) -> list[Snapshot]:
    """The run's snapshots, oldest first; a folder without any is an ArtganError."""
    run_dir = _existing(run_dir)
    found = [Snapshot(int(m.group(1)), path) for path in (run_dir / "snapshots").glob("step-*.png")
             if (m := _SNAPSHOT.fullmatch(path.name))]
    if not found:
        raise ArtganError(f"{run_dir}: no snapshots in {run_dir / 'snapshots'}; "
                          "give a run folder that has trained (artgan train RECIPE)")
    return sorted(found, key=lambda shot: shot.step)


def lock(run_dir: str | Path) -> dict[str, Any]:
    """The resolved recipe the run was trained with (empty if the run folder has none)."""
    path = _existing(run_dir) / "recipe.lock.toml"
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ArtganError(f"{path}: not valid TOML ({exc}); was it edited by hand?") from None


def metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every line of the run's metrics.jsonl, in order (rollback events included)."""
    path = _existing(run_dir) / "metrics.jsonl"
    if not path.exists():
        raise ArtganError(f"{path}: not found; give a run folder that has trained (artgan train RECIPE)")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ArtganError(f"{path}: line {number} is not JSON; delete the line") from None
    return rows


def _existing(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ArtganError(f"{run_dir}: no such run folder; give a folder like runs/NAME")
    return run_dir
