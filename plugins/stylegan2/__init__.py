"""Model "stylegan2": StyleGAN2 (Karras et al. 2020) in plain PyTorch, with adaptive augmentation.

This module is what artgan imports to list plugins, check a recipe or print help: the options and
the registration, without torch. The model itself (networks and training, model.py) is imported
when one is built: see docs/writing-plugins.md, "Keep start-up fast".
"""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

import artgan
from artgan.toolkit.augment_options import AUG_HELP, AugMode, AugmentOptions

AdamBeta = Annotated[float, Field(ge=0, lt=1)]  # what torch's Adam takes


class StyleGAN2Options(AugmentOptions):
    aug: AugMode = Field("ada", description=AUG_HELP)  # small datasets are what artgan is for
    z_dim: int = Field(512, ge=1, description="length of the latent vector z")
    w_dim: int = Field(512, ge=1, description="length of the intermediate latent w (the style vector)")
    mapping_layers: int = Field(8, ge=1, description="layers of the mapping network z -> w "
                                                     "(StyleGAN2-ADA uses 2 for small datasets)")
    capacity: float = Field(1.0, gt=0, description="multiplies the channels of every layer: 1 is "
                                                   "StyleGAN2's size (for a GPU), 0.125 trains a 64 px "
                                                   "model on a CPU")
    channel_base: int = Field(16384, ge=1, description="channels at resolution r: capacity x "
                                                       "min(channel_base / r, channel_max)")
    channel_max: int = Field(512, ge=1, description="channels of the low-resolution layers (times capacity)")
    lr_g: float = Field(0.0025, gt=0, description="Adam learning rate of G")
    lr_d: float = Field(0.0025, gt=0, description="Adam learning rate of D")
    betas: tuple[AdamBeta, AdamBeta] = Field((0.0, 0.99), description="Adam betas of both networks")
    r1_gamma: float | None = Field(None, ge=0, description="weight of the R1 penalty on D's gradient at "
                                                           "real images; default 0.0002 x resolution² / "
                                                           "train.batch_size (StyleGAN2-ADA's rule; the whole "
                                                           "batch, however many processes share it); 0: off")
    r1_every: int = Field(16, ge=1, description="steps between R1 penalties (lazy regularisation)")
    pl_weight: float = Field(2.0, ge=0, description="weight of path-length regularisation, which makes equal "
                                                    "steps in w change the image equally (0: off, faster)")
    pl_every: int = Field(4, ge=1, description="steps between path-length penalties")
    style_mixing: float = Field(0.9, ge=0, le=1, description="probability that a training batch takes its "
                                                             "later layers' styles from a second latent")
    ema_images: float = Field(10_000, ge=0, description="half-life of the averaged G used for snapshots, "
                                                        "samples and films, in images (0: no averaging)")
    ema_rampup: float | None = Field(0.05, gt=0, description="warm-up: the half-life is at most this fraction "
                                                             "of the images seen so far (none: no warm-up)")
    mbstd_group: int = Field(4, ge=1, description="samples per group in D's minibatch standard deviation, "
                                                  "which lets D see a lack of variety; 1: off (for a dataset "
                                                  "of one picture copied, whose copies do not vary at all)")
    amp: bool = Field(True, description="run the main passes in the run's reduced precision when "
                                        "train.precision picks one (false: float32 throughout); "
                                        "the penalties always run in float32")


class StyleGAN2(artgan.Model):
    """StyleGAN2 with a residual D, lazy R1 and path-length regularisation, and adaptive augmentation."""

    Options = StyleGAN2Options

    @staticmethod
    def implementation():
        from artgan_plugins.stylegan2.model import StyleGAN2Model  # torch: imported when a model is built
        return StyleGAN2Model


@artgan.hookimpl
def register_models(register):
    register("stylegan2", StyleGAN2)
