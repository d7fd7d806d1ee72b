"""Issue 21, items 6 and 11: --resume after changing the model, a foreign or corrupt newest
checkpoint, crafted dicts, random bytes and raw pickles: each is one line and exit 2 that says
what to do; `starting-points` lists the readable checkpoints and marks the others."""
from __future__ import annotations

import pickle
import shutil
import warnings

import pytest
import torch
from hostile_helpers import invoke, one_line

import artgan
from artgan import checkpoint


@pytest.fixture
def trained(tiny, tmp_path):
    """tiny.toml run for 4 steps; its checkpoints folder."""
    assert invoke("run", tiny, "--out", tmp_path).exit_code == 0
    return tmp_path / "runs" / "tiny" / "checkpoints"


def test_resume_after_changing_the_model_names_the_options(tiny, tmp_path, trained):
    result = invoke("run", tiny, "--out", tmp_path, "--resume", "--set", "model.g_width=16",
                    "--set", "train.steps=6")
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert line.startswith(f"error: {trained / 'step-0000004.pt'}: --resume: this checkpoint's model is not")
    assert "g_width 8 -> 16" in line and "--set model.g_width=8" in line
    assert "dataset" not in result.stdout  # refused before any work


def test_resume_with_a_foreign_checkpoint_as_the_newest(tiny, tmp_path, trained):
    other = tiny.with_name("other.toml")
    other.write_text(tiny.read_text().replace('name = "tiny"', 'name = "other"').replace("z_dim = 8", "z_dim = 12"))
    assert invoke("run", other, "--out", tmp_path).exit_code == 0
    shutil.copy(tmp_path / "runs" / "other" / "checkpoints" / "step-0000004.pt", trained / "step-0000009.pt")
    result = invoke("train", tiny, "--out", tmp_path, "--resume", "--set", "train.steps=10")
    assert result.exit_code == 2, result.output
    assert "z_dim 12 -> 8" in one_line(result.stderr)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 cut short", b"\x00" * 64])
def test_a_corrupt_newest_checkpoint_names_the_older_one_to_use(tiny, tmp_path, trained, content):
    (trained / "step-0000006.pt").write_bytes(content)
    result = invoke("train", tiny, "--out", tmp_path, "--resume", "--set", "train.steps=8")
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert "step-0000006.pt" in line
    assert f"the older step-0000004.pt reads fine: move step-0000006.pt out of {trained}" in line


CRAFTED = {
    "format only": {"format": 2},
    "format as text": {"format": "2"},
    "odd types": {"format": 2, "model": "dcgan", "resolution": "32", "seed": 0, "dataset": "x", "step": 1,
                  "images_seen": 0, "seconds": 0.0, "state": {}, "trainer": {}},
    "format 1 without its fields": {"format": 1},
    "no model name": {"format": 2, "model": {}, "resolution": 32, "seed": 0, "dataset": "x", "step": 1,
                      "images_seen": 0, "seconds": 0.0, "state": {}, "trainer": {}},
}


@pytest.mark.parametrize("name", CRAFTED)
def test_crafted_dict_checkpoints_are_refused_in_one_line(tiny, tmp_path, name):
    path = tmp_path / "crafted.pt"
    torch.save(CRAFTED[name], path)
    with pytest.raises(artgan.ArtganError, match="not an artgan checkpoint"):
        checkpoint.load(path)
    sample = invoke("sample", path, "--out", tmp_path / "samples")
    assert sample.exit_code == 2 and "crafted.pt: not an artgan checkpoint" in one_line(sample.stderr)
    tiny.write_text(tiny.read_text().replace("[train]", f'[train]\ninit_from = "{path}"'))
    start = invoke("run", tiny, "--out", tmp_path)
    assert start.exit_code == 2, start.output
    assert "train.init_from" in one_line(start.stderr) and "not an artgan checkpoint" in start.stderr


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(range(256)) * 8)
    result = invoke("sample", path, "--out", tmp_path / "samples")
    assert result.exit_code == 2
    line = one_line(result.stderr)
    assert "noise.pt: not a checkpoint" in line and "pickle" not in line


def test_a_raw_pickle_is_refused_without_a_warning_from_torch(tmp_path):
    path = tmp_path / "raw.pt"
    path.write_bytes(pickle.dumps({"format": 2, "step": 1}, protocol=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would raise here
        with pytest.raises(artgan.ArtganError, match="raw.pt: refused: a raw pickle"):
            checkpoint.load(path)


def test_starting_points_lists_the_rest_and_marks_the_bad_ones(tmp_path, trained, monkeypatch):
    torch.save({"format": 2}, trained / "step-0000005.pt")
    torch.save({"format": "2"}, trained / "step-0000006.pt")
    (trained / "step-0000007.pt").write_bytes(b"\x80\x04random")
    monkeypatch.chdir(tmp_path)
    result = invoke("starting-points")
    assert result.exit_code == 0, result.output
    listed = [line.split()[-1] for line in result.stdout.splitlines()[1:]]
    assert listed == [f"runs/tiny/checkpoints/step-000000{i}.pt" for i in (0, 2, 4)]
    skipped = result.stderr.splitlines()
    assert [line.split(":")[0] for line in skipped] == [f"skipped runs/tiny/checkpoints/step-000000{i}.pt"
                                                         for i in (5, 6, 7)]
