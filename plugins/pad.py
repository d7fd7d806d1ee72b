"""Preprocessor "pad": each image centred on a square, the sides filled in."""
from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field

import artgan
from artgan.images import to_rgb
from artgan.kinds import RGB

PadMode = Literal["color", "edge", "reflect"]


def pad_to_square(image: Image.Image, mode: PadMode | Literal["symmetric"] = "color",
                  color: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """``image`` as RGB (transparency over ``color``), centred on a square as wide as its long side.

    ``mode`` fills the sides with ``color``, repeats the edge pixels ("edge") or mirrors the image
    across its edges ("reflect" leaves the edge pixel out of the mirror image, "symmetric" keeps
    it, as numpy.pad).
    """
    image = to_rgb(image, color)
    width, height = image.size
    side = max(width, height)
    left, top = (side - width) // 2, (side - height) // 2
    if mode == "color":
        canvas = Image.new("RGB", (side, side), color)
        canvas.paste(image, (left, top))
        return canvas
    pixels = np.asarray(image)  # (H, W, 3)
    widths = ((top, side - height - top), (left, side - width - left), (0, 0))
    return Image.fromarray(np.pad(pixels, widths, mode=mode))


def fit_inside(image: Image.Image, side: int, resample=Image.Resampling.LANCZOS) -> Image.Image:
    """``image`` scaled so that its long side is ``side``, each side at least 1 pixel (where
    ImageOps.contain fails on a very thin image that would round to 0 pixels)."""
    scale = side / max(image.size)
    return image.resize(tuple(max(1, min(side, round(length * scale))) for length in image.size), resample)


class PadOptions(artgan.Options):
    mode: PadMode = Field(
        "color", description='fill the sides with `color`, repeat the edge pixels ("edge") '
                             'or mirror the image ("reflect")')
    color: RGB = Field((0, 0, 0), description='RGB of the sides in mode "color"')


class Pad(artgan.Preprocessor):
    """Pad each image to a square, keeping all of it; an image larger than the recipe's
    resolution is scaled down to it first."""

    Options = PadOptions

    def process(self, item):
        image, mode = to_rgb(item.image, self.options.color), self.options.mode
        # Scaled before it is padded: the square of a 30000x1500 panorama at full size would take
        # gigabytes, only to be scaled down to the resolution afterwards. At full size, the edge
        # pixel that "reflect" leaves out hardly shifts the mirror images; scaled down, it would
        # stand for a whole band of the original, so the small picture keeps it ("symmetric").
        if max(image.size) > self.context.resolution:
            image = fit_inside(image, self.context.resolution)
            mode = "symmetric" if mode == "reflect" else mode
        return [item.derive(pad_to_square(image, mode, self.options.color))]


@artgan.hookimpl
def register_preprocessors(register):
    register("pad", Pad)
