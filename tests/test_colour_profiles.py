"""Pictures with an embedded colour profile come into a dataset in sRGB, as a colour-managed
viewer shows them; the profiles are real ICC files (tests/icc.py) read by Little CMS, and the
expected colours are computed from the colour spaces' definitions, not by Little CMS."""
from __future__ import annotations

import numpy as np
import pytest
from icc import CMYK_GRID, DISPLAY_P3, SRGB, cmyk_profile, grey_profile, p3_to_srgb, press_to_srgb, rgb_profile, srgb_encode
from PIL import Image

from artgan import images
from artgan.testing import run_preprocessor, run_source

P3 = rgb_profile(DISPLAY_P3, "Display P3 (made by the tests)")
COLOURS = [(200, 100, 50), (128, 200, 64), (60, 90, 220), (255, 255, 255), (0, 0, 0)]


def patches(width: int = 8) -> np.ndarray:
    """COLOURS side by side, each ``width`` pixels square."""
    return np.repeat(np.array(COLOURS, np.uint8), width, axis=0)[None].repeat(width, axis=0)


def centres(pixels: np.ndarray, width: int = 8) -> np.ndarray:
    return pixels[width // 2, width // 2::width][:len(COLOURS)].astype(int)


@pytest.mark.parametrize("suffix, options", [("png", {}), ("jpg", {"quality": 100, "subsampling": 0}),
                                             ("webp", {"lossless": True}), ("tiff", {})])
def test_a_display_p3_photo_comes_in_as_the_srgb_a_viewer_shows(tmp_path, suffix, options):
    Image.fromarray(patches()).save(tmp_path / f"phone.{suffix}", icc_profile=P3, **options)
    shown = centres(images.read_rgb(tmp_path / f"phone.{suffix}"))
    expected = np.array([p3_to_srgb(colour) for colour in COLOURS])
    assert np.abs(shown - expected).max() <= 2, shown.tolist()
    assert np.abs(shown[0] - COLOURS[0]).max() > 10  # read as sRGB, it would have been duller


def test_the_profile_is_applied_once_through_a_source_and_preprocessors(tmp_path):
    Image.fromarray(patches()).save(tmp_path / "phone.png", icc_profile=P3)
    sourced = run_source("folder", {"path": str(tmp_path)}).items
    padded = run_preprocessor("pad", sourced).items  # pad converts again (to_rgb)
    assert "icc_profile" not in padded[0].image.info
    shown = centres(np.asarray(padded[0].image)[16:])  # the 40x8 strip padded to 40x40, centred
    assert np.abs(shown - np.array([p3_to_srgb(colour) for colour in COLOURS])).max() <= 2, shown.tolist()


def test_an_rgba_picture_is_converted_before_it_goes_over_the_background(tmp_path):
    Image.new("RGBA", (8, 8), (200, 100, 50, 128)).save(tmp_path / "half.png", icc_profile=P3)
    shown = np.asarray(images.open_rgb(tmp_path / "half.png"))[4, 4].astype(int)
    assert np.abs(shown - p3_to_srgb((200, 100, 50)) * 128 / 255).max() <= 2, shown.tolist()


@pytest.mark.parametrize("profile", [rgb_profile(SRGB, "sRGB IEC61966-2.1"), b"not a profile", P3[:100]])
def test_an_srgb_or_unreadable_profile_leaves_the_pixels_as_they_are(tmp_path, profile):
    Image.fromarray(patches()).save(tmp_path / "picture.png", icc_profile=profile)
    assert (images.read_rgb(tmp_path / "picture.png") == patches()).all()


@pytest.mark.parametrize("suffix, options", [("tif", {}), ("jpg", {"quality": 100, "subsampling": 0})])
def test_a_cmyk_picture_comes_in_as_its_profile_says_it_prints(tmp_path, suffix, options):
    """A print shop's CMYK file: its profile's table, not a formula, says what each ink mix looks
    like; the made-up press's colours are computed from its inks, not by Little CMS."""
    nodes = np.linspace(0, 255, CMYK_GRID).astype(np.uint8)  # mixes on the table's grid: no interpolation
    mixes = np.random.default_rng(0).choice(nodes, (40, 4))
    picture = Image.frombytes("CMYK", (8 * len(mixes), 8), np.repeat(mixes, 8, axis=0)[None].repeat(8, axis=0).tobytes())
    picture.save(tmp_path / f"print.{suffix}", icc_profile=cmyk_profile("a made-up press"), **options)
    shown = images.read_rgb(tmp_path / f"print.{suffix}")[4, 4::8].astype(int)
    expected = np.array([press_to_srgb(mix) for mix in mixes])
    assert np.abs(shown - expected).max() <= 3, shown.tolist()
    formula = np.asarray(picture.convert("RGB"))[4, 4::8].astype(int)
    assert np.abs(formula - expected).max() > 60  # what the picture read as without its profile


def test_a_greyscale_picture_with_a_dot_gain_profile_comes_in_as_it_shows(tmp_path):
    levels = np.arange(0, 256, 15, dtype=np.uint8)
    Image.fromarray(np.repeat(levels, 8)[None].repeat(8, axis=0)).save(
        tmp_path / "grey.png", icc_profile=grey_profile(1.8, "Gray Gamma 1.8"))
    shown = images.read_rgb(tmp_path / "grey.png")[4, 4::8].astype(int)
    expected = srgb_encode((levels / 255) ** 1.8)
    assert np.abs(shown - expected[:, None]).max() <= 2, shown.tolist()
    assert np.abs(shown[:, 0] - levels).max() > 10  # read as it is, the mid-greys were darker
