"""Every hook has a heading in docs/plugin-hooks.md and a test that calls it, and its examples
run as written; every call of the Python API has a heading in docs/python-api.md and a test in
tests/test_api.py."""
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import artgan
from artgan import hookspecs, plugins
from artgan.cli import app
from artgan.recipe import TrainOptions

ROOT = Path(__file__).parents[1]
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "artgan_spec")]
API_CALLS = re.findall(r"^## ((?:artgan|Run)\.\w+)\(", (ROOT / "docs" / "python-api.md").read_text(), re.M)


def test_hookspecs_are_found():
    assert "register_sources" in HOOKS and "on_run_end" in HOOKS and len(HOOKS) == 9


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_has_a_heading_with_its_signature(hook):
    args = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    headings = re.findall(r"^## (.+)$", (ROOT / "docs" / "plugin-hooks.md").read_text(), re.M)
    assert f"{hook}({args})" in headings


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_has_a_test(hook):
    tests = [p for p in (ROOT / "tests").glob("test_*.py") if p.name != "test_docs.py"]
    assert any(re.search(rf"\b{hook}\b", p.read_text()) for p in tests), f"no test mentions {hook}"


def test_writing_plugins_shows_the_template_files_as_they_are():
    """docs/writing-plugins.md walks through examples/plugin-template: each file it shows under
    its name is that file, so the tutorial's code is the code the template's tests run."""
    text = (ROOT / "docs" / "writing-plugins.md").read_text()
    shown = dict(re.findall(r"^`([\w./-]+)`:\n\n```\w*\n(.*?)^```$", text, re.M | re.S))
    template = ROOT / "examples" / "plugin-template"
    assert set(shown) == {"pyproject.toml", "artgan_example/__init__.py", "artgan_example/source.py",
                          "artgan_example/preprocessor.py", "artgan_example/renderer.py",
                          "artgan_example/model.py", "artgan_example/model_torch.py", "tests/test_source.py"}
    for name, code in shown.items():
        assert code == (template / name).read_text(), f"{name} differs from examples/plugin-template/{name}"


def test_every_train_key_has_a_row_in_the_readme():
    section = (ROOT / "README.md").read_text().split("### `[train]`")[1].split("\n#")[0]
    rows = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    assert set(TrainOptions.model_fields) <= rows, set(TrainOptions.model_fields) - rows


def test_api_calls_are_found():
    assert {"artgan.load_recipe", "artgan.run", "Run.samples", "artgan.RunFolder"} <= set(API_CALLS)


@pytest.mark.parametrize("call", API_CALLS)
def test_each_documented_api_call_has_a_test(call):
    """``artgan.run`` needs a test_api_run_…, ``Run.samples`` a test_api_Run_samples_…"""
    prefix = "test_api_" + call.removeprefix("artgan.").replace(".", "_") + "_"
    names = re.findall(r"^def (test_\w+)", (ROOT / "tests" / "test_api.py").read_text(), re.M)
    assert any(name.startswith(prefix) for name in names), f"no {prefix}… in tests/test_api.py"


def test_each_public_api_call_is_documented():
    public = {f"artgan.{name}" for name in artgan.__all__ if inspect.isfunction(getattr(artgan, name))}
    public |= {f"Run.{name}" for name, member in vars(artgan.Run).items()
               if inspect.isfunction(member) and not name.startswith("_")}
    assert public | {"artgan.RunFolder"} <= set(API_CALLS), public - set(API_CALLS)


def test_the_toolkit_example_trains_a_few_steps(capsys):
    code = (ROOT / "docs" / "toolkit.md").read_text().split("```python\n")[1].split("```")[0]
    exec(compile(code, "docs/toolkit.md", "exec"), {"__name__": "toolkit_example"})
    assert "aug_p" in capsys.readouterr().out


HOOK_EXAMPLES = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "plugin-hooks.md").read_text(), re.S)


def test_the_hook_examples_run_as_loose_plugin_files(tmp_path, monkeypatch, restore_plugins):
    folder = tmp_path / "plugins"
    folder.mkdir()
    for number, code in enumerate(HOOK_EXAMPLES):
        (folder / f"example_{number}.py").write_text(code)
    monkeypatch.setenv("HOME", str(tmp_path))  # on_checkpoint's backup folder is in the home folder
    (tmp_path / "doc.toml").write_text('''
name = "doc"
resolution = 32
[[source]]
use = "gradient"
count = 4
[[preprocess]]
use = "greyscale"
[model]
use = "slow-dcgan"
g_width = 4
d_width = 4
z_dim = 8
[train]
steps = 1
batch_size = 2
grid = 1
device = "cpu"
[[render]]
use = "last-snapshot"
''')
    plugins.load_plugins_dir(folder)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "doc.toml"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "doc: starting at step 0 on cpu" in result.stdout and "doc ended at step 1" in result.stdout
    assert "step 1: mean brightness" in result.stdout
    assert (tmp_path / "runs" / "doc" / "last.png").is_file()
    backups = sorted(path.name for path in (tmp_path / "artgan-backup").iterdir())
    assert backups == ["step-0000000.pt", "step-0000001.pt"]
    hello = subprocess.run([sys.executable, "-m", "artgan", "hello", "you"], capture_output=True, text=True,
                           env={**os.environ, "ARTGAN_PLUGINS_DIR": str(folder)})
    assert hello.stdout == "hello you\n", hello.stderr
