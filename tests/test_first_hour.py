"""What a new user meets in the first hour: errors that blame the right thing and suggest the
right name, help that reads right, and Ctrl-C / resume / re-run messages whose hints are commands
that work (each hint printed is run here)."""
from __future__ import annotations

import os
import shlex
import signal
import time
import types

import pytest
import torch
from typer.testing import CliRunner

import artgan
from artgan import plugins
from artgan.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    return line


@pytest.mark.parametrize("override, expected", [
    ("train.stepz=5", 'train.stepz: unknown key; did you mean "steps"?'),
    ("seeds=1", 'seeds: unknown key; did you mean "seed"?'),
    ("model.g_widht=8", 'model.g_widht: unknown key; did you mean "g_width"?'),
    ("model.use=dcgna", 'model.use: unknown model plugin "dcgna"; did you mean "dcgan"?'),
    ("source.count=many", "source[0].count: Input should be a valid integer"),
])
def test_a_bad_set_blames_the_set_not_the_file_and_suggests_the_key(override, expected):
    line = error_line(invoke("run", "ellipses", "--dry-run", "--set", "train.steps=10", "--set", override))
    assert line.startswith(f"error: --set {override}: {expected}"), line
    assert "ellipses.toml" not in line


def test_a_bad_key_in_the_file_still_blames_the_file(write_recipe):
    path = write_recipe("""
        name = "typo"
        [[source]]
        use = "shapes"
        [model]
        use = "dcgan"
        [train]
        batch_sise = 8
    """)
    line = error_line(invoke("run", path, "--dry-run", "--set", "train.steps=3"))
    assert line == f'error: {path}: train.batch_sise: unknown key; did you mean "batch_size"?'


def test_misspelt_plugin_and_recipe_names_suggest_a_command_that_works():
    line = error_line(invoke("plugins", "dcgna"))
    assert line == 'error: no plugin named "dcgna"; did you mean `artgan plugins dcgan`?'
    suggested = shlex.split(line.split("`")[1])[1:]
    assert invoke(*suggested).exit_code == 0

    line = error_line(invoke("run", "elipses", "--dry-run"))
    assert line.endswith('no bundled recipe of that name; did you mean "ellipses"?'), line
    assert invoke("run", "ellipses", "--dry-run").exit_code == 0
    assert "see `artgan recipes`" in error_line(invoke("run", "nothing-like-it", "--dry-run"))


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["demo", "--help"], ["render", "grid", "--help"]])
def test_help_shows_flags_without_a_value(args):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout
    flags = [line for line in result.stdout.splitlines() if "--help" in line or "--quiet" in line or "--resume" in line]
    assert flags and all("Show this message" in line or "<" not in line for line in flags)


# ------------------------------------------------------------------ Ctrl-C, resume and re-run

DEMO = ["--set", "source.0.count=40", "--set", "train.steps=6", "--set", "train.snapshot_every=2",
        "--set", "train.batch_size=8", "--set", "render.2.seconds=1", "--set", "render.2.size=64"]


@pytest.fixture
def ctrl_c_at_step():
    """``ctrl_c_at_step(n)``: press Ctrl-C when the snapshot of step n is taken, once."""
    module = types.ModuleType("press_ctrl_c")
    registered = []

    def arm(step: int):
        def on_snapshot(step, at=step):
            if step == at and not module.pressed:
                module.pressed = True
                os.kill(os.getpid(), signal.SIGINT)

        module.pressed = False
        module.on_snapshot = artgan.hookimpl(on_snapshot)
        registered.append(plugins.register(module, name="press_ctrl_c"))

    yield arm
    for name in registered:
        plugins.unregister(name)


def test_ctrl_c_prints_commands_that_resume_and_render_and_a_rerun_says_it_only_renders(tmp_path, ctrl_c_at_step):
    out = tmp_path / "demo"
    ctrl_c_at_step(2)
    stopped = invoke("demo", "--out", out, *DEMO)
    assert stopped.exit_code == 130, stopped.output
    printed = stopped.stdout.splitlines()
    assert "stopped (Ctrl-C) at step 2 of 6" in stopped.stdout
    (again,) = [line.split(": ", 1)[1] for line in printed if line.startswith("continue (then it renders): ")]
    assert again == shlex.join(["artgan", "demo", "--out", str(out), *DEMO])
    renders = [line.strip() for line in printed[printed.index("render what there is now:") + 1:]]
    assert [shlex.split(line)[:3] for line in renders] == [["artgan", "render", name]
                                                          for name in ("grid", "timelapse", "interpolation")]
    for line in renders:  # each renders what the run has so far
        result = invoke(*shlex.split(line)[1:])
        assert result.exit_code == 0, (line, result.output)
        assert "rendered" in result.stdout
    assert (out / "runs" / "demo" / "interpolation.mp4").is_file()

    resumed = invoke(*shlex.split(again)[1:])
    assert resumed.exit_code == 0, resumed.output
    assert f"resuming from step 2 (checkpoint {out / 'runs' / 'demo' / 'checkpoints'}" in resumed.stdout
    assert "trained 6 steps (4 in this session)" in resumed.stdout

    rerun = invoke(*shlex.split(again)[1:])
    assert rerun.exit_code == 0, rerun.output
    assert "already trained 6 steps" in rerun.stdout and "rendering only" in rerun.stdout
    assert "trained 6 steps," not in rerun.stdout and "resuming" not in rerun.stdout
    assert rerun.stdout.count("rendered ") == 4  # the grid, the timelapse (mp4 and GIF), the interpolation film


def test_a_run_resume_hint_keeps_the_recipe_its_sets_and_out(tmp_path, ctrl_c_at_step):
    ctrl_c_at_step(2)
    sets = ["--set", "train.steps=4", "--set", "train.snapshot_every=2", "--set", "source.0.count=16",
            "--set", "train.batch_size=8", "--set", "model.g_width=8", "--set", "model.d_width=8"]
    assert invoke("dataset", "white-ellipses", *sets, "--out", tmp_path).exit_code == 0
    stopped = invoke("train", "white-ellipses", *sets, "--out", tmp_path)
    assert stopped.exit_code == 130, stopped.output
    (again,) = [line for line in stopped.stdout.splitlines() if line.startswith("continue")]
    # artgan train renders nothing: its hint does not say it will
    assert again == "continue: " + shlex.join(["artgan", "train", "white-ellipses", *sets, "--out", str(tmp_path),
                                                "--resume"])
    again = again.split(": ", 1)[1]
    resumed = invoke(*shlex.split(again)[1:])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming from step 2" in resumed.stdout


# ------------------------------------------------------------------ the start of training

@pytest.fixture
def two_threads(monkeypatch):
    """Torch with two threads and no OMP_NUM_THREADS, as on a user's 2-core machine."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


TINY = ["--set", "source.0.count=32", "--set", "train.batch_size=4", "--set", "model.g_width=8",
        "--set", "model.d_width=8", "--set", "train.snapshot_every=1000", "--set", "render=[]", "--set", "train.precision=fp32"]


class ThreadsAtTheEnd:
    """A plugin noting the threads torch trains on when the run ends."""

    def __init__(self):
        self.seen: list[int] = []

    @artgan.hookimpl
    def on_run_end(self, run):
        self.seen.append(torch.get_num_threads())


def test_training_says_device_precision_threads_size_and_time_and_keeps_the_fastest_threads(tmp_path, two_threads,
                                                                                           register_plugin):
    watch = ThreadsAtTheEnd()
    register_plugin(watch, "threads-at-the-end")
    result = invoke("run", "white-ellipses", *TINY, "--set", "train.steps=60", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "training on cpu, fp32, threads: timing 1, 2 on the first steps; 32 images, 60 steps of 4" in lines
    (chosen,) = [line for line in lines if line.startswith("threads: ")]
    best = int(chosen.split(",")[0].removeprefix("threads: "))
    assert "measured: 1 thread " in chosen and " images/s, 2 threads " in chosen
    assert watch.seen == [best]  # kept for the rest of the run
    assert torch.get_num_threads() == 2  # and the process gets its own count back: a next run times again
    assert any(line.startswith("about ") and "steps left" in line for line in lines)


def test_threads_given_are_used_and_said(tmp_path, two_threads, register_plugin):
    watch = ThreadsAtTheEnd()
    register_plugin(watch, "threads-at-the-end")
    result = invoke("run", "white-ellipses", *TINY, "--set", "train.steps=2", "--set", "train.threads=1",
                    "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "training on cpu, fp32, 1 thread (train.threads); 32 images, 2 steps of 4" in result.stdout
    assert (watch.seen, torch.get_num_threads()) == ([1], 2)


def test_more_threads_than_cores_are_used_and_said_to_be_slower(tmp_path, two_threads, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    result = invoke("run", "white-ellipses", *TINY, "--set", "train.steps=2", "--set", "train.threads=4",
                    "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert ("training on cpu, fp32, 4 threads (train.threads, more than the 2 cores here: they take turns, "
            "which is usually slower); 32 images, 2 steps of 4") in result.stdout
    line = error_line(invoke("run", "white-ellipses", "--dry-run", "--set", "train.threads=0"))
    assert line.startswith("error: --set train.threads=0: train.threads")


def test_a_run_far_slower_than_at_its_start_says_so_once_with_the_fix(tmp_path, register_plugin):
    class Slowdown:
        """From step 20 on, as if other work took the CPU: every step takes five times as long."""

        seen: list[float] = []

        @artgan.hookimpl
        def on_snapshot(self, step):
            if step < 20:
                self.seen.append(time.perf_counter())
            else:
                usual = sorted(b - a for a, b in zip(self.seen, self.seen[1:]))[len(self.seen) // 2]
                time.sleep(4 * usual)

    register_plugin(Slowdown(), "slowdown")
    result = invoke("run", "white-ellipses", *TINY, "--set", "train.steps=70", "--set", "train.threads=1",
                    "--set", "train.snapshot_every=1", "--set", "train.grid=2", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    (slow,) = [line for line in result.stdout.splitlines() if line.startswith("slow: ")]
    assert "slower than at the start" in slow and "free the CPU of other work" in slow
