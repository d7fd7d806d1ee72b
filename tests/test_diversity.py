"""The collapse measure: varied samples score near the dataset, collapsed ones near 0; training
logs it at each snapshot and warns once when the samples collapse."""
import json
from pathlib import Path

import numpy as np
from PIL import Image

from artgan import training
from artgan.dataset import open_dataset
from artgan.diversity import CollapseWatch, diversity, reference, spread

FIXTURES = Path(__file__).parent / "fixtures"


def crops(count: int, seed: int) -> np.ndarray:
    """``count`` 32 px crops at random places of the three fixture photos: a varied image set."""
    rng = np.random.default_rng(seed)
    photos = [np.asarray(Image.open(FIXTURES / name).convert("RGB")) for name in
              ("astronaut.jpg", "cameraman.jpg", "rocket.jpg")]
    picked = []
    for index in range(count):
        photo = photos[index % 3]
        top, left = rng.integers(0, photo.shape[0] - 96), rng.integers(0, photo.shape[1] - 96)
        picked.append(np.asarray(Image.fromarray(photo[top:top + 96, left:left + 96]).resize((32, 32))))
    return np.stack(picked)


def collapsed(count: int, seed: int) -> np.ndarray:
    """One crop ``count`` times, each with a little pixel noise: what a collapsed GAN draws."""
    rng = np.random.default_rng(seed)
    one = crops(1, seed).astype(int)
    return np.clip(one + rng.integers(-12, 13, (count, *one.shape[1:])), 0, 255).astype(np.uint8)


def test_varied_samples_score_near_the_dataset_and_collapsed_ones_near_zero():
    dataset = crops(120, seed=0)
    ref = reference(dataset)
    varied, one = diversity(crops(16, seed=1), ref), diversity(collapsed(16, seed=2), ref)
    assert 0.7 < varied < 1.3
    assert one < 0.1
    assert spread(dataset[:1]) == 0.0 and diversity(dataset, 0.0) == 0.0


def test_the_watch_warns_once_with_the_best_step_and_how_to_sample_it():
    said = []
    watch = CollapseWatch(reference(crops(60, seed=0)), said.append, lambda step: f"sample step {step}")
    for step, samples in [(100, crops(16, 1)), (200, crops(16, 2)), (300, collapsed(16, 3)),
                          (400, collapsed(16, 4))]:
        watch.check(step, samples)
    assert len(said) == 1  # once, not at every collapsed snapshot
    assert "step 300" in said[0] and f"step {watch.best_step}" in said[0] and watch.best_step in (100, 200)
    assert said[0].endswith(f"sample step {watch.best_step}")
    watch.check(500, crops(16, 5))  # recovered: a later collapse is news again
    watch.check(600, collapsed(16, 6))
    assert len(said) == 2


def test_training_logs_the_diversity_of_each_snapshot_and_a_resume_remembers_them(tmp_path):
    from test_training import train

    train(tmp_path, "train.steps=4")
    run = train(tmp_path, "train.steps=6", resume=True)
    rows = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    shots = [row for row in rows if row.get("event") == "snapshot"]
    assert [row["step"] for row in shots] == [0, 2, 4, 6]  # each once, across the resume
    assert all(0 <= row["diversity"] < 5 for row in shots)
    watch = training._collapse_watch(run, open_dataset(run.recipe, tmp_path))
    best = max(shots[:4], key=lambda row: min(row["diversity"], 1.0))
    assert (watch.best_step, watch.best) == (best["step"], min(best["diversity"], 1.0))


def test_samples_more_varied_than_a_dataset_of_little_variety_that_settle_on_it_are_no_collapse():
    """An untrained generator's noise is more varied than a jittered single photo: falling from
    there to the data's own variety is the run learning it."""
    said = []
    data = collapsed(60, seed=0)  # one picture with a little noise
    watch = CollapseWatch(reference(data), said.append, lambda step: "")
    assert watch.check(0, crops(16, seed=1)) > 3  # the untrained generator
    assert 0.5 < watch.check(100, collapsed(16, seed=0)) < 2  # settled on the data
    assert said == [] and (watch.best, watch.best_step) == (1.0, 0)


def test_a_dataset_of_copies_of_one_picture_has_no_diversity_and_no_collapse_warning(tmp_path, capsys):
    """black-square: copies of one drawn square. Its spread is rounding noise (1e-8), which made
    diversity figures in the millions and a false warning."""
    from test_training import train

    run = train(tmp_path, "source=[{use = 'duplicate', shape = 'square', count = 16}]", "train.steps=4")
    assert reference(open_dataset(run.recipe, tmp_path).images) < 1e-3
    assert not [row for row in run.metrics() if row.get("event") == "snapshot"]
    assert "warning" not in capsys.readouterr().out
    assert training._collapse_watch(run, open_dataset(run.recipe, tmp_path)) is None


def test_a_resume_from_step_0_and_a_fresh_start_after_a_kill_log_each_snapshot_once(tmp_path):
    from test_training import train

    run = train(tmp_path, "train.steps=0")  # stopped with only the step-0 checkpoint
    run = train(tmp_path, "train.steps=2", resume=True)
    assert [row["step"] for row in run.metrics() if row.get("event") == "snapshot"] == [0, 2]
    killed = train(tmp_path, "name=killed", "train.steps=0")
    for path in killed.folder.checkpoints():  # killed before its first checkpoint: --resume starts afresh
        path.unlink()
    run = train(tmp_path, "name=killed", "train.steps=2", resume=True)
    assert [row["step"] for row in run.metrics() if row.get("event") == "snapshot"] == [0, 2]


def test_the_warning_names_the_checkpoint_kept_up_to_the_best_step(tmp_path):
    from test_training import train

    run = train(tmp_path, "train.steps=6")  # checkpoints at steps 0, 3 and 6
    assert training._sample_hint(run, 5) == (f"to sample the model of then: artgan sample "
                                             f"{run.dir / 'checkpoints' / 'step-0000003.pt'} --n 16 --out picks")
    for path in run.folder.checkpoints()[:-1]:
        path.unlink()
    assert training._sample_hint(run, 5).startswith("no checkpoint of step 5 or before was kept")


def test_pruning_spares_the_checkpoint_of_the_most_varied_snapshot(tmp_path, monkeypatch, capsys):
    from test_training import train

    from artgan import diversity as measure

    scripted = iter([0.2, 0.9, 0.3, 0.2])  # the snapshots of steps 0, 2, 4, 6: most varied at step 2
    monkeypatch.setattr(measure, "diversity", lambda samples, reference_spread: next(scripted))
    run = train(tmp_path, "train.steps=6", "train.checkpoint_every=1", "train.keep_checkpoints=1")
    assert [path.name for path in run.folder.checkpoints()] == ["step-0000002.pt", "step-0000006.pt"]
    warning = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:"))
    assert warning.startswith("warning: the samples at step 4 are much less varied than at step 2 (diversity 0.30 "
                              "against 0.90)")
    assert warning.endswith(f"artgan sample {run.dir / 'checkpoints' / 'step-0000002.pt'} --n 16 --out picks")
