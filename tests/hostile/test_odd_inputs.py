"""Odd inputs: endpoint templates with stray braces, symlink loops in a folder source, files
named .mp4 that are not videos, and photos of 100 to 200 megapixels."""
from __future__ import annotations

import os
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import artgan
from artgan.cli import app
from artgan.images import open_rgb
from artgan_plugins.folder import Folder
from artgan_plugins.video_frames import VideoFrames
from artgan_plugins.web_search import WebSearch

RECIPE = """\
name = "odd"
resolution = 16
[model]
use = "dcgan"
[[source]]
use = "web-search"
provider = "json"
query = "lisa"
endpoint = "{endpoint}"
"""


# -- item 10: a json endpoint template names the recipe key, exit 2 -------------------------------

@pytest.mark.parametrize("endpoint, problem", [
    ("https://example.org/s?q={query}&key={key}", "unknown placeholder {key}; use {query}, {page} or {offset}"),
    ("https://example.org/s?q={query}&p={", "not a URL template (Single '{' encountered in format string)"),
    ("https://example.org/s?q={query}&p=}", "not a URL template (Single '}' encountered in format string)"),
    ("https://example.org/s?q={query}&p={}", "unknown placeholder {}"),
])
def test_a_bad_endpoint_template_is_a_recipe_error_naming_the_key(tmp_path, endpoint, problem):
    recipe = tmp_path / "odd.toml"
    recipe.write_text(RECIPE.replace("{endpoint}", endpoint))
    result = CliRunner().invoke(app, ["dataset", str(recipe)])
    assert result.exit_code == 2, result.output
    assert f"{recipe}: source[0].endpoint: " in result.output
    assert problem in result.output
    assert "write {{ and }} for a literal brace" in result.output
    assert "Traceback" not in result.output


def test_good_templates_and_other_providers_endpoints_pass():
    for endpoint in ("https://example.org/s?q={query}&p={page:03d}&o={offset}",
                     "https://example.org/s?q={query}&filter={{\"kind\":\"image\"}}"):
        assert WebSearch.Options(query="x", provider="json", endpoint=endpoint).endpoint == endpoint
    # only the json provider fills in a template: other endpoints are plain URLs
    assert WebSearch.Options(query="x", endpoint="https://example.org/{v1}").endpoint == "https://example.org/{v1}"


# -- item 12: symlink loops in a folder source, and files named .mp4 that are not videos -----------

def test_symlink_loops_and_broken_links_in_a_folder_are_listed_as_skipped(tmp_path):
    art, elsewhere = tmp_path / "art", tmp_path / "elsewhere"
    (art / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(art / "red.png")
    Image.new("RGB", (4, 4), (0, 0, 255)).save(elsewhere / "blue.png")
    os.symlink("b.png", art / "a.png")  # a.png -> b.png -> a.png
    os.symlink("a.png", art / "b.png")
    os.symlink("self", art / "self")  # a loop without an image name is reported too
    os.symlink("..", art / "sub" / "up")  # a folder loop
    os.symlink(elsewhere, art / "linked")  # a symlinked folder is read
    os.symlink(elsewhere, art / "sub" / "again")  # ... once
    os.symlink("missing.png", art / "gone.png")

    results = list(Folder(Folder.Options(path=art)).items())
    items = [r.info["file"] for r in results if isinstance(r, artgan.Item)]
    skipped = {os.path.relpath(r.origin, art): r.reason for r in results if isinstance(r, artgan.Skipped)}
    assert items == ["linked/blue.png", "red.png"]
    assert skipped == {
        "a.png": "symlink loop", "b.png": "symlink loop", "self": "symlink loop",
        "gone.png": "broken symlink (its target missing.png is missing)",
        "sub/up": f"symlink loop (leads back to {os.path.realpath(art)}, already read)",
        "sub/again": f"folder read twice (a link to {os.path.realpath(elsewhere)}, already read)",
    }


def test_a_jpeg_or_png_named_mp4_is_not_a_video(tmp_path):
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / "photo.mp4", format="JPEG")
    Image.new("RGB", (16, 16), (10, 200, 10)).save(tmp_path / "drawing.mp4", format="PNG")
    source = VideoFrames(VideoFrames.Options(paths=[str(tmp_path / "photo.mp4"), str(tmp_path / "drawing.mp4")]),
                         artgan.Context(resolution=16))
    skipped = {os.path.basename(r.origin): r.reason for r in source.items()}
    assert skipped == {"photo.mp4": "not a video (a still image; ffmpeg reads it as jpeg_pipe)",
                       "drawing.mp4": "not a video (a still image; ffmpeg reads it as png_pipe)"}


# -- the decompression bomb limit: big phone photos pass, bombs do not -----------------------------

def png_header(width: int, height: int) -> bytes:
    """A greyscale PNG that claims ``width`` x ``height`` pixels and holds one row of them."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(width + 1)))
            + chunk(b"IEND", b""))


def test_a_108_megapixel_photo_is_read(tmp_path):
    """The size of a Samsung S2x Ultra's 108 MP shot, 12000 x 9000 (a gradient: a small file)."""
    row = np.linspace(0, 255, 12000).astype(np.uint8)
    Image.fromarray(np.broadcast_to(row, (9000, 12000)).copy()).save(tmp_path / "phone.png", compress_level=1)
    (item,) = Folder(Folder.Options(path=tmp_path)).items()
    assert isinstance(item, artgan.Item) and item.image.size == (12000, 9000)


def test_200_megapixels_pass_the_bomb_check_and_more_than_250_million_do_not(tmp_path):
    """What opening a file checks from its header alone (decoding 200 MP would take a gigabyte)."""
    (tmp_path / "phone200.png").write_bytes(png_header(16320, 12240))  # a 200 MP phone's shot
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(tmp_path / "phone200.png") as image:
            assert image.size == (16320, 12240)
    (tmp_path / "bomb.png").write_bytes(png_header(16384, 16384))  # 268 million pixels
    with pytest.raises(ValueError, match=r"image too large \(possible decompression bomb\)"):
        open_rgb(tmp_path / "bomb.png")
