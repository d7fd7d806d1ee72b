"""artgan.testing: plugins called the way the pipeline calls them, a tiny real run, and the pytest
plugin that offers them to every project where artgan is installed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from PIL import Image

import artgan
from artgan import testing
from artgan.errors import PluginError


class StampPid(artgan.Preprocessor):
    """Records which process ran it."""

    def process(self, item):
        return [item.derive(item.image, pid=os.getpid())]


class Picky(artgan.Preprocessor):
    """Keeps red pictures, reports others as bad input, and has a bug on blue ones."""

    def process(self, item):
        red, green, blue = item.image.getpixel((0, 0))
        if blue:
            raise ZeroDivisionError("a bug")
        if not red:
            raise artgan.BadInput("not red")
        return [item]


class Unpicklable(artgan.Preprocessor):
    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.lock = threading.Lock()  # cannot be sent to a worker process

    def process(self, item):
        return [item]


class Forgetful(artgan.Renderer):
    def render(self, target):
        return [target / "never-written.png"]


def pictures(*colours):
    return [Image.new("RGB", (8, 6), colour) for colour in colours]


def test_run_source_collects_items_and_skips_with_the_source_named(tmp_path):
    (tmp_path / "red.png").write_bytes(b"")
    Image.new("RGB", (8, 8), "red").save(tmp_path / "fine.png")
    results = testing.run_source("folder", {"path": tmp_path})
    (item,) = results.items
    assert item.info["source"] == "folder" and item.image.getpixel((0, 0)) == (255, 0, 0)
    (skip,) = results.skipped
    assert skip.origin.endswith("red.png")


class ArraySource(artgan.Source):
    def items(self):
        yield artgan.Item(np.zeros((8, 8, 3), np.uint8), origin="array#0")


def test_run_source_refuses_an_item_without_a_picture_as_a_build_does():
    with pytest.raises(PluginError, match=r"the source plugin 'ArraySource' \(source\[0\], .*test_testing.py\) "
                                          r"items\(\) yielded an Item whose image is a numpy.ndarray"):
        testing.run_source(ArraySource)


def test_options_are_validated_as_a_recipe_section_is():
    with pytest.raises(artgan.ArtganError, match=r"^run_source\('shapes'\): source\[0\]\.count: .*greater than"):
        testing.run_source("shapes", {"count": -1})
    with pytest.raises(artgan.ArtganError, match=r'source\[0\]\.cuont: unknown key; did you mean "count"'):
        testing.run_source("shapes", {"cuont": 3})
    with pytest.raises(artgan.ArtganError, match='unknown preprocessor plugin "mirorr"; did you mean "mirror"'):
        testing.run_preprocessor("mirorr", [])
    # a required option misspelt: the misspelling is named, not only the option it left missing
    with pytest.raises(artgan.ArtganError, match=r'source\[0\]\.pathh: unknown key; did you mean "path"\?'):
        testing.run_source("folder", {"pathh": "photos"})


def test_run_preprocessor_refuses_what_is_no_item_without_blaming_the_plugin():
    with pytest.raises(TypeError, match=r"run_preprocessor: items are artgan.Items or PIL images, not 'a.png' "
                                        r"\(item 0\); open a file with PIL.Image.open\(path\)"):
        testing.run_preprocessor("mirror", ["a.png"])


def test_run_preprocessor_records_steps_and_turns_bad_input_into_skips():
    results = testing.run_preprocessor("center-crop", pictures("red", "green"), {"size": 4})
    assert [item.image.size for item in results.items] == [(4, 4), (4, 4)]
    assert results.items[0].steps == [{"use": "center-crop", "size": 4, "scale": 1.0}]
    assert results.items[1].origin == "image 1"
    results = testing.run_preprocessor(Picky, pictures("red", "green"))
    assert [item.origin for item in results.items] == ["image 0"]
    assert [(s.origin, s.reason) for s in results.skipped] == [("image 1", "preprocess[0] (Picky): not red")]


def test_a_bug_in_a_preprocessor_is_a_plugin_error_naming_it():
    with pytest.raises(PluginError, match=r"the preprocessor plugin 'Picky' \(preprocess\[0\]\) failed on image 0"):
        testing.run_preprocessor(Picky, pictures("blue"))


def test_workers_run_the_preprocessor_in_other_processes_in_order():
    results = testing.run_preprocessor(StampPid, pictures("red", "green", "blue", "white"), workers=2)
    assert [item.origin for item in results.items] == [f"image {n}" for n in range(4)]
    assert os.getpid() not in {item.info["pid"] for item in results.items}
    with pytest.raises(artgan.ArtganError, match="cannot be sent to worker processes"):
        testing.run_preprocessor(Unpicklable, pictures("red"), workers=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return testing.tiny_run(tmp_path_factory.mktemp("tiny"))


def test_tiny_run_is_a_real_training_with_snapshots_and_checkpoints(tiny):
    assert sorted(p.name for p in (tiny / "snapshots").iterdir()) == [f"step-000000{n}.png" for n in (0, 2, 4)]
    assert sorted(p.name for p in (tiny / "checkpoints").iterdir()) == [f"step-000000{n}.pt" for n in (0, 2, 4)]
    rows = [json.loads(line) for line in (tiny / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "event" not in row] == [1, 2, 3, 4]  # the losses of each step
    assert [row["step"] for row in rows if row.get("event") == "snapshot"] == [0, 2, 4]  # and each snapshot's diversity


def test_tiny_run_trains_the_model_it_is_given(tmp_path):
    run = testing.tiny_run(tmp_path, model={"use": "dcgan", "g_width": 4, "d_width": 4, "z_dim": 8})
    assert "g_width = 4" in (run / "recipe.lock.toml").read_text()


def test_run_renderer_returns_the_files_written(tiny, tmp_path):
    (sheet,) = testing.run_renderer("grid", tiny, {"count": 4, "columns": 2, "out": tmp_path / "grid.png"})
    assert sheet == tmp_path / "grid.png"
    with Image.open(sheet) as picture:
        assert picture.size[0] == picture.size[1] > 32
    with pytest.raises(PluginError, match="returned files that do not exist: .*never-written.png"):
        testing.run_renderer(Forgetful, tiny)


def test_a_context_has_a_cache_folder():
    context = testing.make_context(resolution=32)
    assert context.resolution == 32 and context.cache_dir.is_dir()


def test_importing_artgan_testing_imports_no_torch():
    code = "import sys, artgan.testing; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


def test_pytest_offers_the_fixtures_through_its_entry_point(tmp_path):
    """A project's own tests get the fixtures without any conftest; the tiny run is trained once."""
    (tmp_path / "test_uses_fixtures.py").write_text(textwrap.dedent("""
        from artgan.testing import run_renderer

        def test_context(artgan_context):
            assert artgan_context(resolution=16).cache_dir.name == "artgan-cache"

        def test_run(artgan_run, artgan_checkpoint):
            (artgan_run / "mine.txt").write_text("a test may write here")
            assert artgan_checkpoint.name == "step-0000004.pt"

        def test_run_again(artgan_run):
            assert not (artgan_run / "mine.txt").exists()  # a fresh copy
    """))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--setup-show"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "3 passed" in result.stdout, result.stdout + result.stderr
    assert result.stdout.count("SETUP    S _artgan_tiny_run") == 1
