"""A run's metrics.jsonl for the charts: read once, then only the lines appended since, kept as
columns of numbers (8 bytes a value), and thinned to at most POINTS rows, each the mean of the
rows it stands for (and the snapshots' lines to about as many). A run of a million steps charts
as fast as one of a thousand.

A live page asks with the cursor of its last answer (:meth:`MetricsReader.since`) and gets only
what it lacks: the thinned rows from its last one on (the last stands for rows still to come,
so it is sent again) and the events after its last. How many rows a thinned row stands for
moves through 1, 2, 5, 10, 20, 50…, so it changes a few times in a run's life, and the rows
thinned before stay as they were between.

A line not yet ended (a training writing it now) is read once it ends; a line that is not a
JSON object with a whole-number step (cut by a crash, edited by hand) is left out, and so are
values that are neither finite numbers nor text; a file rewritten (a resume forgets the steps
after its checkpoint) is read again from its start, and pages asking since an older cursor
start again."""
from __future__ import annotations

import bisect
import itertools
import math
import os
import re
import secrets
import threading
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artgan.runfolder import json_or_none

POINTS = 2000  # rows a chart gets at most: more than a chart is wide in pixels
# a page's cursor: the reading, the rows a thinned row stands for, the whole thinned rows sent, the
# snapshots' lines a kept one stands for, the events read
CURSOR = re.compile(r"([0-9a-f]{16})\.([0-9]{1,18})\.([0-9]{1,18})\.([0-9]{1,18})\.([0-9]{1,18})")


@dataclass
class _Read:
    """What was read of one metrics.jsonl so far."""

    file: tuple[int, int]  # (device, inode): a rewritten file is a new one
    reading: str = field(default_factory=lambda: secrets.token_hex(8))  # names this reading in cursors
    offset: int = 0  # bytes read: up to the end of the last whole line
    steps: array = field(default_factory=lambda: array("q"))
    columns: dict[str, array] = field(default_factory=dict)  # NaN where a row has no value
    events: list[dict[str, Any]] = field(default_factory=list)  # snapshot and rollback lines, whole
    shots: list[int] = field(default_factory=list)  # the snapshots' lines, by their index in events
    best: int | None = None  # index in events of the most varied snapshot (the first of equals)

    def add(self, row: dict[str, Any]) -> None:
        """Keep a row :func:`cleaned` returned."""
        if "event" in row:
            if row["event"] == "snapshot":
                self.shots.append(len(self.events))
                if _number(row.get("diversity")) and (
                        self.best is None or row["diversity"] > self.events[self.best]["diversity"]):
                    self.best = len(self.events)
            self.events.append(row)
            return
        count = len(self.steps)
        self.steps.append(row["step"])
        for key, value in row.items():
            if key != "step":
                if key not in self.columns:  # a column first logged now: NaN in the rows before
                    self.columns[key] = array("d", [math.nan]) * count
                self.columns[key].append(value)
        for values in self.columns.values():
            if len(values) == count:  # this row has no such column
                values.append(math.nan)


class MetricsReader:
    """Reads runs' metrics files for charts, remembering what it read of each (one request at a
    time: pages ask from the server's threads)."""

    def __init__(self) -> None:
        self._read: dict[Path, _Read] = {}
        self._lock = threading.Lock()

    def since(self, path: Path, cursor: str = "") -> dict[str, Any]:
        """What a page that has what ``cursor`` (an earlier answer's; "" for nothing) stood for
        lacks of ``path``'s charts: ``rows``, thinned loss rows that replace the page's from index
        ``start`` on; ``events``, to add after the page's (of the snapshots' lines every k-th);
        ``best``, the most varied snapshot's line (or None), which the page shows among them;
        ``reset``: the page drops what it has first (the file was rewritten, a thinned row now
        stands for more rows, or the cursor is of another reading, an earlier studio's say); and
        ``cursor``, to ask with next."""
        with self._lock:
            read = self._caught_up(path)
            every, shot_every = _every(len(read.steps)), _every(len(read.shots))
            resumed = _resumed(cursor, read, every, shot_every)
            start, first = resumed or (0, 0)
            return {"reset": resumed is None, "start": start, "rows": _thinned(read, every, start),
                    "events": [read.events[index] for index in _kept(read, shot_every, first)],
                    "best": None if read.best is None else read.events[read.best],
                    "cursor": f"{read.reading}.{every}.{len(read.steps) // every}.{shot_every}.{len(read.events)}"}

    def rows(self, path: Path) -> list[dict[str, Any]]:
        """The loss rows of ``path``, thinned, then its events (the snapshots' lines thinned, the
        most varied one in its place): what :meth:`since` sends a page that has nothing, as one list."""
        with self._lock:
            read = self._caught_up(path)
            kept = set(_kept(read, _every(len(read.shots)), 0)) | ({read.best} - {None})
            return _thinned(read, _every(len(read.steps)), 0) + [read.events[index] for index in sorted(kept)]

    def _caught_up(self, path: Path) -> _Read:
        """What was read of ``path``, with the whole lines appended since; nothing for a file
        that is not there (a run that has not logged yet, or a folder deleted)."""
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                read = self._read.get(path)
                if read is None or read.file != (stat.st_dev, stat.st_ino) or stat.st_size < read.offset:
                    read = self._read[path] = _Read((stat.st_dev, stat.st_ino))
                handle.seek(read.offset)
                text = handle.read()
        except OSError:
            self._read.pop(path, None)
            return _Read((0, 0))
        whole = text.rfind(b"\n") + 1  # a line not ended yet is read when it is
        for line in text[:whole].decode("utf-8", errors="replace").splitlines():
            row = cleaned(json_or_none(line))
            if row is not None:
                read.add(row)
        read.offset += whole
        return read


def cleaned(row: Any) -> dict[str, Any] | None:
    """A metrics line as the studio takes it: a JSON object whose step (0 when it has none) is a
    whole number, keeping of its other values the finite numbers, and in an event the text too
    (its name, a rollback's reason); None for anything else."""
    if not isinstance(row, dict) or not _number(step := row.get("step", 0)) or not isinstance(step, int):
        return None
    text = "event" in row
    return {**{key: value for key, value in row.items() if _number(value) or text and isinstance(value, str)},
            "step": step}


def _number(value: Any) -> bool:
    """Whether ``value`` is a finite number that fits 8 bytes (True is no number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) < 2**63 if isinstance(value, int) else math.isfinite(value)


def _every(count: int) -> int:
    """How many of ``count`` rows one thinned row stands for: the first of 1, 2, 5, 10, 20,
    50… that leaves at most POINTS."""
    every = 1
    for factor in itertools.cycle((2, 2.5, 2)):
        if count <= every * POINTS:
            return every
        every = int(every * factor)


def _resumed(cursor: str, read: _Read, every: int, shot_every: int) -> tuple[int, int] | None:
    """Where a page that has what ``cursor`` stood for goes on in ``read``: (the thinned rows it
    has whole, the events it has); None when it starts again."""
    found = CURSOR.fullmatch(cursor)
    if found is None or (found[1], int(found[2]), int(found[4])) != (read.reading, every, shot_every):
        return None
    start, first = int(found[3]), int(found[5])
    return (start, first) if start <= len(read.steps) // every and first <= len(read.events) else None


def _kept(read: _Read, every: int, first: int) -> list[int]:
    """The events from index ``first`` on, by index: all but the snapshots' lines, of which
    every ``every``-th (by their count from the first)."""
    shot = bisect.bisect_left(read.shots, first)
    left_out = {index for count, index in enumerate(read.shots[shot:], shot) if count % every}
    return [index for index in range(first, len(read.events)) if index not in left_out]


def _thinned(read: _Read, every: int, first: int) -> list[dict[str, Any]]:
    """The loss rows from the ``first``-th thinned row on: the mean of each ``every`` rows (at
    the step of its last row; the last thinned row, of those there are so far)."""
    begin = first * every
    steps = np.frombuffer(read.steps, dtype=np.int64)[begin:] if len(read.steps) else np.zeros(0, np.int64)
    starts = np.arange(0, len(steps), every)
    table = {"step": steps[np.minimum(starts + every - 1, len(steps) - 1)].tolist()}
    for key, values in read.columns.items():
        column = np.frombuffer(values, dtype=np.float64)[begin:]
        if every > 1 and len(column):
            known = np.isfinite(column)
            with np.errstate(invalid="ignore", divide="ignore"):
                column = np.add.reduceat(np.where(known, column, 0), starts) / np.add.reduceat(known, starts)
        table[key] = [None if not math.isfinite(value) else value for value in column.tolist()]
    return [{key: value for key, value in zip(table, row) if value is not None} for row in zip(*table.values())]
