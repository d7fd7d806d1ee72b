"""Errors raised inside a plugin name the plugin and the recipe section that used it, at every
stage: building the plugin, a source's items, a preprocessor's process, a model's train_step and
a renderer's render. Bad input (ArtganError) is one line and status 2; a bug keeps its traceback
(status 1) with a note naming the plugin and the section."""
from __future__ import annotations

import sys
import types
from typing import Literal

import pytest
from typer.testing import CliRunner

import artgan
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
