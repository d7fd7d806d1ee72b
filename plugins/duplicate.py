"""Source "duplicate": one image copied N times, optionally each copy jittered a little."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Literal

from PIL import Image
from pydantic import Field, model_validator

import artgan
from artgan.images import open_rgb
from artgan.kinds import GivenPath, RGB
from artgan_plugins.folder import files_fingerprint


class DuplicateOptions(artgan.CreditOptions):
    path: GivenPath | None = Field(None, description="the image file to copy (or set `shape`)")
    shape: Literal["square"] | None = Field(
        None, description="draw the image instead: a `color` square on `background`")
    count: int = Field(500, ge=1, description="how many copies")
    color: RGB = Field((0, 0, 0), description="RGB of the drawn square")
    square: float = Field(
        1.0, gt=0, le=1, description="side of the drawn square, fraction of the image's side "
        "(1: the whole image is the square)")
    background: RGB = Field(
        (255, 255, 255), description="RGB around the drawn square and in the margins that "
        "shifting and shrinking uncover")
    image_size: int | None = Field(
        None, ge=8, le=4096, description="side of the drawn square's image in pixels (default: the recipe's "
                                         "resolution)")
    shift: float = Field(
        0.0, ge=0, le=0.5, description="jitter: each copy moves up to this fraction of the side, in x and y")
    scale: float = Field(
        0.0, ge=0, lt=1, description="jitter: each copy is scaled by a factor in [1 - scale, 1 + scale]")
    hue: float = Field(
        0.0, ge=0, le=0.5, description="jitter: each copy's hue turns by up to this fraction of the colour circle")
    seed: int | None = Field(None, description="seed of the jitter (default: the recipe's seed)")

    @model_validator(mode="after")
    def _one_image(self):
        if (self.path is None) == (self.shape is None):
            raise ValueError("set either `path` (an image file) or `shape` (\"square\")")
        return self


class Duplicate(artgan.Source):
    """One image (a file, or a drawn square) copied N times, with optional shift, scale and hue jitter."""

    Options = DuplicateOptions

    def items(self):
        o = self.options
        image, origin = self._original()
        work = {"work": o.work(Path(origin))} if o.path is not None else {}  # a drawn square is nobody's work
        rng = random.Random(self.context.seed if o.seed is None else o.seed)
        for index in range(o.count):
            jitter = {"shift": (rng.uniform(-o.shift, o.shift), rng.uniform(-o.shift, o.shift)),
                      "scale": rng.uniform(1 - o.scale, 1 + o.scale),
                      "hue": rng.uniform(-o.hue, o.hue)}
            yield artgan.Item(self._jitter(image, **jitter), origin=f"{origin}#{index}",
                              info={"copy": index, **jitter, **work})

    def fingerprint(self) -> str | None:
        """What changes when the image file is replaced (its size and modification time); None
        for a drawn square or a missing file."""
        path = self._path()
        return files_fingerprint([path], path.parent) if path and path.is_file() else None

    def _path(self) -> Path | None:
        """The image file (``~`` was expanded as the options were read), or None for a drawn square."""
        return self.options.path and self.options.path.absolute()

    def _original(self) -> tuple[Image.Image, str]:
        o = self.options
        if o.path is None:
            side = o.image_size or self.context.resolution
            image = Image.new("RGB", (side, side), o.background)
            inner = max(1, round(side * o.square))  # a square too small to see is still drawn
            corner = (side - inner) // 2
            image.paste(o.color, (corner, corner, corner + inner, corner + inner))
            return image, o.shape
        path = self._path()
        if not path.is_file():
            what = "a folder, not an image file" if path.is_dir() else "no such file"
            raise artgan.ArtganError(f"{path}: {what}; set the duplicate source's `path` to an image")
        try:
            return open_rgb(path), str(path)
        except ValueError as exc:
            raise artgan.ArtganError(f"{path}: {exc}; set `path` to a readable image") from None

    def _jitter(self, image: Image.Image, shift, scale, hue) -> Image.Image:
        """A copy of ``image`` moved, scaled and hue-turned (each copy is its own image)."""
        image = image.copy()
        if shift != (0.0, 0.0) or scale != 1.0:
            width, height = image.size
            # Inverse map (output -> input), scaling about the centre, then moving.
            cx, cy = width / 2, height / 2
            dx, dy = shift[0] * width, shift[1] * height
            matrix = (1 / scale, 0, cx - (cx + dx) / scale, 0, 1 / scale, cy - (cy + dy) / scale)
            image = image.transform(image.size, Image.Transform.AFFINE, matrix,
                                    Image.Resampling.BICUBIC, fillcolor=self.options.background)
        if hue:
            h, s, v = image.convert("HSV").split()
            turn = round(hue * 256)
            image = Image.merge("HSV", (h.point(lambda x: (x + turn) % 256), s, v)).convert("RGB")
        return image


@artgan.hookimpl
def register_sources(register):
    register("duplicate", Duplicate)
