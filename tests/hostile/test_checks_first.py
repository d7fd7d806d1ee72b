"""Issue 21, item 16: what can be checked before the dataset is built is checked first (the
model at the recipe's resolution, the device, an existing run, a sweep's runs); item 13: an
--out folder that cannot be written is one line naming it, exit 2."""
from __future__ import annotations

import shlex

import pytest
import torch
from hostile_helpers import invoke, one_line


def test_a_resolution_the_model_cannot_train_at_stops_before_the_dataset(tiny, tmp_path):
    result = invoke("run", tiny, "--out", tmp_path, "--set", "resolution=33")
    assert result.exit_code == 2, result.output
    assert "resolution 33 must be a power of two" in one_line(result.stderr)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("setting, message", [
    pytest.param("train.device=cuda", "train.device: cuda is not available on this machine; use auto or cpu",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")),
    ("train.init_from=nowhere.pt",
     "train.init_from: nowhere.pt: checkpoint not found; give a .pt file from a run's checkpoints/ folder"),
])
def test_a_device_or_starting_point_that_is_not_there_stops_before_the_dataset(tiny, tmp_path, setting, message):
    result = invoke("run", tiny, "--out", tmp_path, "--set", setting)
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) == f"error: {tiny}: {message}"
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("setting", ["model.z_dim=100000000", "model.g_width=200000"])
def test_a_model_too_large_for_the_machine_stops_before_the_dataset(tiny, tmp_path, setting):
    result = invoke("run", tiny, "--out", tmp_path, "--set", setting, "--set", "model.max_width=200000")
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert line.startswith(f"error: {tiny}: model: its weights, gradients and optimiser state take ")
    assert "GB of memory of cpu; make it narrower (`artgan plugins dcgan` lists its widths)" in line
    assert not (tmp_path / "data").exists()


def test_an_existing_run_without_resume_stops_before_the_dataset(tiny, tmp_path):
    assert invoke("run", tiny, "--out", tmp_path).exit_code == 0
    result = invoke("run", tiny, "--out", tmp_path, "--set", "source.0.count=9")
    assert result.exit_code == 2, result.output
    assert "a run with this name exists; pass --resume" in one_line(result.stderr)
    assert result.stdout == ""
    assert '"count": 8' in (tmp_path / "data" / "tiny" / "dataset.json").read_text()


def test_every_run_of_a_sweep_is_checked_before_the_first_builds(tiny, tmp_path):
    tiny.write_text(tiny.read_text() + '\n[sweep]\n"model.d_width" = [8, 8]\nresolution = [32, 48]\n')
    result = invoke("run", tiny, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert "resolution 48 must be a power of two" in one_line(result.stderr)
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command", ["run", "dataset", "train", "sample"])
def test_an_out_folder_that_cannot_be_written_is_one_line(tiny, tmp_path, command):
    args = [tmp_path / "none.pt"] if command == "sample" else [tiny]
    result = invoke(command, *args, "--out", "/proc/artgan-out")
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr).startswith("error: /proc/artgan-out: cannot create the folder")


def test_an_out_path_that_is_a_file_is_one_line(tiny, tmp_path):
    (tmp_path / "a-file").write_text("")
    result = invoke("run", tiny, "--out", tmp_path / "a-file" / "out")
    assert result.exit_code == 2, result.output
    assert "a-file is a file, not a folder" in one_line(result.stderr)


@pytest.mark.parametrize("setting, trained_with", [("seed=5", "seed 0 (now 5)"),
                                                   ("train.batch_size=2", "train.batch_size 4 (now 2)"),
                                                   ("train.grid=3", "train.grid 2 (now 3)"),
                                                   ("train.init_from=other.pt", "train.init_from none (now other.pt)")])
def test_resuming_with_another_seed_batch_size_grid_or_start_is_refused_before_the_dataset(tiny, tmp_path, setting,
                                                                                           trained_with):
    assert invoke("run", tiny, "--out", tmp_path).exit_code == 0
    lock = (tmp_path / "runs" / "tiny" / "recipe.lock.toml").read_text()
    built = (tmp_path / "data" / "tiny" / "dataset.json").stat().st_mtime_ns
    for command in ("run", "train"):  # train too: not "rebuild the dataset" first, which would lose the run's data
        result = invoke(command, tiny, "--out", tmp_path, "--resume", "--set", setting, "--set", "train.steps=6")
        assert result.exit_code == 2, result.output
        assert f"--resume: this run trained with {trained_with}, as its recipe.lock.toml says" in \
            one_line(result.stderr)
    assert (tmp_path / "runs" / "tiny" / "recipe.lock.toml").read_text() == lock
    assert (tmp_path / "data" / "tiny" / "dataset.json").stat().st_mtime_ns == built  # not rebuilt
    longer = invoke("run", tiny, "--out", tmp_path, "--resume", "--set", "train.steps=6")  # what may change
    assert longer.exit_code == 0 and "resuming from step 4" in longer.stdout, longer.output


def test_train_without_a_dataset_says_the_command_that_builds_it_with_the_same_set_and_out(tiny, tmp_path):
    out = tmp_path / "my out"
    result = invoke("train", tiny, "--set", "source.0.count=6", "--out", out)
    assert result.exit_code == 2, result.output
    line = one_line(result.stderr)
    assert line.endswith(f"no dataset yet; build it with `artgan dataset {tiny} --set source.0.count=6 --out '{out}'`")
    build = shlex.split(line.split("`")[1])[1:]
    assert invoke(*build).exit_code == 0
    assert invoke("train", tiny, "--set", "source.0.count=6", "--out", out).exit_code == 0
