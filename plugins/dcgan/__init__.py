"""Model "dcgan": the classic DCGAN, with the tricks artists' write-ups rely on as options.

This module is what artgan imports to list plugins, check a recipe or print help: the options and
the registration, without torch. The model itself (networks and training, model.py) is imported
when one is built: see docs/writing-plugins.md, "Keep start-up fast".
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

import artgan
from artgan.toolkit.augment_options import AugmentOptions

Stddev = Annotated[float, Field(ge=0)]
Label = Annotated[float, Field(ge=0, le=1)]  # a probability, as binary cross-entropy takes it


class DCGANOptions(AugmentOptions):
    z_dim: int = Field(100, ge=1, description="length of the latent vector z")
    g_width: int = Field(64, ge=4, description="channels of G's last hidden layer (doubled toward 4x4)")
    d_width: int = Field(64, ge=4, description="channels of D's first layer (doubled toward 4x4)")
    max_width: int = Field(512, ge=4, description="cap on the channels of any layer")
    lr_g: float = Field(2e-4, gt=0, description="Adam learning rate of G")
    lr_d: float = Field(2e-4, gt=0, description="Adam learning rate of D")
    loss: Literal["bce", "hinge"] = Field(
        "bce", description="bce: the paper's non-saturating cross-entropy; hinge: D only learns from images "
                           "it still misjudges (SAGAN, BigGAN), which keeps sizes and colours closer to the data's")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1 (0.5 in the DCGAN paper)")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2")
    d_steps: int = Field(1, ge=1, description="D updates per training step")
    g_steps: int = Field(1, ge=1, description="G updates per training step")
    instance_noise: tuple[Stddev, Stddev] = Field(
        (0.0, 0.0), description="range of the stddev of Gaussian noise added to every image D sees")
    real_label: tuple[Label, Label] = Field(
        (1.0, 1.0), description="range real labels are drawn from (one-sided label smoothing, e.g. [0.9, 1.0])")
    ema: float = Field(0.999, ge=0, lt=1, description="decay of the averaged G used for samples (0: none)")
    d_batchnorm: bool = Field(
        True, description="batch normalisation in D, as in the paper; off, D no longer rescales each batch's "
                          "features, so it sees when generated images are less varied than real ones")
    r1_gamma: float = Field(
        0.0, ge=0, description="weight of the R1 penalty on D's gradient at real images (0: off, as in the "
                               "paper); D stays smooth where the data is, and G's shapes keep to the data's "
                               "sizes instead of swelling into large blobs")
    r1_every: int = Field(16, ge=1, description="steps between R1 penalties (lazy regularisation)")
    d_brightness: bool = Field(
        False, description="D also sees each pixel's brightness (its brightest channel) as a fourth input; its "
                           "batch normalisation hides how bright images are otherwise, and G's colours come "
                           "out duller and less varied than the data's")
    d_saturation: bool = Field(
        False, description="D also sees each pixel's darkest channel as one more input; beside the brightest "
                           "(d_brightness) that is how saturated its colour is, which batch normalisation "
                           "hides too, and G's colours come out paler or greyer than the data's")
    upsample: Literal["transpose", "resize"] = Field(
        "transpose", description="how G doubles its resolution: transpose: strided transposed convolutions, as "
                                 "in the paper, which leave a faint checkerboard; resize: nearest-neighbour "
                                 "upsampling then a 3x3 convolution (Odena et al. 2016), which cannot")
    mbstd_group: int = Field(
        4, ge=0, description="D's last layer also sees the standard deviation across groups of this many "
                             "samples, so it notices a lack of variety (mode collapse); 0: the paper's D")

    @field_validator("instance_noise", "real_label")
    @classmethod
    def _ordered(cls, value):
        if value[0] > value[1]:
            raise ValueError("the first number of a range must not exceed the second")
        return value


class DCGAN(artgan.Model):
    """DCGAN (Radford et al. 2015) with instance noise, label smoothing and an averaged G."""

    Options = DCGANOptions

    @staticmethod
    def implementation():
        from artgan_plugins.dcgan.model import DCGANModel  # torch: imported when a model is built
        return DCGANModel


@artgan.hookimpl
def register_models(register):
    register("dcgan", DCGAN)
