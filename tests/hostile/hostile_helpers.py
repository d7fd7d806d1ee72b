"""Helpers of the hostile tests: a tiny recipe, the CLI in this process, artgan and Python in
real subprocesses, a process that holds a folder's lock, the pid of an ended process."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
from typer.testing import CliRunner

from artgan.cli import app

TINY = """\
name = "tiny"
resolution = 32

[[source]]
use = "shapes"
count = 8

[model]
use = "dcgan"
g_width = 8
d_width = 8
z_dim = 8

[train]
steps = 4
batch_size = 4
snapshot_every = 2
checkpoint_every = 2
grid = 2
device = "cpu"
"""


def invoke(*args):
    """``artgan ARGS`` in this process (typer's runner); the result has exit_code, stdout, stderr."""
    return CliRunner().invoke(app, [str(a) for a in args])


def add_preprocessor(recipe_file: Path, name: str) -> None:
    """Give the recipe in ``recipe_file`` (tiny.toml) a [[preprocess]] step using plugin ``name``."""
    recipe_file.write_text(recipe_file.read_text().replace("[model]", f'[[preprocess]]\nuse = "{name}"\n\n[model]'))


def one_line(text: str) -> str:
    """The only line of ``text``, asserting that there is exactly one."""
    (line,) = text.strip().splitlines()
    return line


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def artgan_process(*args, cwd: Path, preexec_fn: Callable | None = None, **kwargs) -> subprocess.Popen:
    """``python -m artgan ARGS`` started in a real process (not waited for)."""
    return subprocess.Popen([sys.executable, "-m", "artgan", *map(str, args)], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec_fn, **kwargs)


def python_process(code: str, cwd: Path, **kwargs) -> subprocess.Popen:
    """``python -c CODE`` started in a real process, its output piped."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen | None = None, timeout: float = 240) -> None:
    """Poll until ``condition()`` holds; fail early if ``process`` has ended first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"process ended ({process.returncode}) before the condition held:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting")
        time.sleep(0.05)


@contextmanager
def held_elsewhere(folder: Path, cwd: Path) -> Iterator[subprocess.Popen]:
    """For the block, a real process holds ``folder`` (artgan's lock) until it ends or is killed."""
    process = python_process(f"""
        import sys, time
        from pathlib import Path
        from artgan import folder_lock
        with folder_lock.hold(Path({str(folder)!r}), then="retry"):
            print("held", flush=True)
            time.sleep(600)
        """, cwd)
    try:
        assert process.stdout.readline().strip() == "held", process.stderr.read()
        yield process
    finally:
        process.kill()
        process.wait()


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid
