"""dedupe and blur-filter on real photos, and the contract of a preprocessor that sees the items in
order (in_order): one process, source order, even when the build has workers."""
from __future__ import annotations

import io
import itertools
import os
import types

import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

import artgan
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe
from artgan_plugins.blur_filter import BlurFilter, sharpness
from artgan_plugins.dedupe import Dedupe, perceptual_hash

RES = 32


def photo(name: str) -> Image.Image:
    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


def jpeg(picture: Image.Image, quality: int) -> Image.Image:
    data = io.BytesIO()
    picture.save(data, "JPEG", quality=quality)
    return Image.open(io.BytesIO(data.getvalue())).convert("RGB")


def recipe(tmp_path, preprocess, workers=1):
    return parse_recipe({"name": "filters", "resolution": RES, "workers": workers,
                         "source": [{"use": "folder", "path": str(tmp_path / "photos")}],
                         "preprocess": preprocess, "model": {"use": "dcgan"}}, tmp_path / "recipe.toml")


def built(tmp_path, preprocess, workers=1):
    report = build_dataset(recipe(tmp_path, preprocess, workers), tmp_path)
    kept = [os.path.basename(line["origin"]) for line in report.dataset.manifest()]
    skipped = {os.path.basename(skip.origin): skip.reason for skip in report.skipped}
    return kept, skipped


@pytest.fixture
def web_copies(tmp_path):
    """What a web search for one photo finds: the photo, copies of it resized, recompressed,
    brightened and greyed, its mirror image, and other photos (names sort in this order)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    astronaut = photo("astronaut")
    pictures = {
        "a-astronaut.png": astronaut, "b-coffee.png": photo("coffee"),
        "c-astronaut-small.png": astronaut.resize((170, 170), Image.Resampling.LANCZOS),
        "d-astronaut.jpg": jpeg(astronaut, 20), "e-rocket.png": photo("rocket"),
        "f-astronaut-bright.png": ImageEnhance.Brightness(astronaut).enhance(1.3),
        "g-astronaut-grey.png": astronaut.convert("L").convert("RGB"),
        "h-astronaut-mirrored.png": ImageOps.mirror(astronaut), "i-chelsea.png": photo("chelsea"),
    }
    for name, picture in pictures.items():
        picture.save(folder / name)
    return tmp_path


@pytest.mark.parametrize("workers", [1, 2])
def test_dedupe_keeps_the_first_of_each_photo_and_names_it_in_every_skip(web_copies, workers):
    kept, skipped = built(web_copies, [{"use": "center-crop"}, {"use": "dedupe"}], workers)
    assert kept == ["a-astronaut.png", "b-coffee.png", "e-rocket.png", "h-astronaut-mirrored.png", "i-chelsea.png"]
    assert set(skipped) == {"c-astronaut-small.png", "d-astronaut.jpg", "f-astronaut-bright.png",
                            "g-astronaut-grey.png"}
    for reason in skipped.values():
        assert reason.startswith("near-duplicate (of ") and "a-astronaut.png, " in reason


def test_dedupe_mirrored_drops_mirror_images_too(web_copies):
    kept, skipped = built(web_copies, [{"use": "dedupe", "mirrored": True}])
    assert kept == ["a-astronaut.png", "b-coffee.png", "e-rocket.png", "i-chelsea.png"]
    assert "mirror image (of" in skipped["h-astronaut-mirrored.png"]


def test_dedupe_keeps_every_one_of_a_hundred_different_aligned_faces():
    """The web-faces recipe aligns every face to the same place, so different people's faces look
    more alike than different photos: Labeled Faces in the Wild's 100 crops all stay."""
    dedupe = Dedupe(Dedupe.Options())
    faces = (skimage.data.lfw_subset()[:100] * 255).astype(np.uint8)
    results = [dedupe.process(artgan.Item(Image.fromarray(face).convert("RGB"), origin=f"face{i}"))
               for i, face in enumerate(faces)]
    assert all(isinstance(out, artgan.Item) for (out,) in results)
    # and the copy of any of them is caught
    (again,) = dedupe.process(artgan.Item(Image.fromarray(faces[37]).convert("RGB").resize((50, 50)), origin="x"))
    assert isinstance(again, artgan.Skipped) and again.reason.startswith("near-duplicate (of face37, ")


def test_perceptual_hashes_of_copies_are_near_and_of_other_photos_far():
    astronaut = photo("astronaut")
    bits = lambda a, b: int(np.unpackbits(perceptual_hash(a) ^ perceptual_hash(b)).sum())  # noqa: E731
    assert bits(astronaut, jpeg(astronaut, 20)) <= 6
    assert bits(astronaut, astronaut.resize((128, 128))) <= 6
    others = [photo(name) for name in ("coffee", "rocket", "chelsea", "camera", "hubble_deep_field")]
    assert min(bits(a, b) for a, b in itertools.combinations([astronaut, *others], 2)) > 6


def blurred(picture: Image.Image, radius: float, side: int = 2 * RES) -> Image.Image:
    """``picture`` blurred by ``radius`` pixels as measured (its shorter side at ``side``)."""
    return picture.filter(ImageFilter.GaussianBlur(radius * min(picture.size) / side))


def test_blur_filter_drops_blurred_photos_and_keeps_sharp_ones(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut", "coffee", "rocket", "chelsea", "camera"):
        photo(name).save(folder / f"{name}.png")
        blurred(photo(name), 2.5).save(folder / f"{name}-blurred.png")
    kept, skipped = built(tmp_path, [{"use": "blur-filter"}], workers=2)
    assert sorted(kept) == ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.png"]
    assert set(skipped) == {f"{name}-blurred.png" for name in ("astronaut", "coffee", "rocket", "chelsea", "camera")}
    assert all(reason.startswith("blurry (sharpness ") and "< 20, measured at" in reason
               for reason in skipped.values())


def test_blur_filter_measures_at_twice_the_resolution_and_records_the_sharpness():
    astronaut = photo("astronaut")  # 512 px: measured at 64 for a 32-px recipe
    context = artgan.Context(resolution=RES)
    (kept,) = BlurFilter(BlurFilter.Options(), context).process(artgan.Item(astronaut, origin="a"))
    expected = sharpness(astronaut.resize((2 * RES, 2 * RES), Image.Resampling.BOX))
    assert kept.info["sharpness"] == round(expected, 1) and expected > 200
    (dropped,) = BlurFilter(BlurFilter.Options(min_sharpness=expected + 1), context).process(
        artgan.Item(astronaut, origin="a"))
    assert "measured at 64x64" in dropped.reason and max(dropped.preview.size) <= 160
    small = astronaut.resize((40, 40), Image.Resampling.BOX)  # smaller than 64: measured as it is
    (out,) = BlurFilter(BlurFilter.Options(), context).process(artgan.Item(small, origin="s"))
    assert out.info["sharpness"] == round(sharpness(small), 1)


class Remembering(artgan.Preprocessor):
    """Records, in its process, the origins it was given (an in-order preprocessor)."""

    in_order = True
    seen: list[tuple[int, str]] = []

    def process(self, item):
        Remembering.seen.append((os.getpid(), item.origin))
        return [item]


class Pid(artgan.Preprocessor):
    """Notes the process it ran in."""

    def process(self, item):
        return [item.derive(item.image, **{f"pid{len(item.steps)}": os.getpid()})]


def test_an_in_order_preprocessor_runs_here_in_source_order_and_the_steps_after_it_too(
        tmp_path, register_plugin):
    module = types.ModuleType("test_filters_plugins")

    @artgan.hookimpl
    def register_preprocessors(register):
        register("test-remembering", Remembering)
        register("test-pid", Pid)

    module.register_preprocessors = register_preprocessors
    register_plugin(module, "test-filters")
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(12):
        Image.new("RGB", (RES, RES), (index * 20, 0, 0)).save(folder / f"{index:02d}.png")
    Remembering.seen = []
    report = build_dataset(recipe(tmp_path, [{"use": "test-pid"}, {"use": "test-remembering"}, {"use": "test-pid"}],
                                  workers=2), tmp_path)
    assert [os.path.basename(origin) for _, origin in Remembering.seen] == [f"{i:02d}.png" for i in range(12)]
    assert {pid for pid, _ in Remembering.seen} == {os.getpid()}
    infos = [line["info"] for line in report.dataset.manifest()]
    assert all(info["pid0"] != os.getpid() for info in infos)  # before it: in the workers
    assert all(info["pid2"] == os.getpid() for info in infos)  # after it: here
