"""Renderer "compare": the timelapses of several runs side by side, each under its name."""
from __future__ import annotations

import bisect
from functools import lru_cache, partial
from pathlib import Path
from typing import Iterator

import numpy as np
from pydantic import Field

import artgan
from artgan import film
from artgan.credits import end_card
from artgan.kinds import GivenPath
from artgan.runfolder import RunFolder, SkippedSnapshots, Snapshot

GAP = 8  # black pixels between runs


class CompareOptions(film.SnapshotFilmOptions):
    size: int | None = Field(None, ge=16, le=film.MAX_FILM,
                             description="each run's picture: scaled so its longest side has this many pixels "
                                         "(default: as they are)")
    runs: list[GivenPath] = Field(default_factory=list, description="run folders shown right of the target run, "
                                                                    "in order")
    out: film.FilmPath | None = Field(None, description="mp4 to write (default: compare.mp4 in the target run folder)")


class Compare(artgan.Renderer):
    """The snapshots of several runs side by side, step for step, each labelled with its name."""

    Options = CompareOptions
    uses_model = False
    targets_option = "runs"  # on the command line, every RUN_DIR after the first fills this option

    def render(self, target):
        o = self.options
        folders = [RunFolder.at(folder).path for folder in [target, *o.runs]]
        shots = [RunFolder(folder).snapshots() for folder in folders]
        steps = sorted({shot.step for run in shots for shot in run})
        out = Path(o.out or folders[0] / "compare.mp4")
        skipped = SkippedSnapshots()
        written = film.write_film(self._frames(folders, shots, steps, skipped), out, o.fps, gif=o.gif,
                                  hold=o.hold_frames, total=len(steps), label="compare", **end_card(folders, o))
        skipped.report()
        return written

    def _frames(self, folders: list[Path], shots: list[list[Snapshot]], steps: list[int],
                skipped: SkippedSnapshots) -> Iterator[np.ndarray]:
        """A frame per step; an unreadable snapshot (noted in ``skipped``) holds the one before."""
        o = self.options
        side = o.size or max(max(_first_readable(folder, run, skipped).shape[:2])
                             for folder, run in zip(folders, shots))
        names = labels(folders)
        name_captions = film.Captions(side, max(names, key=len))
        step_captions = film.Captions(side, f"step {steps[-1]:,}")
        # Name bars never change, and runs at the same step share a step bar: each is drawn once.
        name_bars = [name_captions.bar(name) for name in names]
        step_bar = lru_cache(len(shots))(lambda step: step_captions.bar(f"step {step:,}"))
        below = step_captions.height if o.caption else 0
        height, width = name_captions.height + side + below, len(shots) * (side + GAP) - GAP

        pictures = [film.read_ahead(partial(skipped.pixels, shot) for shot in run) for run in shots]
        run_steps = [[shot.step for shot in run] for run in shots]
        shown: list[tuple[int, np.ndarray | None] | None] = [None] * len(shots)  # (snapshot index, its pixels)
        for step in steps:
            frame = np.zeros((height, width, 3), np.uint8)
            for i, numbers in enumerate(run_steps):
                # Each run shows its newest snapshot at this step; a shorter run holds its last one.
                # Steps are every run's steps, so each run's pick moves on by one snapshot at most.
                pick = max(bisect.bisect_right(numbers, step) - 1, 0)
                if shown[i] is None or shown[i][0] != pick:
                    picture = next(pictures[i])
                    held = shown[i][1] if shown[i] else None
                    shown[i] = (pick, held if picture is None else film.scaled(picture, side, o.smooth))
                tile = frame[:, i * (side + GAP):i * (side + GAP) + side]
                tile[:name_captions.height] = name_bars[i]
                pixels = shown[i][1]
                if pixels is not None:  # None: the run's snapshots so far are unreadable
                    # runs with other aspect ratios are centred, not stretched
                    top, left = name_captions.height + (side - pixels.shape[0]) // 2, (side - pixels.shape[1]) // 2
                    tile[top:top + pixels.shape[0], left:left + pixels.shape[1]] = pixels
                if o.caption:
                    tile[height - below:] = step_bar(numbers[pick])
            yield frame


def _first_readable(folder: Path, run: list[Snapshot], skipped: SkippedSnapshots) -> np.ndarray:
    """The pixels of the run's first readable snapshot; an ArtganError when none is."""
    for shot in run:
        pixels = skipped.pixels(shot)
        if pixels is not None:
            return pixels
    raise skipped.none_readable(folder)


def labels(folders: list[Path]) -> list[str]:
    """Each run's name, with as many folders above it as it takes to tell apart runs of the
    same name (from different workspaces): a/runs/demo and b/runs/demo."""
    parts = [folder.resolve().parts for folder in folders]
    depths = [1] * len(parts)
    while True:
        names = [str(Path(*path[-depth:])) for path, depth in zip(parts, depths)]
        clashing = [i for i, name in enumerate(names) if names.count(name) > 1 and depths[i] < len(parts[i])]
        if not clashing:
            return names
        for i in clashing:
            depths[i] += 1


@artgan.hookimpl
def register_renderers(register):
    register("compare", Compare)
