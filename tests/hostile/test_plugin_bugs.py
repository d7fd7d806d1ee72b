"""Issue 21, item 14: only what a plugin declares as a bad input (a returned Skipped, or a raised
artgan.BadInput) is a skip; any other exception is a bug that stops the build with exit 1 and a
traceback naming the plugin and the item, in this process and in worker processes alike. So is a
plugin that breaks its contract: a source that yields no Item holding a PIL image, a preprocessor
that returns no list of them, a renderer that returns no list of the files it wrote, a model
without z_dim, whose train_step returns no losses by name, whose samples are not (B, 3, H, W) or
whose state_dict holds what a checkpoint cannot give back: a PluginError naming the plugin, its
file and what to give instead (a checkpoint's, as it is saved, not at the resume)."""
from __future__ import annotations

import re

import pytest
from hostile_helpers import add_preprocessor, artgan_process, invoke

from artgan import plugins
from artgan.dataset import build_dataset
from artgan.errors import PluginError
from artgan.recipe import load_recipe

PLUGIN = """
import artgan


class DivideOptions(artgan.Options):
    bug: bool = False


class Divide(artgan.Preprocessor):
    Options = DivideOptions

    def process(self, item):
        index = int(item.origin.rsplit("#", 1)[1])
        if index == 1:
            return [artgan.Skipped(item.origin, "declared: a returned skip")]
        if index == 2:
            raise artgan.BadInput("declared: a raised bad input")
        if index == 5 and self.options.bug:
            return [item.derive(item.image, ratio=1 / 0)]
        return [item]


@artgan.hookimpl
def register_preprocessors(register):
    register("test-divide", Divide)
"""


@pytest.fixture
def divide(tiny, tmp_path, restore_plugins):
    """tiny.toml with the test-divide preprocessor (a loose plugin file in tmp_path/plugins)."""
    loose_plugin(tmp_path, "divide.py", PLUGIN)
    add_preprocessor(tiny, "test-divide")
    return tiny


def test_declared_bad_inputs_are_skips(divide, tmp_path):
    report = build_dataset(load_recipe(divide), tmp_path)
    assert report.dataset.count == 6
    assert [(s.origin, s.reason) for s in report.skipped] == [
        ("shapes#1", "declared: a returned skip"),
        ("shapes#2", "preprocess[0] (test-divide): declared: a raised bad input")]


def test_a_bug_in_a_preprocessor_stops_the_build_naming_plugin_and_item(divide, tmp_path):
    result = invoke("dataset", divide, "--out", tmp_path, "--set", "preprocess.0.bug=true")
    assert result.exit_code == 1
    assert isinstance(result.exception, PluginError)
    assert isinstance(result.exception.__cause__, ZeroDivisionError)
    assert "the preprocessor plugin 'test-divide' (preprocess[0]) failed on shapes#5" in str(result.exception)
    assert not (tmp_path / "data" / "tiny").exists() and not (tmp_path / "data" / ".tiny.building").exists()


def test_a_bug_in_a_worker_process_stops_the_build_with_its_traceback(divide, tmp_path):
    process = artgan_process("--plugins-dir", tmp_path / "plugins", "dataset", divide, "--out", tmp_path,
                             "--set", "preprocess.0.bug=true", "--set", "workers=2", cwd=tmp_path)
    out, err = process.communicate(timeout=240)
    assert process.returncode == 1, out + err
    assert "ZeroDivisionError: division by zero" in err  # the worker's own traceback
    assert err.strip().splitlines()[-1].startswith(
        "artgan.errors.PluginError: the preprocessor plugin 'test-divide' (preprocess[0]) failed on shapes#5")
    assert "dataset built" not in out


MISFIT = """
from pathlib import Path

import numpy as np
from PIL import Image

import artgan
from artgan_plugins.dcgan import DCGAN, DCGANOptions


class GivesOptions(artgan.Options):
    gives: str = "right"


class Source(artgan.Source):
    Options = GivesOptions

    def items(self):
        item = artgan.Item(Image.new("RGB", (32, 32)), origin="misfit#0")
        array = artgan.Item(np.zeros((32, 32, 3), np.uint8), origin="misfit#0")
        empty = artgan.Item(Image.new("RGB", (0, 0)), origin="misfit#0")
        given = {"right": item, "image": item.image, "array": array, "empty": empty, "none": None}
        yield given[self.options.gives]


class Preprocessor(artgan.Preprocessor):
    Options = GivesOptions

    def process(self, item):
        given = {"right": [item], "item": item, "none": None, "images": [item.image], "text": "a.png"}
        return given[self.options.gives]


class Renderer(artgan.Renderer):
    Options = GivesOptions
    uses_model = False

    def render(self, target):
        out = Path(target) / "misfit.txt"
        out.write_text("written")
        given = {"right": [out], "text": str(out), "none": None, "missing": [out.with_name("never.png")]}
        return given[self.options.gives]


class ModelOptions(DCGANOptions, GivesOptions):
    pass


class Model(DCGAN):
    Options = ModelOptions

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.z_dim = 0 if self.options.gives == "no-z" else self.z_dim

    def train_step(self, real):
        losses = super().train_step(real)
        return None if self.options.gives == "none" else losses

    def state_dict(self):
        state = super().state_dict()
        return {**state, "extra": np.zeros(3)} if self.options.gives == "numpy-state" else state

    def sample(self, z, truncation=1.0):
        images = super().sample(z, truncation)
        return images.permute(0, 2, 3, 1) if self.options.gives == "channels-last" else images


@artgan.hookimpl
def register_sources(register):
    register("test-misfit", Source)


@artgan.hookimpl
def register_preprocessors(register):
    register("test-misfit", Preprocessor)


@artgan.hookimpl
def register_renderers(register):
    register("test-misfit", Renderer)


@artgan.hookimpl
def register_models(register):
    register("test-misfit", Model)
"""


@pytest.fixture
def misfit(tiny, tmp_path, restore_plugins):
    """tiny.toml, and the test-misfit plugins (a loose file): each gives what its option `gives` names."""
    loose_plugin(tmp_path, "misfit.py", MISFIT)
    return tiny


def loose_plugin(tmp_path, name: str, text: str) -> None:
    """Load ``text`` as the plugin file tmp_path/plugins/``name``, as --plugins-dir does."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / name).write_text(text)
    plugins.load_plugins_dir(folder)


def building(recipe_file, overrides=()):
    return build_dataset(load_recipe(recipe_file, overrides), recipe_file.parent)


@pytest.mark.parametrize("gives, got", [
    ("image", "yielded a PIL.Image.Image"),
    ("array", "yielded an Item whose image is a numpy.ndarray"),
    ("empty", r"yielded an Item whose image is empty \(0 x 0 pixels\)"),
    ("none", "yielded None")])
def test_a_source_that_yields_no_item_with_a_picture_is_a_bug_naming_it(misfit, gives, got):
    misfit.write_text(misfit.read_text().replace('use = "shapes"\ncount = 8', 'use = "test-misfit"'))
    assert building(misfit).dataset.count == 1
    with pytest.raises(PluginError, match=rf"the source plugin 'test-misfit' \(source\[0\], .*misfit.py\) "
                                          rf"items\(\) {got}; yield artgan.Item\(image, origin\)"):
        building(misfit, [f"source.0.gives={gives}"])


@pytest.mark.parametrize("gives, got", [
    ("none", "returned None"), ("images", "returned a list holding a PIL.Image.Image"), ("text", "returned a str")])
def test_a_preprocessor_that_returns_no_list_of_items_is_a_bug_naming_it(misfit, gives, got):
    add_preprocessor(misfit, "test-misfit")
    assert building(misfit, ["preprocess.0.gives=item"]).dataset.count == 8  # a lone item is a list of one
    with pytest.raises(PluginError, match=rf"the preprocessor plugin 'test-misfit' \(preprocess\[0\], .*misfit.py\) "
                                          rf"process\(shapes#0\) {got}; return a list of artgan.Item"):
        building(misfit, [f"preprocess.0.gives={gives}"])


@pytest.mark.parametrize("gives, got", [
    ("text", r"returned '.*misfit.txt' from render\(\); return a list"),
    ("none", r"returned None from render\(\); return a list"),
    ("missing", "returned files that do not exist: .*never.png")])
def test_a_renderer_that_returns_no_list_of_its_files_is_a_bug_naming_it(misfit, tmp_path, gives, got):
    run = tmp_path / "run"
    run.mkdir()
    assert invoke("render", "test-misfit", run).exit_code == 0
    result = invoke("render", "test-misfit", run, "--gives", gives)
    assert result.exit_code == 1 and isinstance(result.exception, PluginError)
    assert re.match(rf"the renderer plugin 'test-misfit' \(.*misfit.py\) {got}", str(result.exception))


@pytest.mark.parametrize("gives, got", [
    ("channels-last", r"returned Tensor of shape \(4, 32, 32, 3\) from sample\(z\); return a torch tensor of "
                      r"shape \(4, 3, 32, 32\)"),
    ("none", r"returned None from train_step\(real\); return its losses by name, as one-element tensors"),
    ("no-z", "has z_dim = 0; set self.z_dim"),
    ("numpy-state", r"returned a value of type numpy.ndarray at \['extra'\] from state_dict\(\): checkpoints are read "
                    "without running code")])
def test_a_model_that_breaks_its_contract_is_a_bug_naming_it(misfit, tmp_path, gives, got):
    misfit.write_text(misfit.read_text().replace('use = "dcgan"', f'use = "test-misfit"\ngives = "{gives}"'))
    result = invoke("run", misfit, "--out", tmp_path)
    assert result.exit_code == 1 and isinstance(result.exception, PluginError)
    assert re.match(rf"the model Model \(.*misfit.py\) {got}", str(result.exception))
