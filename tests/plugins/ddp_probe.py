"""A loose plugin for tests/test_distributed.py: the built-in models, except that after every
training step each process saves the weights it holds and its part of the batch to
$ARTGAN_PROBE_DIR/rank-R.pt, so that a test can compare the processes of a torchrun job."""
import os

import torch

import artgan
from artgan_plugins.dcgan import DCGAN
from artgan_plugins.stylegan2 import StyleGAN2


def probed(model_class):
    class Probed(model_class):
        def train_step(self, real):
            losses = super().train_step(real)
            held = {f"{net}.{name}": value.detach().clone() for net in ("generator", "discriminator")
                    for name, value in getattr(self, net).named_parameters()}
            path = os.path.join(os.environ["ARTGAN_PROBE_DIR"], f"rank-{os.environ.get('RANK', '0')}.pt")
            torch.save({"weights": held, "real": real.clone()}, path)
            return losses

    Probed.__name__ = f"Probed{model_class.__name__}"
    return Probed


@artgan.hookimpl
def register_models(register):
    register("probe-dcgan", probed(DCGAN))
    register("probe-stylegan2", probed(StyleGAN2))
