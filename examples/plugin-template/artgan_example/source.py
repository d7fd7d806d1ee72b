"""Source "example": every image in a zip file."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image
from pydantic import Field, field_validator

import artgan


class ZipOptions(artgan.Options):
    path: Path = Field(description="the zip file; a relative path is relative to the current directory")
    extensions: list[str] = Field(["jpg", "jpeg", "png", "webp"], min_length=1,
                                  description="file name endings to read, case-insensitive")

    @field_validator("extensions")
    @classmethod
    def _plain_endings(cls, endings: list[str]) -> list[str]:
        # ".JPG" and "jpg" mean the same: keep one spelling
        return [ending.lower().lstrip(".") for ending in endings]


class ZipImages(artgan.Source):
    """Every image in a zip file, in name order; unreadable files are skipped with the reason."""

    Options = ZipOptions

    def items(self):
        path = self.options.path.expanduser()
        if not zipfile.is_zipfile(path):
            raise artgan.ArtganError(f"{path}: not a zip file; set `path` to a .zip of images")
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                if name.rpartition(".")[2].lower() not in self.options.extensions:
                    continue
                origin = f"{path}:{name}"
                try:
                    with Image.open(io.BytesIO(archive.read(name))) as image:
                        picture = image.convert("RGB")
                except Exception as exc:  # a broken file may make a decoder raise anything
                    yield artgan.Skipped(origin, f"unreadable image ({exc})")
                    continue
                yield artgan.Item(picture, origin=origin, info={"zip": str(path), "file": name})


@artgan.hookimpl
def register_sources(register):
    register("example", ZipImages)
