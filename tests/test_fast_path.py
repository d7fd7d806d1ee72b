"""The trainer's fast path: batches from the packed array in memory or memory-mapped, a part per
process, channels-last networks that compute what contiguous ones do."""
import numpy as np
import pytest
import torch

from artgan import batches, checkpoint
from artgan.batches import BatchSampler
from test_training import metrics, train


def images(count=10, side=8):
    return np.random.default_rng(0).integers(0, 256, (count, side, side, 3), dtype=np.uint8)


def test_processes_take_their_own_parts_of_the_same_batches():
    whole = BatchSampler(images(), 4, seed=1, device="cpu")
    parts = [BatchSampler(images(), 4, seed=1, device="cpu", part=(rank, 2)) for rank in (0, 1)]
    for _ in range(6):  # across the end of the first epoch: 10 images in batches of 4
        assert torch.equal(torch.cat([part.next() for part in parts]), whole.next())
    with pytest.raises(ValueError, match="a batch of 5 does not split into 2 parts"):  # the user hears it first
        BatchSampler(images(), 5, seed=1, device="cpu", part=(0, 2))


def test_a_dataset_too_large_for_memory_is_read_from_the_memory_mapped_file(tmp_path):
    packed = np.memmap(tmp_path / "images.u8", np.uint8, "w+", shape=(10, 8, 8, 3))
    packed[:] = images()
    packed.flush()
    mapped = np.memmap(tmp_path / "images.u8", np.uint8, "r", shape=(10, 8, 8, 3))
    assert batches.resident_limit("cpu") > mapped.nbytes  # so by default it goes into memory
    resident = BatchSampler(mapped, 4, seed=1, device="cpu")
    streamed = BatchSampler(mapped, 4, seed=1, device="cpu", channels_last=True, in_memory=False)
    assert isinstance(resident.images, torch.Tensor) and isinstance(streamed.images, np.memmap)
    for _ in range(3):
        batch = streamed.next()
        assert batch.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(batch, resident.next())
        assert batch.min() >= -1 and batch.max() <= 1
    # resumable like the resident one
    again = BatchSampler(mapped, 4, seed=99, device="cpu", in_memory=False)
    again.load_state_dict(streamed.state_dict())
    assert torch.equal(again.next(), streamed.next())


def test_channels_last_networks_train_as_contiguous_ones_do(tmp_path):
    runs = {layout: train(tmp_path / str(layout), "train.steps=3", f"train.channels_last={layout}")
            for layout in ("true", "false")}
    assert next(runs["true"].model.generator.parameters()).is_contiguous(memory_format=torch.channels_last)
    assert next(runs["false"].model.generator.parameters()).is_contiguous()
    # the same numbers up to float rounding: losses step by step, and the samples after three steps.
    # Rounding grows: the two layouts run different convolution kernels (on AVX-512 CPUs they differ
    # most), and Adam's first steps turn a rounding-sized gradient into a full-sized update.
    for a, b in zip(metrics(runs["true"]), metrics(runs["false"])):
        assert a["loss_d"] == pytest.approx(b["loss_d"], rel=2e-3)
        assert a["loss_g"] == pytest.approx(b["loss_g"], rel=2e-3)
    z = runs["true"].fixed_z
    assert torch.allclose(runs["true"].model.sample(z), runs["false"].model.sample(z), atol=5e-3)
    assert 'channels_last = false' in (runs["false"].dir / "recipe.lock.toml").read_text()


def test_checkpoints_of_format_1_still_resume(tmp_path):
    run = train(tmp_path, "train.steps=2", "train.checkpoint_every=2")
    path = run.folder.checkpoints()[-1]
    payload = checkpoint.load(path)
    trainer = {**payload["trainer"], "torch_rng": payload["trainer"]["rng"][0]["cpu"]}
    del trainer["rng"]
    torch.save({**payload, "trainer": trainer, "format": 1}, path)  # as artgan 0.1 wrote them
    assert checkpoint.load(path)["trainer"]["rng"][0]["cpu"].equal(trainer["torch_rng"])
    resumed = train(tmp_path, "train.steps=3", resume=True)
    assert resumed.step == 3
