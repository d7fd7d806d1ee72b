"""Pictures with an embedded colour profile come into a dataset in sRGB, as a colour-managed
viewer shows them; the profiles are real ICC files (tests/icc.py) read by Little CMS, and the
expected colours are computed from the colour spaces' definitions, not by Little CMS."""
from __future__ import annotations

import numpy as np
import pytest
from icc import DISPLAY_P3, SRGB, p3_to_srgb, rgb_profile
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
