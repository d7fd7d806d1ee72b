"""`artgan sample` with a huge --n: the first files come at once, and Ctrl-C or SIGTERM stops it
promptly, every file written so far whole."""
from __future__ import annotations

import signal

import pytest
from hostile_helpers import artgan_process, wait_for
from PIL import Image

from artgan import checkpoint, plugins
from artgan.kinds import Context

SMALL = {"g_width": 4, "d_width": 4, "z_dim": 8}


@pytest.mark.parametrize("stop, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_huge_sample_starts_writing_at_once_and_stops_on_a_signal_with_whole_files(tmp_path, stop, status):
    info = plugins.get("model", "dcgan")
    model = info.cls(info.cls.Options(**SMALL), Context(resolution=32, seed=3))
    path = checkpoint.save(tmp_path / "step-0000001.pt", {"model": {"use": "dcgan", **SMALL}, "resolution": 32,
                                                           "seed": 3, "state": model.state_dict()})
    out = tmp_path / "samples"
    process = artgan_process("sample", path, "--n", 1_000_000_000, "--out", out, cwd=tmp_path)
    try:
        wait_for(lambda: len(list(out.glob("sample-*.png"))) >= 64, process)
        process.send_signal(stop)
        output, errors = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == status, output + errors
    files = list(out.iterdir())
    assert files and all(file.name.startswith("sample-0000-") for file in files)  # no temporary file left
    for file in files:
        with Image.open(file) as picture:
            picture.load()
            assert picture.size == (32, 32)
