"""A project kept going for weeks: a run resumed over a dataset that grew, after artgan gained
model options, beside runs started from its checkpoints, and with thousands of snapshots."""
import inspect
import shutil
import types

import httpx
import numpy as np
import pytest
import torch

import artgan
from artgan import checkpoint
from artgan.batches import BatchSampler
from artgan.credits import write_credits
from artgan.runfolder import RunFolder
from artgan.studio import start
from test_training import train


def images(count, side=8):
    return np.random.default_rng(0).integers(0, 256, (count, side, side, 3), dtype=np.uint8)


def test_batches_go_on_over_a_dataset_rebuilt_with_more_or_fewer_images():
    saved = BatchSampler(images(10), 4, seed=1, device="cpu")
    saved.next()
    for count in (14, 6):
        sampler = BatchSampler(images(count), 4, seed=1, device="cpu")
        sampler.load_state_dict(saved.state_dict())
        assert sorted(sampler.order.tolist()) == list(range(count))  # an epoch over the images there are
        assert sampler.next().shape == (4, 3, 8, 8)


def test_a_run_resumes_over_its_dataset_rebuilt_with_more_images(tmp_path, capsys):
    train(tmp_path, "train.steps=4")
    resumed = train(tmp_path, "train.steps=8", "source.0.count=40", resume=True)  # pictures added since
    assert resumed.step == 8
    assert "the dataset has changed since step-0000004.pt (24 images, now 40)" in capsys.readouterr().out


def test_epochs_count_each_stretch_over_the_dataset_it_trained_on(tmp_path):
    """The timelapse's "epoch" caption: 4 steps of 8 over 24 images, then 4 over 40 (pictures added)
    and 2 over 40 again; not every step over the newest size."""
    train(tmp_path, "train.steps=4", "train.batch_size=8")
    train(tmp_path, "train.steps=8", "train.batch_size=8", "source.0.count=40", resume=True)
    lock = train(tmp_path, "train.steps=10", "train.batch_size=8", "source.0.count=40", resume=True).folder.lock()
    assert lock.dataset_sizes == [(0, 24), (4, 40)]
    assert lock.epochs(2) == pytest.approx(2 * 8 / 24)
    assert lock.epochs(10) == pytest.approx(4 * 8 / 24 + 6 * 8 / 40)
    back = train(tmp_path, "train.steps=12", "train.batch_size=8", resume=True).folder.lock()  # 24 images again
    assert back.dataset_sizes == [(0, 24), (4, 40), (10, 24)]


def test_a_checkpoint_from_before_a_model_option_was_added_still_resumes(tmp_path):
    path = train(tmp_path, "train.steps=3").folder.checkpoints()[-1]
    payload = checkpoint.load(path)
    for added_later in ("d_saturation", "upsample"):  # as an artgan older than these options wrote it
        del payload["model"][added_later]
    torch.save(payload, path)
    assert train(tmp_path, "train.steps=5", resume=True).step == 5


def test_pruning_keeps_the_checkpoints_other_runs_started_from(tmp_path):
    start_from = train(tmp_path, "train.steps=6").folder.checkpoint_path(3)
    train(tmp_path, "name=second", f"train.init_from={start_from}", "train.steps=2")
    again = train(tmp_path, "train.steps=12", "train.keep_checkpoints=1", resume=True)
    kept = [path.name for path in again.folder.checkpoints()]
    assert start_from.name in kept and kept[-1] == "step-0000012.pt"
    assert len(kept) <= 3  # the newest, the most varied, the one the second run started from


def test_the_studio_serves_a_snapshot_without_listing_the_run_s_snapshots(tmp_path, monkeypatch):
    """A scrubber dragged along a long run asks for one snapshot after another: listing thousands
    of files for each (what it did) cost 26 ms a picture at 5,000 (benchmarks/studio.py)."""
    run = train(tmp_path, "train.steps=2")
    png = run.folder.snapshot_path(2).read_bytes()
    for step in range(3, 60):  # a long run's snapshots (the real layout, the same picture)
        run.folder.snapshot_path(step).write_bytes(png)
    listed = []  # the listings made to serve a snapshot file
    listing = RunFolder._snapshots

    def snapshots(folder):
        if any(frame.function == "snapshot_file" for frame in inspect.stack(0)):
            listed.append(folder.path)
        return listing(folder)

    monkeypatch.setattr(RunFolder, "_snapshots", snapshots)
    served = start(tmp_path)
    try:
        with httpx.Client(base_url=served.url) as client:
            assert client.get(f"/files/runs/{run.name}/snapshots/0.png").status_code == 200
            for step in (2, 30, 59):
                assert client.get(f"/files/runs/{run.name}/snapshots/{step}.png").content == png
            assert client.get(f"/files/runs/{run.name}/snapshots/60.png").status_code == 404
    finally:
        served.stop()
    assert listed == []


def test_credits_of_a_copied_project_read_its_own_dataset_not_the_original(tmp_path):
    original, copy = tmp_path / "original", tmp_path / "copy"
    train(original.absolute(), "train.steps=2")  # an absolute --out: the lock records data/ absolutely
    shutil.copytree(original, copy)
    train(copy, "source.0.count=30", "train.steps=2", "name=other")  # the copy's own work goes on...
    shutil.rmtree(copy / "data" / "tiny")
    shutil.copytree(copy / "data" / "other", copy / "data" / "tiny")  # ...and its dataset is another now
    _, written = write_credits(copy / "runs" / "tiny")
    assert f"30 images in {copy / 'data' / 'tiny'}" in written.read_text()


def test_resume_with_nothing_to_resume_says_it_starts_a_new_run(tmp_path, capsys):
    """--resume of a run folder moved away, or of a mistyped name, is a new run: said, not silent."""
    run = train(tmp_path, "train.steps=2", resume=True)
    assert f"nothing to resume in {run.dir} (no checkpoint there): a new run" in capsys.readouterr().out
    train(tmp_path, "train.steps=3", resume=True)
    assert "nothing to resume" not in capsys.readouterr().out


def test_a_resume_may_change_learning_rates_and_augmentation_but_not_layers(tmp_path, capsys):
    """What GAN practice changes mid-run (a lower learning rate, a stronger fixed augmentation)
    goes on from the checkpoint with the recipe's values; what shapes the layers is refused."""
    train(tmp_path, "train.steps=3", "model.aug=fixed", "model.aug_p=0.2")
    capsys.readouterr()
    run = train(tmp_path, "train.steps=4", "model.aug=fixed", "model.aug_p=0.5", "model.lr_g=1e-4",
                "model.lr_d=5e-5", "train.lr_ramp_down=0.5", resume=True)
    assert ("model options changed since step-0000003.pt: aug_p 0.2 -> 0.5, lr_d 0.0002 -> 5e-05, "
            "lr_g 0.0002 -> 0.0001") in capsys.readouterr().out
    opt_g, opt_d = run.model.optimizers()
    assert [opt_g.param_groups[0]["initial_lr"], opt_d.param_groups[0]["initial_lr"]] == [1e-4, 5e-5]
    assert run.model.augment.p == pytest.approx(0.5)
    saved = checkpoint.load(run.folder.checkpoints()[-1])["state"]["opt_g"]["param_groups"][0]
    assert saved["initial_lr"] == 1e-4  # and so the next resume's
    with pytest.raises(artgan.ArtganError, match=r"this checkpoint's model is not the recipe's \(g_width 8 -> 16\); "
                                                 r"resume with its options \(--set model.g_width=8\)"):
        train(tmp_path, "train.steps=5", "model.g_width=16", resume=True)


def test_a_run_whose_snapshots_would_outgrow_the_disk_says_so_as_it_starts(tmp_path, capsys, monkeypatch):
    """A long run at a high resolution keeps every snapshot for its timelapse: at 1024 px, 8 x 8
    samples are 47 MB a PNG, so 1,000 of them would fill most disks days into the run."""
    train(tmp_path, "train.steps=2", "name=roomy")
    assert "warning" not in capsys.readouterr().out
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr("artgan.runfolder.shutil", types.SimpleNamespace(
        disk_usage=lambda path: usage._replace(free=1_000_000)))  # 1 MB left, as the run folder sees it
    train(tmp_path, "name=cramped", "train.grid=8", "train.steps=20")  # 11 snapshots, 98 kB each as PNG
    assert (f"warning: {tmp_path / 'runs' / 'cramped'}: its 11 more snapshots (8 x 8 samples of 32 px) may take "
            "about 1.1 MB, more than the 1.0 MB free on its disk; raise train.snapshot_every or lower train.grid "
            "(snapshots are kept for the timelapse)") in capsys.readouterr().out
