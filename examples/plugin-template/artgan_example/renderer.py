"""Renderer "example": a contact sheet of a run's snapshots, so its whole training fits on one page."""
from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw
from pydantic import Field

import artgan

LABEL = 14  # pixels of the caption strip under each picture


class ContactSheetOptions(artgan.Options):
    count: int = Field(16, ge=1, description="snapshots shown, evenly spaced from the first to the last")
    columns: int | None = Field(None, ge=1, description="snapshots per row (default: a square)")
    size: int = Field(160, ge=16, description="side of each snapshot on the sheet, in pixels")
    out: Path | None = Field(None, description="PNG to write (default: contact-sheet.png in the run folder)")


class ContactSheet(artgan.Renderer):
    """A PNG of the run's snapshots in a grid, oldest first, each captioned with its step."""

    Options = ContactSheetOptions
    uses_model = False  # it reads snapshots only: artgan render starts without importing torch

    def render(self, target):
        o = self.options
        run = artgan.RunFolder(target)
        picked = _evenly(run.snapshots(), o.count)  # none: an ArtganError that says what to give
        columns = o.columns or math.ceil(math.sqrt(len(picked)))
        rows = math.ceil(len(picked) / columns)
        sheet = Image.new("RGB", (columns * o.size, rows * (o.size + LABEL)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, shot in enumerate(picked):
            x, y = i % columns * o.size, i // columns * (o.size + LABEL)
            sheet.paste(shot.picture().resize((o.size, o.size)), (x, y))
            draw.text((x + 2, y + o.size + 1), f"step {shot.step:,}", fill="black")
        out = o.out or run.path / "contact-sheet.png"
        sheet.save(out)
        return [out]


def _evenly(shots: list[artgan.Snapshot], count: int) -> list[artgan.Snapshot]:
    """``count`` of ``shots`` (all, if there are fewer), spread evenly, the first and last included."""
    count = min(count, len(shots))
    return [shots[round(i * (len(shots) - 1) / max(count - 1, 1))] for i in range(count)]


@artgan.hookimpl
def register_renderers(register):
    register("example", ContactSheet)
