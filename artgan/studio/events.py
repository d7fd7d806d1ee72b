"""Live events: one watcher of the workspace's runs/ turns file changes into small events (a
snapshot landed, metrics grew, a film appeared, a run started or stopped) and hands each to every
open page, as server-sent events. Pages never poll files."""
from __future__ import annotations

import asyncio
import json
import os
import stat
from contextlib import aclosing, suppress
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, AsyncIterator

import watchfiles

from artgan import folder_lock
from artgan.runfolder import FILMS, PICTURES, RunFolder

KEEPALIVE = 15.0  # seconds: a comment line now and then, so proxies and browsers keep the stream open
LOOK_AGAIN = 1.0  # seconds: how often the watcher checks that runs/ is still the folder it follows
BACKLOG = 1000  # events a page may leave unread; a page further behind is dropped (it reconnects, then catches up)


def event_for(runs_dir: Path, path: Path, gone: bool = False) -> dict[str, Any] | None:
    """The event a change of ``path`` under ``runs_dir`` means to a page (``gone``: it was
    deleted or renamed away), or None."""
    try:
        parts = path.relative_to(runs_dir).parts
    except ValueError:
        return None
    if not parts:
        return None
    if len(parts) == 1:  # a run folder came or went, or its lock's holder changed (.NAME.lock…)
        name = parts[0]
        if name.startswith("."):
            return {"run": name[1:].split(".lock", 1)[0], "kind": "state"} if ".lock" in name else None
        return {"run": name, "kind": "state"}
    folder = RunFolder(runs_dir / parts[0])
    run = folder.name
    if path.name.startswith("."):  # a temporary file of an atomic write: its rename is the event
        return None
    if path in (folder.lock_file, folder.status_file) or path.parent == folder.checkpoints_dir:
        return {"run": run, "kind": "state"}
    if gone:  # a snapshot or film pruned or moved away: pages keep what they show
        return None
    if path.parent == folder.snapshots_dir and path == folder.snapshot_path(step := _step(path)):
        return {"run": run, "kind": "snapshot", "step": step}
    if path == folder.metrics_file:
        return {"run": run, "kind": "metrics"}
    if path.parent == folder.path and any(fnmatch(path.name, pattern) for pattern in FILMS + PICTURES):
        return {"run": run, "kind": "film", "film": path.name}  # pictures show in the films' section
    return None


def _step(path: Path) -> int:
    """The step in a snapshot's file name (step-0000300.png), or -1."""
    digits = path.stem.removeprefix("step-")
    return int(digits) if digits.isdigit() else -1


class Hub:
    """Hands each event to every subscribed page; fed by :meth:`watch` and by :meth:`publish`
    (safe from other threads, such as the composer's renders)."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def publish(self, event: dict[str, Any]) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._deliver, event)

    def close(self) -> None:
        """End every page's stream (the server is stopping: it waits for open responses)."""
        self.closed = True
        for queue in self.queues:
            queue.put_nowait(None)

    def _deliver(self, event: dict[str, Any]) -> None:
        for queue in list(self.queues):
            if queue.qsize() < BACKLOG:
                queue.put_nowait(event)
            else:  # a page that stopped reading: its stream ends
                self.queues.discard(queue)
                queue.put_nowait(None)

    async def watch(self, runs_dir: Path, stop: asyncio.Event) -> None:
        """Follow ``runs_dir`` until ``stop`` is set (debounced 50 ms: a snapshot shows at once).
        A runs/ deleted or moved away is followed again once it is back, and its runs announced."""
        self.loop = asyncio.get_running_loop()
        missed = False  # whether runs/ went unfollowed for a while (not there, or replaced)
        while not stop.is_set():
            followed = _identity(runs_dir)
            if followed is None:  # not there (yet): look again in a moment
                missed = True
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), LOOK_AGAIN)
                continue
            if missed:  # what happened meanwhile was not seen: every run's page looks again
                with suppress(OSError):
                    for name in sorted(os.listdir(runs_dir)):
                        self._deliver({"run": name, "kind": "state"})
            missed = True  # the loop below ends when runs/ is replaced (or at the stop)
            held = folder_lock.held_in(runs_dir)
            async with aclosing(watchfiles.awatch(runs_dir, debounce=50, step=20, stop_event=stop, watch_filter=None,
                                                  recursive=True, rust_timeout=int(LOOK_AGAIN * 1000),
                                                  yield_on_timeout=True)) as batches:
                async for changes in batches:  # and at least once a second (yield_on_timeout)
                    self._announce(runs_dir, changes)
                    # a training killed with kill -9 changes no file: its end is its process's
                    now = folder_lock.held_in(runs_dir)
                    for name in sorted(held - now):
                        self._deliver({"run": name, "kind": "state"})
                    held = now
                    # deleted (a new runs/ may have its inode number) or another folder in its place
                    if (watchfiles.Change.deleted, str(runs_dir)) in changes or _identity(runs_dir) != followed:
                        break

    def _announce(self, runs_dir: Path, changes: set[tuple[watchfiles.Change, str]]) -> None:
        seen = []
        for change, path in changes:
            event = event_for(runs_dir, Path(path), change == watchfiles.Change.deleted)
            if event is not None and event not in seen:
                seen.append(event)
        for event in seen:
            self._deliver(event)

    async def stream(self) -> AsyncIterator[str]:
        """The text/event-stream of one page: every event as it comes, as a JSON data line,
        until :meth:`close`."""
        queue: asyncio.Queue = asyncio.Queue()
        self.queues.add(queue)
        try:
            yield "retry: 1000\n\n"
            while not self.closed:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except asyncio.TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if event is None:
                    return
                yield f"data: {json.dumps(event)}\n\n"
        finally:
            self.queues.discard(queue)


def _identity(folder: Path) -> tuple[int, int] | None:
    """(device, inode) of ``folder``; None when it is not a folder (now)."""
    try:
        found = os.stat(folder)
    except OSError:
        return None
    return (found.st_dev, found.st_ino) if stat.S_ISDIR(found.st_mode) else None
