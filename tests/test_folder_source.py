"""The "folder" source: real files of every kind, good and broken, in a nested folder."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from icc import DISPLAY_P3, p3_to_srgb, rgb_profile
from PIL import Image, features

import artgan
from artgan import plugins
from artgan_plugins.folder import Folder

RED, BLUE = (255, 0, 0), (0, 0, 255)


def solid(size, color, mode="RGB"):
    return Image.new(mode, size, color)


@pytest.fixture
def art(tmp_path, monkeypatch):
    """A nested folder with one file per case; every good image is under the bomb limit."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    root = tmp_path / "art"
    (root / "sub" / "deeper").mkdir(parents=True)
    solid((8, 6), RED).save(root / "a.png")
    solid((8, 6), RED).save(root / "sub" / "b.jpg")
    solid((8, 6), RED).save(root / "sub" / "deeper" / "c.webp", lossless=True)
    solid((8, 6), RED).save(root / "sub" / "d.bmp")
    solid((8, 6), RED).save(root / "anim.gif", save_all=True, append_images=[solid((8, 6), BLUE)])

    # Stored on its side: left half red, right half blue; orientation 6 means "turn 90° clockwise".
    sideways = solid((20, 10), BLUE)
    sideways.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways.save(root / "rotated.jpg", exif=exif, quality=95)

    alpha = solid((4, 4), (0, 255, 0, 255), "RGBA")
    alpha.paste((0, 255, 0, 0), (0, 0, 2, 4))  # left half fully transparent
    alpha.save(root / "alpha.png")
    solid((5, 5), 100, "L").save(root / "grey.png")

    noise = np.random.default_rng(0).integers(0, 256, (30, 30, 3), np.uint8)
    Image.fromarray(noise).save(root / "truncated.jpg")
    data = (root / "truncated.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[:len(data) // 2])
    (root / "notes.png").write_text("not an image")
    solid((40, 40), RED).save(root / "bomb.png")  # 1600 pixels > the 1000 allowed
    (root / "readme.txt").write_text("ignored: not an image extension")
    return root


def read(path, **options):
    source = Folder(Folder.Options(path=path, **options))
    results = list(source.items())
    items = {r.info["file"]: r for r in results if isinstance(r, artgan.Item)}
    skipped = {r.origin: r.reason for r in results if isinstance(r, artgan.Skipped)}
    return results, items, skipped


def test_good_images_are_yielded_in_sorted_order_as_rgb(art):
    results, items, _ = read(art, background=BLUE)
    assert [r.info["file"] for r in results if isinstance(r, artgan.Item)] == [
        "a.png", "alpha.png", "anim.gif", "grey.png", "rotated.jpg",
        "sub/b.jpg", "sub/d.bmp", "sub/deeper/c.webp"]
    for name, item in items.items():
        assert item.image.mode == "RGB"
        assert item.origin == str(art / name)
        assert item.steps == []
    assert items["a.png"].image.getpixel((0, 0)) == RED
    assert items["sub/deeper/c.webp"].image.getpixel((3, 3)) == RED
    assert items["sub/d.bmp"].image.size == (8, 6)


def test_broken_files_are_skipped_with_reasons(art):
    _, _, skipped = read(art)
    assert set(skipped) == {str(art / name) for name in ("truncated.jpg", "notes.png", "bomb.png")}
    assert "decompression bomb" in skipped[str(art / "bomb.png")]
    assert skipped[str(art / "truncated.jpg")].startswith("unreadable image")
    assert skipped[str(art / "notes.png")].startswith("unreadable image")


def test_animated_gif_gives_its_first_frame(art):
    _, items, _ = read(art)
    assert items["anim.gif"].image.getpixel((4, 3)) == RED


def test_exif_orientation_is_applied(art):
    _, items, _ = read(art)
    image = items["rotated.jpg"].image
    assert image.size == (10, 20)
    # The stored left half (red) is the top once turned upright.
    top, bottom = image.getpixel((5, 2)), image.getpixel((5, 17))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_transparency_shows_the_background_and_grey_becomes_rgb(art):
    _, items, _ = read(art, background=(10, 20, 30))
    alpha = items["alpha.png"].image
    assert alpha.getpixel((0, 0)) == (10, 20, 30)
    assert alpha.getpixel((3, 0)) == (0, 255, 0)
    assert items["grey.png"].image.getpixel((2, 2)) == (100, 100, 100)


def test_not_recursive_reads_only_the_top_folder(art):
    _, items, _ = read(art, recursive=False)
    assert not any("/" in name for name in items)
    assert "a.png" in items


def test_extensions_choose_files_case_insensitively(art):
    (art / "LOUD.PNG").write_bytes((art / "a.png").read_bytes())
    results, items, _ = read(art, extensions=[".GIF", "png"])
    assert set(items) == {"a.png", "alpha.png", "anim.gif", "grey.png", "LOUD.PNG"}
    assert len(results) == 7  # and the two broken .png files


def test_relative_path_is_relative_to_the_current_directory(art, monkeypatch):
    monkeypatch.chdir(art.parent)
    _, items, _ = read("art/sub/deeper")
    assert [item.origin for item in items.values()] == [str(art / "sub" / "deeper" / "c.webp")]


def hide_files(art) -> None:
    """A hidden folder of thumbnails, a hidden image and a macOS resource fork of a.png."""
    (art / ".thumbnails").mkdir()
    solid((8, 6), RED).save(art / ".thumbnails" / "a.png")
    solid((8, 6), RED).save(art / "sub" / ".hidden.png")
    (art / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble: not a picture")


def test_hidden_files_and_folders_and_macos_resource_forks_are_left_out(art):
    hide_files(art)
    for recursive in (True, False):
        _, items, skipped = read(art, recursive=recursive)
        assert not any(name.startswith(".") or "/." in name for name in items)
        assert not any("/." in origin for origin in skipped)


def test_hidden_files_do_not_make_the_dataset_stale(art):
    before = Folder(Folder.Options(path=art)).fingerprint()
    hide_files(art)
    assert Folder(Folder.Options(path=art)).fingerprint() == before
    solid((8, 6), RED).save(art / "new.png")
    assert Folder(Folder.Options(path=art)).fingerprint() != before


def test_an_empty_path_is_refused_not_read_as_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "mine.toml"
    recipe.write_text('name = "mine"\n[[source]]\nuse = "folder"\npath = "x"\n[model]\nuse = "dcgan"\n')
    with pytest.raises(artgan.ArtganError) as caught:
        artgan.load_recipe(recipe, overrides=["source.0.path="])  # as --set source.0.path=$PICS, unset
    assert str(caught.value) == ("--set source.0.path=: source[0].path: is empty (an unset variable, as in "
                                 "--set source.0.path=$PICS?); give a path (got '')")


def test_a_workspace_given_as_the_folder_does_not_read_its_own_datasets_and_runs_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    solid((8, 6), RED).save(tmp_path / "photo.png")
    recipe = artgan.load_recipe("folder", overrides=["source.0.path=.", "resolution=32"])
    first = artgan.dataset(recipe, out=".")
    runs = tmp_path / "runs" / "earlier"
    (runs / "snapshots").mkdir(parents=True)
    (runs / "recipe.lock.toml").write_text('name = "earlier"\n')
    solid((8, 6), BLUE).save(runs / "snapshots" / "step-0000000.png")
    again = artgan.dataset(recipe, out=".", rebuild=True)
    # photo.png and its mirror image, not data/folder/images or the snapshot
    assert first.dataset.count == again.dataset.count == 2
    own = sorted(skip.origin for skip in again.skipped if "artgan made" in skip.reason)
    assert own == [str(tmp_path / "data" / "folder"), str(runs)]


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(artgan.ArtganError, match="nowhere: no such folder"):
        read(tmp_path / "nowhere")


def test_folder_without_images_is_a_user_error(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(artgan.ArtganError, match="no image files"):
        read(tmp_path)


def test_folder_source_is_registered():
    assert plugins.get("source", "folder").cls is Folder


def test_phone_and_scanner_formats_are_read_by_default(tmp_path):
    """HEIC (iPhones' photos, through pillow-heif), AVIF and TIFF; a HEIC photo's Display P3
    profile is applied like any other picture's."""
    pillow_heif = pytest.importorskip("pillow_heif", reason='pip install -e ".[dev]" installs pillow-heif')
    photo = solid((8, 6), (200, 100, 50))
    photo.info["icc_profile"] = rgb_profile(DISPLAY_P3, "Display P3 (made by the tests)")
    pillow_heif.from_pillow(photo).save(tmp_path / "IMG_0001.HEIC", quality=-1)  # Pillow's opener left alone
    solid((8, 6), RED).save(tmp_path / "scan.tif")
    if features.check("avif"):
        solid((8, 6), RED).save(tmp_path / "web.avif", quality=100)
    _, items, skipped = read(tmp_path)
    assert skipped == {}
    assert items["scan.tif"].image.getpixel((3, 3)) == RED
    assert np.abs(np.subtract(items["IMG_0001.HEIC"].image.getpixel((3, 3)), p3_to_srgb((200, 100, 50)))).max() <= 3
    if features.check("avif"):
        assert np.abs(np.subtract(items["web.avif"].image.getpixel((3, 3)), RED)).max() <= 8


def test_a_heic_photo_without_pillow_heif_is_skipped_saying_what_to_install(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif", reason='pip install -e ".[dev]" installs pillow-heif')
    pillow_heif.from_pillow(solid((8, 6), RED)).save(tmp_path / "IMG_0001.HEIC")
    solid((8, 6), RED).save(tmp_path / "a.png")
    # a process of its own: Pillow keeps an opener once registered
    script = ("import sys; sys.modules['pillow_heif'] = None\n"  # as if it were not installed
              "import artgan; from artgan_plugins.folder import Folder\n"
              f"for r in Folder(Folder.Options(path={str(tmp_path)!r})).items(): print(r.origin, getattr(r, 'reason', 'ok'))")
    lines = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines == [f"{tmp_path / 'IMG_0001.HEIC'} unreadable image (a HEIC/HEIF photo, as phones take them: "
                     "pip install pillow-heif to read it)", f"{tmp_path / 'a.png'} ok"]


def test_cameras_raw_files_are_listed_as_skipped_with_what_to_do(tmp_path):
    solid((8, 6), RED).save(tmp_path / "IMG_0001.JPG")
    (tmp_path / "IMG_0001.CR2").write_bytes(b"II*\x00 raw sensor data")
    (tmp_path / "IMG_0002.nef").write_bytes(b"MM\x00* raw sensor data")
    _, items, skipped = read(tmp_path)
    assert list(items) == ["IMG_0001.JPG"]
    assert skipped == {str(tmp_path / name): "a camera's raw file: export it as JPEG or TIFF"
                       for name in ("IMG_0001.CR2", "IMG_0002.nef")}
    (tmp_path / "IMG_0001.JPG").unlink()
    with pytest.raises(artgan.ArtganError, match=r"only cameras' raw files \(2\) in it or its subfolders: "
                                                 "export them as JPEG or TIFF"):
        read(tmp_path)
