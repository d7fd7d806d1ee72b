"""Renderer "loss-plot": a picture of a run's losses and speed, from its metrics.jsonl."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import Field

import artgan
from artgan.runfolder import PicturePath, RunFolder, picture_format, save_picture


class LossPlotOptions(artgan.Options):
    smooth: int = Field(1, ge=1, le=100_000, description="average each curve over this many metrics lines")
    width: int = Field(1000, ge=200, le=8000, description="width of the picture in pixels")
    height: int = Field(600, ge=200, le=8000, description="height of the picture in pixels")
    out: PicturePath | None = Field(None, description="picture to write, .png, .jpg or .webp (default: loss.png in the "
                                                      "run folder)")


class LossPlot(artgan.Renderer):
    """A plot of every loss (D and G) and of images/s over the training steps."""

    Options = LossPlotOptions
    uses_model = False

    def render(self, target):
        # matplotlib takes a second to import: only when a plot is drawn, not whenever plugins load.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        o = self.options
        folder = RunFolder.at(target)
        out = Path(o.out or folder.path / "loss.png")
        picture_format(out)
        rows = folder.metrics()
        logged = [row for row in rows if "event" not in row]
        if not logged:
            raise artgan.ArtganError(f"{folder.metrics_file}: no metrics yet; train for more steps")
        steps = np.array([row["step"] for row in logged])
        figure = Figure(figsize=(o.width / 100, o.height / 100), dpi=100, layout="constrained")
        losses, speed = figure.subplots(2, 1, sharex=True, height_ratios=[2, 1])
        for key in sorted({key for row in logged for key in row if key.startswith("loss_")}):
            values = np.array([row.get(key, np.nan) for row in logged], dtype=float)
            losses.plot(steps, _moving_average(values, o.smooth), label=key.removeprefix("loss_").upper(),
                        linewidth=1)
        speed.plot(steps, _moving_average(np.array([row.get("images_per_s", np.nan) for row in logged],
                                                   dtype=float), o.smooth), color="grey", linewidth=1)
        for row in rows:
            if row.get("event") == "rollback":  # where a NaN sent training back to a checkpoint
                for axes in (losses, speed):
                    axes.axvline(row["failed_at"], color="red", linestyle=":", linewidth=1)
        losses.set(ylabel="loss", title=folder.path.resolve().name)
        losses.legend(loc="upper right")
        speed.set(xlabel="step", ylabel="images/s")
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        return [save_picture(Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB"), out)]


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each value and the ``window - 1`` before it; missing (NaN) values are left out."""
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    end = np.arange(1, len(values) + 1)
    start = np.maximum(end - window, 0)
    with np.errstate(invalid="ignore"):  # no value at all in a window: NaN, a gap in the curve
        return (sums[end] - sums[start]) / (counts[end] - counts[start])


@artgan.hookimpl
def register_renderers(register):
    register("loss-plot", LossPlot)
