"""The run folder, runs/NAME/: the one place that knows its layout, for writing and for reading.

```
runs/NAME/
  recipe.lock.toml      the resolved recipe and what trained it (RecipeLock)
  status.json           state, step and pace, rewritten as training goes (RunStatus)
  metrics.jsonl         one JSON line per metrics_every steps, and rollback events
  snapshots/step-*.png  the fixed sample grid at each snapshot
  checkpoints/step-*.pt the newest keep_checkpoints checkpoints
  *.mp4, *.gif          films renderers wrote (films())
  *.png, *.jpg, *.webp  pictures renderers wrote: grid.png, loss.png… (pictures())
```
Beside it, ``runs/.NAME.lock`` keeps a second process out while one trains (artgan.folder_lock).
Runs written by older artgan versions (no status.json, no lock file) read as well.
No torch here: commands that only read a run start fast.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterator, Literal

import numpy as np
from PIL import Image
from pydantic import AfterValidator, ConfigDict, TypeAdapter, ValidationError, with_config

from artgan import folder_lock
from artgan.errors import ArtganError
from artgan.files import (append_line, atomic_path, ensure_writable, readable_size, write_bytes_atomic,
                          write_text_atomic)
from artgan.images import read_rgb
from artgan.kinds import GivenPath
from artgan.portable import read_stored

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from artgan.recipe import Recipe

RUNS = "runs"  # the folder of run folders, beside data/
_SNAPSHOT = re.compile(r"step-(\d+)\.png")
_CHECKPOINT = re.compile(r"step-(\d+)\.pt")
FILMS = ("*.mp4", "*.gif")
PICTURE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}  # what renderers write
PICTURES = tuple(f"*{extension}" for extension in PICTURE_FORMATS)

LOCK_FILE = "recipe.lock.toml"  # the resolved recipe a run trained with; it loads as a recipe, to continue the run
State = Literal["training", "finished", "interrupted", "failed", "unknown"]


@dataclass(frozen=True)
class Snapshot:
    """One saved grid of the run's fixed samples."""

    step: int
    path: Path

    def picture(self) -> Image.Image:
        """The snapshot grid as an RGB image."""
        return Image.fromarray(self.pixels())

    def pixels(self) -> np.ndarray:
        """The snapshot grid as uint8 pixels (H, W, 3): what films read, quicker than picture()."""
        try:
            return read_rgb(self.path)
        except ValueError as exc:
            raise ArtganError(f"{self.path}: {exc}; delete the file or copy it again") from None


class SkippedSnapshots:
    """The snapshots a film could not read: each is skipped (the picture before it holds) and
    all are reported once, when the film is done."""

    SHOWN = 3  # paths named in the report; the rest are counted

    def __init__(self) -> None:
        self.reasons: dict[Path, str] = {}

    def pixels(self, shot: Snapshot) -> np.ndarray | None:
        """``shot``'s pixels, or None (and noted) when its file cannot be read."""
        try:
            return read_rgb(shot.path)
        except ValueError as exc:
            self.reasons.setdefault(shot.path, str(exc))
            return None

    def readable(self, shots: list[Snapshot]) -> list[Snapshot]:
        """``shots`` but those found unreadable so far."""
        return [shot for shot in shots if shot.path not in self.reasons]

    def report(self) -> None:
        """Print one line to stderr naming the skipped snapshots, if any."""
        if not self.reasons:
            return
        count = len(self.reasons)
        named = [f"{path} ({reason})" for path, reason in list(self.reasons.items())[:self.SHOWN]]
        more = f" and {count - self.SHOWN} more" if count > self.SHOWN else ""
        print(f"skipped {count} unreadable snapshot{'s' if count > 1 else ''}: {', '.join(named)}{more}",
              file=sys.stderr, flush=True)

    def none_readable(self, folder: Path) -> ArtganError:
        """The error for a run none of whose snapshots can be read."""
        path, reason = next(iter(self.reasons.items()))
        return ArtganError(f"{folder}: none of its snapshots can be read (first: {path}: {reason}); "
                           "delete them or copy them again")


@dataclass(frozen=True)
class RecipeLock:
    """recipe.lock.toml: the resolved recipe a run trained with, and what it trained on."""

    recipe: dict[str, Any]  # the recipe's tables, defaults filled in (as Recipe.as_dict())
    environment: dict[str, Any]  # the [lock] table: artgan and torch versions, device, dataset…

    # Each value is read as the type artgan wrote, or None: a lock edited by hand reads as far as it can.

    @property
    def grid(self) -> int | None:
        """Samples per row of the run's snapshot grids."""
        return _typed(self.table("train").get("grid"), int)

    @property
    def steps(self) -> int | None:
        """The steps the recipe asked for."""
        return _typed(self.table("train").get("steps"), int)

    @property
    def batch_size(self) -> int | None:
        return _typed(self.table("train").get("batch_size"), int)

    @property
    def resolution(self) -> int | None:
        return _typed(self.recipe.get("resolution"), int)

    @property
    def model(self) -> str | None:
        """The model plugin's name."""
        return _typed(self.table("model").get("use"), str)

    @property
    def init_from(self) -> Path | None:
        """The checkpoint the run started from (train.init_from), as it was written."""
        value = _typed(self.table("train").get("init_from"), str)
        return None if value is None else read_stored(value)

    @property
    def dataset_images(self) -> int | None:
        """How many images the dataset held when the run last started (or resumed)."""
        return _typed(self.environment.get("dataset_images"), int)

    @property
    def dataset_sizes(self) -> list[tuple[int, int]]:
        """(step, images): the dataset's size from each step on where it changed (a folder grown or
        thinned between sessions), first (0, size); empty when the lock records no size."""
        recorded = self.environment.get("dataset_sizes")
        pairs = [tuple(pair) for pair in recorded if isinstance(pair, list) and len(pair) == 2
                 and all(_typed(value, int) is not None for value in pair)] if isinstance(recorded, list) else []
        if pairs and len(pairs) == len(recorded) and pairs[0][0] == 0:
            return pairs
        return [(0, self.dataset_images)] if self.dataset_images else []  # a lock older than the record

    def epochs(self, step: int) -> float | None:
        """Passes over the dataset by ``step``: each stretch's images seen over its dataset's size."""
        sizes, batch = self.dataset_sizes, self.batch_size
        if not sizes or not batch or any(images <= 0 for _, images in sizes):
            return None
        ends = [start for start, _ in sizes[1:]] + [step]
        return sum(max(0, min(end, step) - start) * batch / images for (start, images), end in zip(sizes, ends))

    @property
    def sweep(self) -> str | None:
        """The name of the [sweep] the run is one of (None: not one, or a lock older than this)."""
        return _typed(self.environment.get("sweep"), str)

    @property
    def sweep_label(self) -> str | None:
        """The run's label in its [sweep] (the run is NAME-LABEL)."""
        return _typed(self.environment.get("sweep_label"), str)

    @property
    def dataset(self) -> Path | None:
        """The dataset folder the run trained on, as it was written."""
        value = _typed(self.environment.get("dataset"), str)
        return None if value is None else read_stored(value)

    def table(self, name: str) -> dict[str, Any]:
        """The recipe's table ``name`` ([train], [model]…); empty when it is missing or not a table."""
        value = self.recipe.get(name)
        return value if isinstance(value, dict) else {}


def _typed(value: Any, kind: type) -> Any:
    """``value`` if it is a ``kind`` (True is no number), else None."""
    return value if isinstance(value, kind) and not (kind is int and isinstance(value, bool)) else None


@with_config(ConfigDict(strict=True, allow_inf_nan=False))  # status.json is read only as artgan writes it
@dataclass(frozen=True)
class RunStatus:
    """Where a run is: what status.json says, checked against the folder's lock."""

    state: State  # unknown: a run from before status.json
    step: int = 0
    total_steps: int = 0
    images_per_s: float | None = None
    seconds_left: float | None = None
    updated: float | None = None  # time.time() of the last write


_STATUS = TypeAdapter(RunStatus)


class RunFolder:
    """runs/NAME/: paths, snapshots, checkpoints, metrics, the lock file, the status record."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def of(cls, recipe: Recipe, root: str | Path) -> RunFolder:
        """The folder ``recipe`` trains in under ``root`` (the folder that holds data/ and runs/)."""
        return cls(Path(root) / RUNS / recipe.name)

    @classmethod
    def sweep_film(cls, recipe: Recipe, root: str | Path) -> Path:
        """The film that compares the runs of ``recipe``'s [sweep]: runs/NAME-sweep/compare.mp4."""
        return Path(root) / RUNS / f"{recipe.name}-sweep" / "compare.mp4"

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def snapshots_dir(self) -> Path:
        return self.path / "snapshots"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def lock_file(self) -> Path:
        return self.path / LOCK_FILE

    @property
    def status_file(self) -> Path:
        return self.path / "status.json"

    def exists(self) -> bool:
        return self.path.is_dir()

    @classmethod
    def at(cls, target: str | Path) -> RunFolder:
        """The run folder a renderer's target names: a run folder, or a checkpoint in its
        checkpoints/. A file elsewhere is an ArtganError."""
        target = Path(target)
        if not target.is_file():
            return cls(target)
        run = run_of_checkpoint(target)
        if run is None:
            raise ArtganError(f"{target}: a file outside a run folder; give a run folder like runs/NAME "
                              "(or a checkpoint in its checkpoints/)")
        return cls(run)

    def existing(self) -> RunFolder:
        """This folder; an ArtganError if there is none."""
        if not self.exists():
            raise ArtganError(f"{self.path}: no such run folder; give a folder like runs/NAME")
        return self

    def is_run(self) -> bool:
        """Whether this looks like a run folder (it has a recipe.lock.toml)."""
        return self.lock_file.is_file()

    # -- holding the folder ------------------------------------------------------------------

    @contextmanager
    def hold(self, then: str) -> Iterator[None]:
        """Keep other processes out for the block (see artgan.folder_lock) and delete what a
        killed writer left behind; ``then`` is what to do once the holder named has ended."""
        with folder_lock.hold(self.path, then=then):
            folder_lock.remove_dead_temporaries(self.path)
            yield

    def is_held(self) -> bool:
        """Whether a process (this one included) holds the folder now."""
        return folder_lock.is_held(self.path)

    # -- snapshots ---------------------------------------------------------------------------

    def snapshots_outgrow_disk(self, count: int, grid: int, resolution: int) -> str | None:
        """A warning when ``count`` more snapshots of ``grid`` x ``grid`` samples of ``resolution``
        px, at about half their raw size (what photo-like samples take as PNG; the noise of the
        first steps takes more), would not fit in the free space of the run's disk; else None."""
        needed = count * (grid * resolution) ** 2 * 3 // 2
        free = shutil.disk_usage(self.path if self.path.exists() else self.path.parent).free
        if needed <= free:
            return None
        return (f"warning: {self.path}: its {count:,} more snapshots ({grid} x {grid} samples of {resolution} px) "
                f"may take about {readable_size(needed)}, more than the {readable_size(free)} free on its disk; "
                "raise train.snapshot_every or lower train.grid (snapshots are kept for the timelapse)")

    def snapshot_path(self, step: int) -> Path:
        return self.snapshots_dir / f"step-{step:07d}.png"

    def write_snapshot(self, step: int, png: bytes | memoryview) -> Path:
        path = self.snapshot_path(step)
        write_bytes_atomic(path, png)
        return path

    def snapshots(self) -> list[Snapshot]:
        """The run's snapshots, oldest first; a folder without any is an ArtganError."""
        self.existing()
        found = self._snapshots()
        if not found:
            raise ArtganError(f"{self.path}: no snapshots in {self.snapshots_dir}; "
                              "give a run folder that has trained (artgan train RECIPE)")
        return found

    def _snapshots(self) -> list[Snapshot]:
        """The run's snapshots, oldest first (empty when it has none)."""
        return sorted((Snapshot(step_of(path), path) for path in self.snapshots_dir.glob("step-*.png")
                       if _SNAPSHOT.fullmatch(path.name)), key=lambda shot: shot.step)

    # -- checkpoints -------------------------------------------------------------------------

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints_dir / f"step-{step:07d}.pt"

    def checkpoints(self) -> list[Path]:
        """The run's checkpoints, oldest first (empty when it has none)."""
        return list_checkpoints(self.checkpoints_dir)

    def prune_checkpoints(self, keep: int, spare: Path | None = None) -> None:
        """Delete all but the ``keep`` newest checkpoints (``keep`` 0 keeps all), ``spare`` (the
        one of the run's most varied snapshot, to go back to if the samples collapse) and those
        other runs started from."""
        if keep > 0:
            started_from = self.starting_points_of_others()
            for old in self.checkpoints()[:-keep]:
                if old != spare and old.name not in started_from:
                    old.unlink()

    def starting_points_of_others(self) -> set[str]:
        """The names of this run's checkpoints that the other runs beside it (in the same runs/)
        started from, as their recipe.lock.toml says (train.init_from = runs/NAME/checkpoints/…)."""
        names = set()
        for other in self.path.parent.glob(f"*/{LOCK_FILE}"):
            if other.parent == self.path:
                continue
            try:
                start = RunFolder(other.parent).lock().init_from
            except ArtganError:  # edited by hand into bad TOML: it names nothing
                continue
            if start is not None and start.parent.parts[-2:] == (self.name, "checkpoints"):
                names.add(start.name)
        return names

    # -- metrics -----------------------------------------------------------------------------

    def metrics(self) -> list[dict[str, Any]]:
        """Every line of metrics.jsonl, in order (rollback events included)."""
        path = self.existing().metrics_file
        if not path.exists():
            if self.is_run():  # started, and no metrics_every steps done yet
                return []
            raise ArtganError(f"{path}: not found; give a run folder that has trained (artgan train RECIPE)")
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        if not text.endswith("\n") and lines and json_or_none(lines[-1]) is None:
            lines.pop()  # being written by the training process, or cut by a kill: resume trims it
        rows = []
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise ArtganError(f"{path}: line {number} is not JSON; delete the line") from None
        return rows

    def append_metrics(self, row: dict[str, Any]) -> None:
        append_line(self.metrics_file, json.dumps(row))

    def trim_metrics(self, step: int) -> None:
        """Forget metrics logged after ``step`` (a resume continues from there), and a line cut
        short by a process killed while writing it."""
        if not self.metrics_file.exists():
            return
        written = self.metrics_file.read_text(encoding="utf-8")
        rows = (json_or_none(line) for line in written.splitlines())
        kept = "".join(json.dumps(row) + "\n" for row in rows if isinstance(row, dict) and row.get("step", 0) <= step)
        if kept != written:  # a finished run run again keeps its file as it was
            write_text_atomic(self.metrics_file, kept)

    # -- the lock file -----------------------------------------------------------------------

    def lock(self) -> RecipeLock:
        """recipe.lock.toml; empty (every field None) in a folder without one."""
        path = self.existing().lock_file
        if not path.exists():
            return RecipeLock({}, {})
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ArtganError(f"{path}: not valid TOML ({exc}); was it edited by hand?") from None
        environment = table.pop("lock", {})
        return RecipeLock(table, environment if isinstance(environment, dict) else {})

    def write_lock(self, lock: RecipeLock) -> None:
        import tomli_w

        self.path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.lock_file, tomli_w.dumps({**lock.recipe, "lock": lock.environment}))

    # -- the status record -------------------------------------------------------------------

    def status(self) -> RunStatus:
        """The run's state; "training" only while a process holds the folder (one killed with
        kill -9 left "training" behind: that run is interrupted)."""
        try:
            status = _STATUS.validate_json(self.status_file.read_bytes())
        except FileNotFoundError:  # a run from before status.json: as far as its files go
            return RunStatus("unknown", self.newest_step())
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(map(str, first["loc"])) or "file"
            raise ArtganError(f"{self.status_file}: unreadable ({key}: {first['msg']}); delete it") from None
        except OSError as exc:
            raise ArtganError(f"{self.status_file}: unreadable ({exc}); delete it") from None
        if status.state == "training" and not self.is_held():
            return RunStatus(**{**asdict(status), "state": "interrupted"})
        return status

    def newest_step(self) -> int:
        """The step of the newest checkpoint or snapshot (0 when there are none)."""
        return max([*map(step_of, self.checkpoints()), *(shot.step for shot in self._snapshots())], default=0)

    def write_status(self, status: RunStatus) -> None:
        record = {**asdict(status), "updated": time.time()}
        self.path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.status_file, json.dumps(record))

    # -- what renderers wrote ----------------------------------------------------------------

    def films(self) -> list[Path]:
        """The films renderers wrote into the folder, by name."""
        return _matching(self.path, FILMS)

    def pictures(self) -> list[Path]:
        """The pictures renderers wrote into the folder (grid.png, loss.png…), by name; the
        snapshots are in snapshots/, not among them."""
        return _matching(self.path, PICTURES)


def picture_format(path: str | Path) -> str:
    """The Pillow format a picture named ``path`` is written in (as its extension says, one of
    PICTURES); an ArtganError for another name or a folder, before any work is done."""
    path = Path(path)
    try:
        picture_name(path)
    except ValueError as exc:
        raise ArtganError(f"{path}: {exc}") from None
    ensure_writable(path)
    return PICTURE_FORMATS[path.suffix.lower()]


def picture_name(path: Path) -> Path:
    """``path``, a picture's name; a ValueError for a folder or a name that ends in none of PICTURE_FORMATS."""
    extensions = ", ".join(PICTURE_FORMATS)
    if path.is_dir():
        raise ValueError(f"is a folder; give a file name ending in {extensions}")
    if path.suffix.lower() not in PICTURE_FORMATS:
        raise ValueError(f"pictures are written as {extensions}; give a name ending in one of them")
    return path


# A picture to write: its name is checked as the recipe loads, not after training.
PicturePath = Annotated[GivenPath, AfterValidator(picture_name)]


# JPEG without halving the colours' resolution, which blurs small samples; WebP kept exact, like PNG
SAVED_AS = {"PNG": {}, "JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"lossless": True}}


def save_picture(picture: Image.Image, path: str | Path) -> Path:
    """Write ``picture`` atomically in the format ``path``'s extension names (:func:`picture_format`)."""
    kind = picture_format(path)
    with atomic_path(path) as tmp:
        picture.save(tmp, format=kind, **SAVED_AS[kind])
    return Path(path)


def _matching(folder: Path, patterns: tuple[str, ...]) -> list[Path]:
    """The files of ``folder`` whose names match one of ``patterns``, in any case (G.JPG too)."""
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.is_file()]
    except OSError:
        return []
    return sorted(folder / name for name in names if any(fnmatch(name.lower(), pattern) for pattern in patterns))


def run_of_checkpoint(path: str | Path) -> Path | None:
    """The run folder that holds checkpoint ``path`` in its checkpoints/; None for one elsewhere."""
    folder = Path(path).parent
    run = RunFolder(folder.parent)
    if folder.name == run.checkpoints_dir.name and (run.is_run() or run.snapshots_dir.is_dir()):
        return run.path
    return None


def step_of(path: Path) -> int:
    """The training step a checkpoint's or snapshot's file name says (step-0000200.pt: 200)."""
    return int(path.stem.removeprefix("step-"))


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoints (step-*.pt) in ``folder``, oldest first: a run's checkpoints/ or a loose folder."""
    return sorted(path for path in Path(folder).glob("step-*.pt") if _CHECKPOINT.fullmatch(path.name))


def json_or_none(line: str) -> Any:
    """The JSON value of ``line``; None if it is not JSON (a line cut short by a write)."""
    try:
        return json.loads(line)
    except ValueError:
        return None
