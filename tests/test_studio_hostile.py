"""The studio against a careless artist and crafted requests, over real HTTP on 127.0.0.1: ids no
number can hold, a training killed with kill -9 while pages are open, and what a studio killed
mid-render left. tests/test_studio_browser_hostile.py does the same in chromium."""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest
from studio_helpers import event_lines, studio, workspace  # noqa: F401  (fixtures)

from artgan.studio import start
from artgan.studio.composer import Composer, Job


@pytest.fixture
def server_errors():
    """What the studio's server logs at ERROR (an exception in a request is logged there)."""
    records = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append
    logging.getLogger("uvicorn.error").addHandler(handler)
    yield records
    logging.getLogger("uvicorn.error").removeHandler(handler)


@pytest.fixture
def copied(tmp_path, workspace):
    """A workspace of its own holding a copy of the finished run tiny-a, as ``run``."""
    shutil.copytree(workspace / "runs" / "tiny-a", tmp_path / "runs" / "run", symlinks=True)
    return tmp_path


def test_ids_of_more_digits_than_a_number_holds_get_a_one_line_answer(studio, server_errors):
    command, sample = studio.url + "api/runs/tiny-a/command", studio.url + "files/runs/tiny-a/samples/3.png"
    for step in ("²", "٣", "9" * 5000):  # digits to str.isdigit, and 5000 digits int() refuses
        sent = httpx.post(command, json={"seeds": [1, 2], "step": step})
        assert (sent.status_code, sent.text) == (400, "step must be a whole number"), step
        assert httpx.get(sample, params={"step": step}).status_code == 400
    for path in ("files/runs/tiny-a/snapshots/" + "9" * 5000 + ".png", "api/jobs/" + "9" * 5000):
        assert httpx.get(studio.url + path).status_code == 404
    assert httpx.post(studio.url + "api/jobs/" + "9" * 5000 + "/cancel", json={}).status_code == 404
    assert httpx.get(studio.url + "files/runs/tiny-a/snapshots/6.png").status_code == 200
    assert server_errors == []


HOLD = """import sys, time
from pathlib import Path
from artgan import folder_lock
with folder_lock.hold(Path(sys.argv[1]), "retry"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_training_killed_with_kill_9_is_said_on_open_pages(copied):
    """A run killed with kill -9 changes no file; open pages still hear that it stopped."""
    run = copied / "runs" / "run"
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "state": "training", "seconds_left": 50}))
    trainer = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert trainer.stdout.readline() == "held\n"
        served = start(copied)
        try:
            assert httpx.get(served.url + "api/runs").json()[0]["state"] == "training"
            with event_lines(served) as lines:
                os.kill(trainer.pid, signal.SIGKILL)
                trainer.wait()
                killed = time.monotonic()
                assert json.loads(next(line for line in lines if line.startswith("data:"))[5:]) == {
                    "run": "run", "kind": "state"}
                assert time.monotonic() - killed < 3
            assert httpx.get(served.url + "api/runs").json()[0]["state"] == "interrupted"
        finally:
            served.stop()
    finally:
        trainer.kill()
        trainer.wait()


def test_a_render_clears_what_a_studio_killed_mid_render_left(copied):
    run = copied / "runs" / "run"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = run / f".composed-20260101-000000-1.mp4.{dead.stdout.strip()}.tmp"  # its process is gone
    left.write_bytes(b"half a film")
    kept = run / f".composed-20260101-000000-2.mp4.{os.getpid()}.tmp"  # a live studio's, rendering
    kept.write_bytes(b"being written")
    composer = Composer(lambda event: None)
    job = Job(1, "run", run / "composed-test.mp4", "")
    composer._render(job, run / "checkpoints" / "step-0000006.pt", {"seeds": [1, 2], "seconds": 0.2, "size": 64,
                                                                 "out": str(job.out)})
    assert job.state == "done", job.error
    assert not left.exists() and kept.exists()
    assert (run / "composed-test.mp4").is_file()
