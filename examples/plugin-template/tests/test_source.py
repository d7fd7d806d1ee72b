"""The zip source: every image in name order, broken files skipped with the reason, options checked."""
import io
import zipfile

import pytest
from PIL import Image

import artgan
from artgan import plugins
from artgan.testing import run_source
from artgan_example.source import ZipImages


def png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "pictures.zip"
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr("b/red.PNG", png("red"))
        zipped.writestr("a/blue.png", png("blue"))
        zipped.writestr("broken.jpg", b"not a picture")
        zipped.writestr("notes.txt", "not an image")
    return path


def test_every_image_in_name_order_and_broken_ones_skipped(archive):
    # run_source calls the plugin as `artgan dataset` does, its options given as in a recipe
    results = run_source("example", {"path": archive})
    blue, red = results.items
    assert blue.image.getpixel((0, 0)) == (0, 0, 255)
    assert red.info == {"zip": str(archive), "file": "b/red.PNG", "source": "example"}
    (broken,) = results.skipped
    assert broken.origin == f"{archive}:broken.jpg" and "unreadable image" in broken.reason


def test_extensions_ignore_case_and_dots(archive):
    results = run_source("example", {"path": archive, "extensions": [".PNG"]})
    assert [item.info["file"] for item in results.items] == ["a/blue.png", "b/red.PNG"]


def test_a_missing_zip_is_a_user_error(tmp_path):
    with pytest.raises(artgan.ArtganError, match="not a zip file"):
        run_source("example", {"path": tmp_path / "nowhere.zip"})


def test_options_are_checked_as_in_a_recipe():
    with pytest.raises(artgan.ArtganError, match=r"source\[0\]\.extensions: .*at least 1 item"):
        run_source("example", {"path": "pictures.zip", "extensions": []})


def test_installed_as_a_plugin():
    assert plugins.get("source", "example").cls is ZipImages
