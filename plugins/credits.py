"""Renderer "credits": CREDITS.md for the images a run was trained on, so a film can be credited."""
from __future__ import annotations

import artgan
from artgan.credits import write_credits
from artgan.runfolder import RunFolder


class Credits(artgan.Renderer):
    """CREDITS.md in the run folder: who made each downloaded training image, under which licence."""

    uses_model = False

    def render(self, target):
        _, path = write_credits(RunFolder.at(target).path)
        return [path]


@artgan.hookimpl
def register_renderers(register):
    register("credits", Credits)
