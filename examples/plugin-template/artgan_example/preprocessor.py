"""Preprocessor "example": fewer colours, like a screen print."""
from __future__ import annotations

from pydantic import Field

import artgan


class PosterizeOptions(artgan.Options):
    levels: int = Field(4, ge=2, le=256, description="values kept per colour channel (256 keeps them all)")


class Posterize(artgan.Preprocessor):
    """Rounds each colour channel to a few evenly spaced values."""

    Options = PosterizeOptions

    def process(self, item):
        top = self.options.levels - 1
        table = [round(round(value * top / 255) * 255 / top) for value in range(256)]
        return [item.derive(item.image.point(table * 3), posterize=self.options.levels)]


@artgan.hookimpl
def register_preprocessors(register):
    register("example", Posterize)
