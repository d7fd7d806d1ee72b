"""The augmentation options of a model (see :mod:`artgan.toolkit.augment`), without torch.

A model plugin's options subclass :class:`AugmentOptions`; they live apart from the augmentation
itself so that listing plugins, checking a recipe and ``--help`` never import torch.
"""
from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from artgan.kinds import Options

AugMode = Literal["none", "fixed", "ada"]
Op = Literal["flip", "rotate90", "translation", "cutout", "brightness", "saturation", "contrast"]
OPS: tuple[str, ...] = get_args(Op)
AUG_HELP = ('augmentation of every image D sees: "none", "fixed" (probability aug_p, DiffAugment '
            'style) or "ada" (probability adapted from D\'s outputs on reals, starting at aug_p)')


class AugmentOptions(Options):
    """The augmentation options of a model; a model's Options subclass these."""

    aug: AugMode = Field("none", description=AUG_HELP)
    aug_p: float = Field(0.0, ge=0, le=1, description="probability of each operation on each image: "
                                                      "fixed for aug = \"fixed\" (try 0.2-0.5), the "
                                                      "start for \"ada\"; above about 0.8 the "
                                                      "operations leak into the samples")
    ada_target: float = Field(0.6, gt=0, lt=1, description="ada: the mean sign of D's outputs on reals "
                                                           "that p is steered toward (higher: less augmentation)")
    ada_speed: int = Field(100_000, ge=1, description="ada: images seen for p to move from 0 to 1 at the "
                                                      "fastest (StyleGAN2-ADA: 500k; StyleGAN3: 100k)")
    aug_ops: list[Op] = Field(default_factory=lambda: list(OPS), description="operations to apply, in this order (leave out "
                                                     "\"flip\" or \"rotate90\" for text, \"saturation\" "
                                                     "for black-and-white sets…)")

    @model_validator(mode="after")
    def _fixed_needs_p(self):
        if self.aug == "fixed" and self.aug_p == 0:
            raise ValueError('aug = "fixed" needs aug_p above 0, e.g. aug_p = 0.3')
        return self
