"""Preprocessor "jigsaw": a wide (or tall) image made square by moving its sides, not cutting them.

The StyleGAN2-ADA Simpsons write-up first fitted 16:9 frames into squares this way ("more usable
image per input"): the centre of the frame stays as it is, and the parts a centre crop would throw
away are moved above and below it. The square keeps the image's area: its side is the geometric
mean of width and height, so a 16:9 frame becomes a 12:12 square whose middle 12:9 is the frame's
centre and whose top and bottom 12:1.5 strips hold the left and right 2:9 parts.
"""
from __future__ import annotations

import math
from typing import Literal

from PIL import Image
from pydantic import Field

import artgan


class JigsawOptions(artgan.Options):
    arrangement: Literal["bands", "stretch"] = Field(
        "bands", description='how a side part fills its strip: "bands" cuts it into horizontal bands '
        "laid side by side (nothing is distorted, every band keeps its shapes), \"stretch\" scales it "
        "to the strip (one piece, squashed)")
    min_aspect: float = Field(
        1.25, ge=1, description="images nearer square than this (longer side over shorter) are "
        "centre-cropped instead: their side parts would be slivers")


class Jigsaw(artgan.Preprocessor):
    """Square images that keep all of a wide (or tall) picture: its sides moved above and below
    the centre (left and right of it for a tall picture)."""

    Options = JigsawOptions

    def process(self, item):
        image = item.image
        width, height = image.size
        if max(width, height) < self.options.min_aspect * min(width, height):
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            box = (left, top, left + side, top + side)
            return [item.derive(image.crop(box), jigsaw={"crop": box})]
        tall = height > width
        if tall:  # work on the transposed picture: top and bottom parts go left and right
            image = image.transpose(Image.Transpose.TRANSPOSE)
        square, bands = self._rearranged(image)
        if tall:
            square = square.transpose(Image.Transpose.TRANSPOSE)
        return [item.derive(square, jigsaw={"arrangement": self.options.arrangement, "side": square.width,
                                            "bands": bands})]

    def _rearranged(self, image: Image.Image) -> tuple[Image.Image, int]:
        """A wide image as a square of the same area, and the bands each side part was cut into."""
        width, height = image.size
        side = min(width, round(math.sqrt(width * height)))
        left = (width - side) // 2
        above = (side - height) // 2
        square = Image.new("RGB", (side, side))
        square.paste(image.crop((left, 0, left + side, height)), (0, above))
        slots = [((0, 0, left, height), (0, 0, side, above)),  # left part, above the centre
                 ((left + side, 0, width, height), (0, above + height, side, side))]  # right part, below
        bands = 1
        for part_box, (x0, y0, x1, y1) in slots:
            part = image.crop(part_box)
            if part.width == 0 or y1 == y0:
                continue
            if self.options.arrangement == "bands":
                part, bands = _laid_side_by_side(part, x1 - x0)
            square.paste(part.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS), (x0, y0))
        return square, bands


def _laid_side_by_side(part: Image.Image, width: int) -> tuple[Image.Image, int]:
    """``part`` cut into horizontal bands, top to bottom, laid left to right in a strip about
    ``width`` wide (so it needs scaling by only a few percent to fit its slot)."""
    bands = max(1, round(width / part.width))
    edges = [round(i * part.height / bands) for i in range(bands + 1)]
    strip = Image.new("RGB", (bands * part.width, max(b - a for a, b in zip(edges, edges[1:]))))
    for index, (top, bottom) in enumerate(zip(edges, edges[1:])):
        strip.paste(part.crop((0, top, part.width, bottom)), (index * part.width, 0))
    return strip, bands


@artgan.hookimpl
def register_preprocessors(register):
    register("jigsaw", Jigsaw)
