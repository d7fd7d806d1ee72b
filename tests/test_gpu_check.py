"""benchmarks/gpu_check.py on a machine without CUDA: its arguments, its checklist, its no-GPU exit."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from films import tiny_run

from artgan.toolkit.precision import choose
from artgan.recipe import parse_recipe

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_exits_0(gpu_check, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on a machine with a GPU
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no CUDA GPU here") and "nothing to check" in out and "|" not in out


def test_the_checklist_covers_every_model_size_and_precision_then_torchrun(gpu_check, capsys):
    assert gpu_check.main(["--list", "--models", "dcgan,stylegan2", "--sizes", "64,512"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * 2 * 4 + 1 and all(line.startswith("- [ ] ") for line in lines)
    assert "- [ ] train stylegan2 512 px auto" in lines and "- [ ] train stylegan2 512 px fp32" in lines
    assert "- [ ] interpolation dcgan 64 px" in lines and lines[-1] == "- [ ] torchrun dcgan 64 px auto"


@pytest.mark.parametrize("argv, message", [
    (["--sizes", "64,65"], "'64,65': give powers of two from 16"),
    (["--sizes", "8"], "give powers of two from 16"),
    (["--models", "dcgna"], "unknown model dcgna; installed: dcgan, stylegan2"),
    (["--steps", "5"], "--steps: at least 20"),
])
def test_bad_arguments_exit_2_naming_the_problem(gpu_check, capsys, argv, message):
    with pytest.raises(SystemExit) as exit:
        gpu_check.main(argv + ["--list"])
    assert exit.value.code == 2 and message in capsys.readouterr().err


def test_its_recipes_are_valid_and_it_reads_a_real_run(gpu_check, tmp_path):
    for model in ("dcgan", "stylegan2"):
        recipe = parse_recipe(gpu_check.recipe(model, 512, "auto", 200, 8), tmp_path / "r.toml")
        assert (recipe.train.device, recipe.train.precision, recipe.resolution) == ("cuda", "auto", 512)
    speed, precision = gpu_check.trained_figures(tiny_run(tmp_path))
    assert speed > 0 and precision == choose("auto", "cpu")  # what auto picked for the run
