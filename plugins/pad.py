"""Preprocessor "pad": each image centred on a square, the sides filled in."""
from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field

import artgan
from artgan.images import to_rgb

PadMode = Literal["color", "edge", "reflect"]


def pad_to_square(image: Image.Image, mode: PadMode = "color",
                  color: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """``image`` as RGB (transparency over ``color``), centred on a square as wide as its long side.

    ``mode`` fills the sides with ``color``, repeats the edge pixels ("edge") or mirrors the image
    across its edges ("reflect", as numpy.pad).
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


class PadOptions(artgan.Options):
    mode: PadMode = Field(
        "color", description='fill the sides with `color`, repeat the edge pixels ("edge") '
                             'or mirror the image ("reflect")')
    color: tuple[int, int, int] = Field((0, 0, 0), description='RGB of the sides in mode "color"')


class Pad(artgan.Preprocessor):
    """Pad each image to a square, keeping all of it."""

    Options = PadOptions

    def process(self, item):
        return [item.derive(pad_to_square(item.image, self.options.mode, self.options.color))]


@artgan.hookimpl
def register_preprocessors(register):
    register("pad", Pad)
