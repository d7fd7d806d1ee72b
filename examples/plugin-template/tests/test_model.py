"""The tiny GAN: trains, samples, comes back the same from a checkpoint, trains through artgan, and
registers without torch."""
import io
import math
import subprocess
import sys

import pytest
import torch

import artgan
from artgan import plugins
from artgan.testing import tiny_run
from artgan_example.model import TinyGAN


@pytest.fixture
def tiny(artgan_context):
    def make(resolution=16):
        return TinyGAN(TinyGAN.Options(z_dim=8, hidden=16), artgan_context(resolution=resolution))

    return make


def test_a_training_step_gives_finite_losses_and_samples_of_the_resolution(tiny):
    torch.manual_seed(0)
    model = tiny()
    losses = model.train_step(torch.rand(4, 3, 16, 16) * 2 - 1)
    assert set(losses) == {"loss_d", "loss_g"} and all(map(math.isfinite, losses.values()))
    images = model.sample(torch.randn(3, model.z_dim))
    assert images.shape == (3, 3, 16, 16) and images.abs().max() <= 1


def test_state_survives_a_weights_only_checkpoint(tiny):
    torch.manual_seed(0)
    model = tiny()
    model.train_step(torch.rand(4, 3, 16, 16) * 2 - 1)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    restored = tiny()
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    z = torch.randn(2, model.z_dim)
    assert torch.equal(model.sample(z), restored.sample(z))


def test_trains_through_artgans_loop(tmp_path):
    # a real (tiny) run of artgan with this model: snapshots, checkpoints and metrics as for any model
    run = artgan.open_run(tiny_run(tmp_path, model={"use": "example", "z_dim": 8, "hidden": 16}))
    assert [snapshot.step for snapshot in run.snapshots()] == [0, 2, 4]
    rows = [row for row in run.metrics() if "event" not in row]  # the losses (events: snapshots' diversity)
    assert [row["step"] for row in rows] == [1, 2, 3, 4] and all(math.isfinite(row["loss_g"]) for row in rows)


def test_too_large_a_resolution_is_a_user_error(tiny):
    with pytest.raises(artgan.ArtganError, match="too large"):
        tiny(resolution=128)


def test_installed_as_a_plugin():
    assert plugins.get("model", "example").cls is TinyGAN


def test_registering_does_not_import_torch():
    # artgan imports model.py for every command, even --help: torch must wait until a model is built
    code = "import sys, artgan_example.model; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "False\n"
