"""Sweeps: a [sweep] table runs one recipe over lists of values, then films the runs side by side."""
import sys

import pytest
import tomli_w
from typer.testing import CliRunner

import artgan
from artgan import checkpoint, pipeline
from artgan.cli import app
from artgan.recipe import expand_sweep, parse_recipe
from artgan.runfolder import RunFolder
from films import read_film

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BASE = {
    "name": "tiny", "seed": 3, "resolution": 32,
    "source": [{"use": "shapes", "count": 8}],
    "model": {"use": "dcgan", "g_width": 4, "d_width": 4, "z_dim": 8},
    "train": {"steps": 2, "batch_size": 4, "snapshot_every": 1, "checkpoint_every": 2, "grid": 2},
}


def swept(tmp_path, sweep):
    return parse_recipe({**BASE, "sweep": sweep}, tmp_path / "tiny.toml")


def error_of(tmp_path, sweep):
    with pytest.raises(artgan.ArtganError) as caught:
        expand_sweep(swept(tmp_path, sweep))
    return str(caught.value)


def test_values_at_the_same_position_go_together_into_one_run(tmp_path):
    runs = expand_sweep(swept(tmp_path, {"model.aug": ["none", "fixed"], "model.aug_p": [0.0, 0.3]}))
    assert [label for label, _ in runs] == ["none-0.0", "fixed-0.3"]
    (_, first), (_, second) = runs
    assert (first.name, first.model.options.aug, first.model.options.aug_p) == ("tiny-none-0.0", "none", 0.0)
    assert (second.name, second.model.options.aug, second.model.options.aug_p) == ("tiny-fixed-0.3", "fixed", 0.3)
    assert first.sweep == {} and first.train.steps == 2  # the rest of the recipe as it was


def test_keys_are_set_as_with_set_including_list_sections_and_unquoted_tables(tmp_path):
    data = {**BASE, "sweep": {"source": {"count": [4, 5]}, "train.steps": [1, 2]}}  # as TOML nests source.count
    runs = expand_sweep(parse_recipe(data, tmp_path / "tiny.toml"))
    assert [(r.sources[0].options.count, r.train.steps) for _, r in runs] == [(4, 1), (5, 2)]


def test_runs_share_the_dataset_unless_the_sweep_changes_the_images(tmp_path):
    same = expand_sweep(swept(tmp_path, {"train.steps": [1, 2]}))
    assert [r.dataset for _, r in same] == ["tiny", "tiny"]
    other = expand_sweep(swept(tmp_path, {"source.count": [4, 5]}))
    assert [r.dataset for _, r in other] == ["tiny-4", "tiny-5"]


def test_labels_name_runs_by_file_stem_else_by_position_unless_given(tmp_path):
    stems = expand_sweep(swept(tmp_path, {"train.init_from": ["lib/faces.pt", "lib/cats.pt"]}))
    assert [label for label, _ in stems] == ["faces", "cats"]
    same_stems = expand_sweep(swept(tmp_path, {"train.init_from": ["a/step-1.pt", "b/step-1.pt"]}))
    assert [label for label, _ in same_stems] == ["0", "1"]
    given = expand_sweep(swept(tmp_path, {"train.init_from": ["a/step-1.pt", "b/step-1.pt"],
                                          "labels": ["faces", "cats"]}))
    assert [r.name for _, r in given] == ["tiny-faces", "tiny-cats"]
    assert str(given[1][1].train.init_from) == "b/step-1.pt"


@pytest.mark.parametrize("sweep, message", [
    ({"model.aug": ["none", "ada"], "train.steps": [1]},
     "sweep: every list needs the same number of values, one per run (model.aug has 2, train.steps has 1)"),
    ({"model.aug": []}, "sweep: every list needs the same number of values"),
    ({"name": ["a", "b"]}, "sweep.name: cannot be swept"),
    ({"labels": ["a", "b"]}, "sweep: no key to sweep"),
    ({"train.steps": [1, 2], "labels": ["a b", "c"]}, "sweep.labels: 'a b' cannot be part of a run name"),
    ({"train.steps": [1, 2], "labels": ["a", "a"]}, "sweep.labels: two runs have the same label"),
])
def test_malformed_sweeps_are_one_line_errors(tmp_path, sweep, message):
    assert message in error_of(tmp_path, sweep)


def test_a_bad_value_names_the_key_and_the_run(tmp_path):
    message = error_of(tmp_path, {"model.lr_gg": [0.1, 0.2]})
    assert message == f"{tmp_path / 'tiny.toml'}: model.lr_gg: unknown key; did you mean \"lr_g\"? (in sweep run 0.1)"
    assert "train.steps" in error_of(tmp_path, {"train.steps": [1, "lots"]})


@pytest.mark.parametrize("sweep, message", [
    ({"train.stpes": [1, 2]}, 'train.stpes: unknown key; did you mean "steps"? (in sweep run 1)'),
    ({"trian.steps": [1, 2]}, 'trian: unknown key; did you mean "train"? (in sweep run 1)'),
    ({"model.g_widht": [4, 8]}, 'model.g_widht: unknown key; did you mean "g_width"? (in sweep run 4)'),
    ({"train.steps": [1, -1]}, "train.steps: Input should be greater than or equal to 0 (got -1) (in sweep run 1)"),
])
def test_a_sweep_its_runs_would_refuse_stops_the_load_and_the_dry_run(write_recipe, sweep, message):
    recipe = write_recipe(tomli_w.dumps({**BASE, "sweep": sweep}))
    with pytest.raises(artgan.ArtganError) as caught:
        artgan.load_recipe(recipe)
    assert str(caught.value) == f"{recipe}: {message}"
    dry = CliRunner().invoke(app, ["run", str(recipe), "--dry-run"])
    assert dry.exit_code == 2 and dry.stdout == "" and dry.stderr == f"error: {recipe}: {message}\n"


def test_artgan_run_trains_each_run_then_films_them_side_by_side(tmp_path, write_recipe):
    recipe = write_recipe(tomli_w.dumps({**BASE, "sweep": {"model.aug": ["none", "fixed"],
                                                           "model.aug_p": [0.0, 0.5]}}))
    cli = CliRunner()
    result = cli.invoke(app, ["run", str(recipe), "--out", str(tmp_path), "--set", "train.steps=3"])
    assert result.exit_code == 0, result.output
    for label in ("none-0.0", "fixed-0.5"):
        run = tmp_path / "runs" / f"tiny-{label}"
        assert checkpoint.load(RunFolder(run).checkpoints()[-1])["step"] == 3
    assert not (tmp_path / "data" / "tiny-none-0.0").exists()  # one dataset for both
    film = tmp_path / "runs" / "tiny-sweep" / "compare.mp4"
    assert f"rendered     {film}" in result.stdout
    meta, frames = read_film(film)
    assert len(frames) >= 4  # snapshots 0..3, then the last one held
    left, right = frames[-1][:, : frames.shape[2] // 2], frames[-1][:, frames.shape[2] // 2:]
    assert left.mean() > 0 and right.mean() > 0  # two runs, side by side


def test_train_and_dry_run_of_a_swept_recipe(tmp_path, write_recipe):
    recipe = write_recipe(tomli_w.dumps({**BASE, "sweep": {"train.steps": [1, 2]}}))
    cli = CliRunner()
    dry = cli.invoke(app, ["run", str(recipe), "--dry-run"])
    assert dry.exit_code == 0 and tomllib.loads(dry.stdout)["sweep"] == {"train.steps": [1, 2]}
    refused = cli.invoke(app, ["train", str(recipe), "--out", str(tmp_path)])
    assert refused.exit_code == 2 and "has a [sweep]; `artgan run" in refused.stderr
    with pytest.raises(artgan.ArtganError, match="has a"):
        pipeline.train(parse_recipe({**BASE, "sweep": {"train.steps": [1]}}, recipe), tmp_path)
