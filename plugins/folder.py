"""Source "folder": every image file in a folder and its subfolders, in sorted order."""
from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path
from typing import Iterable, Iterator

from pydantic import Field

import artgan
from artgan.images import open_rgb
from artgan.dataset import PACK
from artgan.kinds import GivenPath, RGB
from artgan.runfolder import RunFolder


# Cameras' raw files: listed as skipped (with what to do), not passed over in silence
CAMERA_RAW = {".arw", ".cr2", ".cr3", ".dng", ".nef", ".nrw", ".orf", ".pef", ".raf", ".rw2", ".srw"}
RAW_REASON = "a camera's raw file: export it as JPEG or TIFF"


class FolderOptions(artgan.CreditOptions):
    path: GivenPath = Field(
        description="folder of images; a relative path is relative to the current directory")
    recursive: bool = Field(True, description="also read the images in subfolders (symlinked ones too)")
    extensions: list[str] = Field(
        ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "heic", "heif", "avif"], min_length=1,
        description="file name endings to read, case-insensitive")
    background: RGB = Field(
        (0, 0, 0), description="RGB shown under transparent parts")


class Folder(artgan.Source):
    """Image files from a folder (and its subfolders), upright, as RGB, in sorted order."""

    Options = FolderOptions

    def items(self):
        folder = self._folder()
        files, dead_ends = self._files(folder)
        yield from dead_ends
        for path in map(Path, files):
            try:
                image = open_rgb(path, self.options.background)
            except Exception as exc:  # a malformed file may make a decoder raise anything
                reason = str(exc) if isinstance(exc, ValueError) else f"unreadable image ({exc!r})"
                yield artgan.Skipped(str(path), reason)
                continue
            relative = path.relative_to(folder).as_posix()
            yield artgan.Item(image, origin=str(path), info={"file": relative, "work": self.options.work(path, folder)})

    def fingerprint(self) -> str | None:
        """What changes when an image is added, removed or replaced: each file's name, size and
        modification time, from a walk of the folder (no image is read); None without a folder."""
        folder = self._folder()
        try:
            files, _ = self._files(folder)
        except artgan.ArtganError:  # no folder or no images: the build says so, not the reuse check
            return None
        return files_fingerprint(files, folder)

    def _folder(self) -> Path:
        """The folder (``~`` was expanded as the options were read)."""
        return self.options.path.absolute()

    def _files(self, folder: Path) -> tuple[list[str], list[artgan.Skipped]]:
        """The image files to read, sorted so every run sees them in the same order, and the
        symlinks that lead nowhere (loops, or image names whose target is missing) as skips.
        Paths are strings, not Path objects, which take most of the time for 100,000 files."""
        if not folder.is_dir():
            raise artgan.ArtganError(f"{folder}: no such folder; set the folder source's `path` "
                                     f"to a folder of images")
        suffixes = {"." + ext.lower().lstrip(".") for ext in self.options.extensions}
        dead_ends: list[artgan.Skipped] = []
        files = []
        for path in self._paths(folder, dead_ends):
            image_name = os.path.splitext(path)[1].lower() in suffixes
            if os.path.isfile(path):
                if image_name:
                    files.append(path)
                elif os.path.splitext(path)[1].lower() in CAMERA_RAW:  # a photo, but not one to read as it is
                    dead_ends.append(artgan.Skipped(path, RAW_REASON))
            elif os.path.islink(path) and not os.path.exists(path):
                reason = _dead_link(path)
                if reason == "symlink loop" or image_name:
                    dead_ends.append(artgan.Skipped(path, reason))
        if not files:
            where = "it or its subfolders" if self.options.recursive else "it"
            raws = sum(skip.reason == RAW_REASON for skip in dead_ends)
            if raws:
                raise artgan.ArtganError(f"{folder}: only cameras' raw files ({raws}) in {where}: export them "
                                         f"as JPEG or TIFF")
            raise artgan.ArtganError(f"{folder}: no image files ({', '.join(sorted(suffixes))}) in "
                                     f"{where}; add images or change `extensions`")
        return sorted(files, key=lambda path: path.split(os.sep)), sorted(dead_ends, key=lambda skip: skip.origin)

    def _paths(self, folder: Path, dead_ends: list[artgan.Skipped]) -> Iterator[str]:
        """Everything in the folder (and, when recursive, in its subfolders and symlinked folders,
        each real folder once); a folder link that leads back to a folder already read is a skip."""
        if not self.options.recursive:
            yield from (os.path.join(folder, name) for name in os.listdir(folder) if not _hidden(name))
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
            # artgan's own datasets and runs (in a workspace given as the folder, path = ".") are not read back in
            made = [name for name in subfolders if _made_by_artgan(os.path.join(root, name))]
            dead_ends.extend(artgan.Skipped(os.path.join(root, name), "a dataset or run folder artgan made: "
                                            "not read back in") for name in made)
            # sorted: the first way into a folder linked twice is the same every run
            subfolders[:] = sorted(name for name in subfolders if not _hidden(name) and name not in made)
            yield from (os.path.join(root, name) for name in names if not _hidden(name))


def _made_by_artgan(folder: str) -> bool:
    """A dataset artgan built (data/NAME: dataset.json beside images.u8) or a run folder (runs/NAME)."""
    return (os.path.isfile(os.path.join(folder, "dataset.json")) and os.path.isfile(os.path.join(folder, PACK))) \
        or os.path.isfile(os.path.join(folder, RunFolder(folder).lock_file.name))


def _hidden(name: str) -> bool:
    """A hidden file or folder (.thumbnails, .DS_Store), or a macOS resource fork (._photo.jpg),
    which holds no picture although its name ends in one's extension."""
    return name.startswith(".")


def files_fingerprint(files: Iterable[str | os.PathLike], root: str | os.PathLike = ".") -> str:
    """A hash of each file's path (relative to ``root``: a workspace moved or copied with its
    files is the same), size and modification time: it changes when a file is added, removed or
    replaced, and costs one stat a file."""
    digest = hashlib.sha256()
    inside = os.path.join(os.path.abspath(root), "")
    for file in map(os.fspath, files):
        path = file.removeprefix(inside) if file.startswith(inside) else os.path.relpath(file, root)
        try:
            stat = os.stat(file)
            state = f"{stat.st_size} {stat.st_mtime_ns}"
        except OSError as exc:  # gone since the walk, or unreadable: its state is the error
            state = exc.strerror or repr(exc)
        digest.update(f"{path}\0{state}\n".encode())
    return digest.hexdigest()


def _dead_link(path: str) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
    return f"broken symlink (its target {os.readlink(path)} is missing)"


@artgan.hookimpl
def register_sources(register):
    register("folder", Folder)
