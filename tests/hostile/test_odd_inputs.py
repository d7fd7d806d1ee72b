"""Odd inputs: endpoint templates with stray braces, symlink loops in a folder source, and files
named .mp4 that are not videos."""
from __future__ import annotations

import os

import pytest
from PIL import Image
from typer.testing import CliRunner

import artgan
from artgan.cli import app
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
