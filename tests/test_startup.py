"""Commands that neither train nor sample do not import torch (benchmarks/startup.py measures how
long they take; this checks only what they import, never a time)."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from films import fake_run

import artgan
from artgan import scaffold
from artgan.kinds import KINDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parents[1]
BENCHMARK = ROOT / "benchmarks" / "startup.py"
TEMPLATE = ROOT / "examples" / "plugin-template"


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


def install_in_place(distribution: Path, monkeypatch) -> None:
    """What `pip install -e` does for ``distribution``, as far as artgan's processes see: its
    package importable (its folder on PYTHONPATH) and its entry points listed (a .dist-info there)."""
    project = tomllib.loads((distribution / "pyproject.toml").read_text())["project"]
    info = distribution / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    points = project["entry-points"]["artgan"]
    (info / "entry_points.txt").write_text("[artgan]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(distribution), os.environ.get("PYTHONPATH")])))


@pytest.mark.parametrize("made_by", ["template", "new-plugin"])
def test_an_installed_plugin_template_does_not_make_commands_import_torch(tmp_path, monkeypatch, made_by):
    folder, name = tmp_path / "artgan-glitch", "example" if made_by == "template" else "glitch"
    if made_by == "template":
        shutil.copytree(TEMPLATE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        scaffold.new_plugin("glitch", list(KINDS), folder)
    install_in_place(folder, monkeypatch)
    listed = subprocess.run([sys.executable, "-m", "artgan", "plugins", "--json"], capture_output=True, text=True,
                            check=True, cwd=tmp_path).stdout
    assert sorted(p["kind"] for p in json.loads(listed) if p["name"] == name) == sorted(KINDS)
    for args in (["--help"], ["plugins", name], ["render", name, "--help"]):
        assert startup().measure(args)["torch"] is False, args


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
