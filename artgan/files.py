"""Atomic writes: a file appears whole under its name, or not at all."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from artgan.errors import ArtganError


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:  # the bytes reach the disk before the name does
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def ensure_writable(path: str | os.PathLike) -> Path:
    """Make ``path``'s folder and check it accepts new files, so long work does not end in a
    failed write; raises ArtganError naming the path."""
    path = Path(path)
    if path.is_dir():
        raise ArtganError(f"{path}: is a folder; give a file name to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is a file, not a folder" if blocker else exc.strerror
        raise ArtganError(f"{path}: cannot create its folder ({reason}); choose another output path") from None
    try:  # a real write, because permission bits say nothing for root or read-only mounts
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise ArtganError(f"{path}: cannot write into {path.parent} ({exc.strerror}); "
                          "choose another output path") from None
    return path
