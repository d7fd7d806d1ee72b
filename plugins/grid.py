"""Renderer "grid": one picture of samples from a checkpoint."""
from __future__ import annotations


import numpy as np
from pydantic import Field, model_validator

import artgan
from artgan.images import grid
from artgan.kinds import Seed
from artgan.runfolder import PicturePath, picture_format, save_picture


class GridOptions(artgan.Options):
    count: int = Field(64, ge=1, le=4096, description="how many samples")
    columns: int | None = Field(None, ge=1, le=4096, description="samples per row (default: a square)")
    seed: Seed = Field(0, description="seed of the latents; the same seed gives the same grid")
    truncation: float = Field(1.0, gt=0, description="pull samples toward the average (below 1) or away (above)")
    padding: int = Field(2, ge=0, le=256, description="pixels between samples")
    out: PicturePath | None = Field(None, description="picture to write, .png, .jpg or .webp (default: grid.png in the "
                                                      "run folder)")

    @model_validator(mode="after")
    def _columns_filled(self):
        if self.columns is not None and self.columns > self.count:  # the rest would be empty padding
            raise ValueError(f"columns ({self.columns}) is more than count ({self.count}); lower columns")
        return self


class Grid(artgan.Renderer):
    """A picture of samples in a grid, from the newest checkpoint of a run (or a given checkpoint)."""

    Options = GridOptions

    def render(self, target):
        from artgan import sampling  # torch: imported when sampling, not when plugins are listed

        o = self.options
        if o.out is not None:
            picture_format(o.out)  # a bad name is refused before the model is loaded
        payload, path, folder = sampling.open_checkpoint(target)
        model = sampling.model_of(payload, path, self.context.device)
        z = sampling.latents(model, o.count, o.seed)
        images = np.concatenate(list(sampling.generate(model, z, o.truncation)))
        out = o.out or sampling.default_out(path, folder, "grid.png")
        return [save_picture(grid(images, columns=o.columns, padding=o.padding), out)]


@artgan.hookimpl
def register_renderers(register):
    register("grid", Grid)
