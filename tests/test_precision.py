"""Reduced precision: chosen from what the CPU computes natively, recorded, overridable, and a
forced bf16 or fp16 run still trains with float32 weights, optimiser state and losses."""
import math

import pytest
import torch

import artgan
from artgan.toolkit import precision
from artgan_plugins.dcgan import DCGAN
from artgan_plugins.stylegan2 import StyleGAN2
from test_training import metrics, train

EPYC_ZEN3 = frozenset("fpu sse2 avx avx2 fma f16c vaes vpclmulqdq sha_ni".split())  # no bf16 arithmetic
SAPPHIRE_RAPIDS = EPYC_ZEN3 | {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}


def test_auto_picks_bf16_only_on_cpus_that_compute_it_natively():
    assert precision.choose("auto", "cpu", EPYC_ZEN3) == "fp32"
    assert precision.choose("auto", "cpu", SAPPHIRE_RAPIDS) == "bf16"
    assert precision.choose("auto", "cpu", EPYC_ZEN3 | {"avx512_bf16"}) == "bf16"  # Zen 4, Cooper Lake
    assert precision.choose("auto", "mps") == "fp32"
    # the recipe overrides the choice either way
    assert precision.choose("fp32", "cpu", SAPPHIRE_RAPIDS) == "fp32"
    assert precision.choose("bf16", "cpu", EPYC_ZEN3) == "bf16"


def test_cpu_flags_and_name_come_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 fma\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 fma\n")
    assert precision.cpu_flags(cpuinfo) == {"fpu", "avx2", "fma"}
    assert precision.cpu_name(cpuinfo) == "AMD EPYC 7B13"
    assert precision.cpu_flags(tmp_path / "missing") == frozenset()  # macOS, Windows: fp32


@pytest.mark.parametrize("flags, chosen", [(SAPPHIRE_RAPIDS, "bf16"), (EPYC_ZEN3, "fp32")])
def test_a_run_records_the_precision_chosen_for_its_cpu(tmp_path, monkeypatch, flags, chosen):
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    run = train(tmp_path, "train.steps=2")
    assert run.precision == chosen
    lock = (run.dir / "recipe.lock.toml").read_text()
    assert f'precision = "{chosen}"' in lock and 'precision = "auto"' in lock  # chosen, and asked
    assert all(math.isfinite(row["loss_d"]) and math.isfinite(row["loss_g"]) for row in metrics(run))
    assert all(p.dtype == torch.float32 for p in run.model.generator.parameters())


def tiny(model, chosen):
    context = artgan.Context(resolution=32, precision=chosen)
    if model is DCGAN:
        return DCGAN(DCGAN.Options(g_width=8, d_width=8, z_dim=16), context)
    return StyleGAN2(StyleGAN2.Options(capacity=1 / 32, z_dim=16, w_dim=16, mapping_layers=2, r1_every=2,
                                       pl_every=2), context)


@pytest.mark.parametrize("chosen", ["bf16", "fp16"])
@pytest.mark.parametrize("model", [DCGAN, StyleGAN2], ids=["dcgan", "stylegan2"])
def test_forced_reduced_precision_still_trains_with_float32_weights_and_losses(model, chosen):
    torch.manual_seed(0)
    gan = tiny(model, chosen)
    before = [p.clone() for p in gan.generator.parameters()]
    reals = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    rows = [gan.train_step(reals) for _ in range(2)]
    assert all(math.isfinite(value) for row in rows for value in row.values())
    assert "r1" in rows[1] or model is DCGAN  # the penalties ran too (in float32)
    assert any(not torch.equal(a, b) for a, b in zip(before, gan.generator.parameters()))
    for optimizer in (gan.opt_g, gan.opt_d):
        for group in optimizer.param_groups:
            for p in group["params"]:
                assert p.dtype == torch.float32
                assert all(v.dtype == torch.float32 for v in optimizer.state[p].values() if v.dim())
    # fp16 scales losses; the scale is part of the state, so that a resumed run scales alike
    assert ("scale" in gan.state_dict()["precision"]) == (chosen == "fp16")
