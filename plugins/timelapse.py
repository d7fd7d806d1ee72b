"""Renderer "timelapse": a run's snapshot grids, from noise to the end of training, as a film."""
from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np
from pydantic import Field

import artgan
from artgan import film
from artgan.credits import end_card
from artgan.images import grid
from artgan.runfolder import RecipeLock, RunFolder, SkippedSnapshots, Snapshot, save_picture


class TimelapseOptions(film.SnapshotFilmOptions):
    samples: int | None = Field(None, ge=1, description="show only the first N samples of each snapshot, "
                                                        "as a square grid")
    strip: int | None = Field(None, ge=0, description="also write OUT-strip.png: sample number N (counted "
                                                      "from 0) across the snapshots, oldest on the left")
    strip_count: int = Field(10, ge=1, le=100, description="snapshots in the progress strip, evenly spaced "
                                                           "from first to last")
    strip_size: int = Field(128, ge=16, le=1024, description="side of each picture in the progress strip, "
                                                             "in pixels")
    out: film.FilmPath | None = Field(None, description="mp4 to write (default: timelapse.mp4 in the run folder)")


class Timelapse(artgan.Renderer):
    """A film of a run's snapshots: its fixed samples, from noise to the end of training."""

    Options = TimelapseOptions
    uses_model = False

    @classmethod
    def check_recipe(cls, options, recipe):
        """The run's snapshots will hold train.grid x train.grid samples: samples and strip must fit,
        and a film of them as they are (no ``size``) must not pass the largest film."""
        _check_picks(options, recipe.train.grid, ", or raise train.grid")
        across = math.ceil(math.sqrt(options.samples)) if options.samples else recipe.train.grid
        if options.size is None and across * recipe.resolution > film.MAX_FILM:
            raise artgan.ArtganError(
                f"size: {across} samples of {recipe.resolution} px side by side make pictures "
                f"{across * recipe.resolution} px wide, larger than a film can be ({film.MAX_FILM} px); set "
                f"size (e.g. {film.MAX_FILM // 2}) to scale them down, or show fewer `samples`")

    def render(self, target):
        o = self.options
        folder = RunFolder.at(target)
        shots, lock = folder.snapshots(), folder.lock()
        columns = self._columns(folder.path, lock)
        out = Path(o.out or folder.path / "timelapse.mp4")
        skipped = SkippedSnapshots()
        frames = self._frames(folder, shots, lock, columns, skipped)
        written = film.write_film(frames, out, o.fps, gif=o.gif, hold=o.hold_frames, total=len(shots),
                                  label="timelapse", **end_card([folder.path], o))
        if o.strip is not None:
            written.append(self._strip(skipped.readable(shots), columns, out.with_name(f"{out.stem}-strip.png")))
        skipped.report()
        return written

    def _columns(self, target: Path, lock: RecipeLock) -> int | None:
        """Samples per row of the snapshot grids, checked against the options that pick samples."""
        o = self.options
        columns = lock.grid
        if o.samples is None and o.strip is None:
            return columns
        if columns is None:
            raise artgan.ArtganError(f"{target}: no {RunFolder(target).lock_file.name}, so the snapshot grid is unknown; "
                                     "leave out samples and strip")
        _check_picks(o, columns)
        return columns

    def _frames(self, folder: RunFolder, shots: list[Snapshot], lock: RecipeLock, columns: int | None,
                skipped: SkippedSnapshots) -> Iterator[np.ndarray]:
        """A frame per snapshot; an unreadable one (noted in ``skipped``) holds the frame before."""
        o = self.options
        captions = frame = None
        for shot, picture in zip(shots, film.read_ahead(partial(skipped.pixels, shot) for shot in shots)):
            if picture is None:
                if frame is not None:
                    yield frame
                continue
            if o.samples is not None:
                picture = np.asarray(grid(_samples(picture, columns, range(o.samples))))
            if not o.caption:
                frame = film.scaled(picture, o.size, o.smooth)
            else:
                if captions is None:  # as wide as the scaled picture, the font fitting the last step's caption
                    width, _ = film.fitted_size(picture.shape[1], picture.shape[0], o.size)
                    captions = film.Captions(width, _caption(shots[-1].step, lock))
                frame = captions.under(picture, _caption(shot.step, lock), size=o.size, smooth=o.smooth)
            yield frame
        if frame is None:
            raise skipped.none_readable(folder.path)

    def _strip(self, shots: list[Snapshot], columns: int, path: Path) -> Path:
        """One sample at evenly spaced snapshots (of ``shots``, the readable ones), side by side:
        how that latent evolved."""
        o = self.options
        spaced = np.linspace(0, len(shots) - 1, min(o.strip_count, len(shots))).round().astype(int)
        picks = [shots[i] for i in spaced]
        captions = film.Captions(o.strip_size, f"step {picks[-1].step:,}")
        pictures = []
        for shot in picks:
            sample = _samples(shot.pixels(), columns, [o.strip])[0]
            if o.caption:
                picture = captions.under(sample, f"step {shot.step:,}", size=o.strip_size, smooth=o.smooth)
            else:
                picture = film.scaled(sample, o.strip_size, o.smooth)
            pictures.append(picture)
        return save_picture(grid(np.stack(pictures), columns=len(pictures), padding=2), path)


def _check_picks(o: TimelapseOptions, columns: int, hint: str = "") -> None:
    """An ArtganError when ``samples`` or ``strip`` asks for more than a ``columns`` x ``columns`` snapshot holds."""
    count = columns * columns
    if o.samples is not None and o.samples > count:
        raise artgan.ArtganError(f"samples: the snapshots hold {count} samples; choose at most {count}{hint}")
    if o.strip is not None and o.strip >= count:
        raise artgan.ArtganError(f"strip: the snapshots hold samples 0 to {count - 1}; choose one of them{hint}")


def _samples(pixels: np.ndarray, columns: int, indices) -> np.ndarray:
    """Samples ``indices`` of a snapshot grid with ``columns`` samples per row, as (N, s, s, 3)."""
    side = pixels.shape[1] // columns
    tops_lefts = [(i // columns * side, i % columns * side) for i in indices]
    return np.stack([pixels[top:top + side, left:left + side] for top, left in tops_lefts])


def _caption(step: int, lock: RecipeLock) -> str:
    """"step 1,500 · epoch 19.2 · 96,000 images"; images seen = step x batch size."""
    batch, epochs = lock.batch_size, lock.epochs(step)
    if not batch:
        return f"step {step:,}"
    epoch = f" · epoch {epochs:.1f}" if epochs is not None else ""
    return f"step {step:,}{epoch} · {step * batch:,} images"


@artgan.hookimpl
def register_renderers(register):
    register("timelapse", Timelapse)
