"""Options at the edges of their range: a value that can never work, or two that cannot go together,
stops the recipe as it loads with one line naming the key, before the dataset is built or a model
trained (it used to be a traceback, a gigabyte allocation, an all-black dataset, or an error after
training)."""
from __future__ import annotations

import types

import pytest
from hostile_helpers import invoke, one_line

import artgan


@pytest.mark.parametrize("setting, message", [
    ("seed=18446744073709551616", "seed: Input should be less than 18446744073709551616"),  # torch's overflow
    (f"name={'a' * 129}", "name: String should have at most 128 characters"),  # "File name too long" later
    ("source.0.image_size=50000", "source[0].image_size: Input should be less than or equal to 4096"),
    ("source.0.size=[0.0,0.5]", "source[0].size[0]: Input should be greater than 0"),  # nothing drawn
    ("source.0.position=[0.5,4.0]", "source[0].position[1]: Input should be less than or equal to 1"),
    ("model.instance_noise=[-0.1,0.0]", "model.instance_noise[0]: Input should be greater than or equal to 0"),
    ("model.real_label=[0.9,1.5]", "model.real_label[1]: Input should be less than or equal to 1"),
    ("source.0.background=[300,0,0]", "source[0].background[0]: Input should be less than or equal to 255"),
])
def test_a_value_that_cannot_work_stops_the_recipe_before_the_dataset(tiny, tmp_path, setting, message):
    result = invoke("run", tiny, "--out", tmp_path, "--set", setting)
    assert result.exit_code == 2, result.output
    assert message in one_line(result.stderr)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("section, message", [
    ('[[preprocess]]\nuse = "resize"\nsize = 100000', "preprocess[0].size: Input should be less than or equal to 4096"),
    ('[[preprocess]]\nuse = "pad"\ncolor = [0, -1, 0]', "preprocess[0].color[1]: Input should be greater than"),
    ('[[preprocess]]\nuse = "face-align"\nzoom = 1e9', "preprocess[0].zoom: Input should be less than or equal to 10"),
    ('[[render]]\nuse = "interpolation"\nsize = 8192', "render[0].size: Input should be less than or equal to 4096"),
    ('[[render]]\nuse = "timelapse"\nout = "film"', "render[0].out: films are written as H.264 .mp4"),
    ('[[render]]\nuse = "compare"\nout = "runs.gif"', "render[0].out: films are written as H.264 .mp4"),
    ('[[render]]\nuse = "interpolation"\nout = "walk.png"', "render[0].out: films are written as H.264 .mp4"),
    ('[[render]]\nuse = "grid"\nout = "grid.mp4"', "render[0].out: pictures are written as .png"),
    ('[[render]]\nuse = "loss-plot"\nout = "loss.svg"', "render[0].out: pictures are written as .png"),
    ('[[render]]\nuse = "grid"\ncount = 4\ncolumns = 9', "columns (9) is more than count (4); lower columns"),
    # train.grid = 2: the snapshots hold 4 samples (was refused only when rendering, after training)
    ('[[render]]\nuse = "timelapse"\nsamples = 5',
     "render[0] (timelapse): samples: the snapshots hold 4 samples; choose at most 4, or raise train.grid"),
    ('[[render]]\nuse = "timelapse"\nstrip = 4',
     "render[0] (timelapse): strip: the snapshots hold samples 0 to 3; choose one of them, or raise train.grid"),
    ('[[render]]\nuse = "timelapse"\nsamples = 9\n\n[sweep]\n"train.grid" = [3, 2]',  # each run's own grid
     "samples: the snapshots hold 4 samples; choose at most 4, or raise train.grid (in sweep run 2)"),
])
def test_a_section_that_cannot_work_stops_the_recipe_before_the_dataset(tiny, tmp_path, section, message):
    tiny.write_text(f"{tiny.read_text()}\n{section}\n")
    result = invoke("run", tiny, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert message in one_line(result.stderr)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("more", ["", '\n[sweep]\n"train.grid" = [3, 4]'])
def test_timelapse_samples_and_strip_that_fit_the_grid_load(tiny, tmp_path, more):
    tiny.write_text(f'{tiny.read_text()}\n[[render]]\nuse = "timelapse"\nsamples = 9\nstrip = 8\n{more}\n')
    args = ["--set", "train.grid=3"] if not more else []  # a sweep's runs have their grid, not the file's 2
    result = invoke("run", tiny, "--out", tmp_path, "--dry-run", *args)
    assert result.exit_code == 0, result.output


class Picky(artgan.Renderer):
    """Test renderer that can only film runs of at most 2 x 2 samples."""

    uses_model = False

    @classmethod
    def check_recipe(cls, options, recipe):
        if recipe.train.grid > 2:
            raise artgan.ArtganError("needs train.grid 2 or less; lower it")


def test_a_third_party_renderer_checks_the_recipe_as_it_loads(tiny, register_plugin):
    module = types.ModuleType("test_picky_renderer")
    module.register_renderers = artgan.hookimpl(lambda register: register("picky", Picky))
    register_plugin(module, "test-picky-renderer")
    tiny.write_text(f'{tiny.read_text()}\n[[render]]\nuse = "picky"\n')
    assert invoke("run", tiny, "--dry-run").exit_code == 0
    result = invoke("run", tiny, "--dry-run", "--set", "train.grid=3")
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr) == f"error: {tiny}: render[0] (picky): needs train.grid 2 or less; lower it"


@pytest.mark.parametrize("setting", ["seed=18446744073709551615", "seed=-9223372036854775808",
                                     "source.0.size=[0.01,3.0]", "source.0.position=[0.0,1.0]"])
def test_the_edges_of_the_range_train(tiny, tmp_path, setting):
    result = invoke("run", tiny, "--out", tmp_path, "--set", setting)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("options, loads", [("", False), ("samples = 25", False), ("samples = 16", True),
                                            ("size = 2048", True)])
def test_a_timelapse_of_snapshots_too_large_to_film_as_they_are_stops_the_recipe(tiny, tmp_path, options, loads):
    """8 x 8 samples of 1024 px are 8192 px snapshots: filmed as they are, past the largest film."""
    tiny.write_text(f'{tiny.read_text()}\n[[render]]\nuse = "timelapse"\n{options}\n')
    result = invoke("run", tiny, "--out", tmp_path, "--dry-run", "--set", "resolution=1024", "--set", "train.grid=8")
    assert result.exit_code == (0 if loads else 2), result.output
    if not loads:
        across = 5 if options else 8
        assert (f"render[0] (timelapse): size: {across} samples of 1024 px side by side make pictures "
                f"{across * 1024} px wide, larger than a film can be (4096 px); set size (e.g. 2048) to scale "
                "them down, or show fewer `samples`") in one_line(result.stderr)
