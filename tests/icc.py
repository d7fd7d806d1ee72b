"""ICC profiles built by the tests, in the ICC v2 layout that colour-managed programs (and Little
CMS, inside Pillow) read: an RGB display profile from a colour space's published primaries, white
point and sRGB-shaped tone curve (as Display P3 is defined), and a CMYK profile of a made-up press
(cmyk_profile: a table from ink amounts to colours, as printers' profiles are)."""
from __future__ import annotations

import struct

import numpy as np

D50 = np.array([0.9642, 1.0, 0.8249])
D65_XY = (0.3127, 0.3290)
DISPLAY_P3 = [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)]  # red, green, blue chromaticities
SRGB = [(0.640, 0.330), (0.300, 0.600), (0.150, 0.060)]
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(primaries: list[tuple[float, float]], white=D65_XY) -> np.ndarray:
    """The matrix from linear RGB to XYZ of a colour space (columns: its primaries' XYZ)."""
    columns = np.stack([xyz(*p) for p in primaries], axis=1)
    return columns * np.linalg.solve(columns, xyz(*white))


def srgb_decode(values: np.ndarray) -> np.ndarray:
    """8-bit sRGB-curve code values as linear light 0-1."""
    v = values / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    v = np.clip(linear, 0, 1)
    return 255 * np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def _s15(values) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _tag_xyz(values) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(values)


def _tag_desc(text: str) -> bytes:
    ascii_ = text.encode() + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * 4 + b"\0" * 4 + b"\0" * 3 + b"\0" * 67


def _tag_srgb_curve() -> bytes:  # parametricCurveType, function 3: the sRGB curve
    return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + _s15([2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045])


def _to_d50() -> np.ndarray:
    """Bradford's adaptation from D65 white to the D50 of the connection space, as ICC asks."""
    cone = BRADFORD @ xyz(*D65_XY), BRADFORD @ D50
    return np.linalg.inv(BRADFORD) @ np.diag(cone[1] / cone[0]) @ BRADFORD


def rgb_profile(primaries: list[tuple[float, float]], name: str) -> bytes:
    """An ICC v2 display profile: ``primaries`` and D65 white, adapted to the D50 connection space,
    with the sRGB tone curve."""
    colorants = _to_d50() @ rgb_to_xyz(primaries)
    curve = _tag_srgb_curve()
    return _profile(b"mntrRGB XYZ ", [
        (b"desc", _tag_desc(name)), (b"cprt", b"text\0\0\0\0made by the tests\0"), (b"wtpt", _tag_xyz(D50)),
        (b"rXYZ", _tag_xyz(colorants[:, 0])), (b"gXYZ", _tag_xyz(colorants[:, 1])),
        (b"bXYZ", _tag_xyz(colorants[:, 2])), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)])


# A made-up press: how much of red, green and blue light each ink takes away (cyan mostly red,
# and some green, as real inks do), and the paper's white. Not any real profile's numbers.
INKS = np.array([[0.85, 0.20, 0.05], [0.10, 0.80, 0.15], [0.02, 0.08, 0.90], [1.0, 1.0, 1.0]])
PAPER = 1.0
CMYK_GRID = 6  # points per ink in the profile's table: 0, 51, 102… 255 of 255


def press_to_srgb(cmyk) -> np.ndarray:
    """What ink amounts (0-255 each) print as on the made-up press, in 8-bit sRGB."""
    amounts = np.asarray(cmyk, float) / 255
    return srgb_encode(PAPER * np.prod(1 - amounts[:, None] * INKS, axis=0))


def cmyk_profile(name: str) -> bytes:
    """An ICC v2 input profile of the made-up press: its A2B0 table holds, at each point of a
    CMYK_GRID^4 grid, the colour press_to_srgb gives (as D50 XYZ)."""
    nodes = np.linspace(0, 255, CMYK_GRID)
    to_xyz = _to_d50() @ rgb_to_xyz(SRGB)
    table = [to_xyz @ srgb_decode(press_to_srgb(cmyk)) for cmyk in np.stack(np.meshgrid(
        nodes, nodes, nodes, nodes, indexing="ij"), axis=-1).reshape(-1, 4)]  # the first ink varies slowest
    clut = np.clip(np.rint(np.array(table) * 32768), 0, 65535).astype(">u2").tobytes()  # XYZ as u1Fixed15
    identity = struct.pack(">H", 0) + struct.pack(">H", 65535)
    a2b0 = (b"mft2\0\0\0\0" + bytes([4, 3, CMYK_GRID, 0]) + _s15(np.eye(3).ravel()) + struct.pack(">HH", 2, 2)
            + identity * 4 + clut + identity * 3)
    return _profile(b"scnrCMYKXYZ ", [(b"desc", _tag_desc(name)), (b"cprt", b"text\0\0\0\0made by the tests\0"),
                                      (b"wtpt", _tag_xyz(D50)), (b"A2B0", a2b0)])


def grey_profile(gamma: float, name: str) -> bytes:
    """An ICC v2 greyscale display profile whose grey levels are (v / 255) ** ``gamma`` of white."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))
    return _profile(b"mntrGRAYXYZ ", [(b"desc", _tag_desc(name)), (b"cprt", b"text\0\0\0\0made by the tests\0"),
                                      (b"wtpt", _tag_xyz(D50)), (b"kTRC", curve)])


def _profile(kind: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC v2 file of ``tags``; ``kind``: its class, colour space and connection space."""
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for signature, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + kind + b"\0" * 12 + b"acsp"
              + b"\0" * 24 + struct.pack(">I", 0) + _s15(D50) + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def p3_to_srgb(pixel) -> np.ndarray:
    """What a Display P3 pixel is in sRGB, computed from the two spaces' definitions."""
    linear = np.linalg.solve(rgb_to_xyz(SRGB), rgb_to_xyz(DISPLAY_P3) @ srgb_decode(np.asarray(pixel, float)))
    return srgb_encode(linear)
