"""Source "folder": every image file in a folder and its subfolders, in sorted order."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

import artgan
from artgan.images import open_rgb


class FolderOptions(artgan.CreditOptions):
    path: Path = Field(
        description="folder of images; a relative path is relative to the current directory")
    recursive: bool = Field(True, description="also read the images in subfolders")
    extensions: list[str] = Field(
        ["jpg", "jpeg", "png", "webp", "bmp", "gif"], min_length=1,
        description="file name endings to read, case-insensitive")
    background: tuple[int, int, int] = Field(
        (0, 0, 0), description="RGB shown under transparent parts")


class Folder(artgan.Source):
    """Image files from a folder (and its subfolders), upright, as RGB, in sorted order."""

    Options = FolderOptions

    def items(self):
        folder = self.options.path.expanduser().absolute()
        for path in self._files(folder):
            try:
                image = open_rgb(path, self.options.background)
            except Exception as exc:  # a malformed file may make a decoder raise anything
                reason = str(exc) if isinstance(exc, ValueError) else f"unreadable image ({exc!r})"
                yield artgan.Skipped(str(path), reason)
                continue
            relative = path.relative_to(folder).as_posix()
            yield artgan.Item(image, origin=str(path), info={"file": relative, "work": self.options.work(path, folder)})

    def _files(self, folder: Path) -> list[Path]:
        """The image files to read, sorted so every run sees them in the same order."""
        if not folder.is_dir():
            raise artgan.ArtganError(f"{folder}: no such folder; set the folder source's `path` "
                                     f"to a folder of images")
        suffixes = {"." + ext.lower().lstrip(".") for ext in self.options.extensions}
        candidates = folder.rglob("*") if self.options.recursive else folder.iterdir()
        files = sorted(p for p in candidates if p.suffix.lower() in suffixes and p.is_file())
        if not files:
            where = "it or its subfolders" if self.options.recursive else "it"
            raise artgan.ArtganError(f"{folder}: no image files ({', '.join(sorted(suffixes))}) in "
                                     f"{where}; add images or change `extensions`")
        return files


@artgan.hookimpl
def register_sources(register):
    register("folder", Folder)
