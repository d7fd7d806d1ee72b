"""Building with `workers` > 1: the same dataset, byte for byte, from a process pool."""
from __future__ import annotations

import types

from PIL import Image

import artgan
from artgan import plugins
from artgan.dataset import _items, build_dataset  # artgan.dataset is now the API's function
from artgan.recipe import parse_recipe

RES = 16


def make_recipe(tmp_path, workers, preprocess=({"use": "mirror"}, {"use": "resize", "size": 12}),
                source=None):
    return parse_recipe({"name": "pool", "resolution": RES, "workers": workers,
                         "source": [source or {"use": "shapes", "count": 12, "image_size": 24}],
                         "preprocess": [dict(p) for p in preprocess], "model": {"use": "dcgan"}},
                        tmp_path / "recipe.toml")


def plugin(hook_name, name, cls):
    @artgan.hookimpl
    def hook(register):
        register(name, cls)

    module = types.ModuleType(f"test_dataset_pool_{name}")
    setattr(module, hook_name, hook)
    return module


class Flaky(artgan.Preprocessor):
    """Cannot use every third shape (a declared bad input); leaves an unpicklable lambda on every fourth."""

    def process(self, item):
        index = int(item.origin.rsplit("#", 1)[1])
        if index % 3 == 0:
            raise artgan.BadInput(f"cannot handle {item.origin}")
        return [item.derive(item.image, hook=(lambda: None) if index % 4 == 0 else None)]


class Counted(artgan.Source):
    """Grey squares, counting how many were taken."""

    taken = 0

    def items(self):
        for index in range(50):
            Counted.taken += 1
            yield artgan.Item(Image.new("RGB", (RES, RES), (index, index, index)), origin=f"grey#{index}")


def files(folder):
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_pool_build_is_byte_identical_to_a_single_process_build(tmp_path):
    single = build_dataset(make_recipe(tmp_path, workers=1), tmp_path / "one").dataset
    pooled = build_dataset(make_recipe(tmp_path, workers=2), tmp_path / "two").dataset
    assert pooled.count == single.count == 24
    assert files(pooled.folder) == files(single.folder)  # images, manifest, packed array, meta


def test_workers_do_not_change_the_cache_key(tmp_path):
    build_dataset(make_recipe(tmp_path, workers=1), tmp_path)
    assert build_dataset(make_recipe(tmp_path, workers=3), tmp_path).reused


def test_failures_in_workers_skip_only_their_items(tmp_path, register_plugin):
    register_plugin(plugin("register_preprocessors", "test-pool-flaky", Flaky), name="test-pool-flaky-plugin")
    recipe = make_recipe(tmp_path, workers=2, preprocess=[{"use": "test-pool-flaky"}])
    report = build_dataset(recipe, tmp_path)
    reasons = {s.origin: s.reason for s in report.skipped}
    assert sorted(reasons, key=lambda o: int(o.split("#")[1])) == [
        f"shapes#{i}" for i in (0, 3, 4, 6, 8, 9)]
    assert reasons["shapes#3"] == "preprocess[0] (test-pool-flaky): cannot handle shapes#3"
    assert reasons["shapes#4"].startswith("failed in a worker process:")  # the lambda cannot be pickled
    assert [m["origin"] for m in report.dataset.manifest()] == [
        f"shapes#{i}" for i in (1, 2, 5, 7, 10, 11)]


def test_pool_keeps_only_a_few_items_in_flight(tmp_path, register_plugin):
    register_plugin(plugin("register_sources", "test-counted", Counted), name="test-counted-plugin")
    Counted.taken = 0
    items = _items(make_recipe(tmp_path, workers=2, source={"use": "test-counted"}), tmp_path)
    next(items)
    assert Counted.taken <= 5  # 2 per worker and the one being waited for; not all 50
    items.close()


LOOSE_PREPROCESSOR = """
import artgan
from PIL import ImageOps


class Invert(artgan.Preprocessor):
    def process(self, item):
        return [item.derive(ImageOps.invert(item.image))]


@artgan.hookimpl
def register_preprocessors(register):
    register("test-pool-invert", Invert)
"""


def test_workers_load_preprocessors_from_loose_plugin_files(tmp_path, restore_plugins):
    folder = tmp_path / "my-plugins"
    folder.mkdir()
    (folder / "invert.py").write_text(LOOSE_PREPROCESSOR)
    plugins.load_plugins_dir(folder)
    preprocess = [{"use": "test-pool-invert"}]
    single = build_dataset(make_recipe(tmp_path, workers=1, preprocess=preprocess), tmp_path / "one").dataset
    pooled = build_dataset(make_recipe(tmp_path, workers=2, preprocess=preprocess), tmp_path / "two")
    assert not pooled.skipped and pooled.dataset.count == 12
    assert files(pooled.dataset.folder) == files(single.folder)
    assert single.images[0].mean() > 128  # inverted: a white background behind each shape
