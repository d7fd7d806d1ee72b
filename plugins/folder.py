"""Source "folder": every image file in a folder and its subfolders, in sorted order."""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Iterator

from pydantic import Field

import artgan
from artgan.images import open_rgb


class FolderOptions(artgan.CreditOptions):
    path: Path = Field(
        description="folder of images; a relative path is relative to the current directory")
    recursive: bool = Field(True, description="also read the images in subfolders (symlinked ones too)")
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
        files, dead_ends = self._files(folder)
        yield from dead_ends
        for path in files:
            try:
                image = open_rgb(path, self.options.background)
            except Exception as exc:  # a malformed file may make a decoder raise anything
                reason = str(exc) if isinstance(exc, ValueError) else f"unreadable image ({exc!r})"
                yield artgan.Skipped(str(path), reason)
                continue
            relative = path.relative_to(folder).as_posix()
            yield artgan.Item(image, origin=str(path), info={"file": relative, "work": self.options.work(path, folder)})

    def _files(self, folder: Path) -> tuple[list[Path], list[artgan.Skipped]]:
        """The image files to read, sorted so every run sees them in the same order, and the
        symlinks that lead nowhere (loops, or image names whose target is missing) as skips."""
        if not folder.is_dir():
            raise artgan.ArtganError(f"{folder}: no such folder; set the folder source's `path` "
                                     f"to a folder of images")
        suffixes = {"." + ext.lower().lstrip(".") for ext in self.options.extensions}
        dead_ends: list[artgan.Skipped] = []
        files = []
        for path in self._paths(folder, dead_ends):
            if path.is_file():
                if path.suffix.lower() in suffixes:
                    files.append(path)
            elif path.is_symlink() and not path.exists():
                reason = _dead_link(path)
                if reason == "symlink loop" or path.suffix.lower() in suffixes:
                    dead_ends.append(artgan.Skipped(str(path), reason))
        if not files:
            where = "it or its subfolders" if self.options.recursive else "it"
            raise artgan.ArtganError(f"{folder}: no image files ({', '.join(sorted(suffixes))}) in "
                                     f"{where}; add images or change `extensions`")
        return sorted(files), sorted(dead_ends, key=lambda skip: skip.origin)

    def _paths(self, folder: Path, dead_ends: list[artgan.Skipped]) -> Iterator[Path]:
        """Everything in the folder (and, when recursive, in its subfolders and symlinked folders,
        each real folder once); a folder link that leads back to a folder already read is a skip."""
        if not self.options.recursive:
            yield from folder.iterdir()
            return
        read: set[str] = set()
        for root, subfolders, names in os.walk(folder, followlinks=True):
            real = os.path.realpath(root)
            if real in read:
                loop = Path(os.path.realpath(os.path.dirname(root))).is_relative_to(real)
                reason = "symlink loop (leads back to" if loop else "folder read twice (a link to"
                dead_ends.append(artgan.Skipped(root, f"{reason} {real}, already read)"))
                subfolders.clear()
                continue
            read.add(real)
            subfolders.sort()  # the first way into a folder linked twice is the same every run
            yield from (Path(root, name) for name in names)


def _dead_link(path: Path) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
    return f"broken symlink (its target {os.readlink(path)} is missing)"


@artgan.hookimpl
def register_sources(register):
    register("folder", Folder)
