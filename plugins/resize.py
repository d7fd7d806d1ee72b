"""Preprocessor "resize": each image as a square of a given side."""
from __future__ import annotations

from typing import Literal

from PIL import Image, ImageOps
from pydantic import Field

import artgan
from artgan.kinds import RGB
from artgan_plugins.pad import fit_inside, pad_to_square

FILTERS = {
    "lanczos": Image.Resampling.LANCZOS,
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}


class ResizeOptions(artgan.Options):
    size: int | None = Field(
        None, ge=1, le=4096, description="side in pixels (default: the recipe's resolution)")
    fit: Literal["crop", "pad", "stretch"] = Field(
        "crop", description='cover the square and crop the centre ("crop"), fit inside it and pad '
                            'with `color` ("pad"), or change the aspect ratio ("stretch")')
    color: RGB = Field(
        (0, 0, 0), description='RGB of the padding when fit is "pad"')
    filter: Literal["lanczos", "bicubic", "bilinear", "nearest"] = Field(
        "lanczos", description="resampling filter; lanczos keeps the most detail when shrinking")


class Resize(artgan.Preprocessor):
    """Resize each image to a square by cropping, padding or stretching."""

    Options = ResizeOptions

    def process(self, item):
        o = self.options
        side = o.size or self.context.resolution
        resample = FILTERS[o.filter]
        image = item.image
        if o.fit == "crop":
            image = ImageOps.fit(image, (side, side), resample)
        elif o.fit == "pad":
            image = pad_to_square(fit_inside(image, side, resample), "color", o.color)
        else:
            image = image.resize((side, side), resample)
        return [item.derive(image)]


@artgan.hookimpl
def register_preprocessors(register):
    register("resize", Resize)
