"""Training loop: snapshots, metrics, checkpoints, resume, rollback on NaN, Ctrl-C, hooks."""
import errno
import json
import os
import signal
import types
from pathlib import Path

import pytest
import torch
from PIL import Image

import artgan
from artgan import checkpoint, plugins, pipeline, training
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe
from artgan_plugins.dcgan import DCGAN

TINY = {
    "name": "tiny", "seed": 3, "resolution": 32,
    "source": [{"use": "shapes", "count": 24}],
    "model": {"use": "dcgan", "g_width": 8, "d_width": 8, "z_dim": 16},
    "train": {"steps": 6, "batch_size": 8, "snapshot_every": 2, "checkpoint_every": 3,
              "metrics_every": 1, "grid": 2, "keep_checkpoints": 0},
}


def tiny_recipe(tmp_path, *overrides, model=None):
    data = json.loads(json.dumps(TINY))
    if model:
        data["model"]["use"] = model
    return parse_recipe(data, tmp_path / "tiny.toml", list(overrides))


def train(tmp_path, *overrides, resume=False, model=None):
    recipe = tiny_recipe(tmp_path, *overrides, model=model)
    build_dataset(recipe, tmp_path)
    return pipeline.train(recipe, tmp_path, resume=resume)


def metrics(run):
    """The lines of metrics.jsonl but the snapshots' diversity (tests/test_diversity.py)."""
    rows = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    return [row for row in rows if row.get("event") != "snapshot"]


@pytest.fixture
def in_process_plugin():
    """Register a plugin made of the given hook functions for one test; always unregister it."""
    names = []

    def register(**hook_functions):
        module = types.ModuleType(f"test_plugin_{len(names)}")
        for hook_name, function in hook_functions.items():
            setattr(module, hook_name, artgan.hookimpl(function))
        names.append(plugins.register(module, name=module.__name__))

    yield register
    for name in names:
        plugins.unregister(name)


def test_run_writes_snapshots_metrics_checkpoints_and_lock(tmp_path):
    run = train(tmp_path)
    snapshots = sorted(p.name for p in run.folder.snapshots_dir.iterdir())
    assert snapshots == [f"step-{s:07d}.png" for s in (0, 2, 4, 6)]
    assert Image.open(run.folder.snapshots_dir / snapshots[0]).size == (64, 64)  # a 2x2 grid of 32 px samples
    assert [p.name for p in run.folder.checkpoints()] == [
        f"step-{s:07d}.pt" for s in (0, 3, 6)]
    rows = metrics(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all({"loss_d", "loss_g", "images_per_s", "seconds"} <= r.keys() for r in rows)
    lock = (run.dir / "recipe.lock.toml").read_text()
    assert 'torch = "' in lock and "seed = 3" in lock and 'device = "cpu"' in lock
    payload = checkpoint.load(run.folder.checkpoints()[-1])
    assert payload["step"] == 6 and payload["images_seen"] == 48 and payload["format"] == checkpoint.FORMAT


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    straight = train(tmp_path / "a", "train.steps=6")
    train(tmp_path / "b", "train.steps=3")
    resumed = train(tmp_path / "b", "train.steps=6", resume=True)
    assert resumed.step == 6 and resumed.images_seen == 48
    assert [r["step"] for r in metrics(resumed)] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(straight.model.generator.state_dict().values(),
                    resumed.model.generator.state_dict().values()):
        assert torch.equal(a, b)


def test_existing_run_needs_resume(tmp_path):
    train(tmp_path, "train.steps=1")
    with pytest.raises(artgan.ArtganError, match="--resume"):
        train(tmp_path, "train.steps=1")


def test_keep_checkpoints_prunes_old_ones(tmp_path, monkeypatch):
    # each snapshot more varied than the last: the one pruning also spares is among the newest
    # (tests/test_diversity.py has the other case)
    rising = iter(x / 100 for x in range(100))  # below 1: more varied than the data counts as 1
    monkeypatch.setattr(artgan.diversity, "diversity", lambda samples, reference_spread: next(rising))
    run = train(tmp_path, "train.checkpoint_every=1", "train.keep_checkpoints=2")
    assert [p.name for p in run.folder.checkpoints()] == [
        "step-0000005.pt", "step-0000006.pt"]


class FlakyDCGAN(DCGAN):
    """Returns a NaN loss on chosen calls of train_step."""

    nan_calls: set = set()
    calls = 0

    def train_step(self, real):
        FlakyDCGAN.calls += 1
        losses = super().train_step(real)
        return {**losses, "loss_d": float("nan")} if FlakyDCGAN.calls in self.nan_calls else losses


@pytest.fixture
def flaky(in_process_plugin):
    in_process_plugin(register_models=lambda register: register("flaky-dcgan", FlakyDCGAN))
    FlakyDCGAN.calls = 0
    return FlakyDCGAN


def test_nan_rolls_back_to_last_checkpoint_and_retries(tmp_path, flaky):
    flaky.nan_calls = {5}  # step 5 fails once; the checkpoint of step 3 is the way back
    run = train(tmp_path, model="flaky-dcgan")
    assert run.step == 6
    events = [r for r in metrics(run) if r.get("event") == "rollback"]
    assert events == [{"step": 3, "event": "rollback", "failed_at": 5, "reason": "loss_d=nan", "attempt": 1}]


def test_nan_that_persists_stops_with_a_clear_message(tmp_path, flaky):
    flaky.nan_calls = set(range(2, 100))
    with pytest.raises(artgan.ArtganError, match=r"diverged at step 1 \(loss_d=nan\) after 3 rollbacks") as caught:
        train(tmp_path, model="flaky-dcgan")
    advice = str(caught.value).split("start a new run from its last good checkpoint: ")[1]
    last_good = tmp_path / "runs" / "tiny" / "checkpoints" / "step-0000000.pt"
    assert advice == f"--set name=tiny-calmer --set train.init_from={last_good} --set model.lr_g=0.0001 " \
                     "--set model.lr_d=0.0001"  # what --resume, which keeps the model's options, cannot do
    flaky.nan_calls = set()
    assert train(tmp_path, *advice.removeprefix("--set ").split(" --set "), model="flaky-dcgan").step == 6


class GreedyDCGAN(DCGAN):
    """dcgan whose steps from the third on ask the allocator for a petabyte a picture when the batch
    holds more than 4: what a batch too large for the device does."""

    def train_step(self, real):
        self.steps = getattr(self, "steps", 0) + 1
        if self.steps > 2 and real.shape[0] > 4:
            torch.empty(2**50 * real.shape[0], dtype=torch.uint8)
        return super().train_step(real)


def test_out_of_memory_is_one_line_with_a_smaller_batch_that_goes_on(tmp_path, in_process_plugin):
    in_process_plugin(register_models=lambda register: register("greedy-dcgan", GreedyDCGAN))
    with pytest.raises(artgan.ArtganError) as caught:
        train(tmp_path, "train.checkpoint_every=2", model="greedy-dcgan")
    newest = tmp_path / "runs" / "tiny" / "checkpoints" / "step-0000002.pt"
    assert str(caught.value) == (
        f"{tmp_path / 'tiny.toml'}: out of memory on cpu at step 2 (train.batch_size = 8, resolution 32); start a "
        "new run with a smaller batch from its newest checkpoint: --set name=tiny-smaller --set train.batch_size=4 "
        f"--set train.init_from={newest} (or make the model narrower)")
    assert json.loads((tmp_path / "runs" / "tiny" / "status.json").read_text())["state"] == "failed"
    advice = str(caught.value).split("checkpoint: ")[1].removesuffix(" (or make the model narrower)")
    assert train(tmp_path, *advice.removeprefix("--set ").split(" --set "), model="greedy-dcgan").step == 6


def test_hooks_see_the_run(tmp_path, in_process_plugin):
    seen = []
    in_process_plugin(
        on_run_start=lambda run: seen.append(("start", run.step)),
        on_snapshot=lambda step, images: seen.append(("snapshot", step, images.shape)),
        on_checkpoint=lambda step, path: seen.append(("checkpoint", step, path.exists())),
        on_run_end=lambda run: seen.append(("end", run.step)),
    )
    train(tmp_path, "train.steps=2", "train.checkpoint_every=2")
    assert seen == [("start", 0), ("snapshot", 0, (4, 32, 32, 3)), ("checkpoint", 0, True),
                    ("snapshot", 2, (4, 32, 32, 3)), ("checkpoint", 2, True), ("end", 2)]


def test_ctrl_c_stops_after_the_step_and_saves_a_checkpoint(tmp_path, in_process_plugin):
    def press_ctrl_c(step):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    in_process_plugin(on_snapshot=press_ctrl_c)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs in the background
    run = train(tmp_path, "train.steps=100", "train.checkpoint_every=50")
    assert run.interrupted and run.step == 2
    assert checkpoint.load(run.folder.checkpoints()[-1])["step"] == 2
    assert signal.getsignal(signal.SIGINT) is before


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_weights_only_load_refuses_pickled_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": Evil()}, path)
    with pytest.raises(artgan.ArtganError, match="refused"):
        checkpoint.load(path)
    assert not (tmp_path / "pwned").exists()


def test_truncated_or_foreign_checkpoints_are_clear_errors(tmp_path):
    run = train(tmp_path, "train.steps=1")
    good = run.folder.checkpoints()[-1]
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(artgan.ArtganError, match="cut.pt: not a readable checkpoint"):
        checkpoint.load(cut)
    newer = tmp_path / "newer.pt"
    torch.save({"format": checkpoint.FORMAT + 1}, newer)
    with pytest.raises(artgan.ArtganError, match="newer artgan"):
        checkpoint.load(newer)


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    checkpoint.save(path, {"step": 1})

    def disk_full(self, data):
        with open(self, "wb") as partial:
            partial.write(bytes(data)[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with pytest.raises(artgan.ArtganError, match="cannot write there: disk full"):
        checkpoint.save(path, {"step": 2})
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_sample_command_writes_n_pngs_deterministically(tmp_path):
    from typer.testing import CliRunner

    from artgan.cli import app

    run = train(tmp_path, "train.steps=1")
    cli = CliRunner()
    for out in ("a", "b"):
        result = cli.invoke(app, ["sample", str(run.dir), "--n", "5", "--out", str(tmp_path / out),
                                  "--seed", "7"])
        assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "a").iterdir())
    assert len(files) == 5 and Image.open(files[0]).size == (32, 32)
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in sorted((tmp_path / "b").iterdir())]
    missing = cli.invoke(app, ["sample", str(tmp_path / "nothing.pt"), "--n", "1", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "nothing.pt" in missing.stderr


def test_grid_renderer_writes_a_grid_of_samples(tmp_path):
    run = train(tmp_path, "train.steps=1")
    recipe = tiny_recipe(tmp_path, "render=[{use='grid', count=6, columns=3, padding=1}]")
    [path] = pipeline.render(recipe, run.dir)
    assert path == run.dir / "grid.png" and Image.open(path).size == (3 * 32 + 2, 2 * 32 + 1)


class RateRecordingDCGAN(DCGAN):
    """Records G's and D's learning rates at each train_step."""

    rates: list = []

    def train_step(self, real):
        RateRecordingDCGAN.rates.append((self.opt_g.param_groups[0]["lr"], self.opt_d.param_groups[0]["lr"]))
        return super().train_step(real)


def test_lr_ramp_down_falls_linearly_to_zero_over_the_end_of_the_run(tmp_path, in_process_plugin):
    in_process_plugin(register_models=lambda register: register("rate-dcgan", RateRecordingDCGAN))
    RateRecordingDCGAN.rates = []
    run = train(tmp_path, "train.lr_ramp_down=0.5", "model.lr_g=0.003", "model.lr_d=0.001",
                "model.r1_gamma=1", "model.r1_every=4", model="rate-dcgan")
    assert run.step == 6
    lazy = 4 / 5  # R1 every 4 steps shrinks D's Adam rate by 4/5 (see artgan.toolkit.regularisation)
    for step, (lr_g, lr_d) in enumerate(RateRecordingDCGAN.rates):
        scale = min(1, (6 - step) / 3)  # full for steps 0-3, then 2/3 and 1/3 of it
        assert lr_g == pytest.approx(0.003 * scale) and lr_d == pytest.approx(0.001 * lazy * scale)


def test_lr_ramp_down_survives_a_checkpoint_mid_ramp(tmp_path):
    options = tiny_recipe(tmp_path, "train.lr_ramp_down=0.5").train
    first = DCGAN()
    training.ramp_learning_rates(first, 5, options)  # a third of the full rates
    second = DCGAN()
    second.load_state_dict(first.state_dict())
    training.ramp_learning_rates(second, 5, options)  # from the full rates again, not a third of a third
    assert second.opt_g.param_groups[0]["lr"] == pytest.approx(DCGAN().options.lr_g / 3)
    training.ramp_learning_rates(second, 0, options)
    assert second.opt_g.param_groups[0]["lr"] == pytest.approx(DCGAN().options.lr_g)


def test_lr_ramp_down_with_no_steps_to_ramp_over(tmp_path):
    assert train(tmp_path, "train.lr_ramp_down=0.5", "train.steps=0").step == 0


class NoOptimizersDCGAN(DCGAN):
    optimizers = artgan.Model.optimizers  # as a third-party model that predates lr_ramp_down


def test_lr_ramp_down_on_a_model_without_optimizers_is_a_clear_error(tmp_path, in_process_plugin):
    in_process_plugin(register_models=lambda register: register("old-dcgan", NoOptimizersDCGAN))
    with pytest.raises(artgan.ArtganError, match=r"tiny.toml: model \(old-dcgan\): .*does not implement "
                                                 r"optimizers.*lr_ramp_down at 0"):
        train(tmp_path, "train.lr_ramp_down=0.5", model="old-dcgan")
    assert not (tmp_path / "runs" / "tiny" / "checkpoints").exists()  # it failed before writing anything
    assert train(tmp_path, model="old-dcgan").step == 6  # and without the ramp it trains as before


def test_a_run_whose_timing_ends_with_it_foretells_nothing(tmp_path, capsys):
    train(tmp_path, "train.steps=10", "train.threads=1")  # its speed is known at its 10th and last step
    out = capsys.readouterr().out
    assert "steps left" not in out and "training on cpu" in out  # not "about 0 s for the 0 steps left"


def test_a_resume_past_a_lowered_train_steps_says_so_and_trains_nothing(tmp_path, capsys):
    train(tmp_path, "train.steps=6")
    checkpoints = (tmp_path / "runs" / "tiny" / "checkpoints").iterdir()
    kept = {p.name: p.stat().st_mtime_ns for p in checkpoints}
    capsys.readouterr()
    again = train(tmp_path, "train.steps=3", resume=True)
    out = capsys.readouterr().out
    newest = tmp_path / "runs" / "tiny" / "checkpoints" / "step-0000006.pt"
    assert out == f"already trained 6 steps, past train.steps = 3 ({newest}): rendering only\n"  # no "train: 6/3"
    assert again.step == 6 and again.started_at == 6
    assert {p.name: p.stat().st_mtime_ns for p in again.folder.checkpoints()} == kept
    assert (again.folder.status().step, again.folder.status().total_steps) == (6, 6)
