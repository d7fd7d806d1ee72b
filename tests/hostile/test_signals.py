"""Issue 21, item 3: SIGTERM (what timeout, Slurm, Kubernetes and systemd send) stops training as
Ctrl-C does: after the current step, with a checkpoint, exit status 143 and a hint to resume;
under torchrun every process stops after the same step."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_helpers import ENV, artgan_process, wait_for

from artgan import checkpoint
from artgan.runfolder import RunFolder

LONG = ["--set", "train.steps=100000", "--set", "train.checkpoint_every=50000", "--set", "train.snapshot_every=2"]


def newest_step(run: Path) -> int:
    return checkpoint.load(RunFolder(run).checkpoints()[-1])["step"]


def test_sigterm_saves_a_checkpoint_and_exits_143(tiny, tmp_path):
    snapshots = tmp_path / "runs" / "tiny" / "snapshots"
    process = artgan_process("run", tiny, "--out", tmp_path, *LONG, cwd=tmp_path)
    wait_for(lambda: (snapshots / "step-0000002.png").exists(), process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, out + err
    assert "stopped (SIGTERM)" in out and "continue (then it renders): artgan run" in out and "--resume" in out
    assert newest_step(tmp_path / "runs" / "tiny") >= 2  # not only the checkpoint of step 0
    assert not list((tmp_path / "runs").rglob("*.tmp"))


@pytest.mark.parametrize("sent, status, said", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_a_signal_while_the_dataset_builds_says_what_is_kept_and_leaves_nothing(tiny, tmp_path, sent, status, said):
    staging = tmp_path / "data" / ".tiny.building"
    process = artgan_process("dataset", tiny, "--out", tmp_path, "--set", "source.0.count=1000000", cwd=tmp_path)
    wait_for(lambda: len(list((staging / "images").glob("*.png"))) > 5, process)
    process.send_signal(sent)
    out, err = process.communicate(timeout=120)
    assert process.returncode == status, out + err
    assert err.strip() == f"stopped ({said}): files finished so far are kept whole, and nothing is left half-written"
    assert not staging.exists() and not (tmp_path / "data" / "tiny").exists()


def rank_processes(parent: int) -> dict[int, int]:
    """{rank: pid} of the worker processes torchrun (``parent``) started, read from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = dict(item.split("=", 1) for item in (entry / "environ").read_text().split("\0") if "=" in item)
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if "RANK" in environ and environ.get("TORCHELASTIC_RUN_ID") and _ancestor(entry, parent):
            found[int(environ["RANK"])] = int(entry.name)
    return found


def _ancestor(entry: Path, parent: int) -> bool:
    pid = int(entry.name)
    while pid > 1:
        try:
            pid = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
        if pid == parent:
            return True
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker processes in /proc")
def test_sigterm_to_one_torchrun_process_stops_every_process_after_the_same_step(tiny, tmp_path):
    snapshots = tmp_path / "runs" / "tiny" / "snapshots"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "artgan", "--quiet", "run", str(tiny), "--out", str(tmp_path), *LONG]
    process = subprocess.Popen(command, cwd=tmp_path, env={**ENV, "PYTHONFAULTHANDLER": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (snapshots / "step-0000002.png").exists(), process)
    ranks = rank_processes(process.pid)
    assert sorted(ranks) == [0, 1]
    os.kill(ranks[1], signal.SIGTERM)  # only the second process: it must tell the first
    out, err = process.communicate(timeout=240)
    assert "stopped (SIGTERM)" in out, out + err
    assert "exitcode  : 143" in err or process.returncode == 143, out + err
    payload = checkpoint.load(RunFolder(tmp_path / "runs" / "tiny").checkpoints()[-1])
    assert payload["step"] >= 2 and len(payload["trainer"]["rng"]) == 2  # both processes' state, one step


def test_the_status_record_follows_a_run_from_another_process_and_kill_9_reads_interrupted(tiny, tmp_path):
    """What the studio sees of a run another process trains: "training" with its pace while that
    process holds the folder; after kill -9 the record still says "training", and reads as
    interrupted because no process holds the folder."""
    folder = RunFolder(tmp_path / "runs" / "tiny")
    process = artgan_process("run", tiny, "--out", tmp_path, *LONG, cwd=tmp_path)
    wait_for(lambda: folder.status().step >= 4 and folder.status().images_per_s, process)
    status = folder.status()
    assert (status.state, status.total_steps) == ("training", 100000) and status.seconds_left > 0
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert '"state": "training"' in folder.status_file.read_text()
    assert folder.status().state == "interrupted" and folder.status().step >= 4


def test_sigterm_leaves_an_interrupted_status_and_an_error_a_failed_one(tiny, tmp_path):
    folder = RunFolder(tmp_path / "runs" / "tiny")
    process = artgan_process("run", tiny, "--out", tmp_path, *LONG, cwd=tmp_path)
    wait_for(lambda: folder.snapshot_path(2).exists(), process)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=120)
    assert folder.status().state == "interrupted" and '"interrupted"' in folder.status_file.read_text()
    diverge = artgan_process("run", tiny, "--out", tmp_path, *LONG, "--set", "name=diverged", "--set",
                             "model.lr_d=1e30", "--set", "model.lr_g=1e30", "--set", "train.nan_retries=0", cwd=tmp_path)
    out, err = diverge.communicate(timeout=300)
    assert diverge.returncode == 2 and "diverged" in err, out + err
    assert RunFolder(tmp_path / "runs" / "diverged").status().state == "failed"


def test_a_signal_that_comes_while_the_losses_are_read_is_not_lost(tiny, tmp_path, monkeypatch):
    """The read of the losses is where a torchrun process waits for the others: a SIGTERM that
    lands there, after the flags were gathered, is carried by the next read, not forgotten."""
    import artgan
    from artgan import distributed

    gathered = distributed.mean_all
    sent = []

    def gathered_then_signalled(values):
        means = gathered(values)
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)  # its handler runs before this function returns
        return means

    monkeypatch.setattr(distributed, "mean_all", gathered_then_signalled)
    run = artgan.run(artgan.load_recipe(tiny, set={"train.steps": 500, "train.metrics_every": 5}), out=tmp_path)
    assert run.interrupted and run.stopped_by == signal.SIGTERM and run.step < 500
    assert run.status().state == "interrupted"
