"""`artgan run … | head -1`: a reader that goes away after the first line does not end the
training; the run finishes, writes its checkpoints and films, and exits without a traceback."""
from __future__ import annotations

import subprocess
import sys

import pytest
from hostile_helpers import ENV

from artgan import checkpoint
from artgan.runfolder import RunFolder


@pytest.mark.parametrize("stderr", ["apart", "joined"])  # joined: 2>&1 | head -1, errors into the closed pipe too
def test_a_run_piped_into_head_finishes_without_a_traceback(tiny, tmp_path, stderr):
    tiny.write_text(tiny.read_text() + '\n[[render]]\nuse = "timelapse"\n')
    env = {key: value for key, value in ENV.items() if key != "PYTHONUNBUFFERED"}  # buffered, as in a shell
    process = subprocess.Popen([sys.executable, "-m", "artgan", "run", str(tiny), "--out", str(tmp_path),
                                "--set", "train.steps=20"], cwd=tmp_path, env=env, text=True,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT if stderr == "joined" else subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()  # as head -1 does: every line after this one finds the pipe closed
    errors = process.stderr.read() if process.stderr else ""
    assert process.wait(timeout=240) == 0, errors
    assert first.startswith("dataset") and errors == ""  # no BrokenPipeError, not even "Exception ignored"
    run = RunFolder(tmp_path / "runs" / "tiny")
    assert checkpoint.load(run.checkpoints()[-1])["step"] == 20 and run.status().state == "finished"
    assert (run.path / "timelapse.mp4").stat().st_size > 0
