"""Renderer "compare": the timelapses of several runs side by side, each under its name."""
from __future__ import annotations

import bisect
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image
from pydantic import Field

import artgan
from artgan import film
from artgan.credits import with_end_card
from artgan.runfolder import RunFolder, Snapshot

GAP = 8  # black pixels between runs


class CompareOptions(film.SnapshotFilmOptions):
    runs: list[Path] = Field(default_factory=list, description="run folders shown right of the target run, "
                                                               "in order")
    out: Path | None = Field(None, description="mp4 to write (default: compare.mp4 in the target run folder)")


class Compare(artgan.Renderer):
    """The snapshots of several runs side by side, step for step, each labelled with its name."""

    Options = CompareOptions
    targets_option = "runs"  # on the command line, every RUN_DIR after the first fills this option

    def render(self, target):
        o = self.options
        folders = [Path(target), *o.runs]
        shots = [RunFolder(folder).snapshots() for folder in folders]
        steps = sorted({shot.step for run in shots for shot in run})
        out = Path(o.out or Path(target) / "compare.mp4")
        frames = with_end_card(self._frames(folders, shots, steps), folders, o)
        return film.write_film(frames, out, o.fps, gif=o.gif, hold=0 if o.end_card else o.hold_frames,
                               total=len(steps), label="compare")

    def _frames(self, folders: list[Path], shots: list[list[Snapshot]],
                steps: list[int]) -> Iterator[np.ndarray]:
        o = self.options
        side = o.size or max(max(run[0].picture().size) for run in shots)
        names = [folder.resolve().name for folder in folders]
        name_captions = film.Captions(side, max(names, key=len))
        step_captions = film.Captions(side, f"step {steps[-1]:,}")
        # Name bars never change, and runs at the same step share a step bar: each is drawn once.
        name_bars = [name_captions.bar(name) for name in names]

        @lru_cache(len(shots))
        def step_bar(step: int) -> list[np.ndarray]:
            return [step_captions.bar(f"step {step:,}")] if o.caption else []

        pictures = [film.read_ahead(shot.picture for shot in run) for run in shots]
        run_steps = [[shot.step for shot in run] for run in shots]
        shown: list[tuple[int, np.ndarray] | None] = [None] * len(shots)  # (snapshot index, its tile)
        for step in steps:
            for i, numbers in enumerate(run_steps):
                # Each run shows its newest snapshot at this step; a shorter run holds its last one.
                # Steps are every run's steps, so each run's pick moves on by one snapshot at most.
                pick = max(bisect.bisect_right(numbers, step) - 1, 0)
                if shown[i] is None or shown[i][0] != pick:
                    shown[i] = (pick, self._tile(next(pictures[i]), side, name_bars[i], step_bar(numbers[pick])))
            yield _side_by_side([tile for _, tile in shown])

    def _tile(self, picture: Image.Image, side: int, above: np.ndarray, below: list[np.ndarray]) -> np.ndarray:
        pixels = film.scaled(picture, side, self.options.smooth)
        height, width = pixels.shape[:2]
        tile = np.zeros((above.shape[0] + side + sum(bar.shape[0] for bar in below), side, 3), np.uint8)
        tile[:above.shape[0]] = above
        # runs with other aspect ratios are centred, not stretched
        top, left = above.shape[0] + (side - height) // 2, (side - width) // 2
        tile[top:top + height, left:left + width] = pixels
        if below:
            tile[above.shape[0] + side:] = np.concatenate(below)
        return tile


def _side_by_side(tiles: list[np.ndarray]) -> np.ndarray:
    height, width = tiles[0].shape[:2]
    frame = np.zeros((height, len(tiles) * (width + GAP) - GAP, 3), np.uint8)
    for index, tile in enumerate(tiles):
        frame[:, index * (width + GAP):index * (width + GAP) + width] = tile
    return frame


@artgan.hookimpl
def register_renderers(register):
    register("compare", Compare)
