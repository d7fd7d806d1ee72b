"""Issue 21, item 4: a write that finds no room (disk full, ENOSPC; the file size limit, EFBIG)
is one line naming the folder and the space needed, exit 2; the last good checkpoint, snapshot,
metrics and dataset stay whole and no partial file is left."""
from __future__ import annotations

import errno
import os
import resource
import signal
import types
from pathlib import Path

import pytest
from hostile_helpers import artgan_process, invoke, one_line, python_process

import artgan
from artgan import checkpoint, files


def file_size_limit(limit: int):
    """For a subprocess: writes past ``limit`` bytes fail with EFBIG (SIGXFSZ ignored, as a
    shell's ulimit -f leaves it for programs that handle the error)."""

    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return apply


def disk_full_on(suffix: str, monkeypatch):
    """Make Path.write_bytes fail with ENOSPC, after writing part of the file, for names ending in
    ``suffix`` (the real write site of checkpoints, snapshots and dataset images)."""
    original = Path.write_bytes

    def write_bytes(self, data):
        if not self.name.endswith(suffix):
            return original(self, data)
        original(self, bytes(data)[:len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_file_size_limit_during_a_checkpoint_keeps_the_last_good_one(tiny, tmp_path):
    assert invoke("run", tiny, "--out", tmp_path).exit_code == 0
    folder = tmp_path / "runs" / "tiny" / "checkpoints"
    size = (folder / "step-0000004.pt").stat().st_size
    process = artgan_process("train", tiny, "--out", tmp_path, "--resume", "--set", "train.steps=6",
                             cwd=tmp_path, preexec_fn=file_size_limit(size // 2))
    out, err = process.communicate(timeout=240)
    assert process.returncode == 2, out + err
    line = one_line(err)
    assert line.startswith(f"error: {folder}: cannot write there: the file size limit (ulimit -f) was reached")
    assert f"it needs {size / 1e6:.1f} MB" in line
    assert [p.name for p in sorted(folder.iterdir())] == ["step-0000000.pt", "step-0000002.pt", "step-0000004.pt"]
    assert checkpoint.load(folder / "step-0000004.pt")["step"] == 4
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("folder, suffix", [("checkpoints", ".pt"), ("snapshots", ".png")])
def test_disk_full_during_training_is_one_line_and_keeps_what_was_written(tiny, tmp_path, monkeypatch,
                                                                          folder, suffix):
    assert invoke("run", tiny, "--out", tmp_path).exit_code == 0
    written = tmp_path / "runs" / "tiny" / folder
    before = {path.name: path.read_bytes() for path in written.iterdir()}
    disk_full_on(f"{suffix}.{os.getpid()}.tmp", monkeypatch)
    result = invoke("train", tiny, "--out", tmp_path, "--resume", "--set", "train.steps=6")
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert line.startswith(f"error: {written}: cannot write there: disk full (")
    assert "it needs" in line and "free some space" in line
    assert {path.name: path.read_bytes() for path in written.iterdir()} == before
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_metrics_line_that_does_not_fit_is_not_half_written(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"step": 1}\n' * 100)
    before = metrics.read_bytes()
    process = python_process(f"""
        from artgan import ArtganError
        from artgan.files import append_line
        try:
            append_line({str(metrics)!r}, '{{"step": 2, "pad": "{'x' * 500}"}}')
        except ArtganError as exc:
            print(exc)
        """, tmp_path, preexec_fn=file_size_limit(len(before) + 100))
    out, err = process.communicate(timeout=60)
    assert f"{tmp_path}: cannot write there: the file size limit" in out, out + err
    assert metrics.read_bytes() == before


def test_disk_full_while_the_dataset_builds_keeps_the_old_dataset(tiny, tmp_path, monkeypatch):
    assert invoke("dataset", tiny, "--out", tmp_path).exit_code == 0
    old = (tmp_path / "data" / "tiny" / "manifest.jsonl").read_bytes()
    disk_full_on("0000005.png", monkeypatch)
    result = invoke("dataset", tiny, "--out", tmp_path, "--set", "source.0.count=9")
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / 'data'}: cannot write there: disk full" in one_line(result.stderr)
    assert (tmp_path / "data" / "tiny" / "manifest.jsonl").read_bytes() == old
    assert not (tmp_path / "data" / ".tiny.building").exists()


class FullDisk(artgan.Renderer):
    """Fails as an encoder writing to a full disk does (films, in any plugin)."""

    def render(self, target):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(target) / "film.mp4"))


def test_disk_full_anywhere_else_is_one_line_with_exit_2(tiny, tmp_path, register_plugin):
    module = types.ModuleType("test_full_disk")
    module.register_renderers = artgan.hookimpl(lambda register: register("test-full-disk", FullDisk))
    register_plugin(module, name="test-full-disk")
    result = invoke("render", "test-full-disk", tmp_path)
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr).startswith(f"error: {tmp_path}: cannot write there: disk full (")


def test_a_folder_turned_read_only_is_one_line_not_the_clean_ups_traceback(tmp_path, monkeypatch):
    """A run folder on a disk remounted read-only: the write fails, and so does deleting its
    temporary file; the second failure used to hide the first in a traceback."""
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "write_bytes", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(artgan.ArtganError) as caught:
        files.write_bytes_atomic(tmp_path / "CREDITS.md", b"who made what")
    assert str(caught.value) == (f"{tmp_path}: cannot write there (Read-only file system); make it writable or "
                                 "choose another --out; nothing half-written was kept")
