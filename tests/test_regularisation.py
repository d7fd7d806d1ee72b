"""Lazy R1 and the Adam that goes with lazy regularisation."""
import pytest
import torch
from torch import nn

from artgan.toolkit.regularisation import lazy_adam, r1_loss


def test_r1_loss_is_the_scaled_squared_gradient_and_trains_d_toward_a_flat_slope():
    d = nn.Linear(12, 1)  # D(x) = w . x + b: its gradient at any image is w
    with torch.no_grad():
        d.weight.fill_(0.5)
    real = torch.rand(4, 3, 2, 2)
    loss, penalty = r1_loss(lambda x: d(x.flatten(1)).squeeze(1), real, gamma=2.0, every=4)
    assert penalty == pytest.approx(12 * 0.25)  # |w|² for every image
    assert loss.item() == pytest.approx(2.0 / 2 * 4 * penalty)
    loss.backward()
    assert torch.allclose(d.weight.grad, torch.full_like(d.weight, 2.0 * 4 * 0.5))  # gamma x every x w
    assert torch.equal(d.bias.grad, torch.zeros(1))  # tied to the loss, as DDP needs, but unmoved


def test_r1_loss_sees_the_reals_as_prepared():
    d = nn.Linear(12, 1)
    loss, _ = r1_loss(lambda x: d(x.flatten(1)).squeeze(1), torch.rand(2, 3, 2, 2), 1.0, 1,
                      prepare=lambda x: 3 * x)  # e.g. augmentation: D's slope at the reals triples
    plain, _ = r1_loss(lambda x: d(x.flatten(1)).squeeze(1), torch.rand(2, 3, 2, 2), 1.0, 1)
    assert loss.item() == pytest.approx(9 * plain.item())


@pytest.mark.parametrize("every, c", [(None, 1.0), (16, 16 / 17)])
def test_lazy_adam_shrinks_lr_and_betas_by_every_over_every_plus_one(every, c):
    adam = lazy_adam(nn.Linear(2, 2), 0.01, (0.5, 0.99), every)
    group = adam.param_groups[0]
    assert group["lr"] == pytest.approx(0.01 * c)
    assert group["betas"] == pytest.approx((0.5 ** c, 0.99 ** c))
