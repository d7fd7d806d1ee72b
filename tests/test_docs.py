"""Every hook has a heading in docs/plugin-hooks.md and a test that calls it; every call of the
Python API has a heading in docs/python-api.md and a test in tests/test_api.py."""
import inspect
import re
from pathlib import Path

import pytest

import artgan
from artgan import hookspecs
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
