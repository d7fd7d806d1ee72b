"""Options at the edges of their range: a value that can never work, or two that cannot go together,
stops the recipe as it loads with one line naming the key, before the dataset is built or a model
trained (it used to be a traceback, a gigabyte allocation, an all-black dataset, or an error after
training)."""
from __future__ import annotations

import pytest
from hostile_helpers import invoke, one_line


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
])
def test_a_section_that_cannot_work_stops_the_recipe_before_the_dataset(tiny, tmp_path, section, message):
    tiny.write_text(f"{tiny.read_text()}\n{section}\n")
    result = invoke("run", tiny, "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert message in one_line(result.stderr)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("setting", ["seed=18446744073709551615", "seed=-9223372036854775808",
                                     "source.0.size=[0.01,3.0]", "source.0.position=[0.0,1.0]"])
def test_the_edges_of_the_range_train(tiny, tmp_path, setting):
    result = invoke("run", tiny, "--out", tmp_path, "--set", setting)
    assert result.exit_code == 0, result.output
