"""Starting points: train.init_from loads another run's weights; mismatches are clear errors;
`artgan starting-points` lists the checkpoints an artist has."""
import types

import pytest
import torch
from typer.testing import CliRunner

import artgan
from artgan import checkpoint, pipeline
from artgan.cli import app
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe
from artgan_plugins.dcgan import DCGAN

TINY_DCGAN = {"use": "dcgan", "g_width": 4, "d_width": 4, "z_dim": 8}
TINY_STYLEGAN2 = {"use": "stylegan2", "capacity": 1 / 32, "z_dim": 16, "w_dim": 16, "mapping_layers": 2}


def recipe(tmp_path, name, model, shape="ellipse", resolution=32, **train):
    data = {"name": name, "seed": 2, "resolution": resolution,
            "source": [{"use": "shapes", "count": 8, "shape": shape}], "model": dict(model),
            "train": {"steps": 2, "batch_size": 4, "snapshot_every": 100, "checkpoint_every": 100, "grid": 2,
                      **train}}
    return parse_recipe(data, tmp_path / f"{name}.toml")


def train(tmp_path, name, model, resume=False, **options):
    r = recipe(tmp_path, name, model, **options)
    build_dataset(r, tmp_path)
    return pipeline.train(r, tmp_path, resume=resume)


def last_checkpoint(run):
    return run.folder.checkpoints()[-1]


def first_checkpoint(run):
    return checkpoint.load(run.folder.checkpoints()[0])


@pytest.mark.parametrize("model", [TINY_DCGAN, TINY_STYLEGAN2], ids=["dcgan", "stylegan2"])
def test_a_new_run_starts_from_the_weights_of_another(tmp_path, model):
    faces = train(tmp_path, "faces", model)
    start = last_checkpoint(faces)
    squares = train(tmp_path, "squares", model, shape="rectangle", init_from=str(start))
    saved = checkpoint.load(start)["state"]
    began = first_checkpoint(squares)  # written before the first step of the new run
    assert began["step"] == 0 and began["images_seen"] == 0
    for part in ("generator", "discriminator", "generator_ema"):
        for key, value in saved[part].items():
            assert torch.equal(began["state"][part][key], value), (part, key)
    assert began["state"]["opt_g"]["state"] == {} and began["state"]["opt_d"]["state"] == {}
    assert began["init_from"] == str(start) and began["dataset"] == "squares"
    assert f'init_from = "{start}"' in (squares.dir / "recipe.lock.toml").read_text()
    assert squares.step == 2


def test_resume_continues_the_run_and_ignores_init_from(tmp_path):
    start = str(last_checkpoint(train(tmp_path, "faces", TINY_DCGAN)))
    straight = train(tmp_path, "straight", TINY_DCGAN, shape="rectangle", init_from=start, steps=3)
    train(tmp_path, "resumed", TINY_DCGAN, shape="rectangle", init_from=start, steps=2)
    resumed = train(tmp_path, "resumed", TINY_DCGAN, shape="rectangle", init_from=start, steps=3, resume=True)
    # had the resumed run loaded the starting point again, it would have lost its first two steps
    for a, b in zip(straight.model.state_dict()["generator"].values(), resumed.model.state_dict()["generator"].values()):
        assert torch.equal(a, b)


def error_of(tmp_path, name, model, **options):
    with pytest.raises(artgan.ArtganError) as caught:
        train(tmp_path, name, model, **options)
    return str(caught.value)


def test_another_model_kind_or_resolution_is_refused_saying_what_differs(tmp_path):
    start = last_checkpoint(train(tmp_path, "faces", TINY_DCGAN))
    message = error_of(tmp_path, "other", TINY_STYLEGAN2, init_from=str(start))
    assert message == (f"{tmp_path / 'other.toml'}: train.init_from: {start} is a dcgan at 32 px; this recipe "
                       "trains stylegan2 at 32 px; start from a checkpoint that matches")
    message = error_of(tmp_path, "bigger", TINY_DCGAN, resolution=64, init_from=str(start))
    assert f"{start} is a dcgan at 32 px; this recipe trains dcgan at 64 px" in message


def test_other_layer_shapes_are_refused_naming_the_options_that_differ(tmp_path):
    start = last_checkpoint(train(tmp_path, "faces", TINY_STYLEGAN2))
    wider = {**TINY_STYLEGAN2, "capacity": 1 / 16, "r1_every": 8}
    message = error_of(tmp_path, "wider", wider, init_from=str(start))
    assert message.startswith(f"{tmp_path / 'wider.toml'}: train.init_from: the weights in {start} do not fit")
    # r1_every differs too, but it shapes no layer: a starting point may have trained otherwise
    assert message.endswith("(options that shape its layers differ: capacity 0.03125 -> 0.0625; start from it "
                            "with --set model.capacity=0.03125)")
    deeper = {**TINY_STYLEGAN2, "mapping_layers": 3}  # an extra layer: missing weights, not other shapes
    assert "differ: mapping_layers 2 -> 3;" in error_of(tmp_path, "deeper", deeper, init_from=str(start))


def test_a_sweep_over_starting_points_is_refused_before_any_work_when_one_does_not_fit(tmp_path):
    """black-square sweeps over starting points: the second one not fitting used to be found
    after the first run had trained (16 CPU-minutes at the recipe's size)."""
    good = last_checkpoint(train(tmp_path, "good", TINY_STYLEGAN2))
    other = last_checkpoint(train(tmp_path, "other", {**TINY_STYLEGAN2, "z_dim": 8, "w_dim": 8}))
    data = {**recipe(tmp_path, "square", TINY_STYLEGAN2).as_dict(),
            "sweep": {"train.init_from": [str(good), str(other)]}}
    swept = parse_recipe(data, tmp_path / "square.toml")
    with pytest.raises(artgan.ArtganError, match=r"do not fit this model \(options that shape its layers differ: "
                                                 r"w_dim 8 -> 16, z_dim 8 -> 16; start from it with "
                                                 r"--set model.w_dim=8 --set model.z_dim=8\)$"):
        artgan.sweep(swept, out=tmp_path)
    assert not (tmp_path / "data" / "square").exists() and not (tmp_path / "runs" / "square-0").exists()


def test_a_run_folder_as_starting_point_names_its_newest_checkpoint(tmp_path):
    run = train(tmp_path, "faces", TINY_DCGAN)
    message = error_of(tmp_path, "next", TINY_DCGAN, init_from=str(run.dir))
    assert message == (f"{tmp_path / 'next.toml'}: train.init_from: {run.dir}: a folder, not a checkpoint; "
                       f"give one .pt file, such as its newest: {last_checkpoint(run)}")


def test_a_missing_starting_point_names_the_key(tmp_path):
    message = error_of(tmp_path, "lost", TINY_DCGAN, init_from=str(tmp_path / "nowhere.pt"))
    assert message.startswith(f"{tmp_path / 'lost.toml'}: train.init_from: {tmp_path / 'nowhere.pt'}: "
                              "checkpoint not found")


class NoStartingPoints(DCGAN):
    init_from = artgan.Model.init_from  # the base class's: not supported


def test_a_model_without_init_from_says_so(tmp_path, register_plugin):
    module = types.ModuleType("no_starting_points")
    module.register_models = artgan.hookimpl(lambda register: register("no-start", NoStartingPoints))
    register_plugin(module, "no-starting-points")
    start = last_checkpoint(train(tmp_path, "faces", TINY_DCGAN))
    message = error_of(tmp_path, "other", {**TINY_DCGAN, "use": "no-start"}, init_from=str(start))
    assert "is a dcgan at 32 px; this recipe trains no-start" in message
    start = last_checkpoint(train(tmp_path, "no-start", {**TINY_DCGAN, "use": "no-start"}))
    message = error_of(tmp_path, "again", {**TINY_DCGAN, "use": "no-start"}, init_from=str(start))
    assert message == (f"{tmp_path / 'again.toml'}: train.init_from: this model cannot start from a checkpoint "
                       "(it does not implement init_from)")


def test_starting_points_lists_runs_and_the_library(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train(tmp_path, "faces", TINY_DCGAN)
    train(tmp_path, "cats", TINY_STYLEGAN2, resolution=64, steps=1)
    square = train(tmp_path, "square", TINY_DCGAN)
    library = tmp_path / "library"
    library.mkdir()
    (library / "black-square.pt").write_bytes(last_checkpoint(square).read_bytes())
    (library / "broken.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("ARTGAN_LIBRARY", str(library))
    result = CliRunner().invoke(app, ["starting-points"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines == [
        ["model", "dataset", "px", "step", "checkpoint"],
        ["stylegan2", "cats", "64", "0", "runs/cats/checkpoints/step-0000000.pt"],
        ["stylegan2", "cats", "64", "1", "runs/cats/checkpoints/step-0000001.pt"],
        ["dcgan", "faces", "32", "0", "runs/faces/checkpoints/step-0000000.pt"],
        ["dcgan", "faces", "32", "2", "runs/faces/checkpoints/step-0000002.pt"],
        ["dcgan", "square", "32", "0", "runs/square/checkpoints/step-0000000.pt"],
        ["dcgan", "square", "32", "2", "runs/square/checkpoints/step-0000002.pt"],
        ["dcgan", "square", "32", "2", f"{library}/black-square.pt"],
    ]
    assert f"skipped {library}/broken.pt: not a checkpoint" in result.stderr


def test_starting_points_in_chosen_folders_and_missing_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARTGAN_LIBRARY", raising=False)
    cli = CliRunner()
    assert "no checkpoints found" in cli.invoke(app, ["starting-points"]).stdout  # no ./runs yet
    train(tmp_path / "elsewhere", "faces", TINY_DCGAN, steps=0)
    result = cli.invoke(app, ["starting-points", "--runs", str(tmp_path / "elsewhere" / "runs")])
    assert result.exit_code == 0 and "faces" in result.stdout
    missing = cli.invoke(app, ["starting-points", "--runs", "nothing-here"])
    assert missing.exit_code == 2 and "nothing-here: no such folder" in missing.stderr
