"""Preprocessor "mirror": each image and its left-right flip, doubling small datasets."""
from __future__ import annotations

from PIL import ImageOps

import artgan


class Mirror(artgan.Preprocessor):
    """Keep each image and add its horizontal flip."""

    def process(self, item):
        return [item, item.derive(ImageOps.mirror(item.image), mirrored=True)]


@artgan.hookimpl
def register_preprocessors(register):
    register("mirror", Mirror)
