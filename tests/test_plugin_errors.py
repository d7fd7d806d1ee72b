"""Errors raised inside a plugin name the plugin and the recipe section that used it, at every
stage: building the plugin, a source's items, a preprocessor's process, a model's train_step and
a renderer's render. Bad input (ArtganError) is one line and status 2; a bug keeps its traceback
(status 1) with a note naming the plugin and the section."""
from __future__ import annotations

import sys
import textwrap
import types
from importlib.metadata import EntryPoint
from typing import Literal

import pytest
from typer.testing import CliRunner

import artgan
from artgan import plugins
from artgan.cli import app
from artgan_plugins.dcgan import DCGAN, DCGANOptions

KIND_OF = {"source": "source", "preprocess": "preprocessor", "model": "model", "render": "renderer"}


class FaultOptions(artgan.Options):
    at: Literal["build", "use"] = "use"  # raise when the plugin is built, or when it is used
    bug: bool = False  # raise a RuntimeError (a bug) instead of an ArtganError (bad input)


def boom(options: FaultOptions):
    if options.bug:
        raise RuntimeError("boom")
    raise artgan.ArtganError("boom; fix the input")


class Faulty:
    """Raises "boom" on being built (at = "build"); the subclasses raise it when used."""

    Options = FaultOptions

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        if self.options.at == "build":
            boom(self.options)


class FaultySource(Faulty, artgan.Source):
    def items(self):
        boom(self.options)
        yield from ()


class FaultyPreprocessor(Faulty, artgan.Preprocessor):
    def process(self, item):
        boom(self.options)


class FaultyModelOptions(DCGANOptions, FaultOptions):
    pass


class FaultyModel(Faulty, DCGAN):
    Options = FaultyModelOptions

    def train_step(self, real):
        boom(self.options)


class FaultyRenderer(Faulty, artgan.Renderer):
    def render(self, target):
        boom(self.options)


def faulty_plugin():
    module = types.ModuleType("test_faulty_plugin")

    @artgan.hookimpl
    def register_sources(register):
        register("test-faulty", FaultySource)

    @artgan.hookimpl
    def register_preprocessors(register):
        register("test-faulty", FaultyPreprocessor)

    @artgan.hookimpl
    def register_models(register):
        register("test-faulty", FaultyModel)

    @artgan.hookimpl
    def register_renderers(register):
        register("test-faulty", FaultyRenderer)

    module.__dict__.update(register_sources=register_sources, register_preprocessors=register_preprocessors,
                           register_models=register_models, register_renderers=register_renderers)
    return module


def recipe(write_recipe, section: str, at: str, bug: bool):
    """A tiny recipe whose ``section`` uses the faulty plugin."""
    fault = f'use = "test-faulty"\nat = "{at}"\nbug = {str(bug).lower()}'
    plain = {"source": 'use = "shapes"\ncount = 4', "preprocess": 'use = "mirror"',
             "model": 'use = "dcgan"\ng_width = 4\nd_width = 4\nz_dim = 8', "render": 'use = "grid"\ncount = 1'}
    tables = {name: fault if name == section else text for name, text in plain.items()}
    if section == "model":
        tables["model"] += "\ng_width = 4\nd_width = 4\nz_dim = 8"
    return write_recipe(f"""
name = "faulty"
resolution = 32

[[source]]
{tables["source"]}

[[preprocess]]
{tables["preprocess"]}

[model]
{tables["model"]}

[train]
steps = 1
batch_size = 2
grid = 1

[[render]]
{tables["render"]}
""")


STAGES = [(section, at) for section in KIND_OF for at in ("build", "use")]


@pytest.mark.parametrize("section, at", STAGES)
def test_bad_input_inside_a_plugin_is_one_line_naming_the_plugin_and_section(
        section, at, write_recipe, register_plugin, tmp_path):
    register_plugin(faulty_plugin(), name="test-faulty-plugin")
    path = recipe(write_recipe, section, at, bug=False)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    where = f"{section}[0]" if section != "model" else "model"
    assert line == f"error: {path}: {where} (test-faulty): boom; fix the input"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are new in Python 3.11")
@pytest.mark.parametrize("section, at", [stage for stage in STAGES if stage != ("preprocess", "use")])
def test_a_bug_inside_a_plugin_keeps_its_traceback_with_a_note_naming_it(
        section, at, write_recipe, register_plugin, tmp_path):
    register_plugin(faulty_plugin(), name="test-faulty-plugin")
    path = recipe(write_recipe, section, at, bug=True)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError) and str(result.exception) == "boom"
    where = f"{section}[0]" if section != "model" else "model"
    assert result.exception.__notes__ == [f"raised by the {KIND_OF[section]} plugin 'test-faulty' in {path}: {where}"]


WRONG_HOOKS = [
    ("@artgan.hookimpl\ndef on_snapshot(step, image):\n    pass",
     "on_snapshot(step, image): the hook gives no image; take any of run, step, images, by these names"),
    ("@artgan.hookimpl\ndef on_snapshots(run):\n    pass",
     'on_snapshots is not an artgan hook; did you mean "on_snapshot"?'),
    ("def register_sources(register):\n    pass",
     "register_sources has no @artgan.hookimpl above it, so artgan never calls it; add it"),
]


@pytest.mark.parametrize("code, message", WRONG_HOOKS)
def test_a_loose_file_with_a_hook_artgan_cannot_call_stops_in_one_line_naming_it(
        code, message, tmp_path, restore_plugins):
    path = tmp_path / "hooks.py"
    path.write_text(f"import artgan\n\n\n{code}\n")
    result = CliRunner().invoke(app, ["--plugins-dir", str(tmp_path), "plugins"])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {path}: {message}"


def test_an_installed_plugin_that_fails_to_load_is_left_out_with_a_line_saying_why(
        tmp_path, monkeypatch, capsys):
    (tmp_path / "artgan_test_wrong_hook.py").write_text(f"import artgan\n\n\n{WRONG_HOOKS[0][0]}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = [EntryPoint("wrong", "artgan_test_wrong_hook", "artgan"),
             EntryPoint("missing", "artgan_test_nowhere", "artgan")]
    monkeypatch.setattr(plugins, "entry_points", lambda group: found)
    plugins.load_entry_points()
    wrong, missing = capsys.readouterr().err.strip().splitlines()
    assert wrong == (f"artgan: plugin ?:wrong (artgan_test_wrong_hook, unknown distribution) failed to load, so "
                     f"it is left out: {tmp_path / 'artgan_test_wrong_hook.py'}: {WRONG_HOOKS[0][1]}; fix it, "
                     "or pip uninstall it")
    assert missing.startswith("artgan: plugin ?:missing (artgan_test_nowhere, unknown distribution) failed to load")
    assert not plugins.pm.has_plugin("?:wrong") and not plugins.pm.has_plugin("?:missing")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are new in Python 3.11")
def test_a_bug_in_a_run_hook_keeps_its_traceback_with_a_note_naming_the_plugin(write_recipe, register_plugin, tmp_path):
    module = types.ModuleType("test_backup_plugin")
    exec(textwrap.dedent("""
        import artgan

        @artgan.hookimpl
        def on_checkpoint(path):
            raise FileNotFoundError("/mnt/backup")
        """), module.__dict__)
    register_plugin(module, name="test-backup")
    path = recipe(write_recipe, "none", "use", bug=False)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and isinstance(result.exception, FileNotFoundError)
    assert result.exception.__notes__ == ["raised by the on_checkpoint hook of the plugin test-backup"]


class PlainOptions(artgan.Source):
    class Options:  # not artgan.Options: a misspelt key would go unnoticed
        count = 3


def test_a_registration_artgan_would_ignore_or_misread_is_an_error_naming_the_plugin(register_plugin):
    returning = types.ModuleType("test_returning_plugin")
    returning.register_sources = artgan.hookimpl(lambda: {"test-returned": FaultySource})
    register_plugin(returning, name="test-returning")
    with pytest.raises(artgan.ArtganError, match=r"^test-returning: register_sources returned \{'test-returned': "
                                                 r".*\}, which artgan ignores; call register\(name, cls\)"):
        plugins.collect("source")
    plugins.unregister("test-returning")
    plain = types.ModuleType("test_plain_options_plugin")
    plain.register_sources = artgan.hookimpl(lambda register: register("test-plain", PlainOptions))
    register_plugin(plain, name="test-plain-options")
    with pytest.raises(artgan.ArtganError, match=r'^test-plain-options: the Options of source "test-plain" must be '
                                                 r"a subclass of artgan.Options"):
        plugins.collect("source")


class Unfinished(artgan.Source):
    """Test source without items()."""


def test_a_plugin_without_a_method_its_kind_needs_says_which():
    with pytest.raises(NotImplementedError, match=r"^Unfinished \(.*test_plugin_errors.py\) does not implement "
                                                  r"items\(\), which every source needs$"):
        list(Unfinished().items())
