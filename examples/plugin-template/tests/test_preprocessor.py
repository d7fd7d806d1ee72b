"""The posterize preprocessor: a few values per channel, the step recorded, options checked."""
import pytest
from PIL import Image

import artgan
from artgan import plugins
from artgan.testing import run_preprocessor
from artgan_example.preprocessor import Posterize


def posterize(color, **options):
    # run_preprocessor calls the plugin as a dataset build does, its options given as in a recipe
    (out,) = run_preprocessor("example", [Image.new("RGB", (4, 4), color)], options).items
    return out


def test_two_levels_leave_only_full_and_empty_channels():
    out = posterize((30, 140, 250), levels=2)
    assert out.image.getpixel((0, 0)) == (0, 255, 255)
    assert out.info["posterize"] == 2
    assert out.steps == [{"use": "example", "levels": 2}]  # what the dataset's manifest records


def test_all_levels_change_nothing():
    assert posterize((30, 140, 250), levels=256).image.getpixel((0, 0)) == (30, 140, 250)


def test_levels_are_checked_as_in_a_recipe():
    with pytest.raises(artgan.ArtganError, match=r"preprocess\[0\]\.levels: .*greater than or equal to 2"):
        posterize((30, 140, 250), levels=1)


def test_runs_in_worker_processes():
    # `workers = 2` in a recipe sends the preprocessor to other processes: it must survive the trip
    colours = [(30, 140, 250), (200, 10, 90), (0, 0, 0)]
    pictures = [Image.new("RGB", (4, 4), colour) for colour in colours]
    pooled = run_preprocessor("example", pictures, {"levels": 2}, workers=2).items
    assert [item.image.getpixel((0, 0)) for item in pooled] == [posterize(c, levels=2).image.getpixel((0, 0))
                                                                 for c in colours]


def test_installed_as_a_plugin():
    assert plugins.get("preprocessor", "example").cls is Posterize
