"""What the studio reads from a workspace (runs/ and data/ under one folder): run summaries for
the gallery, a run's snapshots, metrics, films, recipe and dataset, and the files the app serves.
Run folders are read through artgan.runfolder.RunFolder, the owner of their layout.

Every file the app serves is found here by an id the app made (a run's name as listed, a
snapshot's or checkpoint's step, a film's name as listed): never by a path from a URL, never
through a symlink, and never outside the workspace. Runs still training, interrupted, broken (a
missing snapshot, a half-written metrics line) or made by older versions read as well as they can."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from artgan.dataset import reason_kind
from artgan.errors import ArtganError
from artgan.runfolder import RUNS, RecipeLock, RunFolder, RunStatus, json_or_none, step_of
from artgan.studio.metrics import MetricsReader, cleaned

TAIL = 16_384  # bytes read from the end of metrics.jsonl for a gallery card
SHEETS = ("contact-sheet.png", "skipped-sheet.png")  # what `artgan dataset --contact-sheet` writes


@dataclass
class RunSummary:
    """One run as the gallery shows it."""

    name: str
    state: str  # training, finished, interrupted, failed, empty, unknown
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
    metrics: list[dict[str, Any]]  # loss rows (thinned to at most metrics.POINTS), then events
    films: list[str]
    pictures: list[str]
    recipe: str
    best_step: int | None  # the snapshot whose samples were most varied
    dataset: dict[str, Any] = field(default_factory=dict)


class Workspace:
    """The runs/ and data/ folders of ``root``, read on demand (a run's summary is read again
    only when one of its files changed)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.runs_dir = self.root / RUNS
        self.data_dir = self.root / "data"
        self._summaries: dict[str, tuple[tuple, RunSummary | None]] = {}
        self._locks: dict[str, tuple[tuple | None, RecipeLock]] = {}
        self._metrics = MetricsReader()

    def run_names(self) -> list[str]:
        """The run folders of the workspace, by name."""
        return sorted(name for name in _names(self.runs_dir)
                      if not name.startswith(".") and (self.runs_dir / name).is_dir())

    def folder(self, name: str) -> RunFolder | None:
        """Run ``name``'s folder if the workspace lists it, else None."""
        path = self.runs_dir / name
        return RunFolder(path) if not name.startswith(".") and name in _names(self.runs_dir) and path.is_dir() else None

    def summaries(self) -> list[RunSummary]:
        """Every run, with its sweep: as its lock records it, or for a run whose lock is older
        than that record, guessed from its name when it is one of several."""
        found = [summary for summary in map(self.summary, self.run_names()) if summary is not None]
        groups: dict[str, list[RunSummary]] = {}
        for summary in found:
            if not summary.sweep:
                groups.setdefault(summary.name.rsplit("-", 1)[0], []).append(summary)
        for base, members in groups.items():
            if len(members) > 1 and self._swept(base, members):
                for summary in members:
                    summary.sweep = base
        return found

    def _swept(self, base: str, members: list[RunSummary]) -> bool:
        """Whether runs BASE-LABEL, made before locks recorded their sweep, are one [sweep]: the
        folder of its compare film (runs/BASE-sweep) is there once it ended; while it runs, one
        `artgan run` command started them all."""
        if (self.runs_dir / f"{base}-sweep").is_dir():
            return True
        commands = {self.lock(m.name).environment.get("command", "") for m in members}
        return len(commands) == 1 and " run " in f" {commands.pop()} "

    def summary(self, name: str) -> RunSummary | None:
        """Run ``name`` as the gallery shows it (None if the folder is not a training run)."""
        folder = RunFolder(self.runs_dir / name)
        key = tuple(map(_changed, (folder.snapshots_dir, folder.checkpoints_dir, folder.metrics_file,
                                   folder.lock_file, folder.status_file)))
        cached = self._summaries.get(name)
        if cached is None or cached[0] != key:
            cached = (key, self._read_summary(folder))
            self._summaries[name] = cached
        if cached[1] is None:
            return None
        # read each time: a run killed with kill -9 changes no file, but no longer holds its folder
        return replace(cached[1], state=_state(folder, cached[1]))

    def lock(self, name: str) -> RecipeLock:
        """Run ``name``'s recipe.lock.toml, read again only when it changed; empty when it has
        none or it does not read (edited by hand into bad TOML)."""
        folder = RunFolder(self.runs_dir / name)
        key = _changed(folder.lock_file)
        cached = self._locks.get(name)
        if cached is None or cached[0] != key:
            try:
                cached = (key, folder.lock())
            except ArtganError:
                cached = (key, RecipeLock({}, {}))
            self._locks[name] = cached
        return cached[1]

    def _read_summary(self, folder: RunFolder) -> RunSummary | None:
        lock = self.lock(folder.name)
        if not lock.recipe and not folder.snapshots_dir.is_dir():
            return None  # not a training run (a sweep's compare folder, a stray folder)
        status = _status(folder)
        shots = self.snapshot_steps(folder.name)
        last = _last_row(folder)
        step = max([status.step, last.get("step", 0), *shots[-1:], *self.checkpoint_steps(folder.name)[-1:]])
        speed = status.images_per_s or last.get("images_per_s")
        batch = lock.batch_size  # a run resumed with a lower train.steps than it reached ended where it is
        total = None if lock.steps is None else max(lock.steps, step)
        left = status.seconds_left
        if left is None and speed and batch and total is not None:
            left = (total - step) * batch / speed
        return RunSummary(
            name=folder.name, state="", step=step, total=total, images_per_s=speed, seconds_left=left,
            model=lock.model or "?", resolution=lock.resolution,
            dataset=lock.dataset.name if lock.dataset else "?", dataset_images=lock.dataset_images,
            newest_snapshot=shots[-1] if shots else None, sweep=lock.sweep or "")

    def page(self, name: str) -> RunPage | None:
        """What run ``name``'s page shows; None if the workspace has no such run."""
        folder = self.folder(name)
        summary = self.summary(name) if folder else None
        if summary is None:
            return None
        metrics = self._metrics.rows(folder.metrics_file)
        measured = [row for row in metrics
                    if row.get("event") == "snapshot" and isinstance(row.get("diversity"), float | int)]
        best = max(measured, key=lambda row: row["diversity"])["step"] if measured else None
        try:
            recipe = folder.lock_file.read_text(encoding="utf-8", errors="replace")
        except OSError:  # a run made before locks, or its folder deleted a moment ago
            recipe = ""
        return RunPage(summary, self.snapshot_steps(name), metrics, self.films(name), self.pictures(name), recipe,
                       best, self.dataset(summary.dataset))

    def live(self, name: str, cursor: str = "", after: int | None = None) -> dict[str, Any] | None:
        """What run ``name``'s open page lacks: its summary, the steps of its snapshots after
        ``after`` (None: all), and its charts' lines since ``cursor`` (see MetricsReader.since);
        None if the workspace has no such run."""
        folder = self.folder(name)
        summary = self.summary(name) if folder else None
        if summary is None:
            return None
        return {"summary": asdict(summary),
                "snapshots": [step for step in self.snapshot_steps(name) if after is None or step > after],
                "metrics": self._metrics.since(folder.metrics_file, cursor)}

    def snapshot_steps(self, name: str) -> list[int]:
        """The steps of run ``name``'s snapshots, oldest first (none: empty)."""
        try:
            return [shot.step for shot in RunFolder(self.runs_dir / name).snapshots() if not shot.path.is_symlink()]
        except ArtganError:
            return []

    def checkpoint_steps(self, name: str) -> list[int]:
        """The steps of run ``name``'s checkpoints kept, oldest first."""
        return [step_of(path) for path in RunFolder(self.runs_dir / name).checkpoints()
                if not path.is_symlink()]

    def films(self, name: str) -> list[str]:
        """The films renderers and the composer wrote into run ``name``'s folder, by file name."""
        return [path.name for path in RunFolder(self.runs_dir / name).films() if not path.is_symlink()]

    def pictures(self, name: str) -> list[str]:
        """The loose pictures renderers wrote into run ``name``'s folder (grid.png, loss.png…), by file name."""
        return [path.name for path in RunFolder(self.runs_dir / name).pictures() if not path.is_symlink()]

    def dataset(self, name: str) -> dict[str, Any]:
        """A dataset's size, skip reasons and which sheets exist; empty if it is not in data/."""
        folder = self.data_dir / name
        if name.startswith(".") or name not in _names(self.data_dir) or not folder.is_dir():
            return {}
        try:
            meta = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        reasons: dict[str, int] = {}
        for skip in meta.get("skipped", []):
            kind = reason_kind(str(skip.get("reason", "")))
            reasons[kind] = reasons.get(kind, 0) + 1
        return {"name": name, "count": meta.get("count"), "skipped": reasons, "per_source": meta.get("per_source", {}),
                "sheets": [sheet for sheet in SHEETS if sheet in _names(folder)]}

    # files, by the ids the app made

    def snapshot_file(self, name: str, step: int) -> Path | None:
        """Run ``name``'s snapshot at ``step``, looked up by its name: a scrubber over a long run's
        thousands of snapshots asks for one at a time, and listing them all costs milliseconds."""
        folder = self.folder(name)
        path = folder.snapshot_path(step) if folder and step >= 0 else None
        return None if path is None or path.is_symlink() else self._served(path)

    def checkpoint_file(self, name: str, step: int | None = None) -> Path | None:
        """Run ``name``'s checkpoint at ``step`` (default: its newest), if the run lists it."""
        folder = self.folder(name)
        steps = self.checkpoint_steps(name) if folder else []
        step = steps[-1] if step is None and steps else step
        if step not in steps:
            return None
        return self._served(folder.checkpoint_path(step))

    def film_file(self, name: str, film: str) -> Path | None:
        folder = self.folder(name)
        if folder is None or film not in self.films(name):
            return None
        return self._served(folder.path / film)

    def picture_file(self, name: str, picture: str) -> Path | None:
        folder = self.folder(name)
        if folder is None or picture not in self.pictures(name):
            return None
        return self._served(folder.path / picture)

    def dataset_file(self, dataset: str, sheet: str) -> Path | None:
        if sheet not in self.dataset(dataset).get("sheets", []):
            return None
        return self._served(self.data_dir / dataset / sheet)

    def _served(self, path: Path) -> Path | None:
        """``path`` if it is a file whose real path (symlinks followed) is in runs/ or data/."""
        real = path.resolve()
        inside = real.is_relative_to(self.runs_dir.resolve()) or real.is_relative_to(self.data_dir.resolve())
        return path if inside and path.is_file() else None


def _state(folder: RunFolder, summary: RunSummary) -> str:
    """The run's state from its status record; for a run made before there was one, from how
    far it got (training runs of this artgan always have one)."""
    state = _status(folder).state
    if state != "unknown" or summary.total is None:
        return state
    if summary.step >= summary.total:
        return "finished"
    return "interrupted" if summary.step else "empty"


def _status(folder: RunFolder) -> RunStatus:
    try:
        return folder.status()
    except ArtganError:  # an unreadable status.json: the rest of the folder still says a lot
        return RunStatus("unknown")


def _last_row(folder: RunFolder) -> dict[str, Any]:
    """The last whole loss row of a run's metrics.jsonl (snapshot and rollback events left out),
    read from the file's end only: a long run's file is megabytes."""
    try:
        with open(folder.metrics_file, "rb") as handle:
            handle.seek(max(0, handle.seek(0, 2) - TAIL))
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    rows = (row for row in map(cleaned, map(json_or_none, reversed(lines))) if row is not None)
    return next((row for row in rows if "event" not in row), {})


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
