"""The posterize preprocessor: a few values per channel, the step recorded, options checked."""
import pytest
from PIL import Image
from pydantic import ValidationError

import artgan
from artgan import plugins
from artgan_example.preprocessor import Posterize


def posterize(color, **options):
    item = artgan.Item(Image.new("RGB", (4, 4), color), origin="test")
    (out,) = Posterize(Posterize.Options(**options)).process(item)
    return out


def test_two_levels_leave_only_full_and_empty_channels():
    out = posterize((30, 140, 250), levels=2)
    assert out.image.getpixel((0, 0)) == (0, 255, 255)
    assert out.info["posterize"] == 2


def test_all_levels_change_nothing():
    assert posterize((30, 140, 250), levels=256).image.getpixel((0, 0)) == (30, 140, 250)


def test_levels_are_checked():
    with pytest.raises(ValidationError, match="levels"):
        Posterize.Options(levels=1)


def test_installed_as_a_plugin():
    assert plugins.get("preprocessor", "example").cls is Posterize
