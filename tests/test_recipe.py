"""Recipes: defaults, --set overrides, and one-line errors naming the file and the key path."""
from __future__ import annotations

import sys
import textwrap

import pytest
import tomli_w

import artgan
from artgan import ArtganError
from artgan.recipe import REQUIRED, load_recipe, parse_recipe, required_keys
from artgan_plugins.dcgan import DCGAN
from artgan_plugins.shapes import Shapes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MINIMAL = """
    name = "mini"
    resolution = 32

    [[source]]
    use = "shapes"
    count = 4

    [model]
    use = "dcgan"
"""

TWO_SOURCES = MINIMAL + """
    [[source]]
    use = "shapes"
    count = 6
"""


def error_of(path, overrides=()) -> str:
    with pytest.raises(ArtganError) as caught:
        load_recipe(path, list(overrides))
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_minimal_recipe_fills_defaults(write_recipe):
    path = write_recipe(MINIMAL)
    recipe = load_recipe(path)
    assert recipe.path == path
    assert (recipe.name, recipe.seed, recipe.resolution) == ("mini", 0, 32)
    (source,) = recipe.sources
    assert source.key == "source[0]" and source.name == "shapes" and source.plugin is Shapes
    assert source.options.count == 4
    assert source.options.shape == "ellipse"
    assert source.options.background == (0, 0, 0)
    assert recipe.model.key == "model" and recipe.model.plugin is DCGAN
    assert recipe.model.options.lr_g == pytest.approx(2e-4)
    assert recipe.model.options.real_label == (1.0, 1.0)
    assert recipe.train.steps == 2000
    assert recipe.train.batch_size == 64
    assert recipe.train.device == "auto"
    assert recipe.preprocess == [] and recipe.render == []


def test_sections_of_every_kind(write_recipe):
    path = write_recipe(MINIMAL + """
        [[preprocess]]
        use = "mirror"

        [[render]]
        use = "grid"
        count = 4
    """)
    recipe = load_recipe(path)
    assert [s.key for s in recipe.preprocess] == ["preprocess[0]"]
    assert recipe.preprocess[0].name == "mirror"
    assert recipe.render[0].key == "render[0]"
    assert recipe.render[0].options.count == 4
    assert recipe.render[0].options.padding == 2


@pytest.mark.parametrize("override, check", [
    ("train.steps=7", lambda r: r.train.steps == 7),
    ("source.count=5", lambda r: r.sources[0].options.count == 5),
    ("source.0.count=5", lambda r: r.sources[0].options.count == 5),
    ("model.real_label=[0.9, 1.0]", lambda r: r.model.options.real_label == (0.9, 1.0)),
    ("model.lr_g=1e-3", lambda r: r.model.options.lr_g == pytest.approx(1e-3)),
    ("source.shape=rectangle", lambda r: r.sources[0].options.shape == "rectangle"),
    ('source.shape="rectangle"', lambda r: r.sources[0].options.shape == "rectangle"),
    ("train.device=cpu", lambda r: r.train.device == "cpu"),
    ("name=other-name", lambda r: r.name == "other-name"),
    ("seed=9", lambda r: r.seed == 9),
    ("source.background=[1, 2, 3]", lambda r: r.sources[0].options.background == (1, 2, 3)),
])
def test_set_overrides(write_recipe, override, check):
    recipe = load_recipe(write_recipe(MINIMAL), [override])
    assert check(recipe), override


def test_set_is_typed_by_the_schema(write_recipe):
    """A value that looks like a number is still a string where the schema wants a string."""
    recipe = load_recipe(write_recipe(MINIMAL), ["name=2024"])
    assert recipe.name == "2024"


def test_set_adds_a_missing_table_and_several_overrides_apply_in_order(write_recipe):
    recipe = load_recipe(write_recipe(MINIMAL), ["train.steps=7", "train.batch_size=4", "train.steps=8"])
    assert (recipe.train.steps, recipe.train.batch_size) == (8, 4)


def test_set_picks_one_of_several_sources_by_index(write_recipe):
    recipe = load_recipe(write_recipe(TWO_SOURCES), ["source.1.count=9"])
    assert [s.options.count for s in recipe.sources] == [4, 9]


def test_set_index_out_of_range(write_recipe):
    path = write_recipe(MINIMAL)
    message = error_of(path, ["source.3.count=5"])
    assert str(path) in message
    assert "source.3" in message


def test_set_without_index_on_several_entries(write_recipe):
    path = write_recipe(TWO_SOURCES)
    message = error_of(path, ["source.count=5"])
    assert "source" in message and "index" in message


def test_set_without_equals_sign(write_recipe):
    message = error_of(write_recipe(MINIMAL), ["train.steps"])
    assert "train.steps" in message and "KEY=VALUE" in message


def test_set_value_of_the_wrong_type_names_the_set_and_the_key(write_recipe):
    path = write_recipe(MINIMAL)
    message = error_of(path, ["train.steps=lots"])
    assert message.startswith("--set train.steps=lots: train.steps:")


def test_set_unknown_option_names_the_set_and_the_key(write_recipe):
    path = write_recipe(MINIMAL)
    message = error_of(path, ["model.lr_gg=0.1"])
    assert message == '--set model.lr_gg=0.1: model.lr_gg: unknown key; did you mean "lr_g"?'


@pytest.mark.parametrize("override, expected", [
    ("source.x.count=5", "--set source.x.count=5: source[0].x: unknown key"),  # the --set, not the file
    ("source.0.count.x=5", "--set source.0.count: is a value (4), not a table; set it as a whole"),
    ("model.use.x=1", "--set model.use: is a value ('dcgan'), not a table; set it as a whole"),
    ("train.steps=true", "--set train.steps=true: train.steps: expected a number, not true or false (got True)"),
    ("seed=false", "--set seed=false: seed: expected a number, not true or false (got False)"),
    ("model.lr_g=true", "--set model.lr_g=true: model.lr_g: expected a number, not true or false (got True)"),
    ("train.threads=abc", "--set train.threads=abc: train.threads: Input should be a valid integer, unable to "
                          "parse string as an integer or Input should be 'auto' (got 'abc')"),
])
def test_a_set_that_does_not_fit_is_one_line_naming_the_set(write_recipe, override, expected):
    assert error_of(write_recipe(MINIMAL), [override]).startswith(expected)


def test_true_and_false_stay_what_boolean_options_take(write_recipe):
    recipe = load_recipe(write_recipe(MINIMAL), ["train.channels_last=true", "train.compile=false"])
    assert recipe.train.channels_last is True and recipe.train.compile is False


def test_a_recipe_saved_with_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "notepad.toml"
    path.write_text(textwrap.dedent(MINIMAL), encoding="utf-8-sig")  # as Windows Notepad saves it
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf" and load_recipe(path).name == "mini"


def test_unknown_top_level_key(write_recipe):
    path = write_recipe('colour = "blue"\n' + MINIMAL)
    message = error_of(path)
    assert message.startswith(f"{path}: colour:")
    assert "unknown key" in message


def test_unknown_option_in_a_plugin_section(write_recipe):
    path = write_recipe(MINIMAL + "    lr_gg = 0.001\n")
    message = error_of(path)
    assert message.startswith(f"{path}: model.lr_gg:")
    assert "unknown key" in message


def test_unknown_option_in_a_list_section_names_its_index(write_recipe):
    path = write_recipe(TWO_SOURCES + "    colour = 3\n")
    message = error_of(path)
    assert message.startswith(f"{path}: source[1].colour:")


def test_unknown_key_in_train(write_recipe):
    path = write_recipe(MINIMAL + "\n    [train]\n    stepz = 3\n")
    assert error_of(path).startswith(f"{path}: train.stepz:")


def test_wrong_type(write_recipe):
    path = write_recipe(MINIMAL + '\n    [train]\n    steps = "many"\n')
    message = error_of(path)
    assert message.startswith(f"{path}: train.steps:")
    assert "many" in message


def test_wrong_type_of_a_plugin_option(write_recipe):
    path = write_recipe(MINIMAL.replace("count = 4", 'count = "four"'))
    assert error_of(path).startswith(f"{path}: source[0].count:")


def test_out_of_range_option(write_recipe):
    path = write_recipe(MINIMAL + "    real_label = [1.0, 0.9]\n")
    assert error_of(path).startswith(f"{path}: model.real_label")


@pytest.mark.parametrize("section, wrong, right", [
    ("source", "shapse", "shapes"),
    ("model", "dcgna", "dcgan"),
])
def test_unknown_plugin_name_suggests_the_closest(write_recipe, section, wrong, right):
    path = write_recipe(MINIMAL.replace(f'"{right}"', f'"{wrong}"'))
    message = error_of(path)
    assert str(path) in message
    assert f"{section}[0].use" in message if section == "source" else "model.use" in message
    assert f'"{wrong}"' in message
    assert f'did you mean "{right}"' in message


def test_plugin_of_the_wrong_kind_is_unknown(write_recipe):
    path = write_recipe(MINIMAL.replace('use = "dcgan"', 'use = "shapes"'))
    message = error_of(path)
    assert "model.use" in message and "shapes" in message


def test_invalid_toml(write_recipe):
    path = write_recipe(MINIMAL + "\n    this is not toml\n")
    message = error_of(path)
    assert message.startswith(f"{path}:")
    assert "TOML" in message


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    message = error_of(path)
    assert str(path) in message and "not found" in message


def test_missing_model(write_recipe):
    path = write_recipe(MINIMAL.replace('[model]\n    use = "dcgan"', ""))
    message = error_of(path)
    assert message.startswith(f"{path}: model:")


def test_missing_source(write_recipe):
    path = write_recipe('name = "x"\n[model]\nuse = "dcgan"\n')
    assert error_of(path).startswith(f"{path}: source:")


def test_bad_name(write_recipe):
    path = write_recipe(MINIMAL.replace('name = "mini"', 'name = "../escape"'))
    assert error_of(path).startswith(f"{path}: name:")


def test_as_dict_round_trips_through_toml(write_recipe, tmp_path):
    recipe = load_recipe(write_recipe(MINIMAL + """
        [[preprocess]]
        use = "mirror"

        [[render]]
        use = "grid"
    """), ["train.steps=7", "model.real_label=[0.9, 1.0]"])
    data = recipe.as_dict()
    text = tomli_w.dumps(data)
    again = parse_recipe(tomllib.loads(text), tmp_path / "again.toml")
    assert again.as_dict() == data
    assert data["train"]["steps"] == 7
    assert data["model"]["real_label"] == [0.9, 1.0]
    assert data["source"][0]["shape"] == "ellipse"  # defaults are filled in
    assert data["render"][0]["use"] == "grid" and "out" not in data["render"][0]  # None is left out


LEFT_TO_THE_USER = MINIMAL.replace('use = "shapes"', 'use = "duplicate"\n    path = "<required>"') + """
    [sweep]
    train.init_from = ["<required>"]
"""


def test_values_left_to_the_user_are_found_by_their_set_keys():
    data = tomllib.loads(textwrap.dedent(LEFT_TO_THE_USER))
    assert required_keys(data) == {"source.0.path": REQUIRED, "sweep.train.init_from": [REQUIRED]}


def test_values_left_to_the_user_stop_the_recipe_naming_every_set_key(write_recipe):
    path = write_recipe(LEFT_TO_THE_USER)
    assert error_of(path) == (f"{path}: source.0.path and sweep.train.init_from are for you to give: add "
                              f"--set source.0.path=... --set 'sweep.train.init_from=[\"...\"]'")
    assert error_of(path, ["source.0.path=me.jpg"]).startswith(f"{path}: sweep.train.init_from is for you")


def test_values_given_with_set_replace_the_markers_in_tables_and_sweeps(write_recipe):
    recipe = load_recipe(write_recipe(LEFT_TO_THE_USER),
                         ["source.path=me.jpg", 'sweep.train.init_from=["a.pt", "b.pt"]'])
    assert str(recipe.sources[0].options.path) == "me.jpg"
    assert recipe.sweep == {"train.init_from": ["a.pt", "b.pt"]}  # read as TOML: a list, not text


def test_set_types_values_inside_table_options_by_the_tables_value_type(write_recipe):
    path = write_recipe(MINIMAL.replace('use = "shapes"\n    count = 4', 'use = "web-search"\n    query = "x"'))
    recipe = load_recipe(path, ["source.json_fields.creator=2024", "source.json_fields.title=[1]"])
    assert recipe.sources[0].options.json_fields == {"creator": "2024", "title": "[1]"}  # str values: as written


def test_another_model_chosen_with_set_says_the_files_model_keys_are_the_old_ones():
    with pytest.raises(artgan.ArtganError) as caught:
        artgan.load_recipe("ellipses", set={"model.use": "stylegan2"})
    assert str(caught.value).endswith("model.g_width: unknown key; remove it or check its spelling (and 5 more); "
                                      "set model.use='stylegan2' chose another plugin than the file's, whose model "
                                      "keys are for its own: copy the recipe and rewrite its model for stylegan2 "
                                      "(`artgan plugins stylegan2` lists its options)")
