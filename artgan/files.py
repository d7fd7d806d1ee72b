"""Atomic writes: a file appears whole under its name, or not at all."""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

from artgan.errors import ArtganError


# errno values that mean "no room for these bytes": disk full, file size limit (ulimit -f), quota
NO_SPACE = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})
NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})  # a read-only disk, or a folder not yours


def no_space(folder: str | os.PathLike, exc: OSError, needed: int | None = None) -> ArtganError:
    """The one-line error for a write into ``folder`` that failed for lack of space."""
    folder = Path(folder)
    try:
        free = f"{readable_size(shutil.disk_usage(folder).free)} free"
    except OSError:
        free = "free space unknown"
    why = "the file size limit (ulimit -f) was reached" if exc.errno == errno.EFBIG else f"disk full ({free})"
    need = f"it needs {readable_size(needed)}; " if needed else ""
    return ArtganError(f"{folder}: cannot write there: {why}; {need}free some space (or raise the limit) "
                       "or choose another --out; nothing half-written was kept")


def readable_size(count: int) -> str:
    """Bytes as people read them: 1.1 MB, 47.5 GB."""
    return f"{count / 1e9:,.1f} GB" if count >= 1e9 else f"{count / 1e6:,.1f} MB"


def check_space(folder: str | os.PathLike, needed: int) -> None:
    """Raise the :func:`no_space` error now if ``folder``'s disk has less than ``needed`` bytes free."""
    if shutil.disk_usage(folder).free < needed:
        raise no_space(folder, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), needed)


@contextmanager
def atomic_path(path: str | os.PathLike, size: int | None = None, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.
    The temporary file is named ``.NAME.PID.tmp``, so that a later run can tell whether the
    process that wrote it is gone (see artgan.folder_lock); a write that fails for lack of space
    raises the :func:`no_space` ArtganError (which says ``size``, the bytes to write, if given).
    ``durable``: the bytes reach the disk before the name does, so even a power cut leaves the old
    file or the whole new one; without, only a crash or Ctrl-C of the process is covered (for files
    a command makes again the same, at a third of the CPU for small ones)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        replace(tmp, path)
    except BaseException as exc:
        with suppress(OSError):  # in a folder turned read-only, the clean-up fails too: the cause is told
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            raise no_space(path.parent, exc, size) from None
        if isinstance(exc, OSError) and exc.errno in NOT_WRITABLE:
            raise ArtganError(f"{path.parent}: cannot write there ({exc.strerror}); make it writable or "
                              "choose another --out; nothing half-written was kept") from None
        raise


# Seconds between tries of a rename that Windows refused: the file replaced was open in another
# process (the studio serving it, a virus scanner reading the new file) for a moment.
RENAME_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8)


def replace(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """``os.replace``, tried again for up to 1.5 s where Windows refuses it (PermissionError)
    while another process has either file open; elsewhere a PermissionError is final."""
    for wait in (*RENAME_WAITS, None) if os.name == "nt" else (None,):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if wait is None:
                raise
            time.sleep(wait)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; too little space is an error before any write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_space(path.parent, len(data))
    with atomic_path(path, len(data)) as tmp:
        tmp.write_bytes(data)


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append ``line`` and a newline to ``path``, whole or not at all: a failed write (disk full)
    is cut off again, so readers never see half a line."""
    path = Path(path)
    data = line.encode("utf-8") + b"\n"
    with open(path, "ab", buffering=0) as out:
        start = out.seek(0, os.SEEK_END)
        try:
            written = 0
            while written < len(data):  # a raw write may take only part, then fail on the rest
                written += out.write(data[written:])
        except OSError as exc:
            out.truncate(start)
            if exc.errno in NO_SPACE:
                raise no_space(path.parent, exc) from None
            raise


def ensure_writable(path: str | os.PathLike) -> Path:
    """Make ``path``'s folder and check it accepts new files, so long work does not end in a
    failed write; raises ArtganError naming the path."""
    path = Path(path)
    if path.is_dir():
        raise ArtganError(f"{path}: is a folder; give a file name to write")
    ensure_writable_folder(path.parent, label=path)
    return path


def ensure_writable_folder(folder: str | os.PathLike, label: str | os.PathLike | None = None) -> Path:
    """Make ``folder`` and check it accepts new files; raises ArtganError naming ``label``
    (default: the folder) and what to do."""
    folder = Path(folder)
    label = folder if label is None else label
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is a file, not a folder" if blocker else exc.strerror
        raise ArtganError(f"{label}: cannot create {'its folder' if label != folder else 'the folder'} "
                          f"({reason}); choose another output path") from None
    try:  # a real write, because permission bits say nothing for root or read-only mounts
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ArtganError(f"{label}: cannot write into {folder} ({exc.strerror}); "
                          "choose another output path") from None
    return folder
