"""The dataset store: images, manifest, packed array, reuse, skips, fitting, contact sheet."""
from __future__ import annotations

import hashlib
import json
import re
import types

import numpy as np
import pytest
from PIL import Image
from pydantic import Field

import artgan
from artgan.dataset import build_dataset, contact_sheet, open_dataset
from artgan.recipe import parse_recipe

RES = 32


def make_recipe(tmp_path, count=20, preprocess=(), source=None, **top):
    data = {"name": "ds", "seed": 2, "resolution": RES,
            "source": [source or {"use": "shapes", "count": count}],
            "preprocess": [dict(p) for p in preprocess],
            "model": {"use": "dcgan"}, **top}
    return parse_recipe(data, tmp_path / "recipe.toml")


def plugin(hook_name, name, cls):
    """A plugin module whose ``hook_name`` registers ``cls`` as ``name``."""

    @artgan.hookimpl
    def hook(register):
        register(name, cls)

    module = types.ModuleType(f"test_dataset_{name}")
    setattr(module, hook_name, hook)
    return module


def index_of(item) -> int:
    return int(item.origin.rsplit("#", 1)[1])


class Flaky(artgan.Preprocessor):
    """Cannot use every third shape (a declared bad input: a skip)."""

    def process(self, item):
        if index_of(item) % 3 == 0:
            raise artgan.BadInput(f"cannot handle {item.origin}")
        return [item]


class DoubleOptions(artgan.Options):
    flip: bool = Field(True, description="add a flipped copy")


class Double(artgan.Preprocessor):
    """Each item and its mirror image."""

    Options = DoubleOptions

    def process(self, item):
        yield item.derive(item.image.copy())
        yield item.derive(item.image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), flipped=True)


class Nothing(artgan.Preprocessor):
    """Drops everything."""

    def process(self, item):
        return []


class Wide(artgan.Source):
    """Wide RGBA images: red left edge, blue right edge, green centre square."""

    def items(self):
        for index in range(3):
            pixels = np.zeros((40, 64, 4), np.uint8)
            pixels[..., 3] = 255
            pixels[:, :12, 0] = 255
            pixels[:, 12:52, 1] = 255
            pixels[:, 52:, 2] = 255
            yield artgan.Item(Image.fromarray(pixels).convert("RGBA"), origin=f"wide#{index}")


def test_build_writes_images_manifest_and_packed_array(tmp_path):
    report = build_dataset(make_recipe(tmp_path), tmp_path)
    ds = report.dataset
    assert not report.reused
    assert ds.folder == tmp_path / "data" / "ds"
    assert (ds.count, ds.resolution) == (20, RES)
    assert report.per_source == {"source[0]": 20}
    assert report.skipped == []

    pngs = sorted((ds.folder / "images").glob("*.png"))
    assert len(pngs) == 20
    manifest = ds.manifest()
    assert len(manifest) == 20
    assert len((ds.folder / "manifest.jsonl").read_text().splitlines()) == 20
    packed = ds.images
    assert packed.shape == (20, RES, RES, 3) and packed.dtype == np.uint8
    assert (ds.folder / "images.u8").stat().st_size == 20 * RES * RES * 3
    for index, line in enumerate(manifest):
        file = ds.folder / line["file"]
        assert file.parent == ds.folder / "images"
        assert line["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
        assert line["source"] == "shapes"
        assert line["origin"] == f"shapes#{index}"
        assert line["steps"] == []
        with Image.open(file) as image:
            assert image.size == (RES, RES) and image.mode == "RGB"
            assert np.array_equal(np.asarray(image), packed[index])
    assert len({line["sha256"] for line in manifest}) == 20  # twenty different drawings


def test_open_dataset_gives_the_built_one(tmp_path):
    recipe = make_recipe(tmp_path, count=6)
    built = build_dataset(recipe, tmp_path).dataset
    opened = open_dataset(recipe, tmp_path)
    assert (opened.folder, opened.count, opened.resolution) == (built.folder, 6, RES)
    assert np.array_equal(opened.images, built.images)


def test_same_recipe_reuses_the_dataset_untouched(tmp_path):
    recipe = make_recipe(tmp_path, count=8)
    first = build_dataset(recipe, tmp_path)
    folder = first.dataset.folder
    files = [folder / "manifest.jsonl", folder / "images.u8", *sorted((folder / "images").glob("*.png"))]
    stamps = [f.stat().st_mtime_ns for f in files]

    second = build_dataset(make_recipe(tmp_path, count=8), tmp_path)
    assert second.reused
    assert second.dataset.count == 8
    assert second.per_source == first.per_source
    assert [f.stat().st_mtime_ns for f in files] == stamps


def test_force_rebuilds(tmp_path):
    recipe = make_recipe(tmp_path, count=4)
    build_dataset(recipe, tmp_path)
    assert not build_dataset(recipe, tmp_path, force=True).reused


def test_changed_source_option_rebuilds(tmp_path):
    first = build_dataset(make_recipe(tmp_path, count=8), tmp_path)
    old = first.dataset.manifest()
    report = build_dataset(make_recipe(tmp_path, source={"use": "shapes", "count": 8, "shape": "rectangle"}),
                           tmp_path)
    assert not report.reused
    assert report.dataset.count == 8
    assert [m["sha256"] for m in report.dataset.manifest()] != [m["sha256"] for m in old]
    smaller = build_dataset(make_recipe(tmp_path, count=5), tmp_path)
    assert not smaller.reused
    assert smaller.dataset.count == 5
    assert len(list((smaller.dataset.folder / "images").glob("*.png"))) == 5  # no leftovers


def test_stale_dataset_is_refused(tmp_path):
    build_dataset(make_recipe(tmp_path, count=4), tmp_path)
    changed = make_recipe(tmp_path, count=5)
    with pytest.raises(artgan.ArtganError, match=re.escape(f"build it with artgan.dataset(recipe, out='{tmp_path}')")):
        open_dataset(changed, tmp_path)


def test_missing_dataset_is_refused_with_the_call_that_builds_it(tmp_path):
    recipe = make_recipe(tmp_path)
    with pytest.raises(artgan.ArtganError) as refused:
        open_dataset(recipe, tmp_path)
    advice = str(refused.value).split("build it with ")[1]
    assert advice == f"artgan.dataset(recipe, out='{tmp_path}')"
    eval(advice, {"artgan": artgan, "recipe": recipe})  # the advice, followed as written
    assert open_dataset(recipe, tmp_path).count == 20


def test_failing_preprocessor_skips_only_those_items(tmp_path, register_plugin):
    register_plugin(plugin("register_preprocessors", "test-flaky", Flaky), name="test-flaky-plugin")
    report = build_dataset(make_recipe(tmp_path, count=9, preprocess=[{"use": "test-flaky"}]), tmp_path)
    assert report.dataset.count == 6
    assert sorted(s.origin for s in report.skipped) == ["shapes#0", "shapes#3", "shapes#6"]
    for skipped in report.skipped:
        assert "preprocess[0]" in skipped.reason
        assert "test-flaky" in skipped.reason
        assert f"cannot handle {skipped.origin}" in skipped.reason
    manifest = report.dataset.manifest()
    assert [m["origin"] for m in manifest] == [f"shapes#{i}" for i in (1, 2, 4, 5, 7, 8)]
    assert all(m["steps"] == [{"use": "test-flaky"}] for m in manifest)
    meta = json.loads((report.dataset.folder / "dataset.json").read_text())
    assert len(meta["skipped"]) == 3
    # the skips are remembered when the dataset is reused
    again = build_dataset(make_recipe(tmp_path, count=9, preprocess=[{"use": "test-flaky"}]), tmp_path)
    assert again.reused and len(again.skipped) == 3


def test_preprocessor_with_two_outputs_doubles_and_records_its_step(tmp_path, register_plugin):
    register_plugin(plugin("register_preprocessors", "test-double", Double), name="test-double-plugin")
    report = build_dataset(make_recipe(tmp_path, count=5, preprocess=[{"use": "test-double"}]), tmp_path)
    assert report.dataset.count == 10
    assert report.per_source == {"source[0]": 10}
    manifest = report.dataset.manifest()
    assert [m["origin"] for m in manifest] == [f"shapes#{i}" for i in range(5) for _ in range(2)]
    assert all(m["steps"] == [{"use": "test-double", "flip": True}] for m in manifest)
    images = report.dataset.images
    for pair in range(5):
        assert np.array_equal(images[2 * pair + 1], images[2 * pair][:, ::-1])
        assert manifest[2 * pair + 1]["info"]["flipped"] is True


def test_steps_accumulate_in_order(tmp_path, register_plugin):
    register_plugin(plugin("register_preprocessors", "test-double", Double), name="test-double-plugin")
    report = build_dataset(make_recipe(tmp_path, count=2, preprocess=[
        {"use": "test-double", "flip": False}, {"use": "mirror"}]), tmp_path)
    assert report.dataset.count == 8
    steps = report.dataset.manifest()[0]["steps"]
    assert [s["use"] for s in steps] == ["test-double", "mirror"]
    assert steps[0]["flip"] is False


def test_images_not_at_the_resolution_are_fitted(tmp_path, register_plugin):
    register_plugin(plugin("register_sources", "test-wide", Wide), name="test-wide-plugin")
    report = build_dataset(make_recipe(tmp_path, source={"use": "test-wide"}), tmp_path)
    assert report.dataset.count == 3
    images = report.dataset.images
    assert images.shape == (3, RES, RES, 3)
    # the centre 40x40 square is green: the red and blue edges were cropped away (the
    # resampling filter may blend a trace of them into the outermost columns only)
    assert np.array_equal(images[:, :, 2:-2], np.broadcast_to(np.uint8([0, 255, 0]), (3, RES, RES - 4, 3)))
    assert images[..., 1].min() >= 200
    assert images[..., 0].max() <= 40 and images[..., 2].max() <= 40
    manifest = report.dataset.manifest()
    assert all(m["steps"] == [{"use": "fit", "size": RES}] for m in manifest)
    assert all(m["source"] == "test-wide" for m in manifest)
    with Image.open(report.dataset.folder / manifest[0]["file"]) as image:
        assert image.size == (RES, RES) and image.mode == "RGB"


def test_square_images_of_another_size_are_resized(tmp_path):
    report = build_dataset(make_recipe(tmp_path, source={"use": "shapes", "count": 3, "image_size": 48}),
                           tmp_path)
    assert report.dataset.images.shape == (3, RES, RES, 3)
    assert all(m["steps"] == [{"use": "fit", "size": RES}] for m in report.dataset.manifest())


def test_empty_result_is_an_error(tmp_path, register_plugin):
    register_plugin(plugin("register_preprocessors", "test-nothing", Nothing), name="test-nothing-plugin")
    recipe = make_recipe(tmp_path, count=3, preprocess=[{"use": "test-nothing"}])
    with pytest.raises(artgan.ArtganError, match="empty") as caught:
        build_dataset(recipe, tmp_path)
    assert str(recipe.path) in str(caught.value)
    assert not (tmp_path / "data" / "ds" / "dataset.json").exists()


def test_empty_result_with_skips_gives_the_reasons(tmp_path, register_plugin):
    class AllFail(artgan.Preprocessor):
        def process(self, item):
            raise artgan.BadInput("always broken")

    register_plugin(plugin("register_preprocessors", "test-all-fail", AllFail), name="test-all-fail-plugin")
    with pytest.raises(artgan.ArtganError, match="always broken"):
        build_dataset(make_recipe(tmp_path, count=3, preprocess=[{"use": "test-all-fail"}]), tmp_path)


def test_contact_sheet_is_a_png_of_the_right_size(tmp_path):
    ds = build_dataset(make_recipe(tmp_path, count=20), tmp_path).dataset
    path = contact_sheet(ds)
    assert path.exists() and path.suffix == ".png"
    with Image.open(path) as sheet:
        assert sheet.format == "PNG"
        # 20 images: 5 columns by 4 rows, 1 pixel between them
        assert sheet.size == (5 * (RES + 1) - 1, 4 * (RES + 1) - 1)
        pixels = np.asarray(sheet.convert("RGB"))
    assert np.array_equal(pixels[:RES, :RES], ds.images[0])
    assert np.array_equal(pixels[:RES, RES + 1:2 * RES + 1], ds.images[1])


def test_contact_sheet_limit_spreads_over_the_dataset(tmp_path):
    ds = build_dataset(make_recipe(tmp_path, count=10), tmp_path).dataset
    with Image.open(contact_sheet(ds, limit=4)) as sheet:
        assert sheet.size == (2 * (RES + 1) - 1, 2 * (RES + 1) - 1)
        pixels = np.asarray(sheet.convert("RGB"))
    assert np.array_equal(pixels[:RES, :RES], ds.images[0])
    assert np.array_equal(pixels[RES + 1:, RES + 1:], ds.images[9])  # the last image is included


def test_manifest_file_names_are_numbered(tmp_path):
    ds = build_dataset(make_recipe(tmp_path, count=3), tmp_path).dataset
    assert all(re.fullmatch(r"images/\d+\.png", m["file"]) for m in ds.manifest())


def test_images_are_mapped_once_and_kept_through_a_rebuild(tmp_path):
    build_dataset(make_recipe(tmp_path, count=20), tmp_path)
    ds = open_dataset(make_recipe(tmp_path, count=20), tmp_path)
    images = ds.images
    before = np.array(images)
    build_dataset(make_recipe(tmp_path, count=8), tmp_path)  # another artgan swaps in a new dataset
    assert ds.images is images and np.array_equal(ds.images, before)


def test_a_dataset_replaced_before_its_images_are_mapped_is_one_line(tmp_path):
    """As when `artgan dataset` rebuilds it while `artgan train` is starting on it."""
    build_dataset(make_recipe(tmp_path, count=20), tmp_path)
    ds = open_dataset(make_recipe(tmp_path, count=20), tmp_path)
    build_dataset(make_recipe(tmp_path, count=8), tmp_path)
    with pytest.raises(artgan.ArtganError, match=f"^{re.escape(str(ds.folder))} was replaced .*; run again$"):
        ds.images
