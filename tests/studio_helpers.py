"""A workspace for the studio's tests: real tiny trainings beside runs made by older versions,
broken ones, and files and folders that point out of the workspace."""
from __future__ import annotations

import http.client
import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from test_training import tiny_recipe

from artgan import pipeline
from artgan.dataset import build_dataset, contact_sheet, open_dataset
from artgan.rendering import render_typed
from artgan.studio import start


def train_run(root: Path, name: str, *overrides: str) -> Path:
    """A real tiny training named ``name`` in workspace ``root``; returns its run folder."""
    recipe = tiny_recipe(root, f"name={name}", *overrides)
    build_dataset(recipe, root)
    return pipeline.train(recipe, root).dir


def make_workspace(root: Path, outside: Path) -> Path:
    """Two finished runs of a sweep (the first with a grid.png and loss.png), an old one (snapshots only), a broken one (no snapshot, a half-written
    metrics line), a run folder symlinked from ``outside`` and a snapshot symlinked out."""
    first = train_run(root, "tiny-a")
    train_run(root, "tiny-b", "train.snapshot_every=3")
    render_typed("grid", first, {"count": 4})  # a loose picture beside the snapshots: grid.png
    render_typed("loss-plot", first, {})
    (root / "runs" / "tiny-sweep").mkdir()  # where a [sweep] films its runs side by side: they are one sweep
    contact_sheet(open_dataset(tiny_recipe(root, "name=tiny-a"), root))
    old = root / "runs" / "old" / "snapshots"
    old.mkdir(parents=True)
    shutil.copy(first / "snapshots" / "step-0000002.png", old / "step-0000100.png")
    broken = root / "runs" / "broken"
    (broken / "snapshots").mkdir(parents=True)
    shutil.copy(first / "recipe.lock.toml", broken / "recipe.lock.toml")
    row = {"step": 1, "images_seen": 8, "seconds": 0.1, "loss_d": 1.0, "loss_g": 2.0, "images_per_s": 80}
    (broken / "metrics.jsonl").write_text(json.dumps(row) + '\n{"step": 2, "loss_d": 0.')
    (outside / "snapshots").mkdir(parents=True)
    shutil.copy(first / "snapshots" / "step-0000002.png", outside / "snapshots" / "step-0000002.png")
    (outside / "secret.txt").write_text("not for the browser")
    (root / "runs" / "escape").symlink_to(outside, target_is_directory=True)
    (first / "snapshots" / "step-0000999.png").symlink_to(outside / "secret.txt")
    (first / "outside.mp4").symlink_to(outside / "secret.txt")
    (first / "outside.png").symlink_to(outside / "secret.txt")
    return root


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The workspace of :func:`make_workspace`, made once per test module."""
    return make_workspace(tmp_path_factory.mktemp("workspace"), tmp_path_factory.mktemp("outside"))


@pytest.fixture(scope="module")
def studio(workspace):
    """The studio of that workspace, on 127.0.0.1, for the test module."""
    served = start(workspace)
    yield served
    served.stop()


def raw_get(url: str, path: str, headers: dict | None = None) -> int:
    """GET ``path`` exactly as written (no client tidies its dots or escapes); the status."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


@contextmanager
def event_lines(served, timeout: float = 10):
    """The lines of ``served``'s event stream, as a page receives them, its opening line read."""
    with httpx.stream("GET", served.url + "events", timeout=timeout) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        yield lines


def open_streams(served) -> int:
    """How many event streams ``served`` holds open (one a browser, when its pages share one)."""
    return len(served.server.config.app.state.hub.queues)


def wait_until(condition, what: str, timeout: float = 10) -> None:
    """Wait for ``condition()`` to hold; fail saying ``what`` was awaited if it does not within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.02)


WITHOUT_SHARED_WORKER = "delete window.SharedWorker"  # an init script: a page as in a browser without it

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (.ci/run installs it); never a downloaded browser
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@contextmanager
def chromium():
    """A headless chromium driven by Playwright; yields the browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
