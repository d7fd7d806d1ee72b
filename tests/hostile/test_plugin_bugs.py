"""Issue 21, item 14: only what a plugin declares as a bad input (a returned Skipped, or a raised
artgan.BadInput) is a skip; any other exception is a bug that stops the build with exit 1 and a
traceback naming the plugin and the item, in this process and in worker processes alike."""
from __future__ import annotations

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
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "divide.py").write_text(PLUGIN)
    plugins.load_plugins_dir(folder)
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
