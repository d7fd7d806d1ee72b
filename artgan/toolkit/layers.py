"""Network layers the built-in models share; any model plugin may use them."""
from __future__ import annotations

import torch


def minibatch_stddev(x, group: int):  # (B, C, H, W) -> (B, C + 1, H, W)
    """Append the standard deviation of the features across groups of samples, averaged into one
    channel, so that D sees a lack of variety (mode collapse) that no single image shows."""
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(group, b) + 1) if b % d == 0)  # the largest group that divides B
    # In float32: in fp16 the 1e-8 rounds to 0, and with groups of one (no spread at all) the
    # gradient of sqrt(0) is infinite, so that every fp16 step overflowed and was skipped.
    y = x.float().reshape(g, b // g, c, h, w)  # sample i is in column i % (B / G)
    y = ((y - y.mean(0)).square().mean(0) + 1e-8).sqrt().mean((1, 2, 3))  # (B / G,); faster than var()
    return torch.cat([x, y.to(x.dtype).repeat(g)[:, None, None, None].expand(b, 1, h, w)], dim=1)
