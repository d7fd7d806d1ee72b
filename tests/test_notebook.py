"""artgan in a notebook: films and runs show themselves inline, the stop button stops a training
that resumes, and examples/notebook.ipynb runs from top to bottom."""
from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
import tomli_w
from nbclient import NotebookClient

import artgan
from artgan import notebook, testing
from artgan.film import write_film
from kernel import kernel

ROOT = Path(__file__).parents[1]


def embedded(html: str, tag: str, kind: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(rf'<{tag} [^>]*src="data:{kind};base64,([^"]+)"', html)]


def test_films_and_pictures_a_renderer_wrote_show_inline(tmp_path):
    frames = [np.full((32, 32, 3), shade, np.uint8) for shade in range(0, 200, 20)]
    mp4, gif = write_film(frames, tmp_path / "walk.mp4", fps=10, gif=True)
    credits = tmp_path / "CREDITS.md"
    credits.write_text("# Credits\n")
    shown = notebook.Files([mp4, gif, credits])._repr_html_()
    assert embedded(shown, "video", "video/mp4") == [mp4.read_bytes()]  # plays in a saved notebook, and on Colab
    assert embedded(shown, "img", "image/gif") == [gif.read_bytes()]
    assert f"<code>{credits}</code>" in shown
    assert notebook.Files([mp4]) == [mp4]  # still the list of files render returns


def test_a_film_too_large_to_embed_is_linked(tmp_path):
    (mp4,) = write_film([np.zeros((16, 16, 3), np.uint8)] * 5, tmp_path / "still.mp4", fps=5)
    shown = notebook.file_html(mp4, embed_limit=100)
    assert f'src="{mp4.as_posix()}"' in shown and "linked rather than embedded" in shown


# --------------------------------------------------------------------------------- a run, shown

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return artgan.open_run(testing.tiny_run(tmp_path_factory.mktemp("tiny")))


def test_a_run_shows_its_newest_grid_with_its_step_losses_and_state(tiny):
    newest = tiny.snapshots()[-1]
    assert newest.step == 4 and tiny._repr_png_() == newest.path.read_bytes()
    shown = tiny._repr_html_()
    assert embedded(shown, "img", "image/png") == [newest.path.read_bytes()]
    assert "step 4 of 4 (100%)" in shown and "<i>finished</i>" in shown
    loss_d = next(row for row in reversed(tiny.metrics()) if "loss_d" in row)["loss_d"]
    assert f"loss_d {loss_d:.3f}" in shown and "images_per_s" not in shown


def test_a_grid_too_large_to_embed_is_not_embedded_as_png_either(tiny, monkeypatch):
    """The notebook keeps every format of a value shown: the grid linked in the HTML must not come
    in whole as the PNG beside it."""
    monkeypatch.setattr(notebook, "EMBED_LIMIT", tiny.snapshots()[-1].path.stat().st_size - 1)
    assert tiny._repr_png_() is None


def test_a_run_whose_folder_is_gone_or_damaged_shows_what_is_wrong(tiny, tmp_path):
    run = artgan.open_run(shutil.copytree(tiny.dir, tmp_path / "runs" / "tiny"))
    run.folder.status_file.write_text("{")  # cut short by a full disk, say
    assert f"<b>tiny</b> · {run.folder.status_file}: unreadable" in run._repr_html_()
    shutil.rmtree(run.dir)  # deleted to start again, the Run still in a variable
    assert f"its folder <code>{run.dir}</code> is gone (deleted or moved)" in run._repr_html_()
    assert run._repr_png_() is None


def test_a_run_keeps_its_folder_when_the_notebook_changes_folder(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tiny.dir.parent)
    run = artgan.open_run(tiny.name)
    monkeypatch.chdir(tmp_path)  # %cd, as on Colab once Drive is mounted
    assert run.grid().size == tiny.grid().size and len(run.samples(1)) == 1
    assert "<i>finished</i>" in run._repr_html_() and not (tmp_path / "runs").exists()


def test_render_returns_the_files_which_play_inline(tiny):
    films = tiny.render("interpolation", seeds=[1, 2], seconds=0.5, size=64)
    assert [path.name for path in films] == ["interpolation.mp4"]
    assert embedded(films._repr_html_(), "video", "video/mp4") == [films[0].read_bytes()]


# ------------------------------------------------------------------ the stop button, in a kernel

def test_the_stop_button_stops_a_training_with_a_checkpoint_and_it_resumes(tmp_path):
    long = {**testing.TINY_RECIPE, "train": {**testing.TINY_RECIPE["train"], "steps": 100_000,
                                               "snapshot_every": 100_000, "checkpoint_every": 100_000}}
    (tmp_path / "tiny.toml").write_text(tomli_w.dumps(long))
    training = lambda cell: any(u["data"]["text/plain"].startswith("train") for u in cell.of("update_display_data"))
    with kernel(tmp_path) as notebook:
        stopped = notebook.run("import artgan\nrun = artgan.run(artgan.load_recipe('tiny.toml'), out='.')\n"
                               "print(run.interrupted, run.step)", interrupt_when=training)
        assert stopped.reply["status"] == "ok", stopped.reply  # returned, not a KeyboardInterrupt
        interrupted, step = stopped.text.splitlines()[-1].split()  # after training's own lines
        assert interrupted == "True" and 0 < int(step) < 100_000
        step = int(step)
        (shown,) = notebook.run("run").of("execute_result")
        assert "<i>interrupted</i>" in shown["data"]["text/html"] and "resume=True" in shown["data"]["text/html"]
        resumed = notebook.run(f"run = artgan.run(artgan.load_recipe('tiny.toml', set={{'train.steps': {step + 3}}}), "
                               "out='.', resume=True)\nprint(run.interrupted, run.step, run.checkpoint().name)")
        assert resumed.text.splitlines()[-1].split() == ["False", str(step + 3), f"step-{step + 3:07d}.pt"]
        assert f"resuming from step {step}" in resumed.text
    rows = [row for row in artgan.open_run(tmp_path / "runs" / "tiny").metrics() if "event" not in row]
    assert [row["step"] for row in rows] == list(range(1, step + 4))  # continued where it stopped


def test_runs_shown_one_after_another_keep_one_model_in_memory(tmp_path):
    """A notebook keeps every value a cell showed (Out[n]): were each Run to keep its model, a
    session that trains run after run would hold them all, on a GPU until it runs out."""
    (tmp_path / "tiny.toml").write_text(tomli_w.dumps(testing.TINY_RECIPE))
    with kernel(tmp_path) as notebook:
        for shown in ("import gc\nimport artgan\ntrained = artgan.run('tiny.toml', out='.')\ntrained",
                      "opened = artgan.open_run('runs/tiny')\nopened"):
            assert notebook.run(shown).of("execute_result")  # kept in Out
        counted = notebook.run("trained.samples(1), opened.samples(1), trained.samples(1)\n"
                               "print(sum(issubclass(type(o), artgan.Model) for o in gc.get_objects()))")
        assert counted.text.split() == ["1"], counted.reply


# ------------------------------------------------------------------------ examples/notebook.ipynb

def test_the_example_notebook_runs_from_top_to_bottom(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTGAN_NOTEBOOK_QUICK", "1")  # a few dozen steps
    notebook = nbformat.read(ROOT / "examples" / "notebook.ipynb", as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    data = [output.get("data", {}) for output in outputs]
    assert any("image/png" in d for d in data)  # the run, the loss plot, the samples
    assert any("<video" in d.get("text/html", "") for d in data)  # the interpolation film
    finished = [d["text/html"] for d in data if "<i>finished</i>" in d.get("text/html", "")]
    assert len(finished) == 2  # the run, and the one started from its checkpoint
    assert (tmp_path / "artgan-notebook" / "runs" / "white-from-step-0000030" / "recipe.lock.toml").is_file()
