"""The Python API (docs/python-api.md) as a user who makes mistakes calls it: every mistake is one
artgan.ArtganError with a one-line message naming the call, key or file and what to do (never a
TypeError, a KeyError or a pydantic traceback), and nothing is left half-written."""
from __future__ import annotations

import json
import os
import shutil
import threading

import pytest
from hostile_helpers import TINY, artgan_process, held_elsewhere, invoke, one_line, python_process, wait_for

import artgan


def refused(call, *args, match: str, **kwargs) -> str:
    """Call and expect one ArtganError, of one line, matching ``match``; returns its message."""
    with pytest.raises(artgan.ArtganError, match=match) as caught:
        call(*args, **kwargs)
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> artgan.Run:
    """The tiny recipe trained once (4 steps, checkpoints at 2 and 4) in its own folder."""
    root = tmp_path_factory.mktemp("misuse")
    (root / "tiny.toml").write_text(TINY, encoding="utf-8")
    return artgan.run(artgan.load_recipe(root / "tiny.toml"), out=root)


@pytest.fixture
def copy_of(trained, tmp_path):
    """A copy of the trained run folder to damage, under tmp_path/runs/."""
    def copy(name: str = "copy"):
        return shutil.copytree(trained.dir, tmp_path / "runs" / name)
    return copy


def test_load_recipe_wrong_keys_values_and_types(tiny):
    refused(artgan.load_recipe, tiny, set={"train.stepz": 5}, match=r'set train.stepz=5: train.stepz: unknown key; '
                                                                     r'did you mean "steps"\?')
    refused(artgan.load_recipe, tiny, set={"train.steps": "many"}, match=r"set train.steps='many': train.steps: "
                                                                         r"Input should be a valid integer")
    refused(artgan.load_recipe, tiny, set=[("train.steps", 5)], match=r"set=\[.*expected a dict of dotted keys")
    refused(artgan.load_recipe, tiny, set={5: 5}, match=r"set key 5: expected a dict of dotted keys")
    refused(artgan.load_recipe, tiny, overrides=["train.steps"], match=r"--set train.steps: expected KEY=VALUE")
    assert artgan.load_recipe(tiny, overrides="train.steps=3").train.steps == 3  # one text, not its letters
    nested = artgan.load_recipe(tiny, set={"train": {"steps": 5}}).train  # sets train.steps, keeps the rest
    assert (nested.steps, nested.device, nested.batch_size) == (5, "cpu", 4)


def test_load_recipe_path_str_bundled_name_and_what_is_none_of_them(tiny):
    assert artgan.load_recipe(str(tiny)).name == artgan.load_recipe(tiny).name == "tiny"
    assert artgan.load_recipe("ellipses").name == "ellipses"
    refused(artgan.load_recipe, "elipses", match=r'elipses: no such recipe file.*did you mean "ellipses"\?')
    refused(artgan.load_recipe, None, match=r"artgan.load_recipe: expected a recipe file .* got None")
    refused(artgan.load_recipe, 5, match=r"artgan.load_recipe: expected .* got 5 \(int\)")
    refused(artgan.load_recipe, tiny.parent, match=r": a folder, not a recipe; give a recipe .toml file")
    refused(artgan.load_recipe, tiny.parent / "examples" / "ellipses.toml",  # as the docs name it, elsewhere
            match=r'examples/ellipses.toml: no such recipe file; the bundled recipe of that name is "ellipses"')


def test_run_and_dataset_with_a_wrong_recipe_or_out(tiny, tmp_path):
    recipe = artgan.load_recipe(tiny)
    refused(artgan.run, 5, out=tmp_path, match=r"recipe: expected an artgan.Recipe .* got 5 \(int\)")
    refused(artgan.run, {"name": "x"}, out=tmp_path, match=r"recipe: expected .* \(dict\)")
    refused(artgan.run, recipe, out=5, match=r"out: expected a folder \(a str or a Path\), got 5")
    refused(artgan.run, recipe, out=tiny, match=r"tiny.toml: cannot create the folder .*is a file, not a folder")
    refused(artgan.dataset, recipe, out=tiny, match="is a file, not a folder")
    refused(artgan.run, recipe, out=tmp_path, listener=print, match=r"listener: expected an artgan.pipeline.Listener")
    refused(artgan.sweep, recipe, out=tmp_path, match=r"tiny.toml: has no \[sweep\]; artgan.run\(recipe\) runs it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]  # nothing made on the way


def test_a_recipe_runs_again_elsewhere_but_not_over_its_run_nor_resumed_changed(trained, tmp_path):
    recipe = artgan.load_recipe(trained.dir.parents[1] / "tiny.toml")
    refused(artgan.run, recipe, out=trained.dir.parents[1], match="a run with this name exists; pass --resume")
    refused(artgan.run, artgan.load_recipe(recipe.path, set={"model.g_width": 16}), out=trained.dir.parents[1],
            resume=True, match=r"this checkpoint's model is not the recipe's \(g_width 8 -> 16\)")
    again = artgan.run(recipe, out=tmp_path)  # the same Recipe object, reused after its run
    assert (again.step, again.dir) == (4, tmp_path / "runs" / "tiny")


def test_run_in_a_folder_another_process_trains_in(trained, tmp_path):
    root = trained.dir.parents[1]
    before = trained.metrics()
    with held_elsewhere(trained.dir, tmp_path) as other:
        refused(artgan.run, root / "tiny.toml", out=root, resume=True,
                match=rf"runs/tiny: in use by another artgan process \(pid {other.pid},")
        watched = artgan.open_run(trained.dir)  # reading it is fine meanwhile
        assert watched.step == 4 and len(watched.grid().size) == 2
    assert trained.metrics() == before


def test_artgan_run_from_two_processes_at_once_trains_once(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY.replace("steps = 4", "steps = 150"), encoding="utf-8")
    code = """
        import artgan
        try:
            print(artgan.run("tiny.toml").step)
        except artgan.ArtganError as exc:
            print("refused:", exc)
        """
    processes = [python_process(code, tmp_path) for _ in range(2)]
    answers = sorted(process.communicate()[0].strip().splitlines()[-1] for process in processes)
    assert answers[0] == "150", answers
    assert answers[1].startswith("refused: ") and ("in use by another artgan process" in answers[1]
                                                  or "a run with this name exists" in answers[1]), answers
    steps = [row["step"] for row in artgan.open_run(tmp_path / "runs" / "tiny").metrics() if "event" not in row]
    assert steps == sorted(set(steps))  # one training wrote them


def test_a_run_training_in_another_process_reads_while_it_trains(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY.replace("steps = 4", "steps = 150\nmetrics_every = 1")
                                        .replace("every = 2", "every = 5"), encoding="utf-8")
    trainer = artgan_process("run", "tiny.toml", "--out", ".", cwd=tmp_path)
    folder = tmp_path / "runs" / "tiny"
    try:
        wait_for(lambda: (folder / "checkpoints").is_dir() and artgan.RunFolder(folder).checkpoints(), trainer)
        seen = []
        while trainer.poll() is None:  # every call, at any moment of the training: never an error
            run = artgan.open_run(folder)
            seen.append(run.status().state)
            assert run.metrics() is not None and run.grid().size and run.samples(1)[0].size == (32, 32)
            assert "<img" in run._repr_html_()
        assert trainer.returncode == 0 and "training" in seen
    finally:
        trainer.kill()
        trainer.communicate()


def test_open_run_on_what_is_not_a_run(trained, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    refused(artgan.open_run, tmp_path / "missing", match="missing: no such run folder; give a folder like runs/NAME")
    refused(artgan.open_run, tmp_path / "file.txt", match="no such run folder")
    refused(artgan.open_run, tmp_path / "empty", match=r"empty: not a run folder \(no recipe.lock.toml")
    refused(artgan.open_run, trained.dir.parents[1] / "data" / "tiny", match="data/tiny: not a run folder")
    refused(artgan.open_run, None, match=r"artgan.open_run: expected a run folder like runs/NAME, got None")


def test_open_run_of_an_older_artgan_reads_and_samples(copy_of):
    old = copy_of("old")
    (old / "status.json").unlink()
    (old / "recipe.lock.toml").unlink()
    run = artgan.open_run(old)
    assert run.status().state == "unknown" and [s.step for s in run.snapshots()] == [0, 2, 4]
    assert len(run.samples(2)) == 2 and run.metrics()


def test_metrics_being_written_are_read_without_their_unfinished_line(copy_of):
    folder = copy_of()
    rows = artgan.open_run(folder).metrics()
    with open(folder / "metrics.jsonl", "a", encoding="utf-8") as file:
        file.write('{"step": 5, "loss_d": 0.')  # the trainer is half-way through a line
    assert artgan.open_run(folder).metrics() == rows
    (folder / "metrics.jsonl").write_text("garbage\n" + json.dumps(rows[0]) + "\n")
    refused(artgan.open_run(folder).metrics, match=r"metrics.jsonl: line 1 is not JSON; delete the line")


def test_samples_with_wrong_counts_seeds_and_truncations(trained):
    for n, says in [(0, "greater than or equal to 1"), (-1, "greater than or equal to 1"),
                    ("4", "a valid integer"), (2.5, "a valid integer")]:
        refused(trained.samples, n, match=rf"Run.samples: n: Input should be {says} \(got {n!r}\)")
    refused(trained.samples, 10**9, match=r"Run.samples: 1000000000 images of 32x32 px need [\d.]+ GB of memory; "
                                          r"ask for fewer, or write them to files: artgan sample .*runs/tiny --n")
    refused(trained.samples, 2, truncation=-3, match=r"Run.samples: truncation: .*greater than or equal to 0")
    refused(trained.samples, 2, truncation="x", match=r"Run.samples: truncation: Input should be a valid number")
    refused(trained.samples, 2, seed=2**70, match=r"Run.samples: seed: Input should be less than")
    assert len(trained.samples(1, seed=-1)) == 1


def test_cli_sample_with_a_seed_torch_cannot_take_exits_2(trained, tmp_path):
    result = invoke("sample", trained.dir, "--n", 1, "--seed", 2**70, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr).startswith("error: --seed: Input should be less than")
    assert not (tmp_path / "out").exists()


def test_render_with_a_wrong_name_option_or_type(trained):
    before = sorted(trained.dir.iterdir())
    refused(trained.render, "nope", match=r'unknown renderer plugin "nope"; did you mean')
    refused(trained.render, 5, match=r'Run.render: name is a renderer\'s name, e.g. "timelapse" \(got 5\)')
    refused(trained.render, "interpolation", secondz=3, match=r"secondz: Extra inputs are not permitted")
    refused(trained.render, "interpolation", seconds="long", match=r"seconds: Input should be a valid number")
    refused(trained.render, "interpolation", seeds="3,4", match=r"seeds: Input should be a valid list")
    refused(trained.render, "interpolation", seeds=[2**70, 1], match=r"seeds: Input should be less than 1844")
    refused(trained.render, "grid", seed=-2**64, match=r"seed: Input should be greater than or equal to -9223")
    refused(trained.render, "timelapse", fps=-1, match=r"fps: Input should be greater than or equal to 1 \(got -1\)")
    refused(trained.render, "timelapse", out=str(trained.dir), match=r"give a name ending in .mp4")
    assert sorted(trained.dir.iterdir()) == before  # no film, not even half of one


def test_checkpoint_and_grid_where_there_is_none(trained, copy_of):
    refused(trained.grid, 3, match=r"runs/tiny: no snapshot at step 3; it has 0, 2, 4")
    refused(trained.grid, "2", match=r"Run.grid: step is a training step, a whole number \(got '2'\)")
    bare = copy_of("bare")
    shutil.rmtree(bare / "checkpoints")
    shutil.rmtree(bare / "snapshots")
    run = artgan.open_run(bare)
    refused(run.checkpoint, match=r"runs/bare: no checkpoints yet; train the run first")
    refused(run.samples, 2, match=r"runs/bare: no checkpoints yet")
    refused(run.grid, match=r"runs/bare: no snapshots in .*; give a run folder that has trained")
    refused(run.grid, 2, match="no snapshots in")


def test_a_run_held_by_another_thread_of_this_process_says_so(tmp_path, register_plugin):
    """A notebook trains in a thread (a widget's callback) and a cell runs the recipe again: the
    holder is the notebook's own kernel, not "another process" to stop."""
    (tmp_path / "tiny.toml").write_text(TINY, encoding="utf-8")
    started, release = threading.Event(), threading.Event()

    class Hold:
        @artgan.hookimpl
        def on_snapshot(self):
            started.set()
            release.wait(60)

    register_plugin(Hold(), "hold")
    worker = threading.Thread(target=lambda: artgan.run(tmp_path / "tiny.toml", out=tmp_path))
    worker.start()
    try:
        assert started.wait(60)
        refused(artgan.run, tmp_path / "tiny.toml", out=tmp_path, resume=True,
                match=rf"runs/tiny: in use by this very process \(another thread, or a notebook cell still "
                      rf"running: pid {os.getpid()},")
    finally:
        release.set()
        worker.join(60)
