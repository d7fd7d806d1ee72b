"""A real Jupyter kernel for tests, started from this interpreter: run code in it as a notebook
cell runs, and keep every message it sends to the notebook."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from jupyter_client.manager import KernelManager

OUTPUTS = ("stream", "display_data", "update_display_data", "execute_result", "error")


@dataclass
class Cell:
    """What one executed cell sent: its output messages (type, content) and its reply."""

    messages: list[tuple[str, dict]] = field(default_factory=list)
    reply: dict = field(default_factory=dict)

    def of(self, kind: str) -> list[dict]:
        return [content for msg_type, content in self.messages if msg_type == kind]

    @property
    def text(self) -> str:
        """Everything it printed, to stdout and stderr."""
        return "".join(content["text"] for content in self.of("stream"))


class Kernel:
    def __init__(self, manager: KernelManager):
        self.manager = manager
        self.client = manager.client()

    def run(self, code: str, timeout: float = 120, interrupt_when: Callable[[Cell], bool] | None = None) -> Cell:
        """Execute ``code`` as a cell; with ``interrupt_when``, press the notebook's stop button
        (the kernel gets SIGINT) once what the cell sent so far satisfies it."""
        cell = Cell()
        pressed = threading.Event()

        def keep(msg):
            if msg["header"]["msg_type"] in OUTPUTS:
                cell.messages.append((msg["header"]["msg_type"], msg["content"]))
            if interrupt_when and not pressed.is_set() and interrupt_when(cell):
                pressed.set()
                self.manager.interrupt_kernel()

        cell.reply = self.client.execute_interactive(code, output_hook=keep, timeout=timeout)["content"]
        return cell


@contextmanager
def kernel(cwd: Path) -> Iterator[Kernel]:
    """A started kernel running in ``cwd``, shut down afterwards."""
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(cwd))
    started = Kernel(manager)
    try:
        started.client.start_channels()
        started.client.wait_for_ready(timeout=120)
        yield started
    finally:
        started.client.stop_channels()
        manager.shutdown_kernel(now=True)
