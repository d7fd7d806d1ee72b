"""What the studio reads from a workspace (runs/ and data/ under one folder): run summaries for
the gallery, a run's snapshots, metrics, films, recipe and dataset, and the files the app serves.

Every file the app serves is found here by an id the app made (a run's name as listed, a
snapshot's step, a film's name as listed): never by a path from a URL, and never outside the
workspace, even through a symlink. Runs still training, interrupted, broken (a missing snapshot,
a half-written metrics line) or made by older versions read as well as they can."""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from artgan import folder_lock

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SNAPSHOT = re.compile(r"step-(\d+)\.png")
CHECKPOINT = re.compile(r"step-(\d+)\.pt")
FILMS = (".mp4", ".gif", ".webm")
PICTURES = (".png", ".jpg")
TAIL = 16_384  # bytes read from the end of metrics.jsonl for a gallery card


@dataclass
class RunSummary:
    """One run as the gallery shows it."""

    name: str
    state: str  # training, finished, interrupted, empty, unknown
    step: int
    total: int | None
    images_per_s: float | None
    seconds_left: float | None
    model: str
    resolution: int | None
    dataset: str
    dataset_images: int | None
    newest_snapshot: int | None
    sweep: str = ""  # the [sweep] the run is one of ("" when none)


@dataclass
class RunPage:
    """Everything a run's page shows."""

    summary: RunSummary
    snapshots: list[int]
    metrics: list[dict[str, Any]]
    films: list[str]
    recipe: str
    best_step: int | None  # the snapshot whose samples were most varied
    dataset: dict[str, Any] = field(default_factory=dict)


class Workspace:
    """The runs/ and data/ folders of ``root``, read on demand (small caches keyed by mtime)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.runs_dir = self.root / "runs"
        self.data_dir = self.root / "data"
        self._locks: dict[Path, tuple[int, dict[str, Any]]] = {}
        self._summaries: dict[str, tuple[tuple, RunSummary | None]] = {}

    def run_names(self) -> list[str]:
        """The run folders of the workspace, by name."""
        return sorted(name for name in _names(self.runs_dir)
                      if not name.startswith(".") and (self.runs_dir / name).is_dir())

    def run_dir(self, name: str) -> Path | None:
        """The folder of run ``name`` if the workspace lists it, else None."""
        folder = self.runs_dir / name
        return folder if not name.startswith(".") and name in _names(self.runs_dir) and folder.is_dir() else None

    def summaries(self) -> list[RunSummary]:
        """Every run, newest activity first, with its sweep when it was one of several."""
        found = [self.summary(name) for name in self.run_names()]
        found = [summary for summary in found if summary is not None]
        groups: dict[str, list[RunSummary]] = {}
        for summary in found:
            groups.setdefault(summary.name.rsplit("-", 1)[0], []).append(summary)
        for base, members in groups.items():
            if len(members) > 1 and self._swept(base, members):
                for summary in members:
                    summary.sweep = base
        return found

    def _swept(self, base: str, members: list[RunSummary]) -> bool:
        """Whether runs BASE-LABEL are one [sweep]: its compare film's folder (runs/BASE-sweep) is
        there once it ended; while it runs, they were all started by one `artgan run` command."""
        if (self.runs_dir / f"{base}-sweep").is_dir():
            return True
        commands = {self.lock(self.runs_dir / m.name).get("lock", {}).get("command", "") for m in members}
        return len(commands) == 1 and " run " in f" {commands.pop()} "

    def summary(self, name: str) -> RunSummary | None:
        """Run ``name`` as the gallery shows it (None if the folder is not a training run); read
        again only when one of its files or folders changed."""
        folder = self.runs_dir / name
        key = tuple(_changed(folder / part) for part in ("snapshots", "checkpoints", "metrics.jsonl", "recipe.lock.toml"))
        cached = self._summaries.get(name)
        if cached is None or cached[0] != key:
            cached = (key, self._read_summary(name))
            self._summaries[name] = cached
        if cached[1] is None:
            return None
        summary = replace(cached[1])
        summary.state = self._state(folder, summary.step, summary.total)  # a holder's end changes no file here
        return summary

    def _read_summary(self, name: str) -> RunSummary | None:
        folder = self.runs_dir / name
        lock = self.lock(folder)
        if not lock and not (folder / "snapshots").is_dir():
            return None  # not a training run (a sweep's compare folder, a stray folder)
        shots = self.snapshot_steps(name)
        last = _last_row(folder / "metrics.jsonl")
        total = lock.get("train", {}).get("steps")
        step = max([last.get("step", 0), *shots[-1:], *self.checkpoint_steps(name)[-1:]])
        speed = last.get("images_per_s")
        batch = lock.get("train", {}).get("batch_size")
        left = (total - step) * batch / speed if speed and batch and total is not None else None
        return RunSummary(
            name=name, state="", step=step, total=total,
            images_per_s=speed, seconds_left=left, model=lock.get("model", {}).get("use", "?"),
            resolution=lock.get("resolution"), dataset=_dataset_name(lock),
            dataset_images=lock.get("lock", {}).get("dataset_images"),
            newest_snapshot=shots[-1] if shots else None)

    def page(self, name: str) -> RunPage | None:
        """What run ``name``'s page shows; None if the workspace has no such run."""
        folder = self.run_dir(name)
        summary = self.summary(name) if folder else None
        if summary is None:
            return None
        metrics = read_metrics(folder / "metrics.jsonl")
        measured = [row for row in metrics if row.get("event") == "snapshot" and "diversity" in row]
        best = max(measured, key=lambda row: row["diversity"])["step"] if measured else None
        lock_file = folder / "recipe.lock.toml"
        return RunPage(summary, self.snapshot_steps(name), metrics, self.films(name),
                       lock_file.read_text(encoding="utf-8") if lock_file.is_file() else "",
                       best, self.dataset(summary.dataset))

    def lock(self, folder: Path) -> dict[str, Any]:
        """The run's recipe.lock.toml, read once per change; empty when missing or unreadable."""
        path = folder / "recipe.lock.toml"
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return {}
        cached = self._locks.get(path)
        if cached is None or cached[0] != mtime:
            try:
                cached = (mtime, tomllib.loads(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                cached = (mtime, {})
            self._locks[path] = cached
        return cached[1]

    def snapshot_steps(self, name: str) -> list[int]:
        folder = self.runs_dir / name / "snapshots"
        return sorted(int(m.group(1)) for m in map(SNAPSHOT.fullmatch, _names(folder)) if m)

    def films(self, name: str) -> list[str]:
        """The run's films and pictures: in its folder, and in films/ (what the composer writes)."""
        folder = self.runs_dir / name
        found = [n for n in _names(folder) if n.endswith(FILMS + PICTURES) and not n.startswith(".")]
        found += [f"films/{n}" for n in _names(folder / "films") if n.endswith(FILMS) and not n.startswith(".")]
        return sorted(found)

    def dataset(self, name: str) -> dict[str, Any]:
        """A dataset's size, skip reasons and which sheets exist; empty if it is not in data/."""
        folder = self.data_dir / name
        if name not in _names(self.data_dir) or name.startswith(".") or not folder.is_dir():
            return {}
        try:
            meta = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        reasons: dict[str, int] = {}
        for skip in meta.get("skipped", []):
            kind = re.sub(r" \([^()]*\)$", "", str(skip.get("reason", "")))
            reasons[kind] = reasons.get(kind, 0) + 1
        return {"name": name, "count": meta.get("count"), "skipped": reasons, "per_source": meta.get("per_source", {}),
                "sheets": [n for n in ("contact-sheet.png", "skipped-sheet.png") if (folder / n).is_file()]}

    # files, by the ids the app made

    def snapshot_file(self, name: str, step: int) -> Path | None:
        if self.run_dir(name) is None or step not in self.snapshot_steps(name):
            return None
        return self._served(self.runs_dir / name / "snapshots" / f"step-{step:07d}.png")

    def film_file(self, name: str, film: str) -> Path | None:
        if self.run_dir(name) is None or film not in self.films(name):
            return None
        return self._served(self.runs_dir / name / film)

    def dataset_file(self, dataset: str, sheet: str) -> Path | None:
        if sheet not in self.dataset(dataset).get("sheets", []):
            return None
        return self._served(self.data_dir / dataset / sheet)

    def checkpoint_file(self, name: str, step: int | None = None) -> Path | None:
        """Run ``name``'s checkpoint at ``step`` (default: its newest), if the run lists it."""
        steps = self.checkpoint_steps(name) if self.run_dir(name) else []
        step = steps[-1] if step is None and steps else step
        if step not in steps:
            return None
        return self._served(self.runs_dir / name / "checkpoints" / f"step-{step:07d}.pt")

    def _served(self, path: Path) -> Path | None:
        return path if path.is_file() and self._inside(path) else None

    def _inside(self, path: Path) -> bool:
        """Whether ``path``, symlinks followed, is in the workspace's runs/ or data/."""
        real = path.resolve()
        return real.is_relative_to(self.runs_dir.resolve()) or real.is_relative_to(self.data_dir.resolve())

    def checkpoint_steps(self, name: str) -> list[int]:
        folder = self.runs_dir / name / "checkpoints"
        return sorted(int(m.group(1)) for m in map(CHECKPOINT.fullmatch, _names(folder)) if m)

    def _state(self, folder: Path, step: int, total: int | None) -> str:
        if folder_lock.held(folder):
            return "training"
        if total is None:  # an older run without its recipe.lock.toml: how far it meant to go is unknown
            return "unknown"
        if step >= total:
            return "finished"
        return "interrupted" if step else "empty"


def _dataset_name(lock: dict[str, Any]) -> str:
    """The run's dataset folder name: the lock records the folder it trained on (data/NAME)."""
    folder = lock.get("lock", {}).get("dataset") or lock.get("dataset") or "?"
    return Path(str(folder)).name


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The rows of a metrics.jsonl; a line that is not a JSON object (half-written by a training
    that is writing it now, or cut by a crash) is left out."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [row for row in map(_json_or_none, text.splitlines()) if isinstance(row, dict)]


def _last_row(path: Path) -> dict[str, Any]:
    """The last whole loss row of a metrics.jsonl (snapshot and rollback events left out), read
    from the file's end only: a long run's file is megabytes."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, 2) - TAIL))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    rows = (row for row in map(_json_or_none, reversed(lines)) if isinstance(row, dict))
    return next((row for row in rows if "event" not in row), {})


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _changed(path: Path) -> tuple[int, int] | None:
    """What tells that ``path`` changed: its mtime, and its size (two appends may share an mtime tick)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _names(folder: Path) -> list[str]:
    """The names in ``folder`` but symlinks (artgan writes none; one may point out of the workspace)."""
    try:
        with os.scandir(folder) as entries:
            return [entry.name for entry in entries if not entry.is_symlink()]
    except OSError:
        return []
