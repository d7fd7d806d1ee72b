"""The stylegan2 model plugin: shapes, losses and penalties, the average, truncation, ADA, resume."""
import io
import json

import pytest
import torch

import artgan
from artgan import pipeline
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe
from artgan_plugins.stylegan2 import StyleGAN2, StyleGAN2Options
from artgan_plugins.stylegan2.model import _widths

SMALL = {"capacity": 1 / 32, "z_dim": 16, "w_dim": 16, "mapping_layers": 2}


def tiny(resolution=32, **options):
    torch.manual_seed(0)
    return StyleGAN2(StyleGAN2Options(**{**SMALL, **options}), artgan.Context(resolution=resolution))


def reals(batch=4, resolution=32):
    return torch.rand(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(1)) * 2 - 1


@pytest.mark.parametrize("resolution", [32, 64])
def test_generator_and_discriminator_shapes(resolution):
    model = tiny(resolution)
    z = torch.randn(3, 16)
    ws = model.generator.styles(z)
    # two styles per resolution from 8x8 up, one for 4x4 and one for the last RGB output
    assert ws.shape == (3, 2 * (resolution.bit_length() - 1) - 2, 16)
    images = model.generator.synthesis(ws)
    assert images.shape == (3, 3, resolution, resolution)
    assert model.discriminator(images).shape == (3,)
    assert model.sample(z).shape == (3, 3, resolution, resolution)


def test_channels_shrink_with_resolution_and_scale_with_capacity():
    options = StyleGAN2Options(capacity=0.25)
    assert _widths(256, options) == {4: 128, 8: 128, 16: 128, 32: 128, 64: 64, 128: 32, 256: 16}
    assert _widths(64, StyleGAN2Options())[64] == 256


@pytest.mark.parametrize("group", [1, 4])
def test_minibatch_spread_reaches_d_unless_groups_are_of_one(group):
    d = tiny(mbstd_group=group).discriminator
    image = reals(1)
    alike = d(image.expand(4, -1, -1, -1))[0]  # four copies: no variety at all
    varied = d(torch.cat([image, reals(3)]))[0]
    assert torch.isclose(alike, varied).item() == (group == 1)


def test_a_model_trained_with_minibatch_spread_is_a_starting_point_for_one_without():
    model = tiny(mbstd_group=4)
    model.train_step(reals())
    alone = tiny(mbstd_group=1)
    alone.init_from(model.state_dict())  # same weights: the spread channel is there, constant
    images = reals(1)
    assert torch.equal(alone.discriminator(images), model.discriminator(images))  # one image: no spread either way


@pytest.mark.parametrize("resolution", [16, 48, 2048])
def test_resolution_outside_range_or_not_power_of_two_is_refused(resolution):
    with pytest.raises(artgan.ArtganError, match=f"resolution {resolution} must be a power of two from 32"):
        tiny(resolution)


def test_training_steps_with_r1_path_length_and_augmentation_update_both_networks():
    model = tiny(r1_every=2, pl_every=2, aug="fixed", aug_p=0.5)
    g_before = [p.clone() for p in model.generator.parameters()]
    d_before = [p.clone() for p in model.discriminator.parameters()]
    rows = [model.train_step(reals()) for _ in range(2)]
    assert set(rows[0]) == {"loss_d", "loss_g", "aug_p"}
    assert set(rows[1]) == {"loss_d", "loss_g", "r1", "pl", "aug_p"}  # lazy penalties: every 2nd step
    assert all(v == v and abs(v) < 1e3 for row in rows for v in row.values())
    assert rows[1]["r1"] > 0 and rows[1]["aug_p"] == 0.5
    # noise strengths start at 0 and every weight receives gradients, the mapping's included
    assert all(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_the_average_moves_toward_the_live_generator_by_its_half_life():
    model = tiny(ema_images=8, ema_rampup=None)  # batch 4: half-way in two steps -> beta = 0.5 ** 0.5
    before = [p.clone() for p in model.generator_ema.parameters()]
    model.train_step(reals())
    beta = 0.5 ** (4 / 8)
    for old, avg, live in zip(before, model.generator_ema.parameters(), model.generator.parameters()):
        assert torch.allclose(avg, beta * old + (1 - beta) * live, atol=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(model.generator_ema.parameters(), model.generator.parameters()))


def test_without_averaging_and_warm_up_the_average_is_the_live_generator():
    model = tiny(ema_images=0)
    model.train_step(reals())
    for avg, live in zip(model.generator_ema.state_dict().values(), model.generator.state_dict().values()):
        assert torch.equal(avg, live)


def test_truncation_pulls_samples_toward_the_average_image():
    model = tiny()
    for _ in range(3):  # the mean of w is tracked while G trains
        model.train_step(reals())
    assert model.generator.mapping.w_avg.abs().sum() > 0
    z = torch.randn(16, 16)
    mean = model.generator_ema.synthesis(model.generator_ema.mapping.w_avg.expand(1, model.generator.num_ws, -1),
                                         noise="const")
    near = (model.sample(z, truncation=0.3) - mean).abs().mean()
    far = (model.sample(z, truncation=1.0) - mean).abs().mean()
    assert near < 0.5 * far
    assert torch.allclose(model.sample(z, truncation=0.0), mean.expand(16, -1, -1, -1), atol=1e-5)


def test_samples_are_repeatable_and_training_noise_is_not():
    model = tiny()
    with torch.no_grad():
        model.generator.synthesis.blocks[-1].conv1.noise_strength.fill_(1.0)
        model.generator_ema.synthesis.blocks[-1].conv1.noise_strength.fill_(1.0)
    z = torch.randn(2, 16)
    assert torch.equal(model.sample(z), model.sample(z))  # fixed noise: snapshots do not flicker
    with torch.no_grad():
        assert not torch.equal(model.generator(z), model.generator(z))


def test_style_mixing_takes_later_styles_from_a_second_latent():
    model = tiny()
    z = torch.randn(2, 16)
    same = model.generator.styles(z, mixing=0.0)
    assert torch.equal(same[:, 0], same[:, -1])
    mixed = model.generator.styles(z, mixing=1.0)
    assert torch.equal(mixed[:, 0], same[:, 0]) and not torch.equal(mixed[:, -1], same[:, -1])


def test_state_dict_is_plain_data_and_round_trips():
    model = tiny(aug="ada")
    for _ in range(5):
        model.train_step(reals())
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    other = tiny(aug="ada")
    other.load_state_dict(state)
    z = torch.randn(3, 16)
    assert torch.equal(model.sample(z), other.sample(z))
    assert (other.steps, other.images_seen, other.augment.p) == (5, 20, model.augment.p) and other.augment.p > 0
    assert other.opt_d.state_dict()["state"][0]["step"] == model.opt_d.state_dict()["state"][0]["step"]


def test_init_from_loads_weights_and_keeps_optimisers_and_counters_fresh():
    model = tiny(aug="ada")
    for _ in range(5):
        model.train_step(reals())
    fresh = tiny(aug="ada")
    fresh.init_from(model.state_dict())
    z = torch.randn(3, 16)
    assert torch.equal(fresh.sample(z), model.sample(z))
    assert torch.equal(fresh.generator.mapping.w_avg, model.generator.mapping.w_avg)
    assert fresh.opt_g.state_dict()["state"] == {} and (fresh.steps, fresh.augment.p) == (0, 0.0)


def recipe(tmp_path, **train):
    data = {"name": "tiny-sg2", "seed": 1, "resolution": 32, "source": [{"use": "shapes", "count": 4}],
            "model": {"use": "stylegan2", **SMALL, "pl_weight": 0, "ada_speed": 2000},
            "train": {"steps": 24, "batch_size": 4, "snapshot_every": 100, "checkpoint_every": 12,
                      "metrics_every": 4, "grid": 2, **train}}
    return parse_recipe(data, tmp_path / "tiny.toml")


def train(tmp_path, resume=False, **train_options):
    r = recipe(tmp_path, **train_options)
    build_dataset(r, tmp_path)
    return pipeline.train(r, tmp_path, resume=resume)


def metrics(run):
    """The lines of metrics.jsonl but the snapshots' diversity (tests/test_diversity.py)."""
    rows = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    return [row for row in rows if row.get("event") != "snapshot"]


def test_ada_raises_the_augmentation_probability_when_d_memorises_four_images(tmp_path):
    run = train(tmp_path)
    ps = [row["aug_p"] for row in metrics(run)]
    # each adjustment moves p by 16 images / ada_speed 2000 = 0.008: it went up more often than down
    assert len(ps) == 6 and ps[-1] > ps[0] and run.model.augment.p >= 2 * 0.008
    assert all(row["ada_rt"] > 0.5 for row in metrics(run)[-3:])  # D scores most reals as real…
    assert metrics(run)[-1]["ada_rt"] > 0.6  # …above the target at the end


def test_resume_restores_the_augmentation_probability_and_the_image_counter(tmp_path):
    straight = train(tmp_path / "a")
    train(tmp_path / "b", steps=12)
    resumed = train(tmp_path / "b", resume=True)
    assert resumed.images_seen == straight.images_seen == 96
    assert resumed.model.images_seen == 96 and resumed.model.augment.p == straight.model.augment.p > 0
    assert [r["aug_p"] for r in metrics(resumed)] == [r["aug_p"] for r in metrics(straight)]
    for a, b in zip(straight.model.generator.state_dict().values(), resumed.model.generator.state_dict().values()):
        assert torch.equal(a, b)
