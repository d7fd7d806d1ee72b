"""Augmentation: each operation, its probability, gradients, and the ADA controller's state."""
import pytest
import torch
from pydantic import ValidationError

import artgan
from artgan.toolkit.augment import ADA_EVERY, OPS, Augment, AugmentOptions, augment
from artgan_plugins.dcgan import DCGAN, DCGANOptions


def images(batch=8, side=16):
    return torch.rand(batch, 3, side, side, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.parametrize("op", OPS)
def test_each_operation_changes_every_image_at_p1_and_none_at_p0(op):
    torch.manual_seed(0)
    x = images()
    out = augment(x, 1.0, (op,))
    assert out.shape == x.shape
    changed = (out - x).flatten(1).abs().amax(1) > 1e-6  # (B,)
    # a chosen image may be mirrored or not, turned by 0 to 3 quarters (ADA): some stay as they were
    assert changed.any() if op in ("flip", "rotate90") else changed.all(), op
    assert torch.equal(augment(x, 0.0, (op,)), x)


@pytest.mark.parametrize("op", OPS)
def test_gradients_flow_through_each_operation(op):
    torch.manual_seed(0)
    x = images().requires_grad_(True)
    (augment(x, 1.0, (op,)) * torch.randn(8, 3, 16, 16)).sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad.flatten(1).abs().sum(1) > 0).all()


def test_geometric_operations_move_pixels_without_changing_them():
    torch.manual_seed(0)
    x = images()
    for before, after in zip(x, augment(x, 1.0, ("flip",))):
        assert torch.equal(after, before) or torch.equal(after, before.flip(2))
    turned = augment(x, 1.0, ("rotate90",))
    for before, after in zip(x, turned):
        assert any(torch.equal(after, before.rot90(k, (1, 2))) for k in (0, 1, 2, 3))
    shifted = augment(x, 1.0, ("translation",))
    # an interior pixel of a shifted image is some pixel of the original, within 2 px (16 / 8)
    for before, after in zip(x, shifted):
        centre = after[:, 8, 8]
        window = before[:, 6:11, 6:11].flatten(1).T
        assert (window == centre).all(1).any()


def test_cutout_greys_a_quarter_of_the_image_or_less():
    torch.manual_seed(0)
    x = images(64)
    grey = (augment(x, 1.0, ("cutout",)) == 0).all(1).flatten(1).float().mean(1)  # (B,)
    assert (grey > 0).all() and (grey <= 0.25).all() and grey.max() == 0.25


def test_each_image_is_picked_with_probability_p():
    torch.manual_seed(0)
    x = torch.arange(2).float().view(1, 1, 1, 2).expand(4000, 3, 2, 2)  # columns 0 and 1: flips show
    flipped = (augment(x, 0.3, ("flip",))[:, 0, 0, 0] == 1).float().mean()
    assert flipped == pytest.approx(0.3 / 2, abs=0.02)  # picked with p = 0.3, then mirrored or not


def test_gradients_reach_the_generator_through_augmentation():
    torch.manual_seed(0)
    model = DCGAN(DCGANOptions(g_width=4, d_width=4, z_dim=8, aug="fixed", aug_p=1.0),
                  artgan.Context(resolution=32))
    fake = model.generator(torch.randn(4, 8))
    model.discriminator(model.augment(fake)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.generator.parameters())


def test_no_augmentation_draws_no_random_numbers():
    x = images()
    for policy in (Augment(AugmentOptions()), Augment(AugmentOptions(aug="ada"))):  # ada starts at p = 0
        state = torch.get_rng_state()
        assert policy(x) is x
        assert torch.equal(torch.get_rng_state(), state)


def test_fixed_needs_a_probability():
    with pytest.raises(ValidationError, match="aug_p above 0"):
        AugmentOptions(aug="fixed")


def test_ada_raises_p_while_d_is_sure_of_the_reals_and_lowers_it_when_not():
    policy = Augment(AugmentOptions(aug="ada", ada_speed=1000))
    sure = torch.full((10,), 3.0)  # every real scored real: D is memorising them
    for _ in range(ADA_EVERY * 3):
        policy.observe(sure)
    # three adjustments, each of 4 calls x 10 images / 1000 images
    assert policy.p == pytest.approx(0.12) and policy.metrics() == {"aug_p": policy.p, "ada_rt": 1.0}
    unsure = torch.tensor([1.0, -1.0] * 5)
    for _ in range(ADA_EVERY * 5):
        policy.observe(unsure)
    assert policy.p == 0.0  # lowered, and never below 0


def test_ada_state_round_trips_mid_interval():
    policy = Augment(AugmentOptions(aug="ada", ada_speed=1000))
    for _ in range(ADA_EVERY + 2):
        policy.observe(torch.ones(4))
    other = Augment(AugmentOptions(aug="ada", ada_speed=1000))
    other.load_state_dict(policy.state_dict())
    for p in (policy, other):
        p.observe(torch.ones(4))
        p.observe(torch.ones(4))
    assert other.p == policy.p == pytest.approx(2 * ADA_EVERY * 4 / 1000)


def test_fixed_policy_reports_p_and_never_moves():
    policy = Augment(AugmentOptions(aug="fixed", aug_p=0.4))
    for _ in range(ADA_EVERY * 2):
        policy.observe(torch.ones(4))
    assert policy.metrics() == {"aug_p": 0.4}
    assert Augment(AugmentOptions()).metrics() == {}
