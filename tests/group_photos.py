"""Group photos made of real faces, for face-align's tests and benchmark.

Real faces are few among freely licensed sample photos, so each group photo mixes the fixtures'
astronaut (Eileen Collins, NASA, public domain) and cameraman (CC0) with faces from
scikit-image's `lfw_subset` (Labeled Faces in the Wild: 25x25 px crops, which the detector finds
even scaled up), each scaled so its face is a given fraction of the photo's width and placed on
a textured background between face-free photos (a cat, a cup of coffee, a rocket, a horse, a
clock, galaxies, a page of text) that a detector must not take for faces. (scikit-image's coins
are not among them: some show heads in profile.)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image, ImageOps

FIXTURES = Path(__file__).parent / "fixtures"
# (fixture, the face's box (left, top, width, height) as BlazeFace puts it in the whole photo)
PORTRAITS = (("astronaut.jpg", (177, 82, 96, 96)), ("cameraman.jpg", (179, 121, 83, 83)))
LFW_FACES = 100  # lfw_subset holds 100 faces, then 100 face-free patches
LFW_BOX = (1, 3, 21, 21)  # where BlazeFace puts the face in a 25x25 crop (median over the 100)
HEAD = 2.6  # side of the square cut around a portrait's face, in face widths: hair and shoulders


def face_free() -> dict[str, Image.Image]:
    """scikit-image's photos without a face (the cat's face is not a human one), in RGB."""
    return {name: Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
            for name in ("chelsea", "coffee", "rocket", "horse", "clock", "hubble_deep_field", "text")}


@dataclass(frozen=True)
class GroupPhoto:
    image: Image.Image
    faces: list[tuple[float, float, float, float]]  # the true boxes, left, top, width, height
    # each face alone at the same scale, as a portrait photo, and where the portrait's top left
    # corner is in the group photo: a point x in the portrait is x + offset in the group photo
    portraits: list[tuple[Image.Image, tuple[int, int]]]


def portrait(head: Image.Image, face_width: float) -> tuple[Image.Image, tuple[int, int]]:
    """``head`` alone in the middle of a grey square HEAD face widths wide (or its own size), and
    where the head's top left corner is in it."""
    side = max(round(HEAD * face_width), *head.size)
    canvas = Image.new("RGB", (side, side), (128, 128, 128))
    corner = ((side - head.width) // 2, (side - head.height) // 2)
    canvas.paste(head, corner)
    return canvas, corner


def heads(rng: np.random.Generator, count: int) -> list[tuple[Image.Image, tuple[float, ...]]]:
    """``count`` heads, each (image, face box in it): both portraits, then LFW faces, some mirrored."""
    made = []
    for name, (left, top, width, height) in PORTRAITS:
        with Image.open(FIXTURES / name) as photo:
            photo = photo.convert("RGB")
        side = HEAD * width
        x, y = left + width / 2 - side / 2, top + height * 0.6 - side / 2
        made.append((photo.crop(tuple(round(v) for v in (x, y, x + side, y + side))),
                     (left - round(x), top - round(y), width, height)))
    lfw = skimage.data.lfw_subset()[:LFW_FACES]
    for index in rng.choice(len(lfw), count - len(made), replace=False):
        made.append((Image.fromarray(np.uint8(lfw[index] * 255)).convert("RGB"), LFW_BOX))
    flipped = []
    for image, (left, top, width, height) in made[:count]:
        if rng.random() < 0.5:
            image, left = ImageOps.mirror(image), image.width - left - width
        flipped.append((image, (left, top, width, height)))
    return flipped


def group_photo(fraction: float = 1 / 11, size: tuple[int, int] = (1500, 1000), faces: int = 6,
                seed: int = 0) -> GroupPhoto:
    """A ``size`` photo of ``faces`` real faces, each ``fraction`` of its width, in a 3-column grid
    with jitter, over grass and between face-free photos."""
    rng = np.random.default_rng(seed)
    width, height = size
    canvas = Image.fromarray(skimage.data.grass()).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    columns, rows = 3, -(-faces // 3)
    cell_w, cell_h = width / columns, height / rows
    distractors = list(face_free().values())
    for index, index_cell in enumerate(rng.permutation(columns * rows)):
        photo = distractors[index % len(distractors)]
        scale = 0.45 * min(cell_w, cell_h) / max(photo.size)
        small = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS)
        column, row = divmod(int(index_cell), rows)
        corner = rng.integers(2)  # the distractor sits in the cell's lower left or lower right
        x = column * cell_w + (cell_w - small.width if corner else 0)
        canvas.paste(small, (round(x), round((row + 1) * cell_h - small.height)))
    boxes, portraits = [], []
    for index, (head, (left, top, face_w, face_h)) in enumerate(heads(rng, faces)):
        scale = fraction * width / face_w
        head = head.resize((round(head.width * scale), round(head.height * scale)), Image.Resampling.LANCZOS)
        column, row = index % columns, index // columns
        spare_w, spare_h = max(cell_w - head.width, 0), max(cell_h * 0.6 - head.height, 0)
        x = column * cell_w + rng.uniform(0, spare_w)
        y = row * cell_h + rng.uniform(0, spare_h)
        canvas.paste(head, (round(x), round(y)))
        boxes.append((x + left * scale, y + top * scale, face_w * scale, face_h * scale))
        alone, (corner_x, corner_y) = portrait(head, face_w * scale)
        portraits.append((alone, (round(x) - corner_x, round(y) - corner_y)))
    return GroupPhoto(canvas, boxes, portraits)


def overlap(a, b) -> float:
    """Intersection over union of two (left, top, width, height) boxes."""
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(right - left, 0) * max(bottom - top, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def found(truth: list, boxes: list) -> int:
    """How many true faces some box in ``boxes`` overlaps (intersection over union 0.3 or more)."""
    return sum(any(overlap(face, box) >= 0.3 for box in boxes) for face in truth)
