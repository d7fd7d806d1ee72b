"""Progress: a bar on a terminal, one display redrawn in place in a notebook, plain lines otherwise."""
from __future__ import annotations

import sys

import pytest

from artgan import progress
from kernel import kernel

COUNT = """
import time
from artgan import progress
started = time.monotonic()
with progress.task("train", 300) as bar:
    for step in range(300):
        time.sleep(0.005)
        bar.advance(1, status="loss=0.5")
        if step == {stop}:
            raise RuntimeError("stopped here")
"""


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    with kernel(tmp_path_factory.mktemp("kernel")) as started:
        yield started


def test_in_a_notebook_the_bar_is_one_display_redrawn_in_place_at_a_modest_rate(notebook):
    cell = notebook.run(COUNT.format(stop=-1))
    assert cell.reply["status"] == "ok"
    (shown,) = cell.of("display_data")  # one output, never a stream of lines
    assert not cell.of("stream")
    display_id = shown["transient"]["display_id"]
    updates = cell.of("update_display_data")
    assert all(update["transient"]["display_id"] == display_id for update in updates)
    seconds = float(notebook.run("print(time.monotonic() - started)").text)
    assert 1 <= len(updates) <= seconds / progress.NOTEBOOK_EVERY + 2  # and the last: not one per step
    last = updates[-1]["data"]
    assert last["text/plain"].startswith("train ━━━━") and "300/300" in last["text/plain"]
    assert "loss=0.5" in last["text/plain"] and "\x1b" not in last["text/plain"]  # plain text, no escape codes
    assert "<pre" in last["text/html"] and "color: #" in last["text/html"]  # rich's bar, in its colours


def test_in_a_notebook_a_bar_stopped_by_an_error_shows_where_it_stopped(notebook):
    cell = notebook.run(COUNT.format(stop=119))
    assert cell.reply["status"] == "error" and cell.reply["evalue"] == "stopped here"
    assert "120/300" in cell.of("update_display_data")[-1]["data"]["text/plain"]


def test_outside_a_notebook_and_a_terminal_progress_is_plain_lines(capsys):
    assert not progress.in_notebook()  # pytest's process: no kernel
    with progress.task("dataset", 3, every=0) as bar:
        bar.advance(2, status="images")
    assert capsys.readouterr().out.splitlines() == ["dataset: 2/3 images", "dataset: 2/3 images"]


class ClosedOutput:
    """A stdout that fails as a notebook's does once its kernel closed the output under a
    training (ipykernel: "Socket operation on non-socket"), or a pipe whose reader quit."""

    def write(self, text):
        raise OSError("Socket operation on non-socket")

    flush = write

    def isatty(self):
        return False


def test_a_display_that_fails_is_dropped_and_the_work_goes_on(monkeypatch):
    monkeypatch.setattr(sys, "stdout", ClosedOutput())
    with progress.task("train", 50, every=0) as bar:
        for _ in range(50):
            bar.advance(1)
    assert bar.done == 50


def test_what_an_observer_raises_ends_the_work():
    class Cancelled(Exception):
        pass

    def cancel(label, done, total):
        raise Cancelled

    with pytest.raises(Cancelled), progress.observed(cancel), progress.task("film", 10) as bar:
        bar.advance(1)
