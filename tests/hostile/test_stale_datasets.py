"""Issue 21, item 15: a dataset is reused only if its sources and preprocessors are the same
code too (their distributions' versions, and the hash of the file that defines each), and
`artgan run --rebuild` rebuilds it anyway. A folder source's dataset is rebuilt when the folder's
images change (a walk of names, sizes and modification times decides it, reading no image)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hostile_helpers import add_preprocessor, invoke, one_line
from PIL import Image

import artgan
from artgan import load_recipe, plugins
from artgan.dataset import open_dataset

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


def test_plugin_code_edited_after_this_process_loaded_it_is_refused_not_run_old(tiny, tmp_path, darken):
    """A notebook's kernel keeps the code it imported: an edited plugin file would have rebuilt the
    dataset with the old code, recorded as the new, and a restarted kernel reused it as up to date."""
    darken(2)
    record = artgan.dataset(tiny, out=tmp_path).dataset.folder / "dataset.json"
    built = record.read_text()
    plugin = tmp_path / "plugins" / "darken.py"
    plugin.write_text(plugin.read_text().replace("value // 2", "value // 8"))  # edited, and the cell run again
    with pytest.raises(artgan.ArtganError, match=rf'^{plugin}: changed since this process loaded preprocessor plugin '
                                                 r'"test-darken", which still runs its old code; restart the kernel'):
        artgan.dataset(tiny, out=tmp_path)
    assert record.read_text() == built  # not rebuilt by the old code
    darken(8)  # loaded anew, as by a restarted kernel
    assert artgan.dataset(tiny, out=tmp_path).dataset.images.max() <= 255 // 8


def test_run_rebuild_rebuilds_an_up_to_date_dataset(tiny, tmp_path):
    assert invoke("dataset", tiny, "--out", tmp_path).exit_code == 0
    result = invoke("run", tiny, "--out", tmp_path, "--rebuild")
    assert result.exit_code == 0, result.output
    assert "dataset built" in result.stdout
    assert "dataset reused" in invoke("run", tiny, "--out", tmp_path, "--resume").stdout


# -- a dataset made from a folder is rebuilt when the folder's images change -----------------------

FOLDER_RECIPE = """\
name = "art"
resolution = 32
[[source]]
use = "folder"
path = "{path}"
[model]
use = "dcgan"
"""


def solid(path, colour, when: int = 1_700_000_000) -> None:
    """An 8x8 PNG of one colour at ``path``, modified at ``when`` (seconds since 1970)."""
    Image.new("RGB", (8, 8), colour).save(path)
    os.utime(path, (when, when))


@pytest.fixture
def art(tmp_path):
    """(art.toml, its folder of three images): red a.png, green b.png, blue c.png."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name, colour in [("a.png", "red"), ("b.png", "green"), ("c.png", "blue")]:
        solid(folder / name, colour)
    recipe = tmp_path / "art.toml"
    recipe.write_text(FOLDER_RECIPE.format(path=folder.as_posix()))
    assert "dataset built: 3 images" in invoke("dataset", recipe, "--out", tmp_path).stdout
    return recipe, folder


def test_an_image_added_removed_or_replaced_rebuilds_and_says_why(art, tmp_path):
    recipe, folder = art
    assert "dataset reused: 3 images" in invoke("dataset", recipe, "--out", tmp_path).stdout
    why = f"rebuilding {tmp_path / 'data' / 'art'}: the input files of source[0] (folder) changed"
    solid(folder / "d.png", "white")
    out = invoke("dataset", recipe, "--out", tmp_path).stdout
    assert why in out and "dataset built: 4 images" in out
    (folder / "a.png").unlink()
    out = invoke("dataset", recipe, "--out", tmp_path).stdout
    assert why in out and "dataset built: 3 images" in out
    solid(folder / "b.png", "black", when=1_700_000_100)  # the same name and size, other pixels
    out = invoke("dataset", recipe, "--out", tmp_path).stdout
    assert why in out and "dataset built: 3 images" in out
    assert np.asarray(open_dataset(load_recipe(recipe), tmp_path).images)[0].max() == 0  # b.png, black
    assert "dataset reused: 3 images" in invoke("dataset", recipe, "--out", tmp_path).stdout


def test_training_refuses_a_dataset_whose_folder_changed(art, tmp_path):
    recipe, folder = art
    (folder / "c.png").unlink()
    result = invoke("train", recipe, "--out", tmp_path)
    assert result.exit_code == 2
    assert "the input files of source[0] (folder) changed since it was built" in one_line(result.stderr)


def test_a_workspace_moved_with_its_pictures_reuses_its_dataset(tmp_path, monkeypatch):
    first = tmp_path / "first"
    (first / "pictures").mkdir(parents=True)
    for name, colour in [("a.png", "red"), ("b.png", "green")]:
        solid(first / "pictures" / name, colour)
    (first / "art.toml").write_text(FOLDER_RECIPE.format(path="pictures"))  # relative, as people write it
    monkeypatch.chdir(first)
    assert "dataset built: 2 images" in invoke("dataset", "art.toml").stdout
    moved = first.rename(tmp_path / "moved")  # the same files, elsewhere (cp -a, a new disk)
    monkeypatch.chdir(moved)
    assert "dataset reused: 2 images" in invoke("dataset", "art.toml").stdout


def test_a_dataset_whose_folder_is_gone_is_still_reused(art, tmp_path):
    """As on a training machine that got data/ but not the pictures it was made from."""
    recipe, folder = art
    folder.rename(tmp_path / "elsewhere")
    assert "dataset reused: 3 images" in invoke("dataset", recipe, "--out", tmp_path).stdout


def test_deciding_to_reuse_reads_no_image(art, tmp_path, monkeypatch):
    def unread(*args, **kwargs):
        raise AssertionError("an image was read")

    recipe, _ = art
    monkeypatch.setattr(Image, "open", unread)
    assert "dataset reused: 3 images" in invoke("dataset", recipe, "--out", tmp_path).stdout
    assert open_dataset(load_recipe(recipe), tmp_path).count == 3
