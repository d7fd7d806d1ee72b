"""`artgan sample`'s writer: batches generated while a pool writes the PNG files, in order."""
from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from films import Projection, projection_plugin
from PIL import Image

import artgan
from artgan import checkpoint, plugins, sampling
from artgan.rendering import render_typed
from artgan.kinds import Context


@pytest.fixture
def projection(register_plugin, tmp_path):
    """A checkpoint of a model with vivid output, so frames differ visibly after compression."""
    return projection_plugin(register_plugin, tmp_path, "test-projection-model-sampling")


def test_every_sample_lands_in_its_own_file_in_order_across_batches(projection, tmp_path):
    paths = sampling.write_samples(projection, 23, tmp_path / "out", seed=4, batch_size=5)
    assert Projection.batches == [5, 5, 5, 5, 3]  # generated a batch at a time
    assert list(paths) == [tmp_path / "out" / f"sample-0004-{i:05d}.png" for i in range(23)]
    assert sorted((tmp_path / "out").iterdir()) == list(paths)  # and no temporary files left
    model = checkpoint.build_model(checkpoint.load(projection))
    expected = np.concatenate(list(sampling.generate(model, sampling.latents(model, 23, 4))))
    for path, image in zip(paths, expected):
        assert np.array_equal(np.asarray(Image.open(path)), image)


class Greedy(Projection):
    """Projection whose batches of more than 4 ask the allocator for a petabyte a picture: what a
    batch too large for the GPU does."""

    def sample(self, z, truncation=1.0):
        if len(z) > 4:
            torch.empty(2**50 * len(z), dtype=torch.uint8)
        return super().sample(z, truncation)


def checkpoint_of(model_class, register_plugin, tmp_path) -> Path:
    """A checkpoint of ``model_class``, registered as a model plugin for the test."""
    name = f"test-{model_class.__name__.lower()}"
    module = types.ModuleType(name.replace("-", "_"))
    module.register_models = artgan.hookimpl(lambda register: register(name, model_class))
    register_plugin(module, name)
    return checkpoint.save(tmp_path / f"{name}.pt", {"model": {"use": name}, "resolution": 16, "seed": 0, "state": {}})


def test_a_batch_that_runs_out_of_memory_is_made_in_halves_with_the_same_files(register_plugin, tmp_path):
    from typer.testing import CliRunner

    from artgan.cli import app
    greedy = checkpoint_of(Greedy, register_plugin, tmp_path)
    run = lambda out, *more: CliRunner().invoke(app, ["sample", str(greedy), "--n", "21", "--out", str(out), *more])
    halved = run(tmp_path / "halved")  # all 21 at once run out; 10 and 5 too; 2 fit
    assert halved.exit_code == 0, halved.output
    assert halved.stderr.splitlines() == [f"out of memory generating {tried} images at once: {tried // 2} at a time "
                                          "from now on" for tried in (21, 10, 5)]
    fitting = run(tmp_path / "fitting", "--batch-size", "4")
    assert fitting.exit_code == 0 and "out of memory" not in fitting.stderr
    assert written_pixels(sorted((tmp_path / "halved").iterdir())).tobytes() == \
        written_pixels(sorted((tmp_path / "fitting").iterdir())).tobytes()
    assert len(list((tmp_path / "halved").iterdir())) == 21


class Hungry(Projection):
    """Projection that cannot make even one picture: what a model too large for the GPU does."""

    def sample(self, z, truncation=1.0):
        torch.empty(2**50 * len(z), dtype=torch.uint8)


def test_a_single_image_that_does_not_fit_is_one_line(register_plugin, tmp_path):
    from typer.testing import CliRunner

    from artgan.cli import app
    hungry = checkpoint_of(Hungry, register_plugin, tmp_path)
    failed = CliRunner().invoke(app, ["sample", str(hungry), "--n", "3", "--batch-size", "2", "--out", str(tmp_path)])
    assert failed.exit_code == 2
    assert failed.stderr.splitlines() == ["out of memory generating 2 images at once: 1 at a time from now on",
                                          "error: out of memory; not even one image at a time fits; close other "
                                          "programs using the device, or sample on the CPU (--device cpu)"]


def test_what_a_killed_sampler_left_half_written_is_cleared(projection, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (out / f".sample-0004-00002.png.{dead}.tmp").write_bytes(b"half a png")  # kill -9 mid-write
    paths = sampling.write_samples(projection, 3, out, seed=4)
    assert sorted(out.iterdir()) == list(paths)


def written_pixels(paths) -> np.ndarray:
    return np.stack([np.asarray(Image.open(path)) for path in paths])


def test_each_sample_is_the_image_it_was_when_all_latents_were_drawn_at_once(projection, tmp_path):
    """81 latents of 8 numbers in batches of 5: blocks of 80 rows, then one of 8 numbers, fewer
    than torch makes at a time, which goes with the block before it."""
    paths = sampling.write_samples(projection, 81, tmp_path / "out", seed=7, batch_size=5)
    assert Projection.batches == [5] * 16 + [1]
    model = checkpoint.build_model(checkpoint.load(projection))
    expected = np.concatenate(list(sampling.generate(model, sampling.latents(model, 81, 7), batch_size=5)))
    assert np.array_equal(written_pixels(paths), expected)


@pytest.mark.parametrize("z_dim", [1, 3, 8, 100])
@pytest.mark.parametrize("count", [1, 15, 16, 17, 65, 81, 1000])
@pytest.mark.parametrize("batch_size", [1, 5, 64])
def test_latents_drawn_block_by_block_are_those_of_one_draw(z_dim, count, batch_size):
    model = types.SimpleNamespace(z_dim=z_dim)
    blocks = list(sampling.latent_blocks(z_dim, count, 11, batch_size))
    assert torch.equal(torch.cat(blocks), sampling.latents(model, count, 11))
    assert all(len(block) % batch_size == 0 for block in blocks[:-1])  # whole batches: the same batches


class Stopped(Exception):
    """Stands for Ctrl-C once the first files are written."""


def test_a_huge_n_draws_latents_and_names_a_batch_at_a_time_and_the_first_files_come_at_once(
        projection, tmp_path, monkeypatch):
    drawn, randn, write = [], torch.randn, sampling._write_pngs

    def counted_randn(*args, **kwargs):
        numbers = randn(*args, **kwargs)
        drawn.append(numbers.numel())
        return numbers

    def written_then_stopped(images, paths):
        write(images, paths)
        raise Stopped

    monkeypatch.setattr(torch, "randn", counted_randn)
    monkeypatch.setattr(sampling, "_write_pngs", written_then_stopped)
    tracemalloc.start()
    try:
        with pytest.raises(Stopped):
            sampling.write_samples(projection, 1_000_000, tmp_path / "out", seed=3, device="cpu")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert max(drawn) <= 64 * Projection.z_dim  # a batch of latents at a time, not a million
    assert peak < 20e6  # nor a million paths (about 200 MB)
    files = sorted((tmp_path / "out").iterdir())
    assert files and files[0].name == "sample-0003-000000.png"  # a million: six digits, so they sort
    model = checkpoint.build_model(checkpoint.load(projection))
    expected = next(sampling.generate(model, sampling.latents(model, len(files), 3)))
    assert np.array_equal(written_pixels(files), expected)  # whole and right


def test_negative_seeds_name_their_files_minus(projection, tmp_path):
    paths = sampling.write_samples(projection, 2, tmp_path / "out", seed=-1)
    assert [path.name for path in sorted((tmp_path / "out").iterdir())] == [
        "sample-minus0001-00000.png", "sample-minus0001-00001.png"] == [path.name for path in paths]
    assert sampling.sample_name(42, 7) == "sample-0042-00007.png"
    model = checkpoint.build_model(checkpoint.load(projection))
    assert np.array_equal(written_pixels(paths), next(sampling.generate(model, sampling.latents(model, 2, -1))))


def test_sample_names_sort_in_order_for_any_count():
    for count in (1, 100_000, 100_001, 123_456_789):
        names = [sampling.sample_name(0, index, count) for index in sorted({0, 9, 99_999, count - 2, count - 1})
                 if 0 <= index < count]
        assert names == sorted(names), count
    assert sampling.sample_name(0, 7, 100_000) == "sample-0000-00007.png"  # up to 100,000: as before
    assert sampling.SampleFiles(Path("out"), 0, 100_001)[7] == Path("out") / "sample-0000-000007.png"


@pytest.mark.parametrize("generating, writing, turns", [(0.05, 0.0, [True] * 5),
                                                      (0.0, 0.05, [True, True, True, True, False])])
def test_on_a_cpu_batches_are_generated_and_written_in_turns_unless_writing_is_the_slower(
        projection, tmp_path, monkeypatch, generating, writing, turns):
    """Generating and writing take turns on a CPU, each on every core, until writing takes
    longer than generating two batches in a row after the warm-up: here the second and third,
    so the fifth batch is made while the fourth is written (docs/performance.md)."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    events, generate, write = [], sampling.generate, sampling._write_pngs

    def generated(*args, **kwargs):
        for batch in generate(*args, **kwargs):
            time.sleep(generating)
            events.append(("made", len(batch)))
            yield batch

    def written(images, paths):
        time.sleep(writing)
        events.append(("written", write(images, paths)))
        return len(paths)

    monkeypatch.setattr(sampling, "generate", generated)
    monkeypatch.setattr(sampling, "_write_pngs", written)
    sampling.write_samples(projection, 23, tmp_path / "out", batch_size=5, device="cpu")
    assert [n for kind, n in events if kind == "made"] == [5, 5, 5, 5, 3]
    # a batch was made in turns when every earlier sample had been written by then
    assert [sum(n for kind, n in events[:i] if kind == "written") == 5 * made
            for made, i in enumerate(i for i, (kind, _) in enumerate(events) if kind == "made")] == turns
    assert len(list((tmp_path / "out").iterdir())) == 23


def test_an_output_that_is_a_file_is_named_before_any_sample_is_made(projection, tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(artgan.ArtganError, match="taken: cannot create the folder .*taken is a file, not a folder"):
        sampling.write_samples(projection, 3, tmp_path / "taken")
    assert Projection.batches == []


def _threads_used(cores, making, consuming=0.0, batches=6):
    """Run batches through ``cores.paced``: each takes ``making[threads]`` seconds to make and
    the consumer ``consuming`` seconds (sleeps: the clock is real); torch's thread count while
    each batch was made."""
    def made():
        for _ in range(batches):
            threads = torch.get_num_threads()
            time.sleep(making[threads])
            yield [threads] * 4  # a batch of 4 samples

    used = []
    for batch in cores.paced(made()):
        used.append(batch[0])
        time.sleep(consuming)
    return used


def test_generation_shares_the_cores_with_its_consumer_and_takes_them_all_only_where_that_is_faster(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    before = torch.get_num_threads()
    torch.set_num_threads(8)
    try:
        with sampling.CoreShare("cpu") as cores:  # the consumer is the slower side: half the cores throughout
            assert _threads_used(cores, {4: 0.01}, consuming=0.02) == [4] * 6
        assert torch.get_num_threads() == 8
        with sampling.CoreShare("cpu") as cores:  # generation sets the pace, twice as fast on every core
            assert _threads_used(cores, {4: 0.04, 8: 0.02}) == [4, 4, 4, 8, 8, 8]
        with sampling.CoreShare("cpu") as cores:  # barely faster on every core: half leaves the consumer more
            assert _threads_used(cores, {4: 0.022, 8: 0.02}) == [4, 4, 4, 8, 4, 4]
        with sampling.CoreShare("cuda:0") as cores:  # the consumer does not compete with a GPU
            assert _threads_used(cores, {8: 0.01}, consuming=0.02) == [8] * 6
        monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the person's choice stands
        with sampling.CoreShare("cpu") as cores:
            assert _threads_used(cores, {8: 0.01}, consuming=0.02) == [8] * 6
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("use, small", [("dcgan", {"g_width": 4, "d_width": 4, "z_dim": 8}),
                                        ("stylegan2", {"capacity": 1 / 32, "z_dim": 16, "w_dim": 16})])
def test_a_model_built_to_sample_makes_no_optimiser_so_torch_dynamo_is_never_imported(tmp_path, use, small):
    """Making torch's first optimiser imports torch._dynamo: 2 s before the first frame of every
    film or `artgan sample` (docs/performance.md). In a fresh process, as the CLI is, building
    from a checkpoint and sampling makes none and gives the trained model's samples."""
    info = plugins.get("model", use)
    trained = info.cls(info.cls.Options(**small), Context(resolution=32, seed=3))
    trained.train_step(torch.rand(4, 3, 32, 32) * 2 - 1)
    path = checkpoint.save(tmp_path / "step-0000001.pt", {"model": {"use": use, **small}, "resolution": 32, "seed": 3,
                                                           "state": trained.state_dict()})
    expected = next(sampling.generate(trained, sampling.latents(trained, 4, 9)))
    np.save(tmp_path / "expected.npy", expected)
    script = f"""
import sys
import numpy as np
from artgan import checkpoint, sampling
model = checkpoint.build_model(checkpoint.load({str(path)!r}))
samples = next(sampling.generate(model, sampling.latents(model, 4, 9)))
assert "torch._dynamo" not in sys.modules, "torch._dynamo was imported"
assert "opt_g" not in vars(model) and "opt_d" not in vars(model), "an optimiser was made"
assert np.abs(samples.astype(int) - np.load({str(tmp_path / 'expected.npy')!r})).max() <= 1
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    model = checkpoint.build_model(checkpoint.load(path))  # an optimiser is made when training asks for one
    assert model.opt_g.param_groups[0]["lr"] == trained.opt_g.param_groups[0]["lr"]


def test_an_interpolation_film_of_a_model_that_runs_out_halves_once_for_the_whole_film(register_plugin, tmp_path,
                                                                                        capfd):
    greedy = checkpoint_of(Greedy, register_plugin, tmp_path)
    [film] = render_typed("interpolation", greedy, {"seeds": [1, 2], "seconds": 1, "fps": 8, "grid": 3,
                                                    "batch_size": 9, "size": 48, "out": str(tmp_path / "walk.mp4")})
    assert film.exists()
    said = [line for line in capfd.readouterr().err.splitlines() if "out of memory" in line]
    assert said == ["out of memory generating 9 images at once: 4 at a time from now on"]  # not once per frame
