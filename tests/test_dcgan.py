"""The dcgan model plugin: shapes at every resolution, options, D:G ratio, averaged G."""
import copy
import math

import pytest
import torch
from pydantic import ValidationError

import artgan
from artgan_plugins.dcgan import DCGAN, DCGANOptions


def tiny(resolution=32, **options):
    return DCGAN(DCGANOptions(g_width=4, d_width=4, z_dim=8, **options), artgan.Context(resolution=resolution))


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
@pytest.mark.parametrize("resolution", [32, 64, 128, 256, 512])
def test_generator_and_discriminator_shapes(resolution, upsample):
    model = tiny(resolution, upsample=upsample)
    z = torch.randn(2, 8)
    images = model.generator(z)
    assert images.shape == (2, 3, resolution, resolution)
    assert images.abs().max() <= 1.0
    assert model.discriminator(images).shape == (2,)


@pytest.mark.parametrize("resolution", [16, 48, 1024])
def test_resolution_outside_range_or_not_power_of_two_is_refused(resolution):
    with pytest.raises(artgan.ArtganError, match=f"resolution {resolution} must be a power of two"):
        tiny(resolution)


@pytest.mark.parametrize("group", [0, 4])
def test_minibatch_stddev_lets_d_judge_an_image_by_its_batch_only_when_on(group):
    torch.manual_seed(0)
    d = tiny(mbstd_group=group).discriminator.eval()
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    alike = d(image.expand(4, -1, -1, -1))[0]  # four copies: no variety at all
    varied = d(torch.cat([image, torch.rand(3, 3, 32, 32) * 2 - 1]))[0]
    assert torch.isclose(alike, varied).item() == (group == 0)


def test_without_batchnorm_d_judges_each_image_alone():
    torch.manual_seed(0)
    d = tiny(mbstd_group=0, d_batchnorm=False).discriminator.train()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    assert torch.allclose(d(images)[:2], d(images[:2]), atol=1e-6)  # the rest of the batch does not matter


@pytest.mark.parametrize("option, pick", [("d_brightness", torch.argmax), ("d_saturation", torch.argmin)])
def test_d_sees_a_pixel_extreme_channel_that_g_learns_through(option, pick):
    """d_brightness adds each pixel's brightest channel as an input, d_saturation its darkest."""
    torch.manual_seed(0)
    d = tiny(**{option: True}, mbstd_group=0).discriminator.eval()
    assert d.net[0].in_channels == 4
    with torch.no_grad():
        d.net[0].weight[:, :3] = 0  # D now sees nothing but the added channel
    image = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    recoloured = image.detach().roll(1, dims=1)  # other colours, the same extremes everywhere
    assert torch.allclose(d(image), d(recoloured))
    assert not torch.allclose(d(image), d(image.detach() * 0.5))
    d(image).sum().backward()
    extreme = torch.nn.functional.one_hot(pick(image.detach(), 1), 3).permute(0, 3, 1, 2).bool()
    assert image.grad[extreme].abs().sum() > 0 and not image.grad[~extreme].any()


def test_d_brightness_and_saturation_together_add_two_inputs():
    torch.manual_seed(0)
    d = tiny(d_brightness=True, d_saturation=True, mbstd_group=0).discriminator.eval()
    assert d.net[0].in_channels == 5
    with torch.no_grad():
        d.net[0].weight[:, :4] = 0  # only the darkest channel, which comes last
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    brighter = image.clone()
    brighter.scatter_(1, image.argmax(1, keepdim=True), 1.0)  # brightest channel raised, darkest kept
    assert torch.allclose(d(image), d(brighter))
    assert not torch.allclose(d(image), d(image * 0.5))


@pytest.mark.parametrize("upsample, flat", [("transpose", False), ("resize", True)])
def test_only_resize_upsampling_keeps_flat_features_flat(upsample, flat):
    """G from its 4x4 layer on, given the same features at every position: strided transposed
    convolutions weigh alternate pixels differently (a checkerboard), resize-then-convolve cannot."""
    torch.manual_seed(0)
    g = tiny(upsample=upsample).generator.eval()
    assert sum(isinstance(m, torch.nn.ConvTranspose2d) for m in g.modules()) == (4 if upsample == "transpose" else 1)
    features = torch.randn(1, g.net[0].out_channels, 1, 1).expand(-1, -1, 4, 4)
    with torch.no_grad():
        picture = g.net[3:](features)  # (1, 3, 32, 32)
    middle = picture[..., 8:24, 8:24]  # away from the zero padding at the borders
    assert picture.shape == (1, 3, 32, 32)
    assert torch.allclose(middle, middle[..., :1, :1].expand_as(middle), atol=1e-6) == flat


def test_ranges_must_be_ordered():
    with pytest.raises(ValidationError, match="must not exceed"):
        DCGANOptions(real_label=(1.0, 0.9))


def test_train_step_with_every_trick_updates_both_networks():
    torch.manual_seed(0)
    model = tiny(instance_noise=(0.0, 0.1), real_label=(0.9, 1.0), d_steps=2, g_steps=3)
    g_before = [p.clone() for p in model.generator.parameters()]
    d_before = [p.clone() for p in model.discriminator.parameters()]
    losses = model.train_step(torch.rand(4, 3, 32, 32) * 2 - 1)
    assert set(losses) == {"loss_d", "loss_g"} and all(v > 0 for v in losses.values())
    assert all(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))
    # Adam counts its own steps: the D:G ratio is what the options asked for
    assert model.opt_d.state[next(model.discriminator.parameters())]["step"] == 2
    assert model.opt_g.state[next(model.generator.parameters())]["step"] == 3
    # D's weights get no gradient from G's step (they were switched off, then back on)
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_samples_come_from_the_averaged_generator():
    torch.manual_seed(0)
    model = tiny(ema=0.99)
    for _ in range(3):
        model.train_step(torch.rand(4, 3, 32, 32) * 2 - 1)
    z = torch.randn(2, 8)
    model.generator_ema.eval()
    assert torch.equal(model.sample(z), model.generator_ema(z))
    live = model.generator.eval()(z)
    assert not torch.allclose(model.sample(z), live)


def test_averaged_generator_samples_with_batchnorm_statistics_of_its_own_weights():
    torch.manual_seed(0)
    model = tiny(ema=0.9)
    for _ in range(5):
        model.train_step(torch.rand(4, 3, 32, 32) * 2 - 1)
    model.sample(torch.randn(2, 8))
    # G's first batch norm follows a convolution of z alone, so its true statistics are easy to get
    conv, norm = model.generator_ema.net[0], model.generator_ema.net[1]
    features = conv(torch.randn(20000, 8)[:, :, None, None])
    own_var = features.var((0, 2, 3))
    assert torch.allclose(norm.running_var, own_var, rtol=0.1)  # 512 latents: within sampling error
    # what it was handed at each step: the live G's, gathered over its last few batches
    assert not torch.allclose(model.generator.net[1].running_var, own_var, rtol=0.5)
    assert norm.momentum == model.generator.net[1].momentum  # the training setting is left as it was


def test_hinge_loss_trains_both_networks():
    torch.manual_seed(0)
    model = tiny(loss="hinge", real_label=(0.9, 1.0))
    g_before = [p.clone() for p in model.generator.parameters()]
    losses = model.train_step(torch.rand(4, 3, 32, 32) * 2 - 1)
    assert losses["loss_d"] > 0 and math.isfinite(float(losses["loss_g"]))
    assert all(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))


def _gradient_at(d, images):
    images = images.clone().requires_grad_()
    d(images).sum().backward()
    return images.grad.norm()


def test_r1_runs_every_r1_every_steps_and_smooths_d_at_the_reals():
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    gradients = {}
    for gamma in (0.0, 10.0):
        torch.manual_seed(0)
        model = tiny(r1_gamma=gamma, r1_every=2, mbstd_group=0, d_batchnorm=False, lr_d=2e-3)
        rows = [model.train_step(real) for _ in range(12)]
        gradients[gamma] = _gradient_at(model.discriminator.eval(), real)
    assert ["r1" in row for row in rows[:4]] == [True, False, True, False]  # lazy: every 2nd step
    assert rows[0]["r1"] > 0
    # D's Adam is slowed to match the extra steps (StyleGAN2's lazy regularisation)
    assert model.opt_d.param_groups[0]["lr"] == pytest.approx(model.options.lr_d * 2 / 3)
    assert gradients[10.0] < 0.5 * gradients[0.0]  # D learnt a gentler slope at the reals (here 4x)


def test_without_averaging_samples_come_from_the_live_generator():
    model = tiny(ema=0.0)
    z = torch.randn(2, 8)
    assert torch.equal(model.sample(z), model.generator.eval()(z))


def test_truncation_pulls_samples_toward_the_mean_latent():
    model = tiny()
    z = torch.randn(16, 8)
    mean = model.sample(torch.zeros(1, 8))
    near = (model.sample(z, truncation=0.3) - mean).abs().mean()
    far = (model.sample(z, truncation=1.0) - mean).abs().mean()
    assert near < far


def test_state_dict_round_trips_into_a_fresh_model():
    torch.manual_seed(0)
    model = tiny()
    model.train_step(torch.rand(4, 3, 32, 32) * 2 - 1)
    other = tiny()
    other.load_state_dict(model.state_dict())
    z = torch.randn(3, 8)
    assert torch.equal(model.sample(z), other.sample(z))
    assert other.updates == 1 and other.rng.random() == model.rng.random()


def test_a_checkpoint_saved_after_sampling_keeps_the_averaged_statistics_and_skips_the_recompute():
    torch.manual_seed(0)
    model = tiny(ema=0.9)
    model.train_step(torch.rand(4, 3, 32, 32) * 2 - 1)
    stale = model.state_dict()  # saved before any sample: the statistics are still the live G's
    z = torch.randn(3, 8)
    expected = model.sample(z)
    fresh = model.state_dict()
    loaded = tiny(ema=0.9)
    loaded.load_state_dict(fresh)
    assert not loaded.ema_statistics_stale
    assert torch.equal(loaded.sample(z), expected)
    older = {key: value for key, value in stale.items() if key != "ema_statistics_fresh"}
    for state in (stale, older):  # both recompute on their first sample, to the same pictures
        other = tiny(ema=0.9)
        other.load_state_dict(state)
        assert other.ema_statistics_stale
        assert torch.allclose(other.sample(z), expected, atol=1e-6)
    loaded.train_step(torch.rand(4, 3, 32, 32) * 2 - 1)
    assert loaded.ema_statistics_stale and not loaded.state_dict()["ema_statistics_fresh"]


def test_on_a_cpu_the_average_samples_in_channels_last_to_the_pictures_of_the_standard_layout():
    model = tiny()
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))
    samples = model.sample(z)  # (recomputes the average's batch-norm statistics first)
    weights = [p for p in model.generator_ema.parameters() if p.dim() == 4]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    standard = copy.deepcopy(model.generator_ema).to(memory_format=torch.contiguous_format)
    assert not standard(z).is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(samples, standard(z), atol=1e-5)
