"""read_rgb: artgan's own PNGs through libspng, every other picture as Pillow decodes it."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from artgan import images
from artgan.runfolder import Snapshot

pytest.importorskip("pyspng")  # installed wherever it has a wheel (pyproject.toml)


@pytest.fixture
def decoders(monkeypatch):
    """Which decoder each read_rgb call used: 'spng', or 'pillow' when it fell back."""
    used = []
    spng_load, pillow_open = images.pyspng.load, images.open_rgb
    monkeypatch.setattr(images.pyspng, "load", lambda data: used.append("spng") or spng_load(data))
    monkeypatch.setattr(images, "open_rgb", lambda path: used.append("pillow") or pillow_open(path))
    return used


def noise(height=48, width=64, channels=3, dtype=np.uint8, top=256):
    return np.random.default_rng(height * width + channels).integers(0, top, (height, width, channels)).astype(dtype)


def test_an_8_bit_rgb_png_like_a_snapshot_is_decoded_by_libspng_to_the_same_pixels(tmp_path, decoders):
    picture = noise()
    path = tmp_path / "step-0000100.png"
    images.grid(picture[None]).save(path)
    pixels = images.read_rgb(path)
    assert decoders == ["spng"]
    assert pixels.dtype == np.uint8 and pixels.shape == (48, 64, 3) and (pixels == picture).all()
    assert (pixels == np.asarray(images.open_rgb(path))).all()
    assert (np.asarray(Snapshot(100, path).picture()) == picture).all()


@pytest.mark.parametrize("kind", ["grey", "rgba", "16-bit", "palette", "exif turned", "jpeg"])
def test_every_other_picture_is_decoded_as_open_rgb_decodes_it(tmp_path, decoders, kind):
    rgb = noise()
    path = tmp_path / ("picture.jpg" if kind == "jpeg" else "picture.png")
    if kind == "grey":
        Image.fromarray(rgb[..., 0]).save(path)
    elif kind == "rgba":
        Image.fromarray(noise(channels=4)).save(path)  # transparent parts go over black
    elif kind == "16-bit":
        Image.fromarray(noise(channels=1, dtype=np.uint16, top=65536)[..., 0]).save(path)
    elif kind == "palette":
        Image.fromarray(rgb).quantize(16).save(path)
    elif kind == "exif turned":
        exif = Image.Exif()
        exif[0x0112] = 6  # shown turned by 90 degrees
        Image.fromarray(rgb).save(path, exif=exif)
    else:
        Image.fromarray(rgb).save(path, quality=95)
    pixels = images.read_rgb(path)
    assert decoders[-1] == "pillow"
    expected = np.asarray(images.open_rgb(path))
    assert pixels.dtype == np.uint8 and pixels.shape == expected.shape and (pixels == expected).all()
    if kind == "exif turned":
        assert pixels.shape == (64, 48, 3)


def test_a_damaged_or_missing_png_is_a_short_value_error_and_a_snapshot_names_its_file(tmp_path):
    path = tmp_path / "step-0000200.png"
    images.grid(noise()[None]).save(path)
    path.write_bytes(path.read_bytes()[:300])  # cut short in its pixels
    with pytest.raises(ValueError, match="unreadable image"):
        images.read_rgb(path)
    with pytest.raises(ValueError, match="unreadable image"):
        images.read_rgb(tmp_path / "gone.png")
    with pytest.raises(Exception, match=r"step-0000200\.png: unreadable image.*delete the file"):
        Snapshot(200, path).pixels()


def test_a_png_claiming_more_pixels_than_allowed_is_refused_before_libspng_reads_it(tmp_path, decoders, monkeypatch):
    path = tmp_path / "bomb.png"
    images.grid(noise()[None]).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 48 x 64 is over it
    with pytest.raises(ValueError, match="too large"):
        images.read_rgb(path)
    assert decoders == ["pillow"]


def test_an_rgb_png_with_a_transparent_colour_goes_to_pillow_which_shows_the_background(tmp_path, decoders):
    path = tmp_path / "keyed.png"
    picture = noise()
    picture[0, 0] = (1, 2, 3)
    Image.fromarray(picture).save(path, transparency=(1, 2, 3))
    pixels = images.read_rgb(path)
    assert decoders == ["pillow"]
    assert pixels[0, 0].tolist() == [0, 0, 0] and (pixels[1:] == picture[1:]).all()


def test_without_pyspng_pillow_decodes_the_same_pixels(tmp_path, monkeypatch):
    path = tmp_path / "grid.png"
    images.grid(noise()[None]).save(path)
    fast = images.read_rgb(path)
    monkeypatch.setattr(images, "pyspng", None)
    assert (images.read_rgb(path) == fast).all()


def test_an_unreadable_file_read_from_its_bytes_says_why_without_pillows_object_name(tmp_path):
    junk = tmp_path / "step-0000100.png"
    junk.write_bytes(b"not a picture")
    with pytest.raises(ValueError) as caught:
        images.read_rgb(junk)
    assert str(caught.value) == "unreadable image (cannot identify image file)"
