"""Every PIL mode becomes RGB by its real range: files of each mode written here, read back through
the folder source (the path every source shares), and compared pixel by pixel."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import artgan
from artgan.dataset import build_dataset
from artgan.images import to_rgb
from artgan.recipe import parse_recipe
from artgan_plugins.folder import Folder

SIXTEEN = np.array([[0, 257, 32768, 65535]], np.uint16)  # black, 1, mid grey, white in 16 bits
SIXTEEN_AS_8 = [0, 1, 128, 255]


def grey_row(image: Image.Image) -> list[int]:
    """The first row of an RGB image, checking that it is grey."""
    pixels = np.asarray(image)
    assert image.mode == "RGB" and (pixels == pixels[..., :1]).all()
    return pixels[0, :, 0].tolist()


def read_folder(folder, **options) -> dict[str, Image.Image]:
    results = list(Folder(Folder.Options(path=folder, **options)).items())
    assert not [r for r in results if isinstance(r, artgan.Skipped)]
    return {r.info["file"]: r.image for r in results}


@pytest.mark.parametrize("mode, dtype", [("I;16", "<u2"), ("I;16L", "<u2"), ("I;16B", ">u2"),
                                         ("I;16N", "=u2")])
def test_16_bit_modes_scale_from_0_65535(mode, dtype):
    image = Image.frombytes(mode, (4, 1), SIXTEEN.astype(dtype).tobytes())
    assert grey_row(to_rgb(image)) == SIXTEEN_AS_8


def test_32_bit_integers_scale_as_16_bit_and_clip():
    image = Image.fromarray(np.array([[0, 257, 32768, 65535, 70000, -5]], np.int32))
    assert image.mode == "I"
    assert grey_row(to_rgb(image)) == [*SIXTEEN_AS_8, 255, 0]


def test_floats_scale_from_0_1_and_nan_is_black():
    image = Image.fromarray(np.array([[0.0, 0.5, 1.0, 1.5, -0.5, np.nan]], np.float32))
    assert image.mode == "F"
    assert grey_row(to_rgb(image)) == [0, 128, 255, 255, 0, 0]


def test_premultiplied_and_palette_alpha_in_memory():
    """Modes no file gives but a plugin may hand over: premultiplied RGBa, palette with alpha."""
    premultiplied = Image.new("RGBa", (1, 1), (100, 50, 0, 128))  # (199, 99, 0) at half opacity
    assert to_rgb(premultiplied, (10, 20, 30)).getpixel((0, 0)) == (105, 60, 15)
    palette_alpha = Image.new("PA", (1, 1))
    palette_alpha.putpalette([0, 0, 255] * 256)
    palette_alpha.putpixel((0, 0), (0, 128))  # blue at half opacity
    assert to_rgb(palette_alpha, (10, 20, 30)).getpixel((0, 0)) == (5, 10, 143)


def test_16_bit_files_keep_their_greys(tmp_path):
    """The case that turned white: a 16-bit PNG (Pillow opens it as I;16), and big-endian 16-bit
    and float TIFFs, read back from disk."""
    Image.fromarray(SIXTEEN).save(tmp_path / "grey16.png")
    Image.frombytes("I;16B", (4, 1), SIXTEEN.astype(">u2").tobytes()).save(tmp_path / "grey16.tif")
    Image.fromarray(np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)).save(tmp_path / "float.tif")
    images = read_folder(tmp_path, extensions=["png", "tif"])
    assert grey_row(images["grey16.png"]) == SIXTEEN_AS_8
    assert grey_row(images["grey16.tif"]) == SIXTEEN_AS_8
    assert grey_row(images["float.tif"]) == [0, 64, 128, 255]


def test_alpha_palette_cmyk_and_bilevel_files(tmp_path):
    la = Image.new("LA", (2, 1))
    la.putdata([(200, 255), (200, 0)])  # opaque grey, then fully transparent
    la.save(tmp_path / "la.png")
    palette = Image.new("P", (3, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0])
    palette.putdata([0, 1, 2])
    palette.save(tmp_path / "palette.png", transparency=1)  # index 1 (blue) is transparent
    cmyk = Image.new("CMYK", (3, 1))
    cmyk.putdata([(0, 0, 0, 0), (255, 0, 0, 0), (128, 0, 0, 128)])  # white, cyan, dark teal
    cmyk.save(tmp_path / "cmyk.tif")
    bilevel = Image.new("1", (2, 1))
    bilevel.putdata([0, 255])
    bilevel.save(tmp_path / "bilevel.png")

    images = read_folder(tmp_path, extensions=["png", "tif"], background=(10, 20, 30))
    pixels = {name: np.asarray(image)[0].tolist() for name, image in images.items()}
    assert all(image.mode == "RGB" for image in images.values())
    assert pixels["la.png"] == [[200, 200, 200], [10, 20, 30]]
    assert pixels["palette.png"] == [[255, 0, 0], [10, 20, 30], [0, 255, 0]]
    # 255 * (1 - C) * (1 - K): (128, 0, 0, 128) is (63, 127, 127), not black
    assert pixels["cmyk.tif"] == [[255, 255, 255], [0, 255, 255], [63, 127, 127]]
    assert pixels["bilevel.png"] == [[0, 0, 0], [255, 255, 255]]


def test_the_transparent_colour_of_grey_rgb_and_16_bit_pngs_shows_the_background(tmp_path):
    """A PNG's tRNS chunk names one colour as transparent in greyscale and RGB images (no alpha
    channel): those pixels come out as the background, the others as they are."""
    grey = Image.new("L", (2, 1), 7)
    grey.putpixel((0, 0), 200)
    grey.save(tmp_path / "grey.png", transparency=7)
    rgb = Image.new("RGB", (2, 1), (1, 2, 3))
    rgb.putpixel((0, 0), (200, 100, 50))
    rgb.save(tmp_path / "rgb.png", transparency=(1, 2, 3))
    Image.frombytes("I;16", (4, 1), SIXTEEN.tobytes()).save(tmp_path / "grey16.png", transparency=32768)
    assert all(b"tRNS" in path.read_bytes() for path in tmp_path.glob("*.png"))

    images = read_folder(tmp_path, background=(10, 20, 30))
    pixels = {name: np.asarray(image)[0].tolist() for name, image in images.items()}
    assert all(image.mode == "RGB" for image in images.values())
    assert pixels["grey.png"] == [[200, 200, 200], [10, 20, 30]]
    assert pixels["rgb.png"] == [[200, 100, 50], [10, 20, 30]]
    assert pixels["grey16.png"] == [[0, 0, 0], [1, 1, 1], [10, 20, 30], [255, 255, 255]]


def test_a_16_bit_image_from_any_source_is_stored_with_its_greys(tmp_path, register_plugin):
    """A plugin's source hands over a 16-bit image: the dataset store converts it the same way."""
    ramp = np.tile(np.linspace(0, 65535, 8).astype(np.uint16), (8, 1))

    class Ramp(artgan.Source):
        Options = artgan.Options

        def items(self):
            yield artgan.Item(Image.fromarray(ramp), origin="ramp")

    class Plugin:
        @artgan.hookimpl
        def register_sources(self, register):
            register("ramp-16", Ramp)

    register_plugin(Plugin(), "ramp-16")
    recipe = parse_recipe({"name": "ramp", "resolution": 8, "model": {"use": "dcgan"},
                           "source": [{"use": "ramp-16"}]}, tmp_path / "recipe.toml")
    dataset = build_dataset(recipe, tmp_path).dataset
    stored = np.asarray(Image.open(dataset.folder / dataset.manifest()[0]["file"]))
    assert stored[0, :, 0].tolist() == np.rint(ramp[0] / 257).astype(int).tolist()
