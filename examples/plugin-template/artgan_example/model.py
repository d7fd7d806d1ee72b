"""Model "example": a small fully connected GAN, quick to train.

artgan imports this module for every command, even --help, so it holds only the options, a light
class and the registration, without torch. The model itself (model_torch.py: the networks and
their training, readable top to bottom) is imported when a model is built.
"""
from __future__ import annotations

from pydantic import Field

import artgan


class TinyGANOptions(artgan.Options):
    z_dim: int = Field(64, ge=1, description="length of the latent vector z")
    hidden: int = Field(256, ge=8, description="units in each hidden layer of G and D")
    lr: float = Field(2e-4, gt=0, description="Adam learning rate of both networks")


class TinyGAN(artgan.Model):
    """A GAN of fully connected layers: blurry, fast, a starting point for your own model."""

    Options = TinyGANOptions

    @staticmethod
    def implementation():
        from artgan_example.model_torch import TinyGANModel  # torch: imported when a model is built
        return TinyGANModel


@artgan.hookimpl
def register_models(register):
    register("example", TinyGAN)
