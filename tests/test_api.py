"""The Python API of docs/python-api.md: one test (or more) per documented call, named
test_api_<call> (tests/test_docs.py checks that each documented call has one)."""
from __future__ import annotations

import html
import os
import re
import signal

import numpy as np
import pytest
import tomli_w
from films import TINY as FILMS_TINY
from films import read_film
from PIL import Image

import artgan
from artgan import checkpoint
from artgan.runfolder import RunFolder, RunStatus

TINY = {**FILMS_TINY, "render": [{"use": "loss-plot", "width": 200, "height": 200}]}


def tiny_file(folder, **changes):
    path = folder / "tiny.toml"
    path.write_text(tomli_w.dumps({**TINY, **changes}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny recipe run once through artgan.run."""
    root = tmp_path_factory.mktemp("api")
    return artgan.run(artgan.load_recipe(tiny_file(root)), out=root)


def test_api_load_recipe_reads_a_bundled_recipe_by_name_with_python_values():
    recipe = artgan.load_recipe("ellipses", set={"train.steps": 12, "name": "mine", "model.z_dim": 32})
    assert (recipe.name, recipe.train.steps, recipe.model.options.z_dim) == ("mine", 12, 32)
    assert artgan.load_recipe("demo").name == "demo"


def test_api_load_recipe_errors_name_the_key_and_who_set_it(tmp_path):
    with pytest.raises(artgan.ArtganError, match=r"set train.steps=-1.*train.steps"):
        artgan.load_recipe(tiny_file(tmp_path), set={"train.steps": -1})
    with pytest.raises(artgan.ArtganError, match="no such recipe file"):
        artgan.load_recipe("ellipsez")


def test_api_dataset_builds_only_the_dataset(tmp_path):
    report = artgan.dataset(artgan.load_recipe(tiny_file(tmp_path)), out=tmp_path)
    assert report.dataset.count == 24 and report.dataset.folder == tmp_path / "data" / "tiny"
    assert not (tmp_path / "runs").exists()
    assert artgan.dataset(tiny_file(tmp_path), out=tmp_path).reused  # a recipe file as it is


def test_api_run_builds_trains_renders_and_returns_the_run(trained):
    assert isinstance(trained, artgan.Run)
    assert (trained.name, trained.step, trained.interrupted) == ("tiny", 4, False)
    assert trained.status().state == "finished" and trained.status().step == 4
    assert (trained.dir / "loss.png").is_file()  # the recipe's [[render]] step
    assert repr(trained) == f"Run(name='tiny', step=4, dir='{trained.dir}')"


def test_api_run_refuses_an_existing_run_without_resume(trained):
    with pytest.raises(artgan.ArtganError, match="a run with this name exists; pass --resume"):
        artgan.run(artgan.load_recipe(tiny_file(trained.dir.parents[1])), out=trained.dir.parents[1])


def test_api_run_hooks_receive_the_public_run(tmp_path, register_plugin):
    seen = []

    class Watch:
        @artgan.hookimpl
        def on_snapshot(self, run, step):
            seen.append((type(run), step, run.folder.snapshot_path(step).is_file()))

    register_plugin(Watch(), "watch")
    artgan.run(artgan.load_recipe(tiny_file(tmp_path), set={"render": []}), out=tmp_path)
    assert seen == [(artgan.Run, 0, True), (artgan.Run, 2, True), (artgan.Run, 4, True)]


def test_api_run_returns_an_interrupted_run_on_ctrl_c_and_resumes(tmp_path, register_plugin):
    pressed = []

    class CtrlC:
        @artgan.hookimpl
        def on_snapshot(self, step):
            if step == 2 and not pressed:
                pressed.append(step)
                os.kill(os.getpid(), signal.SIGINT)  # as the notebook's stop button does

    register_plugin(CtrlC(), "ctrl-c")
    stopped = artgan.run(artgan.load_recipe(tiny_file(tmp_path)), out=tmp_path)
    assert (stopped.interrupted, stopped.stopped_by, stopped.step) == (True, signal.SIGINT, 2)
    assert stopped.status().state == "interrupted"
    assert not (stopped.dir / "loss.png").exists()  # nothing rendered from a stopped run
    resumed = artgan.run(artgan.load_recipe(tiny_file(tmp_path)), out=tmp_path, resume=True)
    assert (resumed.interrupted, resumed.step, resumed.started_at) == (False, 4, 2)
    assert resumed.status().state == "finished" and (resumed.dir / "loss.png").is_file()


def test_an_interrupted_run_shows_the_call_that_continues_it_from_its_own_lock(tmp_path, monkeypatch,
                                                                               register_plugin):
    class CtrlC:
        @artgan.hookimpl
        def on_snapshot(self, run, step):
            if step == 2 and run.started_at == 0:
                os.kill(os.getpid(), signal.SIGINT)

    register_plugin(CtrlC(), "ctrl-c")
    monkeypatch.chdir(tmp_path)
    stopped = artgan.run(artgan.load_recipe(tiny_file(tmp_path), set={"train.steps": 6, "name": "mine"}), out="work")
    hint = html.unescape(re.search(r"continue with <code>(.*?)</code>", stopped._repr_html_()).group(1))
    assert hint == "artgan.run('work/runs/mine/recipe.lock.toml', out='work', resume=True)"
    assert artgan.open_run("work/runs/mine")._repr_html_() == stopped._repr_html_()  # after a restart, the same
    resumed = eval(hint, {"artgan": artgan})  # as written: no recipe at hand, its set= values kept
    assert (resumed.dir, resumed.step, resumed.started_at) == (stopped.dir, 6, 2)
    assert [p.name for p in (tmp_path / "work" / "data").glob("[!.]*")] == ["mine"]  # its dataset, reused
    assert not (tmp_path / "runs").exists()


def test_a_sweep_runs_lock_loads_as_its_recipe_on_the_sweeps_dataset(tmp_path):
    recipe = artgan.load_recipe(tiny_file(tmp_path, sweep={"train.steps": [2, 4], "labels": ["short", "long"]}))
    short, _ = artgan.sweep(recipe, out=tmp_path)
    again = artgan.load_recipe(short.folder.lock_file)
    assert (again.name, again.dataset, again.train.steps, again.sweep) == ("tiny-short", "tiny", 2, {})
    assert artgan.run(again, out=tmp_path, resume=True).started_at == 2  # trained: rendering only


def test_paths_given_to_the_api_expand_the_home_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    tiny_file(home)
    run = artgan.run(artgan.load_recipe("~/tiny.toml", set={"render": []}), out="~/work")
    assert run.dir == home / "work" / "runs" / "tiny"
    assert artgan.open_run("~/work/runs/tiny").dir == run.dir
    assert run.render("grid", out="~/grid.png") == [home / "grid.png"] and (home / "grid.png").is_file()
    assert not (tmp_path / "~").exists()  # no folder named ~ beside the notebook


def test_the_step_functions_take_a_recipe_file_as_run_does(tmp_path):
    path = tiny_file(tmp_path, render=[{"use": "grid"}])
    artgan.pipeline.check(path, out=tmp_path)
    artgan.dataset(path, out=tmp_path)
    run = artgan.pipeline.train(str(path), out=tmp_path)
    assert artgan.pipeline.render(path, run) == [run.dir / "grid.png"]


def test_a_finished_run_run_again_renders_only_and_leaves_what_it_trained_as_it_was(tmp_path):
    path = tiny_file(tmp_path, train={**TINY["train"], "steps": 5})  # its last snapshot and checkpoint: off the beat
    first = artgan.run(artgan.load_recipe(path), out=tmp_path)
    trained = lambda: {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in
                       [*first.folder.checkpoints(), *(s.path for s in first.snapshots()), first.folder.metrics_file]}
    before = trained()
    assert first.folder.checkpoints()[-1].name == "step-0000005.pt"
    for _ in range(2):
        again = artgan.run(artgan.load_recipe(path), out=tmp_path, resume=True)
        assert (again.step, again.started_at) == (5, 5) and trained() == before


def test_api_sweep_runs_each_run_and_films_them_side_by_side(tmp_path):
    recipe = artgan.load_recipe(tiny_file(tmp_path, sweep={"train.steps": [2, 4], "labels": ["short", "long"]}))
    with pytest.raises(artgan.ArtganError, match=r"has a \[sweep\]; artgan.sweep"):
        artgan.run(recipe, out=tmp_path)
    heard = []

    class Recorder(artgan.pipeline.Listener):
        def dataset_ready(self, report):
            heard.append(("dataset", report.reused))

        def trained(self, run):
            heard.append(("trained", run.name))

        def rendered(self, path):
            heard.append(("rendered", path.name))

    runs = artgan.sweep(recipe, out=tmp_path, listener=Recorder())
    assert [(r.name, r.step) for r in runs] == [("tiny-short", 2), ("tiny-long", 4)]
    assert heard == [("dataset", False), ("trained", "tiny-short"), ("rendered", "loss.png"),  # one dataset for both
                     ("dataset", True), ("trained", "tiny-long"), ("rendered", "loss.png"), ("rendered", "compare.mp4")]
    meta, frames = read_film(tmp_path / "runs" / "tiny-sweep" / "compare.mp4")
    assert len(frames) >= 3  # steps 0, 2 and 4


def test_api_open_run_reads_a_run_folder(trained):
    opened = artgan.open_run(trained.dir)
    assert (opened.name, opened.step, opened.recipe, opened.model) == ("tiny", 4, None, None)
    assert opened.status().state == "finished"


def test_api_open_run_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(artgan.ArtganError, match="no such run folder"):
        artgan.open_run(tmp_path / "missing")
    with pytest.raises(artgan.ArtganError, match="not a run folder"):
        artgan.open_run(tmp_path)


def test_api_Run_samples_are_pil_images_the_same_for_a_seed(trained):
    opened = artgan.open_run(trained.dir)  # from its newest checkpoint
    first = opened.samples(3, seed=7)
    assert len(first) == 3 and all(isinstance(i, Image.Image) and i.size == (32, 32) for i in first)
    again = trained.samples(3, seed=7)  # from the model still in memory: the same weights
    assert [np.asarray(i).tolist() for i in first] == [np.asarray(i).tolist() for i in again]
    other = opened.samples(3, seed=8)
    assert np.asarray(other[0]).tolist() != np.asarray(first[0]).tolist()
    assert len(opened.samples(2, seed=7, truncation=0.5)) == 2
    with pytest.raises(artgan.ArtganError, match=r"^Run.samples: truncation: Input should be a finite number"):
        opened.samples(2, truncation=float("inf"))  # it gave black pictures
    assert len(opened.samples(np.int64(2), seed=np.int64(7))) == 2  # numbers from numpy's arithmetic
    with pytest.raises(artgan.ArtganError, match=r"^Run.samples: n: Input should be a valid integer"):
        opened.samples(np.float64(2.5))


def test_infinite_or_nan_option_values_are_refused_in_one_line(trained):
    with pytest.raises(artgan.ArtganError, match=r"hold: Input should be a finite number"):
        trained.render("timelapse", hold=float("inf"))
    with pytest.raises(artgan.ArtganError, match=r"model.betas\[0\]: Input should be less than 1"):
        artgan.load_recipe("black-square", set={"model.betas": [1.5, 0.99], "sweep.train.init_from": ["a.pt"]})


def test_api_Run_grid_is_the_newest_snapshot_or_one_step(trained):
    assert trained.grid().size == (64, 64)  # 2 x 2 samples of 32 px
    assert np.asarray(trained.grid(0)).tolist() == np.asarray(Image.open(trained.snapshots()[0].path)).tolist()
    with pytest.raises(artgan.ArtganError, match="no snapshot at step 3; it has 0, 2, 4"):
        trained.grid(3)


def test_api_Run_metrics_are_rows_per_logged_step(trained):
    rows = [row for row in trained.metrics() if "event" not in row]  # not the snapshots' diversity
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert {"loss_d", "loss_g", "images_per_s", "images_seen"} <= rows[-1].keys()


def test_api_Run_snapshots_oldest_first(trained):
    shots = trained.snapshots()
    assert [s.step for s in shots] == [0, 2, 4] and shots[-1].picture().mode == "RGB"


def test_api_Run_render_takes_python_values_and_returns_the_files(trained, tmp_path):
    [film] = trained.render("interpolation", seeds=[1, 2], seconds=1, fps=4, out=tmp_path / "i.mp4")
    assert film == tmp_path / "i.mp4" and len(read_film(film)[1]) == 4
    with pytest.raises(artgan.ArtganError, match=r"^fps: .*\(got -1\)"):
        trained.render("interpolation", fps=-1)
    with pytest.raises(artgan.ArtganError, match='unknown renderer plugin "nope"'):
        trained.render("nope")


def test_api_Run_checkpoint_is_the_newest_and_loads_weights_only(trained):
    path = trained.checkpoint()
    assert path == trained.folder.checkpoints()[-1] and checkpoint.load(path)["step"] == 4


def test_api_Run_status_believes_training_only_while_the_folder_is_held(tmp_path):
    folder = RunFolder(tmp_path / "runs" / "old")
    folder.path.mkdir(parents=True)
    assert folder.status().state == "unknown"  # a run from before status.json
    folder.write_status(RunStatus("training", 5, 10, 80.0, 1.0))
    assert folder.status() == RunStatus("interrupted", 5, 10, 80.0, 1.0, folder.status().updated)  # kill -9
    with folder.hold(then="retry"):
        assert folder.status().state == "training"
    folder.status_file.write_text("{", encoding="utf-8")
    with pytest.raises(artgan.ArtganError, match="status.json: unreadable"):
        folder.status()


def test_api_RunFolder_reads_a_run_of_an_older_artgan(tmp_path):
    """A run folder as artgan 0.1 wrote it: no status record, no lock file, a loose snapshot."""
    folder = RunFolder(tmp_path / "runs" / "old")
    folder.snapshots_dir.mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(folder.snapshot_path(10))
    (folder.path / "metrics.jsonl").write_text('{"step": 10, "loss_d": 1.0}\n{"step": 11, "lo', encoding="utf-8")
    assert [s.step for s in folder.snapshots()] == [10] and folder.lock() == artgan.RecipeLock({}, {})
    assert folder.status() == RunStatus("unknown", 10)  # as far as its files go
    assert folder.checkpoints() == [] and folder.films() == []
    assert artgan.open_run(folder.path).step == 10 and "step 10" in artgan.open_run(folder.path)._repr_html_()
    assert folder.metrics() == [{"step": 10, "loss_d": 1.0}]  # a line cut by a kill is not read
    folder.trim_metrics(10)  # what a resume does: the cut line goes
    assert folder.metrics_file.read_text(encoding="utf-8") == '{"step": 10, "loss_d": 1.0}\n'
    assert artgan.open_run(folder.path).grid().size == (8, 8)


def test_api_RunFolder_lock_is_typed(trained):
    lock = trained.folder.lock()
    assert (lock.grid, lock.steps, lock.batch_size, lock.dataset_images) == (2, 4, 8, 24)
    assert lock.dataset == trained.dir.parents[1] / "data" / "tiny" and lock.recipe["name"] == "tiny"
    assert artgan.RunFolder.of(artgan.load_recipe(tiny_file(trained.dir.parents[1])), trained.dir.parents[1]) == trained.folder
