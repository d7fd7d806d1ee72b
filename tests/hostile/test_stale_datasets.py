"""Issue 21, item 15: a dataset is reused only if its sources and preprocessors are the same
code too (their distributions' versions, and the hash of the file that defines each), and
`artgan run --rebuild` rebuilds it anyway."""
from __future__ import annotations

import json

import pytest
from hostile_helpers import add_preprocessor, invoke, one_line

from artgan import plugins

PLUGIN = """
import artgan
from PIL import ImageOps


class Darken(artgan.Preprocessor):
    def process(self, item):
        return [item.derive(item.image.point(lambda value: value // {divisor}))]


@artgan.hookimpl
def register_preprocessors(register):
    register("test-darken", Darken)
"""


@pytest.fixture
def darken(tiny, tmp_path, restore_plugins):
    """tiny.toml with the test-darken preprocessor; ``darken(divisor)`` (re)writes its plugin file."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    add_preprocessor(tiny, "test-darken")

    def write(divisor: int):
        (folder / "darken.py").write_text(PLUGIN.format(divisor=divisor))
        for name, _ in plugins.pm.list_name_plugin():  # as a new artgan process would load it
            if name.startswith("file:"):
                plugins.unregister(name)
        plugins.load_plugins_dir(folder)

    return write


def test_changed_plugin_code_rebuilds_the_dataset(tiny, tmp_path, darken):
    darken(2)
    assert "dataset built" in invoke("dataset", tiny, "--out", tmp_path).stdout
    assert "dataset reused" in invoke("dataset", tiny, "--out", tmp_path).stdout
    darken(4)  # the same options, other code
    stale = invoke("train", tiny, "--out", tmp_path)
    assert stale.exit_code == 2
    assert "or other plugin code (test-darken loose file" in one_line(stale.stderr)
    assert "dataset built" in invoke("dataset", tiny, "--out", tmp_path).stdout
    meta = json.loads((tmp_path / "data" / "tiny" / "dataset.json").read_text())
    assert meta["plugins"]["shapes"].startswith("artgan ")
    assert meta["plugins"]["test-darken"].startswith("loose file ")


def test_run_rebuild_rebuilds_an_up_to_date_dataset(tiny, tmp_path):
    assert invoke("dataset", tiny, "--out", tmp_path).exit_code == 0
    result = invoke("run", tiny, "--out", tmp_path, "--rebuild")
    assert result.exit_code == 0, result.output
    assert "dataset built" in result.stdout
    assert "dataset reused" in invoke("run", tiny, "--out", tmp_path, "--resume").stdout
