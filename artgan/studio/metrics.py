"""A run's metrics.jsonl for the charts: read once, then only the lines appended since, kept as
columns of numbers (8 bytes a value), and thinned to at most POINTS rows, each the mean of the
rows it stands for (and the snapshots' lines to about as many). A run of a million steps charts
as fast as one of a thousand, and a live page asking again after every new line costs the new
line.

A line not yet ended (a training writing it now) is read once it ends; a line that is not a
JSON object with a whole-number step (cut by a crash, edited by hand) is left out, and so are
values that are neither finite numbers nor text; a file rewritten (a resume forgets the steps after its
checkpoint) is read again from its start."""
from __future__ import annotations

import math
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artgan.runfolder import json_or_none

POINTS = 2000  # rows a chart gets at most: more than a chart is wide in pixels


@dataclass
class _Read:
    """What was read of one metrics.jsonl so far."""

    file: tuple[int, int]  # (device, inode): a rewritten file is a new one
    offset: int = 0  # bytes read: up to the end of the last whole line
    steps: array = field(default_factory=lambda: array("q"))
    columns: dict[str, array] = field(default_factory=dict)  # NaN where a row has no value
    events: list[dict[str, Any]] = field(default_factory=list)  # snapshot and rollback lines, whole

    def add(self, row: dict[str, Any]) -> None:
        """Keep a row :func:`cleaned` returned."""
        if "event" in row:
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
    """Reads runs' metrics files for charts, remembering what it read of each."""

    def __init__(self) -> None:
        self._read: dict[Path, _Read] = {}

    def rows(self, path: Path) -> list[dict[str, Any]]:
        """The loss rows of ``path``, thinned to at most POINTS, then its events; empty when the
        file is not there (a run that has not logged yet, or a folder deleted)."""
        try:
            with open(path, "rb") as handle:
                read = self._caught_up(path, handle)
        except OSError:
            self._read.pop(path, None)
            return []
        return _thinned(read) + _events(read.events)

    def _caught_up(self, path: Path, handle) -> _Read:
        stat = os.fstat(handle.fileno())
        read = self._read.get(path)
        if read is None or read.file != (stat.st_dev, stat.st_ino) or stat.st_size < read.offset:
            read = self._read[path] = _Read((stat.st_dev, stat.st_ino))
        handle.seek(read.offset)
        text = handle.read()
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


def _events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every event; of the snapshots' lines (one a snapshot, charted by its diversity) about
    POINTS: every k-th, and the most varied one, which the page marks."""
    shots = [index for index, event in enumerate(events) if event.get("event") == "snapshot"]
    every = math.ceil(len(shots) / POINTS)
    if every <= 1:
        return events
    measured = [index for index in shots if _number(events[index].get("diversity"))]
    kept = set(shots[::every]) | ({max(measured, key=lambda index: events[index]["diversity"])} if measured else set())
    return [event for index, event in enumerate(events) if index in kept or event.get("event") != "snapshot"]


def _thinned(read: _Read) -> list[dict[str, Any]]:
    """The rows, or when there are more than POINTS, the mean of each run of k rows (at the step
    of its last row), k the smallest that gives at most POINTS."""
    steps = np.frombuffer(read.steps, dtype=np.int64) if len(read.steps) else np.zeros(0, np.int64)
    every = max(1, math.ceil(len(steps) / POINTS))
    starts = np.arange(0, len(steps), every)
    table = {"step": steps[np.minimum(starts + every - 1, len(steps) - 1)].tolist()}
    for key, values in read.columns.items():
        column = np.frombuffer(values, dtype=np.float64)
        if every > 1:
            known = np.isfinite(column)
            with np.errstate(invalid="ignore", divide="ignore"):
                column = np.add.reduceat(np.where(known, column, 0), starts) / np.add.reduceat(known, starts)
        table[key] = [None if not math.isfinite(value) else value for value in column.tolist()]
    return [{key: value for key, value in zip(table, row) if value is not None} for row in zip(*table.values())]

