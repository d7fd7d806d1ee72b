"""A loose plugin for tests/test_distributed.py: the built-in models, except that after every
training step each process saves the weights it holds, its part of the batch and (stylegan2) the
R1 weights and average's betas it used to $ARTGAN_PROBE_DIR/rank-R.pt, so that a test can compare
the processes of a torchrun job; and a source, "slow-shapes", that takes $ARTGAN_SLOW_SECONDS
before its shapes, as face alignment or video decoding take time in rank 0 alone."""
import os
import time

import torch

import artgan
from artgan_plugins.dcgan import DCGAN
from artgan_plugins.shapes import Shapes
from artgan_plugins.stylegan2 import StyleGAN2


def probed(model_class):
    class Probed(model_class):
        used: dict[str, list[float]]  # values a step computed from the batch size, by name

        def _used(self, name, value):
            self.__dict__.setdefault("used", {}).setdefault(name, []).append(value)
            return value

        def r1_weight(self, batch):
            return self._used("r1_gamma", super().r1_weight(batch))

        def average_beta(self, batch):
            return self._used("ema_beta", super().average_beta(batch))

        def train_step(self, real):
            losses = super().train_step(real)
            held = {f"{net}.{name}": value.detach().clone() for net in ("generator", "discriminator")
                    for name, value in getattr(self, net).named_parameters()}
            path = os.path.join(os.environ["ARTGAN_PROBE_DIR"], f"rank-{os.environ.get('RANK', '0')}.pt")
            torch.save({"weights": held, "real": real.clone(), "used": getattr(self, "used", {})}, path)
            return losses

    Probed.__name__ = f"Probed{model_class.__name__}"
    return Probed


class SlowShapes(Shapes):
    def items(self):
        time.sleep(float(os.environ.get("ARTGAN_SLOW_SECONDS", "0")))
        yield from super().items()


@artgan.hookimpl
def register_sources(register):
    register("slow-shapes", SlowShapes)


@artgan.hookimpl
def register_models(register):
    register("probe-dcgan", probed(DCGAN))
    register("probe-stylegan2", probed(StyleGAN2))
