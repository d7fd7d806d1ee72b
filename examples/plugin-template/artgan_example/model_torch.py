"""The "example" model itself: G, D and their training (imported when a model is built; its
options and registration, without torch, are in model.py)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

import artgan
from artgan_example.model import TinyGAN

MAX_RESOLUTION = 64  # above this, fully connected layers grow too large to be worth it


class TinyGANModel(TinyGAN):
    """TinyGAN's networks and training: what building a TinyGAN builds."""

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        o, side, device = self.options, self.context.resolution, self.context.device
        if side > MAX_RESOLUTION:
            raise artgan.ArtganError(f"resolution {side} is too large for this model; use {MAX_RESOLUTION} or less")
        pixels = 3 * side * side
        self.z_dim = o.z_dim
        self.generator = nn.Sequential(
            nn.Linear(o.z_dim, o.hidden), nn.ReLU(),
            nn.Linear(o.hidden, o.hidden), nn.ReLU(),
            nn.Linear(o.hidden, pixels), nn.Tanh(),
        ).to(device)
        self.discriminator = nn.Sequential(
            nn.Flatten(),
            nn.Linear(pixels, o.hidden), nn.LeakyReLU(0.2),
            nn.Linear(o.hidden, 1),
        ).to(device)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), o.lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), o.lr, betas=(0.5, 0.999))
        # Training updates go through self.g and self.d, which the core may replace with wrapped
        # networks (several GPUs); sampling, checkpoints and D's verdict on G use the plain ones.
        self.g, self.d = self.generator, self.discriminator

    def _pictures(self, flat):  # (B, 3 * H * W) -> (B, 3, H, W)
        side = self.context.resolution
        return flat.view(-1, 3, side, side)

    def train_step(self, real):  # real: (B, 3, H, W) in [-1, 1]
        z = torch.randn(len(real), self.z_dim, device=real.device)
        fake = self._pictures(self.g(z))
        # D: real images toward 1, generated ones toward 0 (non-saturating logistic loss)
        loss_d = F.softplus(-self.d(real)).mean() + F.softplus(self.d(fake.detach())).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # G: make D call its images real (D's stray gradients are cleared before its next update)
        loss_g = F.softplus(-self.discriminator(fake)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}  # the core reads them every few steps

    @torch.no_grad()
    def sample(self, z, truncation=1.0):
        return self._pictures(self.generator(z * truncation))  # a shorter z: closer to the average picture

    def optimizers(self):  # so that [train] lr_ramp_down can slow them at the end of a run
        return [self.opt_g, self.opt_d]

    def state_dict(self):
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict()}

    def load_state_dict(self, state):
        self.init_from(state)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])

    def init_from(self, state):
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
