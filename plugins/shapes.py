"""Source "shapes": seeded synthetic ellipses or rectangles, the demo's and the tests' data."""
from __future__ import annotations

import colorsys
import math
import random
from typing import Annotated, Literal

from PIL import Image, ImageDraw
from pydantic import Field

import artgan
from artgan.kinds import RGB

SUPERSAMPLE = 4  # drawn this many times larger, then reduced, for smooth edges
Length = Annotated[float, Field(gt=0)]  # a shape's axis, fraction of the side: 0 draws nothing
Place = Annotated[float, Field(ge=0, le=1)]  # a centre, fraction of the side: beyond, the shape may miss the image


class ShapesOptions(artgan.Options):
    count: int = Field(1000, ge=1, description="how many images to draw")
    shape: Literal["ellipse", "rectangle"] = Field("ellipse", description="what to draw")
    fill: Literal["filled", "outline"] = Field("filled", description="solid shapes or outlines")
    outline_width: float = Field(0.05, gt=0, le=0.5, description="outline width, fraction of the side")
    colors: Literal["white", "random"] = Field(
        "random", description="white shapes, or bright colors of any hue")
    background: RGB = Field((0, 0, 0), description="background RGB")
    size: tuple[Length, Length] = Field(
        (0.25, 0.7), description="range of each axis' length, fraction of the side")
    position: tuple[Place, Place] = Field(
        (0.3, 0.7), description="range of the centre's x and y, fraction of the side")
    rotation: tuple[float, float] = Field((0.0, 180.0), description="range of rotation, degrees")
    image_size: int | None = Field(None, ge=8, le=4096, description="side in pixels (default: the recipe's resolution)")
    seed: int | None = Field(None, description="random seed (default: the recipe's seed)")


class Shapes(artgan.Source):
    """Synthetic ellipses or rectangles: seeded, reproducible, no download."""

    Options = ShapesOptions

    def items(self):
        o = self.options
        rng = random.Random(self.context.seed if o.seed is None else o.seed)
        side = o.image_size or self.context.resolution
        for index in range(o.count):
            params = self._draw_params(rng)
            yield artgan.Item(self._draw(side, **params), origin=f"shapes#{index}",
                              info={"shape": o.shape, **params})

    def _draw_params(self, rng: random.Random) -> dict:
        o = self.options
        if o.colors == "white":
            color = (255, 255, 255)
        else:
            r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.75, 1.0))
            color = (round(r * 255), round(g * 255), round(b * 255))
        return {
            "center": (rng.uniform(*o.position), rng.uniform(*o.position)),
            "axes": (rng.uniform(*o.size), rng.uniform(*o.size)),
            "angle": rng.uniform(*o.rotation),
            "color": color,
        }

    def _draw(self, side: int, center, axes, angle, color) -> Image.Image:
        o = self.options
        big = side * SUPERSAMPLE
        image = Image.new("RGB", (big, big), o.background)
        outline = _outline(o.shape, center, axes, angle, big)
        draw = ImageDraw.Draw(image)
        if o.fill == "filled":
            draw.polygon(outline, fill=color)
        else:
            draw.line(outline + outline[:1], fill=color, width=max(1, round(o.outline_width * big)),
                      joint="curve")
        return image.resize((side, side), Image.Resampling.LANCZOS)


def _outline(shape, center, axes, angle, side) -> list[tuple[float, float]]:
    """Polygon of the rotated shape, in pixels of a canvas ``side`` wide."""
    if shape == "ellipse":
        corners = [(math.cos(t), math.sin(t)) for t in (i * 2 * math.pi / 180 for i in range(180))]
    else:
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    cx, cy = center[0] * side, center[1] * side
    ax, ay = axes[0] * side / 2, axes[1] * side / 2
    return [(cx + ax * u * cos - ay * v * sin, cy + ax * u * sin + ay * v * cos) for u, v in corners]


@artgan.hookimpl
def register_sources(register):
    register("shapes", Shapes)
