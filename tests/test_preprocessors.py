"""The built-in preprocessors: output sizes and exact pixels on small synthetic images."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from pydantic import ValidationError

import artgan
from artgan import plugins
from artgan_plugins.center_crop import CenterCrop
from artgan_plugins.mirror import Mirror
from artgan_plugins.pad import Pad, fit_inside, pad_to_square
from artgan_plugins.resize import Resize

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
FIXTURES = Path(__file__).parent / "fixtures"


def item(pixels: np.ndarray) -> artgan.Item:
    image = Image.fromarray(pixels.astype(np.uint8))
    return artgan.Item(image, origin="test.png", info={"file": "test.png"})


def numbered(height: int, width: int) -> np.ndarray:
    """(H, W, 3) pixels that are all different, so any crop or flip is visible."""
    return np.arange(height * width * 3).reshape(height, width, 3) % 251


def halves(height: int, width: int, left=RED, right=GREEN) -> np.ndarray:
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, :width // 2], pixels[:, width // 2:] = left, right
    return pixels


def run(cls, source: artgan.Item, context=None, **options) -> list:
    return list(cls(cls.Options(**options), context).process(source))


def only(results) -> np.ndarray:
    (result,) = results
    return np.asarray(result.image)


# center-crop

def test_center_crop_takes_the_largest_centred_square():
    pixels = numbered(4, 6)
    (out,) = run(CenterCrop, item(pixels))
    assert np.array_equal(np.asarray(out.image), pixels[:, 1:5])
    assert out.info == {"file": "test.png", "crop": (1, 0, 5, 4)}


def test_center_crop_size_and_scale():
    pixels = numbered(6, 8)
    assert np.array_equal(only(run(CenterCrop, item(pixels), size=2)), pixels[2:4, 3:5])
    assert np.array_equal(only(run(CenterCrop, item(pixels), scale=0.5)), pixels[1:4, 2:5])


def test_center_crop_skips_images_smaller_than_size():
    (out,) = run(CenterCrop, item(numbered(4, 6)), size=5)
    assert isinstance(out, artgan.Skipped)
    assert out.origin == "test.png" and "smaller than the 5x5 crop" in out.reason


def test_center_crop_refuses_both_size_and_scale():
    with pytest.raises(ValidationError, match="either `size` or `scale`"):
        CenterCrop.Options(size=4, scale=0.5)


# pad

def test_pad_color_centres_a_wide_image():
    pixels = numbered(2, 4)
    padded = only(run(Pad, item(pixels), color=(10, 20, 30)))
    assert padded.shape == (4, 4, 3)
    assert np.array_equal(padded[1:3], pixels)
    assert (padded[[0, 3]] == (10, 20, 30)).all()


def test_pad_color_centres_a_tall_image():
    pixels = numbered(4, 2)
    padded = only(run(Pad, item(pixels), color=(10, 20, 30)))
    assert np.array_equal(padded[:, 1:3], pixels)
    assert (padded[:, [0, 3]] == (10, 20, 30)).all()


def test_pad_edge_repeats_the_edge_pixels():
    pixels = numbered(2, 6)
    padded = only(run(Pad, item(pixels), mode="edge"))
    assert np.array_equal(padded[2:4], pixels)
    assert np.array_equal(padded[0], pixels[0]) and np.array_equal(padded[1], pixels[0])
    assert np.array_equal(padded[4], pixels[1]) and np.array_equal(padded[5], pixels[1])


def test_pad_reflect_mirrors_the_image():
    pixels = numbered(2, 4)
    padded = only(run(Pad, item(pixels), mode="reflect"))
    assert np.array_equal(padded[1:3], pixels)
    assert np.array_equal(padded[0], pixels[1]) and np.array_equal(padded[3], pixels[0])


def test_pad_leaves_a_square_unchanged():
    pixels = numbered(3, 3)
    assert np.array_equal(only(run(Pad, item(pixels), mode="reflect")), pixels)


# resize

def test_resize_crop_covers_then_keeps_the_centre():
    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[:, :2], pixels[:, 2:6], pixels[:, 6:] = RED, BLUE, GREEN
    resized = only(run(Resize, item(pixels), size=2, filter="nearest"))
    assert resized.shape == (2, 2, 3)
    assert (resized == BLUE).all()


def test_resize_pad_keeps_the_whole_image():
    resized = only(run(Resize, item(halves(4, 8)), size=4, fit="pad", color=BLUE, filter="nearest"))
    assert resized.shape == (4, 4, 3)
    assert (resized[[0, 3]] == BLUE).all()
    assert (resized[1:3, :2] == RED).all() and (resized[1:3, 2:] == GREEN).all()


def test_resize_pad_survives_a_very_thin_image():
    resized = only(run(Resize, item(np.full((1, 200, 3), 255)), size=8, fit="pad"))
    assert resized.shape == (8, 8, 3)
    assert (resized[3] > 200).all()  # one row, centred
    assert (np.delete(resized, 3, axis=0) == 0).all()


def test_resize_stretch_changes_the_aspect_ratio():
    resized = only(run(Resize, item(halves(4, 8)), size=4, fit="stretch", filter="nearest"))
    assert (resized[:, :2] == RED).all() and (resized[:, 2:] == GREEN).all()


def test_resize_defaults_to_the_recipe_resolution_with_lanczos():
    source = item(np.random.default_rng(0).integers(0, 256, (40, 40, 3)))
    default = only(run(Resize, source, artgan.Context(resolution=16)))
    assert default.shape == (16, 16, 3)
    assert np.array_equal(default, only(run(Resize, source, size=16, filter="lanczos")))
    assert not np.array_equal(default, only(run(Resize, source, size=16, filter="nearest")))


# mirror

def test_mirror_yields_the_item_and_its_exact_flip():
    pixels = numbered(3, 5)
    source = item(pixels)
    original, flipped = run(Mirror, source)
    assert original is source
    assert np.array_equal(np.asarray(flipped.image), pixels[:, ::-1])
    assert flipped.info == {"file": "test.png", "mirrored": True}
    assert flipped.origin == "test.png"


def photo_strip(width: int, height: int) -> Image.Image:
    """A strip of a real photo (the astronaut), ``width`` x ``height``."""
    photo = Image.open(FIXTURES / "astronaut.jpg").convert("RGB")
    return photo.crop((0, 200, 512, 328)).resize((width, height)) if width > height else \
        photo.crop((200, 0, 328, 512)).resize((width, height))


def padded_at_full_size(image: Image.Image, mode: str, side: int, color=(0, 0, 0)) -> np.ndarray:
    """What pad used to do: the square at the image's full size, then the dataset's scaling."""
    return np.asarray(ImageOps.fit(pad_to_square(image, mode, color), (side, side), Image.Resampling.LANCZOS), int)


@pytest.mark.parametrize("size", [(512, 128), (128, 512)])
@pytest.mark.parametrize("mode", ["color", "reflect"])
def test_pad_scales_a_large_image_first_to_the_picture_padding_at_full_size_gives(size, mode):
    strip = photo_strip(*size)
    padded = only(run(Pad, item(np.asarray(strip)), artgan.Context(resolution=32), mode=mode, color=BLUE))
    assert padded.shape == (32, 32, 3)
    assert np.abs(padded - padded_at_full_size(strip, mode, 32, BLUE)).mean() < 3  # of 255: a few levels


@pytest.mark.parametrize("size", [(512, 128), (128, 512)])
def test_pad_edge_of_a_large_image_repeats_the_edge_of_the_scaled_picture(size):
    strip = photo_strip(*size)
    padded = only(run(Pad, item(np.asarray(strip)), artgan.Context(resolution=32), mode="edge"))
    picture, before = np.asarray(fit_inside(strip, 32)), padded_at_full_size(strip, "edge", 32)
    if size[0] < size[1]:  # tall: look at it as if it were wide
        padded, picture, before = (pixels.transpose(1, 0, 2) for pixels in (padded, picture, before))
    assert picture.shape == (8, 32, 3)  # between 12 rows above and 12 below
    assert np.array_equal(padded[12:20], picture)
    assert (padded[:12] == picture[0]).all() and (padded[20:] == picture[-1]).all()
    assert np.abs(padded[12:20] - before[12:20]).mean() < 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in kilobytes is Linux's")
def test_pad_never_makes_the_full_size_square_of_a_panorama():
    """An 8000 x 200 panorama (6 MB decoded): its full-size square would take 256 MB. Measured in
    a fresh process, as the growth of its peak memory (Pillow's pixels are not seen by tracemalloc)."""
    code = """if True:
        import resource
        from PIL import Image
        import artgan
        from artgan_plugins.pad import Pad, fit_inside, pad_to_square
        panorama = Image.new("RGB", (8000, 200), (200, 100, 50))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for mode in ("color", "edge", "reflect"):
            (padded,) = Pad(Pad.Options(mode=mode), artgan.Context(resolution=64)).process(artgan.Item(panorama, "pano"))
            print(padded.image.size)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, "MB")
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    grown = int(out[3].split()[0])
    assert grown < 32, f"peak memory grew by {grown} MB"
    assert out[:3] == ["(64, 64)"] * 3


# shared promises

@pytest.mark.parametrize("cls", [CenterCrop, Pad, Resize, Mirror])
def test_preprocessors_keep_provenance_and_leave_steps_to_the_core(cls):
    source = item(numbered(4, 6))
    source.steps.append({"use": "earlier"})
    for out in run(cls, source):
        assert out.steps == [{"use": "earlier"}]
        assert out.info["file"] == "test.png"
    assert source.steps == [{"use": "earlier"}]


@pytest.mark.parametrize("name, cls", [
    ("center-crop", CenterCrop), ("pad", Pad), ("resize", Resize), ("mirror", Mirror)])
def test_preprocessors_are_registered(name, cls):
    assert plugins.get("preprocessor", name).cls is cls
