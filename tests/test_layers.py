"""Layers the built-in models share."""
import torch

from artgan.toolkit.layers import minibatch_stddev


def test_minibatch_stddev_sees_variety_across_the_batch():
    x = torch.randn(6, 2, 4, 4)  # 6 samples: groups of 3, the largest size up to 4 that divides 6
    out = minibatch_stddev(x, 4)
    assert out.shape == (6, 3, 4, 4) and out[:, 2].std() > 0
    alike = minibatch_stddev(x[:1].expand(6, -1, -1, -1), 4)
    assert torch.allclose(alike[:, 2], torch.full((6, 4, 4), 1e-4))  # sqrt(0 + 1e-8)
