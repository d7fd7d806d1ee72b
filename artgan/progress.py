"""Progress for long work: a rich bar on a terminal, one display redrawn in place in a Jupyter
notebook, plain periodic lines otherwise."""
from __future__ import annotations

import io
import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

QUIET = False  # set by the CLI's --quiet: plain lines even on a terminal
# Seconds between redraws of a bar in a notebook: each is a message to the browser, and rich's own
# ten a second would make a long cell sluggish; the saved notebook keeps only the last.
NOTEBOOK_EVERY = 0.5
NOTEBOOK_WIDTH = 110  # columns of a bar in a notebook, which has no terminal to measure
PRE = ('<pre style="white-space:pre;overflow-x:auto;line-height:normal;'
       "font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace\">{code}</pre>")
# (label, done, total) -> None: where a thread's progress goes instead of the terminal (the studio's renders)
_OBSERVER: ContextVar[Callable[[str, int, int | None], None] | None] = ContextVar("progress_observer", default=None)


def duration(seconds: float) -> str:
    """A time as people say it: 42 s, 7 min, 2 h 5 min."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


class Task:
    """Counts work done; ``status`` is a short text shown beside the count."""

    def __init__(self, label: str, total: int | None, every: float):
        self.label, self.total, self.every = label, total, every
        self.done = 0
        self.status = ""
        self._last = time.monotonic()
        self._shown = True  # False once showing failed

    def advance(self, amount: int = 1, status: str | None = None) -> None:
        self.done += amount
        if status is not None:
            self.status = status
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._redraw()

    def finish(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        """Show the count. Where that fails (a notebook kernel whose output closed under it, a
        closed pipe) the display is dropped and the work goes on: a redraw must not end a training."""
        if not self._shown:
            return
        try:
            self._show()
        except Exception:  # noqa: BLE001 - whatever the display raised, the work it reports matters more
            self._shown = False

    def _show(self) -> None:
        total = f"/{self.total}" if self.total else ""
        print(f"{self.label}: {self.done}{total} {self.status}".rstrip(), flush=True)


class _Silent(Task):
    """Counts and shows nothing: the progress of a torchrun process other than rank 0."""

    def _show(self) -> None:
        pass


class _Observed(Task):
    """Hands its counts to an observer (see :func:`observed`) instead of showing them; what the
    observer raises (the studio's "cancelled") ends the work."""

    def __init__(self, label: str, total: int | None, start: int, observer):
        super().__init__(label, total, every=0.2)
        self.done, self._observer = start, observer

    def _redraw(self) -> None:
        self._observer(self.label, self.done, self.total)


@contextmanager
def observed(observer: Callable[[str, int, int | None], None]) -> Iterator[None]:
    """Within the block (in this thread), progress goes to ``observer(label, done, total)``."""
    token = _OBSERVER.set(observer)
    try:
        yield
    finally:
        _OBSERVER.reset(token)


class _RichTask(Task):
    def __init__(self, progress: Progress, label: str, total: int | None, start: int, every: float = 0.0):
        super().__init__(label, total, every)
        self.done = start
        self._progress = progress
        self._id = progress.add_task(label, total=total, completed=start, status="")

    def _show(self) -> None:
        self._progress.update(self._id, completed=self.done, status=self.status)


class _NotebookTask(_RichTask):
    """The rich bar as one output of the notebook cell, redrawn in place (a display with an id):
    however long the work, the cell holds one bar, and the saved notebook its last state."""

    def __init__(self, progress: Progress, label: str, total: int | None, start: int):
        from IPython.display import display  # loaded already: this process is a Jupyter kernel

        super().__init__(progress, label, total, start, every=NOTEBOOK_EVERY)
        # Recorded, never shown: each redraw goes out as HTML with rich's colours, and as plain
        # text without escape codes for whatever reads the notebook as text.
        self._console = Console(record=True, width=NOTEBOOK_WIDTH, force_terminal=True, force_jupyter=False,
                                color_system="truecolor")
        self._display = display(self._drawn(), raw=True, display_id=True)

    def _show(self) -> None:
        super()._show()
        self._display.update(self._drawn(), raw=True)

    def _drawn(self) -> dict[str, str]:
        self._console.file = io.StringIO()  # the printed copy is dropped: only the recording is read
        self._console.print(self._progress)
        text = self._console.export_text(clear=False)
        return {"text/plain": text.rstrip(), "text/html": self._console.export_html(inline_styles=True, code_format=PRE)}


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (Jupyter, JupyterLab, VS Code, Colab), whose output
    goes to a notebook cell; IPython in a terminal is not. Imports nothing: a kernel has IPython
    loaded."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def _is_main() -> bool:
    """Rank 0 of a torchrun job, or a process of no job. One that has not imported torch is in
    no process group: films of snapshots report without importing torch (1.6 s)."""
    if "torch" not in sys.modules:
        return True
    from artgan import distributed

    return distributed.is_main()


@contextmanager
def task(label: str, total: int | None = None, start: int = 0, every: float = 10.0) -> Iterator[Task]:
    """Report progress of one piece of work; ``every`` is the seconds between plain lines. In a
    torchrun job only rank 0 reports."""
    if not _is_main():
        silent = _Silent(label, total, every)
        silent.done = start
        yield silent
        return
    observer = _OBSERVER.get()
    if observer is not None:
        watched = _Observed(label, total, start, observer)
        yield watched
        watched.finish()
        return
    notebook = not QUIET and in_notebook()
    if QUIET or not (notebook or sys.stdout.isatty()):
        plain = Task(label, total, every)
        plain.done = start
        yield plain
        plain.finish()
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}")]
    if notebook:
        bar = _NotebookTask(Progress(*columns), label, total, start)
        try:
            yield bar
        finally:  # also when stopped by an error: the bar shows where
            bar.finish()
        return
    with Progress(*columns, console=Console(), transient=False) as progress:
        rich_task = _RichTask(progress, label, total, start)
        yield rich_task
        rich_task.finish()
