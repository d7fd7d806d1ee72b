"""One process per folder: an OS-level lock on a run folder, or on a dataset while it builds,
and the clean-up of what a process that died there left behind.

The lock is the operating system's (flock, through the filelock package): it ends with the
process that holds it, however that process ends, so a run killed with kill -9 never blocks the
next one. Beside the lock file, a small JSON file names the holder (pid, command), for the
message another process prints when it finds the folder taken.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from artgan.errors import ArtganError

_TMP = re.compile(r"\..+\.(\d+)\.tmp")  # what artgan.files.atomic_path names its temporary files


def lock_file(folder: Path) -> Path:
    """The lock file of ``folder``: beside it (``.NAME.lock``), so that a folder can be replaced
    while it is held."""
    return folder.with_name(f".{folder.name}.lock")


@contextmanager
def hold(folder: Path, then: str) -> Iterator[None]:
    """Hold ``folder`` for the block. If another process holds it, raise an ArtganError naming
    that process, and ``then`` (what to do once it has ended)."""
    path = lock_file(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = _holder(path)
        who = ("in use by this very process (another thread, or a notebook cell still running: "
               if holder.startswith(f"pid {os.getpid()},") else "in use by another artgan process (")
        raise ArtganError(f"{folder}: {who}{holder}); wait for it to end, or stop it, then {then}") from None
    owner = _owner_file(path)
    try:
        owner.write_text(json.dumps({"pid": os.getpid(), "command": " ".join(sys.argv),
                                     "since": time.strftime("%Y-%m-%d %H:%M:%S")}), encoding="utf-8")
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


def is_held(folder: Path) -> bool:
    """Whether a live process (this one included) holds ``folder`` now. Read from the holder's
    file, without taking the lock: a reader that polls (the studio) never makes a process that
    starts training at that moment find the folder taken."""
    owner = _owner_file(lock_file(folder))
    try:
        pid = json.loads(owner.read_text(encoding="utf-8"))["pid"]
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError):  # being written by the process that just took it
        return True
    return _alive(int(pid))


def held_in(parent: Path) -> set[str]:
    """The names of the folders in ``parent`` a live process holds now (see :func:`is_held`)."""
    try:
        with os.scandir(parent) as entries:
            owners = [entry.name for entry in entries if entry.name.startswith(".")
                      and entry.name.endswith(".lock.owner")]
    except OSError:
        return set()
    names = (owner[1:].removesuffix(".lock.owner") for owner in owners)
    return {name for name in names if is_held(parent / name)}


def _owner_file(path: Path) -> Path:
    return path.with_name(path.name + ".owner")


def _holder(path: Path) -> str:
    try:
        owner = json.loads(_owner_file(path).read_text(encoding="utf-8"))
        return f"pid {owner['pid']}, since {owner['since']}: {owner['command']}"
    except (OSError, ValueError, KeyError, TypeError):  # it is still writing the file, or an old artgan
        return "pid unknown"


def remove_dead_temporaries(folder: Path, pattern: str = "**/.*.tmp") -> list[Path]:
    """Delete the temporary files (``.NAME.PID.tmp``) in ``folder`` matching ``pattern`` (by
    default all, in every subfolder) whose writing process is gone; a live process's are kept.
    Returns what was deleted."""
    removed = []
    for path in folder.glob(pattern) if folder.is_dir() else []:
        match = _TMP.fullmatch(path.name)
        if match and path.is_file() and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def remove_abandoned_builds(data: Path) -> list[Path]:
    """Delete the staging folders (``data/.NAME.building``) of dataset builds that no live
    process holds: what a build killed before its swap left. Returns what was deleted."""
    removed = []
    for staging in data.glob(".*.building") if data.is_dir() else []:
        dataset = staging.with_name(staging.name[1:].removesuffix(".building"))
        try:
            with FileLock(lock_file(dataset), timeout=0):
                shutil.rmtree(staging, ignore_errors=True)
        except Timeout:  # being built now
            continue
        removed.append(staging)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # where os.kill(pid, 0) would send Ctrl-C
        return _alive_on_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _alive_on_windows(pid: int) -> bool:
    """Whether process ``pid`` runs, asked of Windows: it opens, and has no exit code yet."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # ERROR_ACCESS_DENIED: another user's, running
    try:
        code = wintypes.DWORD()
        return not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
