"""Renderer "compare": the timelapses of several runs side by side, each under its name."""
from __future__ import annotations

import bisect
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
from pydantic import Field

import artgan
from artgan import film
from artgan.credits import end_card
from artgan.runfolder import RunFolder, Snapshot

GAP = 8  # black pixels between runs


class CompareOptions(film.SnapshotFilmOptions):
    runs: list[Path] = Field(default_factory=list, description="run folders shown right of the target run, "
                                                               "in order")
    out: Path | None = Field(None, description="mp4 to write (default: compare.mp4 in the target run folder)")


class Compare(artgan.Renderer):
    """The snapshots of several runs side by side, step for step, each labelled with its name."""

    Options = CompareOptions
    uses_model = False
    targets_option = "runs"  # on the command line, every RUN_DIR after the first fills this option

    def render(self, target):
        o = self.options
        folders = [Path(target), *o.runs]
        shots = [RunFolder(folder).snapshots() for folder in folders]
        steps = sorted({shot.step for run in shots for shot in run})
        out = Path(o.out or Path(target) / "compare.mp4")
        return film.write_film(self._frames(folders, shots, steps), out, o.fps, gif=o.gif, hold=o.hold_frames,
                               total=len(steps), label="compare", **end_card(folders, o))

    def _frames(self, folders: list[Path], shots: list[list[Snapshot]],
                steps: list[int]) -> Iterator[np.ndarray]:
        o = self.options
        side = o.size or max(max(run[0].pixels().shape[:2]) for run in shots)
        names = [folder.resolve().name for folder in folders]
        name_captions = film.Captions(side, max(names, key=len))
        step_captions = film.Captions(side, f"step {steps[-1]:,}")
        # Name bars never change, and runs at the same step share a step bar: each is drawn once.
        name_bars = [name_captions.bar(name) for name in names]
        step_bar = lru_cache(len(shots))(lambda step: step_captions.bar(f"step {step:,}"))
        below = step_captions.height if o.caption else 0
        height, width = name_captions.height + side + below, len(shots) * (side + GAP) - GAP

        pictures = [film.read_ahead(shot.pixels for shot in run) for run in shots]
        run_steps = [[shot.step for shot in run] for run in shots]
        shown: list[tuple[int, np.ndarray] | None] = [None] * len(shots)  # (snapshot index, its pixels)
        for step in steps:
            frame = np.zeros((height, width, 3), np.uint8)
            for i, numbers in enumerate(run_steps):
                # Each run shows its newest snapshot at this step; a shorter run holds its last one.
                # Steps are every run's steps, so each run's pick moves on by one snapshot at most.
                pick = max(bisect.bisect_right(numbers, step) - 1, 0)
                if shown[i] is None or shown[i][0] != pick:
                    shown[i] = (pick, film.scaled(next(pictures[i]), side, o.smooth))
                tile = frame[:, i * (side + GAP):i * (side + GAP) + side]
                tile[:name_captions.height] = name_bars[i]
                pixels = shown[i][1]
                # runs with other aspect ratios are centred, not stretched
                top, left = name_captions.height + (side - pixels.shape[0]) // 2, (side - pixels.shape[1]) // 2
                tile[top:top + pixels.shape[0], left:left + pixels.shape[1]] = pixels
                if o.caption:
                    tile[height - below:] = step_bar(numbers[pick])
            yield frame


@artgan.hookimpl
def register_renderers(register):
    register("compare", Compare)
