"""Preprocessor "blur-filter": drops blurry images, judged near the size they will be trained at."""
from __future__ import annotations

import numpy as np
from PIL import Image
from pydantic import Field

import artgan
from artgan.images import shrunk

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # brightness from RGB (BT.601)


class BlurFilterOptions(artgan.Options):
    min_sharpness: float = Field(
        20.0, gt=0, description="drop an image whose sharpness is below this: the variance of the Laplacian "
        "of its brightness, with its shorter side at twice the recipe's resolution (as video-frames measures "
        "it; a smaller image as it is). Sharp photos measure 200 or more there, a blur of 2 pixels 2-27; "
        "flat pictures (gradients, fog, flat-colour graphics) read as blurry too: lower it for those")


class BlurFilter(artgan.Preprocessor):
    """Drop blurry images (out of focus, shaken, upscaled), judged at twice the recipe's resolution."""

    Options = BlurFilterOptions

    def process(self, item):
        measured = _scaled_down(item.image, 2 * self.context.resolution)
        value = sharpness(measured)
        if value < self.options.min_sharpness:
            width, height = measured.size
            return [artgan.Skipped(item.origin, f"blurry (sharpness {value:.1f} < {self.options.min_sharpness:g}, "
                                                f"measured at {width}x{height})", shrunk(item.image))]
        return [item.derive(item.image, sharpness=round(value, 1))]


def sharpness(picture: Image.Image) -> float:
    """The variance of the Laplacian of ``picture``'s brightness: low for blurry pictures."""
    return laplacian_variance(np.asarray(picture.convert("RGB"), np.float32) @ LUMA)


def laplacian_variance(luma: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: low for blurry images, high for sharp ones."""
    lap = (luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:]) - 4 * luma[1:-1, 1:-1]
    return float(lap.var())


def _scaled_down(picture: Image.Image, side: int) -> Image.Image:
    """``picture`` with its shorter side ``side`` (area-averaged), or as it is when not larger."""
    width, height = picture.size
    scale = side / min(width, height)
    if scale >= 1:
        return picture
    return picture.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX)


@artgan.hookimpl
def register_preprocessors(register):
    register("blur-filter", BlurFilter)
