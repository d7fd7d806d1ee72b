"""Preprocessor "dedupe": drops an image that looks like one kept before it (perceptual hashes)."""
from __future__ import annotations

import numpy as np
from PIL import ImageOps
from pydantic import Field

import artgan
from artgan.images import shrunk

HASHED_SIDE = 128  # the longer side pictures are hashed at
ONES = np.array([bin(byte).count("1") for byte in range(256)], np.uint8)  # the bits set in each byte value


class DedupeOptions(artgan.Options):
    max_distance: int = Field(
        6, ge=0, le=32, description="drop an image whose perceptual hash (pHash, 64 bits) differs from a kept "
        "image's in at most this many bits. Copies resized, recompressed, brightened or greyed differ in 0-4 "
        "(a few up to 8), crops of a few percent and watermarks in 5-40; different photos, aligned faces "
        "too, in 9 or more. 0: only copies that hash alike")
    mirrored: bool = Field(False, description="also drop mirror images of a kept image (put dedupe before "
                                              "`mirror`, or it drops what mirror adds)")


class Dedupe(artgan.Preprocessor):
    """Drop near-duplicates: an image that looks like one kept before it (the same photo resized,
    recompressed or recoloured, as a web search finds it on many sites). The first in source order
    is kept: put blur-filter before it, so that a blurry copy is never the one kept."""

    Options = DedupeOptions
    in_order = True  # compares each image with the ones before it

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self._hashes = np.zeros((1024, 8), np.uint8)  # the kept images' hashes, in order (grown by doubling)
        self._origins: list[str] = []

    def process(self, item):
        digest = perceptual_hash(item.image)
        kept = self._hashes[:len(self._origins)]
        candidates = {"near-duplicate": digest}
        if self.options.mirrored:
            candidates["mirror image"] = perceptual_hash(ImageOps.mirror(item.image))
        for how, candidate in candidates.items():
            distances = ONES[kept ^ candidate].sum(axis=1, dtype=np.int32)
            if len(distances) and distances.min() <= self.options.max_distance:
                nearest = int(distances.argmin())
                return [artgan.Skipped(item.origin, f"{how} (of {self._origins[nearest]}, {distances[nearest]} of "
                                                    f"64 bits differ)", shrunk(item.image))]
        if len(self._origins) == len(self._hashes):
            self._hashes = np.concatenate([self._hashes, np.zeros_like(self._hashes)])
        self._hashes[len(self._origins)] = digest
        self._origins.append(item.origin)
        return [item]


def perceptual_hash(picture) -> np.ndarray:
    """pHash of a PIL image, as OpenCV computes it: 8 bytes, close for pictures that look alike.
    The picture is first area-averaged to HASHED_SIDE pixels (OpenCV's own shrinking to 32 px
    samples a large photo's pixels): copies of other sizes then hash closer, and faster."""
    import cv2  # 0.2 s to import: only when a dataset is built

    pixels = np.asarray(shrunk(picture, HASHED_SIDE).convert("RGB"))[..., ::-1]  # OpenCV's channel order
    return cv2.img_hash.pHash(np.ascontiguousarray(pixels))[0]


@artgan.hookimpl
def register_preprocessors(register):
    register("dedupe", Dedupe)
