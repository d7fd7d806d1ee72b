"""Checks of the models' maths against StyleGAN2-ADA, from a review of dcgan, stylegan2 and the toolkit."""
import pytest
import torch

import artgan
from artgan.toolkit.augment import augment
from artgan_plugins.stylegan2 import StyleGAN2, StyleGAN2Options
from artgan_plugins.stylegan2.model import W_AVG_BETA

N = 4000  # images per measured fraction: its standard error is below 0.008


def asymmetric(batch=N):
    """(B, 3, 2, 2) images whose four pixels differ, so that every flip and turn shows."""
    return torch.arange(4.0).view(1, 1, 2, 2).expand(batch, 3, 2, 2)


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_flip_mirrors_half_the_chosen_images_so_unmirrored_ones_stay_the_likeliest(p):
    torch.manual_seed(0)
    x = asymmetric()
    out = augment(x, p, ("flip",))
    mirrored = (out == x.flip(3)).flatten(1).all(1).float().mean()
    assert mirrored == pytest.approx(p / 2, abs=0.03)  # ADA: a coin toss for each chosen image
    assert ((out == x) | (out == x.flip(3))).flatten(1).all(1).all()


def test_quarter_turns_of_chosen_images_include_no_turn():
    torch.manual_seed(0)
    x = asymmetric()
    out = augment(x, 1.0, ("rotate90",))
    shares = [(out == x.rot90(k, (2, 3))).flatten(1).all(1).float().mean() for k in range(4)]
    assert shares == pytest.approx([0.25] * 4, abs=0.03)  # upright as likely as any turn, even at p = 1


def test_the_mixing_latent_leaves_the_mean_of_w_alone():
    torch.manual_seed(0)
    model = StyleGAN2(StyleGAN2Options(capacity=1 / 32, z_dim=16, w_dim=16, mapping_layers=2),
                      artgan.Context(resolution=32))
    generator, z = model.generator, torch.randn(8, 16)
    w = generator.mapping(z)  # not tracked
    generator.styles(z, mixing=1.0, track=True)  # every batch mixed
    expected = w.mean(0) * (1 - W_AVG_BETA)  # one step from zero toward the batch's mean
    assert torch.allclose(generator.mapping.w_avg, expected, atol=1e-6)
