"""`artgan render`: one command per renderer, options made from the plugin's, one-line errors."""
from __future__ import annotations

import types
from pathlib import Path

import pytest
from films import fake_run, projection_plugin, read_film, tiny_run
from pydantic import Field
from typer.testing import CliRunner

import artgan
from artgan import plugins, rendering
from artgan.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *words):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def projection(register_plugin, tmp_path):
    """A checkpoint of a model with vivid output, so frames differ visibly after compression."""
    return projection_plugin(register_plugin, tmp_path, "test-projection-model-cli")


def test_render_alone_lists_the_renderers():
    result = invoke("render")
    assert result.exit_code == 0, result.output
    for name in ("timelapse", "interpolation", "loss-plot", "compare", "grid"):
        assert f"│ {name} " in result.stdout


def test_help_shows_each_option_with_its_help_and_default():
    result = invoke("render", "timelapse", "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "--strip-count" in text and "(default: 10)" in text and "--no-caption" in text
    words = invoke("render", "interpolation", "--help").stdout.split()
    interpolation = " ".join(word for word in words if word != "│")  # the table's wrapped lines, joined
    assert "side of the film in pixels (512 by default" in interpolation and "(default: 512)" in interpolation


def test_timelapse_from_the_command_line(tmp_path):
    run = fake_run(tmp_path)
    out = tmp_path / "films" / "t.mp4"
    result = invoke("render", "timelapse", run, "--out", out, "--fps", "4", "--hold", "0.5", "--no-caption",
                    "--size", "48")
    assert result.exit_code == 0, result.output
    assert f"rendered     {out}" in result.stdout and "timelapse: " in result.stdout  # progress
    meta, frames = read_film(out)
    assert (meta["fps"], meta["size"], len(frames)) == (4, (48, 48), 5 + 2)


def test_interpolation_from_the_command_line_with_a_seed_list_and_flags(projection, tmp_path):
    out = tmp_path / "walk.mp4"
    result = invoke("render", "interpolation", projection, "--out", out, "--seeds", "3,17,42", "--loop",
                    "--frames", "2", "--easing", "ease-in-out", "--gif")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "walk.gif").exists()
    assert len(read_film(out)[1]) == 3 * 2


def test_compare_takes_several_run_folders(tmp_path):
    first, second = fake_run(tmp_path / "a"), fake_run(tmp_path / "b", count=2, seed=1)
    out = tmp_path / "cmp.mp4"
    result = invoke("render", "compare", first, second, "--out", out, "--hold", "0")
    assert result.exit_code == 0, result.output
    meta, frames = read_film(out)
    assert meta["size"][0] == 2 * 32 + 8 and len(frames) == 5


def test_loss_plot_goes_into_the_run_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "loss_d": 1.0, "loss_g": 2.0, "images_per_s": 9}\n')
    result = invoke("render", "loss-plot", run)
    assert result.exit_code == 0, result.output
    assert (run / "loss.png").exists() and str(run / "loss.png") in result.stdout


def test_bad_input_is_one_line_and_status_2(projection, tmp_path):
    run = fake_run(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(invoke("render", "timelapse", empty), "empty", "no snapshots")
    one_line_error(invoke("render", "interpolation", tmp_path / "gone.pt"), "gone.pt", "no such checkpoint")
    (tmp_path / "file").write_text("")
    one_line_error(invoke("render", "timelapse", run, "--out", tmp_path / "file" / "t.mp4"), "file/t.mp4",
                   "cannot create its folder")
    one_line_error(invoke("render", "interpolation", projection, "--out", tmp_path / "file" / "i.mp4"),
                   "file/i.mp4")
    one_line_error(invoke("render", "timelapse", run, "--fps", "fast"), "--fps", "'fast'")
    one_line_error(invoke("render", "interpolation", projection, "--mode", "spiral"), "--mode", "spiral")
    one_line_error(invoke("render", "interpolation", projection, "--seeds", "3,x"), "--seeds")
    one_line_error(invoke("render", "interpolation", projection, "--frames", "2", "--seconds", "1"),
                   "frames", "seconds")
    one_line_error(invoke("render", "timelaps", run), '"timelapse"')  # did you mean
    assert invoke("render", "timelapse", run, run).exit_code == 2  # one target only


def test_a_picture_out_of_another_kind_or_an_existing_folder_is_one_line(projection, tmp_path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "shots.png").mkdir()
    one_line_error(invoke("render", "grid", projection, "--out", tmp_path / "g"), "--out: pictures are written as .png",
                   "/g'")
    for folder in ("adir", "shots.png"):
        one_line_error(invoke("render", "grid", projection, "--out", tmp_path / folder), "--out: is a folder",
                       f"{folder}'", "give a file name ending in .png")
    one_line_error(invoke("render", "loss-plot", fake_run(tmp_path), "--out", tmp_path / "lp.gif"), "lp.gif",
                   "give a name ending in one of them")


@pytest.mark.parametrize("words, option", [(["grid", "CHECKPOINT", "--padding", "100000"], "--padding"),
                                           (["grid", "CHECKPOINT", "--columns", "1000000"], "--columns"),
                                           (["timelapse", "RUN", "--strip", "0", "--strip-size", "100000"],
                                            "--strip-size"),
                                           (["timelapse", "RUN", "--strip", "0", "--strip-count", "100000"],
                                            "--strip-count"),
                                           (["loss-plot", "RUN", "--smooth", "1000000000"], "--smooth")])
def test_sizes_that_would_take_gigabytes_are_refused_in_one_line(projection, tmp_path, words, option):
    targets = {"CHECKPOINT": projection, "RUN": fake_run(tmp_path)}
    one_line_error(invoke("render", *[targets.get(word, word) for word in words]), option,
                   "less than or equal to")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real tiny run folder: snapshots, checkpoints, metrics, its dataset beside it."""
    return tiny_run(tmp_path_factory.mktemp("tiny"))


@pytest.mark.parametrize("name, written", [("timelapse", "timelapse.mp4"), ("loss-plot", "loss.png"),
                                           ("credits", "CREDITS.md"), ("grid", "grid.png")])
def test_a_checkpoint_in_a_run_folder_stands_for_its_run_folder(trained, tmp_path, name, written):
    help_text = " ".join(invoke("render", name, "--help").stdout.split())
    assert "a run folder or a checkpoint (.pt)" in help_text
    newest = artgan.RunFolder(trained).checkpoints()[-1]
    result = invoke("render", name, newest)
    assert result.exit_code == 0, result.output
    assert f"rendered     {trained / written}" in result.stdout and (trained / written).is_file()
    if name != "grid":  # only a model's pictures come from a checkpoint elsewhere
        loose = tmp_path / "loose.pt"
        loose.write_bytes(newest.read_bytes())
        one_line_error(invoke("render", name, loose), "loose.pt", "outside a run folder", "runs/NAME")


class Echo(artgan.Renderer):
    """Test renderer: writes its options to a text file."""

    class Options(artgan.Options):
        numbers: list[int] = Field(default_factory=list, description="some numbers")
        loud: bool = Field(False, description="shout")
        label: str = Field("x", description="a text")
        out: Path | None = Field(None, description="where")

    def render(self, target):
        out = Path(self.options.out)
        out.write_text(f"{target} {self.options.numbers} {self.options.loud} {self.options.label!r}")
        return [out]


def test_a_third_party_renderer_gets_a_command_too(register_plugin, tmp_path):
    module = types.ModuleType("test_echo_renderer")
    module.register_renderers = artgan.hookimpl(lambda register: register("echo", Echo))
    register_plugin(module, "test-echo-renderer")
    assert "│ echo " in invoke("render").stdout
    out = tmp_path / "echo.txt"
    result = invoke("render", "echo", "T", "--numbers", "1, 2,3", "--loud", "--label", "2024", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_text() == "T [1, 2, 3] True '2024'"
    one_line_error(invoke("render", "echo", "T", "--numbers", "1.5", "--out", out), "--numbers")


class Counted(artgan.Renderer):
    """Test renderer whose option has the name of the command's own argument, TARGET's."""

    uses_model = False

    class Options(artgan.Options):
        targets: int = 1

    def render(self, target):
        out = Path(target) / "counted.txt"
        out.write_text(str(self.options.targets))
        return [out]


def test_an_option_may_have_the_name_of_the_commands_own_argument(register_plugin, tmp_path):
    module = types.ModuleType("test_counted_renderer")
    module.register_renderers = artgan.hookimpl(lambda register: register("counted", Counted))
    register_plugin(module, "test-counted-renderer")
    result = invoke("render", "counted", tmp_path, "--targets", "3")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "counted.txt").read_text() == "3"


def artgan_options(name, **given):
    return rendering.options_from_text(plugins.get("renderer", name).cls.Options, given)


def test_option_text_is_read_like_recipe_set_values():
    options = artgan_options("interpolation", seeds="[4, 5]", size="128", out="2024.mp4", mode="lerp",
                             truncation="0.7", loop=True)
    assert (options.seeds, options.size, options.out, options.mode, options.truncation, options.loop) == (
        [4, 5], 128, Path("2024.mp4"), "lerp", 0.7, True)


def test_the_film_renderer_example_in_the_docs_runs(tmp_path, restore_plugins):
    docs = (Path(__file__).parents[1] / "docs" / "renderers.md").read_text()
    example = docs.split("```python\n")[-1].split("```")[0]
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "flicker.py").write_text(example)
    out = tmp_path / "flicker.mp4"
    result = invoke("--plugins-dir", tmp_path / "plugins", "render", "flicker", fake_run(tmp_path), "--out", out,
                    "--size", "32")
    assert result.exit_code == 0, result.output
    meta, frames = read_film(out)
    assert meta["size"] == (32, 32) and len(frames) == 20 + 20  # 20 frames, then 2 s held at 10 fps


def test_the_command_a_recipe_step_prints_renders_it_with_its_other_runs_as_targets(tmp_path):
    runs = [fake_run(tmp_path / name, seed=seed) for seed, name in enumerate("abc")]
    cls = plugins.get("renderer", "compare").cls
    out = tmp_path / "c.mp4"
    words = rendering.command_line("compare", runs[0], cls.Options(runs=runs[1:], size=32, out=out))
    assert words[:6] == ["artgan", "render", "compare", *map(str, runs)] and "--runs" not in words
    result = invoke(*words[1:])
    assert result.exit_code == 0, result.output
    assert read_film(out)[0]["size"][0] == 3 * 32 + 2 * 8  # three runs side by side


class Helpful(artgan.Renderer):
    """Test renderer with an option named help, which must not take --help over."""

    uses_model = False

    class Options(artgan.Options):
        help: str = Field("none given", description="a text to write")

    def render(self, target):
        out = Path(target) / "help.txt"
        out.write_text(self.options.help)
        return [out]


def test_help_always_shows_help_and_an_option_named_help_is_help_option(register_plugin, tmp_path):
    module = types.ModuleType("test_helpful_renderer")
    module.register_renderers = artgan.hookimpl(lambda register: register("helpful", Helpful))
    register_plugin(module, "test-helpful-renderer")
    shown = invoke("render", "helpful", "--help")
    assert shown.exit_code == 0, shown.output
    assert "Usage:" in shown.stdout and "--help-option" in shown.stdout and "a text to write" in shown.stdout
    result = invoke("render", "helpful", tmp_path, "--help-option", "hi")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "help.txt").read_text() == "hi"
    assert rendering.command_line("helpful", tmp_path, Helpful.Options(help="hi"))[-2:] == ["--help-option", "hi"]


@pytest.mark.parametrize("name, listed", [("grid", True), ("interpolation", True), ("timelapse", False),
                                          ("compare", False), ("loss-plot", False)])
def test_device_is_an_option_only_of_renderers_that_run_a_model(name, listed):
    result = invoke("render", name, "--help")
    assert result.exit_code == 0, result.output
    assert ("--device" in result.stdout) == listed
