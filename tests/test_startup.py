"""Commands that neither train nor sample do not import torch (benchmarks/startup.py measures how
long they take; this checks only what they import, never a time)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from films import fake_run

import artgan

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "startup.py"


def startup():
    spec = importlib.util.spec_from_file_location("startup_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("args", startup().COMMANDS, ids=" ".join)
def test_commands_that_do_not_train_do_not_import_torch(args):
    assert startup().measure(args)["torch"] is False


@pytest.mark.parametrize("name", ["timelapse", "compare"])
def test_films_of_snapshots_do_not_import_torch(tmp_path, name):
    run = fake_run(tmp_path)  # (training imported torch in its own process)
    out = tmp_path / f"{name}.mp4"
    assert startup().measure(["render", name, str(run), str(run), "--out", str(out)] if name == "compare" else
                             ["render", name, str(run), "--out", str(out)])["torch"] is False
    assert out.stat().st_size > 0


def test_the_benchmark_sees_torch_when_a_plugin_imports_it(tmp_path):
    (tmp_path / "heavy.py").write_text("import torch\n")  # a third-party plugin written the slow way
    assert startup().measure(["--plugins-dir", str(tmp_path), "plugins"])["torch"] is True


def test_a_light_model_class_builds_its_implementation_and_so_do_its_subclasses():
    from artgan_plugins.dcgan import DCGAN
    from artgan_plugins.dcgan.model import DCGANModel

    class Quiet(DCGAN):  # a variant written against the registered class, as docs/plugin-hooks.md shows
        def train_step(self, real):
            return {"variant": True, **super().train_step(real)}

    context = artgan.Context(resolution=32)
    options = DCGAN.Options(g_width=4, d_width=4, z_dim=8)
    assert type(DCGAN(options, context)) is DCGANModel
    variant = Quiet(options, context)
    assert isinstance(variant, Quiet) and isinstance(variant, DCGANModel) and type(variant).__name__ == "Quiet"
    import torch

    assert variant.train_step(torch.zeros(4, 3, 32, 32))["variant"] is True
