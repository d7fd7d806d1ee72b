"""Issue 21, item 1: one process at a time holds a run folder, and a dataset while it builds; a
lock left by a process killed with kill -9 never blocks the next one. Item 5: the next run
cleans what a dead process left there, and only that."""
from __future__ import annotations

import json
import signal

from hostile_helpers import dead_pid, held_elsewhere, invoke, one_line, python_process

from artgan import folder_lock


def test_a_second_training_in_a_held_run_folder_exits_2_naming_the_holder(tiny, tmp_path):
    assert invoke("run", tiny, "--out", tmp_path).exit_code == 0
    with held_elsewhere(tmp_path / "runs" / "tiny", tmp_path) as other:
        result = invoke("train", tiny, "--out", tmp_path, "--resume")
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert f"runs/tiny: in use by another artgan process (pid {other.pid}," in line
    assert line.count(": -c);") == 1  # the holder's command line: sys.argv of `python -c`
    assert "--resume" in line
    rows = [json.loads(r) for r in (tmp_path / "runs" / "tiny" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["step"] for r in rows if "event" not in r]
    assert losses == sorted(set(losses))  # nothing written twice


def test_a_dataset_being_built_by_another_process_exits_2(tiny, tmp_path):
    with held_elsewhere(tmp_path / "data" / "tiny", tmp_path) as other:
        result = invoke("dataset", tiny, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert f"data/tiny: in use by another artgan process (pid {other.pid}," in one_line(result.stderr)
    assert not (tmp_path / "data" / "tiny").exists()


def test_a_lock_left_by_kill_9_does_not_block_the_next_run(tiny, tmp_path):
    for folder in (tmp_path / "runs" / "tiny", tmp_path / "data" / "tiny"):
        with held_elsewhere(folder, tmp_path) as killed:
            killed.send_signal(signal.SIGKILL)
            killed.wait()
        assert folder_lock.lock_file(folder).exists()  # the file stays; the OS lock went with the process
    result = invoke("run", tiny, "--out", tmp_path)
    assert result.exit_code == 0, result.output


def test_the_next_run_removes_temporary_files_of_dead_processes_only(tiny, tmp_path):
    assert invoke("run", tiny, "--out", tmp_path).exit_code == 0
    checkpoints = tmp_path / "runs" / "tiny" / "checkpoints"
    dead = checkpoints / f".step-0000006.pt.{dead_pid()}.tmp"
    dead.write_bytes(b"half a checkpoint")
    empty = tmp_path / "runs" / "tiny" / "snapshots" / f".step-0000006.png.{dead_pid()}.tmp"
    empty.touch()
    alive = python_process("import time; time.sleep(600)", tmp_path)
    try:
        writing = checkpoints / f".step-0000008.pt.{alive.pid}.tmp"  # another live process's
        writing.write_bytes(b"being written")
        result = invoke("train", tiny, "--out", tmp_path, "--resume", "--set", "train.steps=6")
        assert result.exit_code == 0, result.output
        assert not dead.exists() and not empty.exists()
        assert writing.exists()
    finally:
        alive.kill()
        alive.wait()
    assert [p.name for p in sorted(checkpoints.glob("*.pt"))][-1] == "step-0000006.pt"


def test_the_next_build_removes_staging_folders_no_live_builder_holds(tiny, tmp_path):
    data = tmp_path / "data"
    abandoned = data / ".old.building" / "images"
    abandoned.mkdir(parents=True)
    (abandoned / "0000000.png").write_bytes(b"left by a build killed with kill -9")
    building = data / ".busy.building"
    building.mkdir(parents=True)
    with held_elsewhere(data / "busy", tmp_path):  # a live process is building "busy"
        result = invoke("dataset", tiny, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert not (data / ".old.building").exists()
    assert building.exists()
    assert not (data / ".tiny.building").exists()


def test_a_failed_build_leaves_no_staging_folder(tiny, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"not an image")  # skipped: the dataset is empty, the build fails
    tiny.write_text(tiny.read_text().replace('use = "shapes"\ncount = 8', f'use = "folder"\npath = "{broken}"'))
    result = invoke("dataset", tiny, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert "the dataset is empty" in one_line(result.stderr)
    assert list((tmp_path / "data").glob(".*.building")) == []
