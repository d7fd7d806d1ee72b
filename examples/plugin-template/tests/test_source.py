"""The zip source: every image in name order, broken files skipped with the reason, options checked."""
import io
import zipfile

import pytest
from PIL import Image
from pydantic import ValidationError

import artgan
from artgan import plugins
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


def read(**options):
    return list(ZipImages(ZipImages.Options(**options)).items())


def test_every_image_in_name_order_and_broken_ones_skipped(archive):
    blue, red, broken = read(path=archive)
    assert blue.image.getpixel((0, 0)) == (0, 0, 255)
    assert red.info == {"zip": str(archive), "file": "b/red.PNG"}
    assert isinstance(broken, artgan.Skipped)
    assert broken.origin == f"{archive}:broken.jpg" and "unreadable image" in broken.reason


def test_extensions_ignore_case_and_dots(archive):
    assert ZipImages.Options(path=archive, extensions=[".PNG"]).extensions == ["png"]
    assert [item.info["file"] for item in read(path=archive, extensions=[".PNG"])] == ["a/blue.png", "b/red.PNG"]


def test_a_missing_zip_is_a_user_error(tmp_path):
    with pytest.raises(artgan.ArtganError, match="not a zip file"):
        read(path=tmp_path / "nowhere.zip")


def test_options_are_checked():
    with pytest.raises(ValidationError, match="extensions"):
        ZipImages.Options(path="pictures.zip", extensions=[])


def test_installed_as_a_plugin():
    assert plugins.get("source", "example").cls is ZipImages
