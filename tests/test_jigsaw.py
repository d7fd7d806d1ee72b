"""The "jigsaw" preprocessor on real photos (tests/fixtures): wide, tall and nearly square."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import artgan
from artgan import plugins
from artgan.recipe import expand_sweep, parse_recipe
from artgan_plugins.jigsaw import Jigsaw

FIXTURES = Path(__file__).parent / "fixtures"


def rocket() -> Image.Image:
    return Image.open(FIXTURES / "rocket.jpg").convert("RGB")  # 480x320, 3:2


def jigsaw(image: Image.Image, **options) -> artgan.Item:
    [item] = Jigsaw(Jigsaw.Options(**options)).process(artgan.Item(image, origin="photo"))
    return item


def test_a_wide_photo_keeps_its_centre_and_moves_its_sides_above_and_below():
    photo = np.asarray(rocket(), np.float32)
    item = jigsaw(rocket())
    square = np.asarray(item.image, np.float32)
    # the side keeps the area: sqrt(480 * 320) = 392; the centre 392x320 is pasted as it is
    assert item.image.size == (392, 392)
    assert np.array_equal(square[36:356], photo[:, 44:436])
    # above: the left 44x320 part in 9 bands of about 36 rows, side by side; below: the right part
    assert item.info["jigsaw"] == {"arrangement": "bands", "side": 392, "bands": 9}
    left, right = photo[:, :44], photo[:, 436:]
    for band in range(9):
        rows = slice(round(band * 320 / 9), round(band * 320 / 9) + 30)
        columns = slice(round(band * 44 * 392 / 396) + 4, round(band * 44 * 392 / 396) + 40)
        assert abs(square[:30, columns].mean() - left[rows, 4:40].mean()) < 12
        assert abs(square[362:392, columns].mean() - right[rows, 4:40].mean()) < 12
    # every part of the photo is in the square: its colours average out like the photo's,
    # which a centre crop's do not
    assert np.abs(square.mean(axis=(0, 1)) - photo.mean(axis=(0, 1))).max() < 3


def test_stretch_scales_each_side_part_into_its_strip():
    item = jigsaw(rocket(), arrangement="stretch")
    square = np.asarray(item.image, np.float32)
    left = np.asarray(rocket().crop((0, 0, 44, 320)).resize((392, 36), Image.Resampling.LANCZOS), np.float32)
    assert np.abs(square[:36] - left).mean() < 1
    assert item.info["jigsaw"]["bands"] == 1


def test_a_tall_photo_moves_its_top_and_bottom_left_and_right():
    tall = rocket().transpose(Image.Transpose.ROTATE_90)  # 320x480
    photo = np.asarray(tall, np.float32)
    square = np.asarray(jigsaw(tall).image, np.float32)
    assert square.shape == (392, 392, 3)
    assert np.array_equal(square[:, 36:356], photo[44:436])
    assert abs(square[:, :36].mean() - photo[:44].mean()) < 12  # the top part, on the left


def test_a_nearly_square_photo_is_centre_cropped():
    near = Image.open(FIXTURES / "astronaut.jpg").convert("RGB").resize((500, 450))
    item = jigsaw(near)
    assert item.image.size == (450, 450)
    assert item.info["jigsaw"] == {"crop": (25, 0, 475, 450)}
    assert np.array_equal(np.asarray(item.image), np.asarray(near)[:, 25:475])


def test_jigsaw_and_centre_cropping_can_be_compared_in_a_sweep(tmp_path):
    data = {"name": "frames", "model": {"use": "dcgan"}, "source": [{"use": "shapes"}],
            "preprocess": [{"use": "jigsaw"}],
            # the whole list is swept: each preprocessor has its own options
            "sweep": {"preprocess": [[{"use": "jigsaw", "arrangement": "stretch"}], [{"use": "center-crop"}]],
                      "labels": ["jigsaw", "crop"]}}
    runs = expand_sweep(parse_recipe(data, tmp_path / "recipe.toml"))
    assert [(label, recipe.preprocess[0].name) for label, recipe in runs] == [
        ("jigsaw", "jigsaw"), ("crop", "center-crop")]
    assert runs[0][1].dataset != runs[1][1].dataset  # each builds its own images


def test_jigsaw_is_registered():
    assert plugins.get("preprocessor", "jigsaw").cls is Jigsaw
