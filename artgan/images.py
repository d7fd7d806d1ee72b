"""Conversions between image files, PIL images, uint8 arrays and model tensors, and grids."""
from __future__ import annotations

import functools
import io
import math
import re
import struct
import warnings
from contextlib import suppress
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageCms, ImageOps

from artgan.errors import PluginError
from artgan.kinds import described

try:  # libspng (the pyspng-seunglab wheel: Linux and macOS on x86-64 and arm64, Windows on x86-64; pyproject.toml)
    import pyspng
except ImportError:  # elsewhere Pillow decodes every picture
    pyspng = None

# Larger images are refused as decompression bombs: room for 200 MP phone photos (16320x12240),
# none for the 30000x30000 PNG of a few kilobytes that would take 3.6 GB to decode.
Image.MAX_IMAGE_PIXELS = 250_000_000
PNG = b"\x89PNG\r\n\x1a\n"
PREVIEW_SIDE = 160  # longer side of a left-out picture on the contact sheet of skipped inputs


def open_rgb(path: str | Path, background: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """Decode an image file (first frame) upright, as RGB; transparency over ``background``.

    Raises ``ValueError`` with a short reason for anything unusable (truncated, not an image,
    a decompression bomb).
    """
    _open_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.seek(0)
                image.load()
                image = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError("image too large (possible decompression bomb)") from None
    except (OSError, SyntaxError, Image.UnidentifiedImageError) as exc:
        # Pillow names the in-memory file read_rgb hands it; the caller names the real one
        why = re.sub(r" ?<_io\.BytesIO object at 0x[0-9a-f]+>", "", str(exc))
        if isinstance(exc, Image.UnidentifiedImageError) and _heif(path):
            why = "a HEIC/HEIF photo, as phones take them: pip install pillow-heif to read it"
        raise ValueError(f"unreadable image ({why})") from None
    return to_rgb(image, background)


@functools.cache
def _open_heif() -> None:
    """Lets Pillow open HEIC/HEIF photos (what iPhones take) through pillow-heif, once it is
    installed (``pip install pillow-heif``, or artgan's ``heic`` extra)."""
    with suppress(ImportError):
        import pillow_heif

        pillow_heif.register_heif_opener()


# The brands an ISO media file names in its ftyp box when it holds a HEIF picture (AVIF's
# brands are Pillow's own)
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def _heif(path) -> bool:
    """Whether the file (a path, or a file object at its start) is a HEIF picture by its first bytes."""
    try:
        if hasattr(path, "read"):
            path.seek(0)
            head = path.read(12)
        else:
            with open(path, "rb") as file:
                head = file.read(12)
    except OSError:
        return False
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as uint8 pixels (H, W, 3), as :func:`open_rgb` decodes it.

    The PNGs artgan writes (8-bit RGB: snapshots, grids, samples) are decoded by libspng
    (pyspng), in about half of Pillow's time: what most of a timelapse frame cost (1.2 against
    2.2 ms for a 256 px grid of noise; docs/performance.md). Anything else goes to Pillow.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"unreadable image ({exc.strerror or exc})") from None
    if pyspng is not None and _plain_png(data):
        try:
            pixels = pyspng.load(data)
        except RuntimeError:  # damaged: Pillow's error message says how
            pass
        else:
            if pixels.dtype == np.uint8 and pixels.shape[2:] == (3,):
                return pixels
    return np.asarray(open_rgb(io.BytesIO(data)))


def _plain_png(data: bytes) -> bool:
    """An 8-bit RGB PNG of at most MAX_IMAGE_PIXELS, without EXIF (which may turn it), a
    transparent colour (tRNS) or a colour profile (iCCP)."""
    if len(data) < 29 or data[:8] != PNG or data[12:16] != b"IHDR":
        return False
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return (depth == 8 and colour == 2 and width * height <= Image.MAX_IMAGE_PIXELS
            and not {b"eXIf", b"tRNS", b"iCCP"} & set(_chunks(data)))


def _chunks(data: bytes) -> Iterator[bytes]:
    """The chunk types of a PNG file, in order."""
    offset = len(PNG)
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        yield kind
        offset += length + 12  # length and type, data, CRC


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """Any PIL mode as plain sRGB: each by its real range (16-bit and 32-bit integers as 0-65535,
    floats as 0-1), transparent parts over ``background``: an alpha channel, or the transparent
    colour of a palette, greyscale or RGB PNG (its tRNS chunk). An RGB picture's embedded colour
    profile is applied (see :func:`in_srgb`)."""
    image = in_srgb(image)
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in WIDE_MODES:
        image = to_8bit(image)
    if image.mode in ("RGBA", "RGBa", "LA", "PA") or (image.mode in ("P", "L", "RGB") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


# What a picture with an embedded colour profile becomes in sRGB, by its mode
PROFILED = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB", "L": "RGB"}


def in_srgb(image: Image.Image) -> Image.Image:
    """A picture with an embedded colour profile (a phone's Display P3, a camera's Adobe RGB, a
    print shop's CMYK, a greyscale dot gain) turned into sRGB, as a colour-managed viewer shows it,
    the profile then dropped; read as sRGB, such a picture is duller (Display P3's 200, 100, 50 is
    sRGB's 215, 93, 31), and CMYK read by formula is far off. Pictures without a profile, with an
    sRGB one, or with one Little CMS cannot read are left as they are."""
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in PROFILED:
        return image
    transform = _to_srgb(profile, image.mode)
    if transform is None:
        return image
    converted = ImageCms.applyTransform(image, transform)
    converted.info = {key: value for key, value in image.info.items() if key != "icc_profile"}
    return converted


@functools.lru_cache(maxsize=8)  # a folder of one camera's photos builds its transform once
def _to_srgb(profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if ImageCms.getProfileDescription(source).strip().startswith("sRGB"):
            return None
        return ImageCms.buildTransform(source, _SRGB, mode, PROFILED[mode])
    except (OSError, ImageCms.PyCMSError):  # damaged, or not a profile of the picture's mode: as if there were none
        return None


_SRGB = ImageCms.createProfile("sRGB")


# Pillow's own conversion clips these to 0-255, which turns 16-bit pictures white.
WIDE_MODES = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535, "F": 1.0}


def to_8bit(image: Image.Image) -> Image.Image:
    """A one-channel image of more than 8 bits as mode L, scaled from its real range: integers
    0-65535 (what 16-bit PNG, TIFF and PGM files hold; Pillow opens some as mode I), floats 0-1
    (the convention of float TIFFs); values outside are clipped and NaN is black. A transparent
    grey level (a 16-bit PNG's tRNS) makes it mode LA, transparent where the pixels had it."""
    pixels = np.nan_to_num(np.asarray(image, dtype=np.float32))
    scaled = np.clip(pixels * (255 / WIDE_MODES[image.mode]), 0, 255)
    grey = Image.fromarray(np.rint(scaled).astype(np.uint8))
    if "transparency" in image.info:
        grey.putalpha(Image.fromarray(np.where(pixels == image.info["transparency"], 0, 255).astype(np.uint8)))
    return grey


def shrunk(picture: Image.Image, side: int = PREVIEW_SIDE) -> Image.Image:
    """A copy of ``picture`` at most ``side`` pixels long, area-averaged (by default the size of
    the picture a Skipped shows of what it left out)."""
    width, height = picture.size
    scale = min(1.0, side / max(width, height))
    return picture.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX)


def samples(model, z, **options) -> np.ndarray:
    """``model.sample(z, **options)`` as uint8 images (B, H, W, 3); a PluginError naming the
    model's file unless it returned a tensor (B, 3, H, W) at the model's resolution."""
    images = model.sample(z, **options)
    side = model.context.resolution
    expected = (len(z), 3, side, side)
    shape = tuple(getattr(images, "shape", ()))
    if shape != expected or not hasattr(images, "detach"):
        got = f"{type(images).__qualname__} of shape {shape}" if shape else repr(images)[:80]
        raise PluginError(f"the model {described(model)} returned {got} from "
                          f"sample(z); return a torch tensor of shape {expected}: (B, 3, H, W) in [-1, 1]")
    return to_uint8(images)


def to_uint8(images) -> np.ndarray:
    """Model output (B, 3, H, W) in [-1, 1] as a uint8 array (B, H, W, 3)."""
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def grid(images: np.ndarray, columns: int | None = None, padding: int = 0) -> Image.Image:
    """Tile uint8 images (N, H, W, 3) row by row into one picture (square by default)."""
    count, height, width, _ = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    canvas = np.zeros((rows * (height + padding) - padding, columns * (width + padding) - padding, 3),
                      np.uint8)
    for index, image in enumerate(images):
        top, left = (index // columns) * (height + padding), (index % columns) * (width + padding)
        canvas[top:top + height, left:left + width] = image
    return Image.fromarray(canvas)
