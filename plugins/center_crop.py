"""Preprocessor "center-crop": the square at the centre of each image."""
from __future__ import annotations

from pydantic import Field, model_validator

import artgan


class CenterCropOptions(artgan.Options):
    size: int | None = Field(None, ge=1, description="side of the square in pixels; smaller images "
                                                     "are skipped (default: from `scale`)")
    scale: float = Field(
        1.0, gt=0, le=1, description="side of the square, fraction of the short side")

    @model_validator(mode="after")
    def _one_of_size_and_scale(self):
        # Both would name the square's side; refuse rather than silently ignore one.
        if self.size is not None and "scale" in self.model_fields_set:
            raise ValueError("set either `size` or `scale`, not both")
        return self


class CenterCrop(artgan.Preprocessor):
    """Crop the largest centred square, or a smaller one set by `size` or `scale`."""

    Options = CenterCropOptions

    def process(self, item):
        o = self.options
        width, height = item.image.size
        side = o.size or max(1, round(min(width, height) * o.scale))
        if side > min(width, height):
            return [artgan.Skipped(item.origin, f"image {width}x{height} is smaller than the "
                                                f"{side}x{side} crop")]
        left, top = (width - side) // 2, (height - side) // 2
        box = (left, top, left + side, top + side)
        return [item.derive(item.image.crop(box), crop=box)]


@artgan.hookimpl
def register_preprocessors(register):
    register("center-crop", CenterCrop)
