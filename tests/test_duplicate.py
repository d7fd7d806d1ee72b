"""The "duplicate" source: one image, N copies, with or without jitter."""
from __future__ import annotations

import colorsys
import os

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

import artgan
from artgan import plugins
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe
from artgan_plugins.duplicate import Duplicate


def copies(resolution=32, seed=0, **options):
    source = Duplicate(Duplicate.Options(**options), artgan.Context(resolution=resolution, seed=seed))
    return list(source.items())


@pytest.fixture
def photo(tmp_path):
    """Left half red, right half blue, 40x20."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    return path


def test_a_file_is_copied_n_times_unchanged(photo):
    items = copies(path=photo, count=5)
    assert [item.origin for item in items] == [f"{photo}#{i}" for i in range(5)]
    original = np.asarray(Image.open(photo).convert("RGB"))
    for index, item in enumerate(items):
        assert np.array_equal(np.asarray(item.image), original)
        assert item.info == {"copy": index, "shift": (0.0, 0.0), "scale": 1.0, "hue": 0.0,
                             "work": {"file": str(photo)}}
    assert len({id(item.image) for item in items}) == 5  # each copy is its own image


def test_the_black_square_needs_no_file():
    items = copies(shape="square", count=3, resolution=24)
    assert [item.origin for item in items] == ["square#0", "square#1", "square#2"]
    for item in items:
        assert item.image.size == (24, 24)
        assert np.asarray(item.image).max() == 0  # black all over


def test_a_smaller_square_sits_in_the_middle_of_the_background():
    (item,) = copies(shape="square", count=1, square=0.5, color=(0, 0, 0), background=(255, 255, 255),
                     image_size=40)
    pixels = np.asarray(item.image)
    assert pixels[10:30, 10:30].max() == 0
    assert pixels[:10].min() == 255 and pixels[:, 30:].min() == 255


def test_shift_moves_the_picture_and_uncovers_the_background(photo):
    items = copies(path=photo, count=20, shift=0.25, background=(0, 255, 0), seed=3)
    shifts = [item.info["shift"] for item in items]
    assert all(abs(dx) <= 0.25 and abs(dy) <= 0.25 for dx, dy in shifts)
    assert len(set(shifts)) == 20
    # the copy moved furthest right: its left margin shows the background, width ~dx * 40 px
    item = max(items, key=lambda i: i.info["shift"][0])
    dx = item.info["shift"][0]
    row = np.asarray(item.image)[10]
    green = int(np.sum((row[:, 1] > 200) & (row[:, 0] < 50)))
    assert abs(green - dx * 40) <= 1.5
    # the red/blue border moved by the same amount
    border = int(np.argmax(row[:, 2] > 128))
    assert abs(border - (20 + dx * 40)) <= 1.5


def test_scale_jitter_grows_and_shrinks_about_the_centre():
    items = copies(shape="square", count=30, square=0.5, image_size=40, scale=0.4, seed=1)
    for item in items:
        scale = item.info["scale"]
        assert 0.6 <= scale <= 1.4
        dark = int(np.sum(np.asarray(item.image)[20, :, 0] < 128))  # the square's width, centre row
        assert abs(dark - 20 * scale) <= 1.5


def test_hue_jitter_turns_the_colour():
    items = copies(shape="square", count=10, color=(255, 0, 0), hue=0.3, image_size=8, seed=2)
    for item in items:
        r, g, b = (c / 255 for c in np.asarray(item.image)[4, 4])
        hue = colorsys.rgb_to_hsv(r, g, b)[0]
        turned = min(abs(hue - item.info["hue"] % 1), 1 - abs(hue - item.info["hue"] % 1))
        assert turned < 0.01
    assert len({item.image.getpixel((4, 4)) for item in items}) > 5


def test_jitter_is_seeded():
    first = copies(shape="square", count=5, shift=0.1, scale=0.1, hue=0.1, seed=7)
    again = copies(shape="square", count=5, shift=0.1, scale=0.1, hue=0.1, seed=7)
    other = copies(shape="square", count=5, shift=0.1, scale=0.1, hue=0.1, seed=8)
    assert [i.info for i in first] == [i.info for i in again] != [i.info for i in other]


def test_exactly_one_of_path_and_shape():
    for options in ({}, {"path": "x.png", "shape": "square"}):
        with pytest.raises(ValidationError, match="set either `path`"):
            Duplicate.Options(**options)


def test_a_missing_or_broken_file_is_a_user_error(tmp_path):
    with pytest.raises(artgan.ArtganError, match="nothere.png: no such file"):
        copies(path=tmp_path / "nothere.png")
    (tmp_path / "photos").mkdir()
    with pytest.raises(artgan.ArtganError, match="photos: a folder, not an image file; set the duplicate"):
        copies(path=tmp_path / "photos")
    (tmp_path / "broken.png").write_text("not an image")
    with pytest.raises(artgan.ArtganError, match="broken.png: unreadable image"):
        copies(path=tmp_path / "broken.png")


def test_a_replaced_file_rebuilds_the_dataset(photo, tmp_path):
    recipe = parse_recipe({"name": "copies", "resolution": 16, "model": {"use": "dcgan"},
                           "source": [{"use": "duplicate", "path": str(photo), "count": 3}]}, tmp_path / "r.toml")
    assert not build_dataset(recipe, tmp_path).reused
    assert build_dataset(recipe, tmp_path).reused
    Image.new("RGB", (40, 20), (0, 255, 0)).save(photo)
    os.utime(photo, (1_700_000_000, 1_700_000_000))  # another time, even on a coarse clock
    rebuilt = build_dataset(recipe, tmp_path)
    assert not rebuilt.reused and (rebuilt.dataset.images[:, :, :, 1] == 255).all()


def test_duplicate_source_is_registered():
    assert plugins.get("source", "duplicate").cls is Duplicate


def test_a_square_smaller_than_a_pixel_is_still_drawn():
    [copy] = copies(shape="square", square=0.001, count=1)
    pixels = np.asarray(copy.image)
    assert (pixels == 0).all(axis=2).sum() == 1  # one black pixel on white
