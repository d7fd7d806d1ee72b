"""The command line: plugins listing, dry runs, one-line errors with status 2, dataset builds."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image
from typer.testing import CliRunner

import artgan
from artgan.cli import app
from films import read_film

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MINIMAL = """
    name = "cli-mini"
    resolution = 32

    [[source]]
    use = "shapes"
    count = 12

    [model]
    use = "dcgan"
"""


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def line_with(text: str, word: str) -> str:
    (line,) = [line for line in text.splitlines() if f" {word} " in line]
    return line


def test_plugins_table_lists_the_builtins():
    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    names = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("│") and line.split()[1:2]}
    assert {"shapes", "dcgan", "grid", "folder"} <= names
    assert "source" in line_with(result.stdout, "shapes")
    assert "model" in line_with(result.stdout, "dcgan")
    assert "renderer" in line_with(result.stdout, "grid")
    assert "artgan" in line_with(result.stdout, "dcgan")


def test_plugins_name_shows_options_with_defaults():
    result = invoke("plugins", "dcgan")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("dcgan (model, artgan")
    lr_g = line_with(result.stdout, "lr_g")
    assert "float" in lr_g and "0.0002" in lr_g and "learning rate" in lr_g
    assert "100" in line_with(result.stdout, "z_dim")
    assert "grid" not in result.stdout.split()  # only the plugin asked for


def test_plugins_name_shows_full_types():
    """Types such as tuple[float, float] are printed as they are, not eaten as rich markup."""
    result = invoke("plugins", "dcgan")
    assert result.exit_code == 0, result.output
    assert "tuple[" in line_with(result.stdout, "real_label")


def test_plugins_json():
    result = invoke("plugins", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    by_name = {p["name"]: p for p in listed}
    assert {"shapes", "dcgan", "grid"} <= set(by_name)
    for plugin in listed:
        assert set(plugin) >= {"name", "kind", "distribution", "options"}
        for option in plugin["options"]:
            assert set(option) >= {"name", "type", "default", "help"}
    dcgan = by_name["dcgan"]
    assert dcgan["kind"] == "model" and dcgan["distribution"].startswith("artgan")
    options = {o["name"]: o for o in dcgan["options"]}
    assert options["lr_g"]["type"] == "float"
    assert options["lr_g"]["default"] == pytest.approx(2e-4)
    assert options["lr_g"]["help"]
    assert options["real_label"]["default"] == [1.0, 1.0]
    assert by_name["shapes"]["kind"] == "source"
    assert by_name["grid"]["kind"] == "renderer"


def test_plugins_json_for_one_plugin():
    result = invoke("plugins", "shapes", "--json")
    assert result.exit_code == 0, result.output
    (shapes,) = json.loads(result.stdout)
    assert shapes["name"] == "shapes"
    count = next(o for o in shapes["options"] if o["name"] == "count")
    assert (count["type"], count["default"]) == ("int", 1000)


def test_plugins_unknown_name_exits_2():
    result = invoke("plugins", "nosuch")
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "nosuch" in line


def test_dry_run_prints_the_resolved_recipe(write_recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(MINIMAL)
    result = invoke("run", path, "--dry-run", "--set", "train.steps=7", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    resolved = tomllib.loads(result.stdout)
    assert resolved["name"] == "cli-mini"
    assert resolved["train"]["steps"] == 7
    assert resolved["train"]["batch_size"] == 64
    assert resolved["source"][0]["count"] == 12 and resolved["source"][0]["shape"] == "ellipse"
    assert resolved["model"]["lr_g"] == pytest.approx(2e-4)
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()
    assert not (tmp_path / "out").exists()


def dry_run_render_out(write_recipe, value: str):
    path = write_recipe(MINIMAL + f"""
        [[render]]
        use = "grid"
        out = "{value}"
    """)
    result = invoke("run", path, "--dry-run")
    assert result.exit_code == 0, result.output
    return tomllib.loads(result.stdout)["render"][0]["out"]


def test_dry_run_does_not_wrap_long_values(write_recipe, tmp_path, monkeypatch):
    """The output is the recipe, valid TOML, however narrow the terminal and long the value."""
    monkeypatch.chdir(tmp_path)
    long_path = "/" + "/".join(f"folder{i:02d}" for i in range(30)) + "/grid.png"
    assert dry_run_render_out(write_recipe, long_path) == long_path


def test_dry_run_prints_values_verbatim(write_recipe, tmp_path, monkeypatch):
    """Neither rich markup nor :emoji: codes in a value are interpreted."""
    monkeypatch.chdir(tmp_path)
    value = "grid :smile: [bold]x[/bold].png"
    assert dry_run_render_out(write_recipe, value) == value


def test_dry_run_reads_like_the_recipe_file_and_loads_back_as_the_same_recipe(write_recipe, tmp_path, monkeypatch):
    """Arrays and tables on one line, as written by hand; empty ones kept ({}); "none" kept."""
    monkeypatch.chdir(tmp_path)
    path = write_recipe(MINIMAL + """
        [[source]]
        use = "video-frames"
        paths = ["clip \\"one\\" é.mp4"]
        trim = { "a.mp4" = [1.0, 5.0] }
        min_brightness = "none"

        [[render]]
        use = "timelapse"

        [sweep]
        "train.steps" = [5, 6]
        labels = ["short", "long"]
    """)
    result = invoke("run", path, "--dry-run", "--set", "source.1.trim={}")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for line in ("real_label = [1.0, 1.0]", "trim = {}", "min_brightness = \"none\"", "[[render]]",
                 '"train.steps" = [5, 6]', 'labels = ["short", "long"]', 'paths = ["clip \\"one\\" é.mp4"]'):
        assert line in lines, result.stdout
    printed = write_recipe(result.stdout, "printed.toml")
    assert artgan.load_recipe(printed).as_dict() == artgan.load_recipe(path, overrides=["source.1.trim={}"]).as_dict()
    written = write_recipe(artgan.load_recipe(path).as_toml(), "written.toml")
    assert "trim = { \"a.mp4\" = [1.0, 5.0] }" in written.read_text().splitlines()
    assert artgan.load_recipe(written).as_dict() == artgan.load_recipe(path).as_dict()


BAD = {
    "unknown-key": ('colour = "blue"\n' + MINIMAL, "colour"),
    "unknown-option": (MINIMAL + "    lr_gg = 0.1\n", "model.lr_gg"),
    "wrong-type": (MINIMAL + '\n    [train]\n    steps = "many"\n', "train.steps"),
    "misspelt-plugin": (MINIMAL.replace('"shapes"', '"shapse"'), 'did you mean "shapes"'),
    "invalid-toml": (MINIMAL + "\n    not toml at all\n", "TOML"),
    "no-model": (MINIMAL.replace('[model]\n    use = "dcgan"', ""), "model"),
}


@pytest.mark.parametrize("command", ["run", "dataset"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_recipe_exits_2_with_one_line(write_recipe, tmp_path, monkeypatch, case, command):
    monkeypatch.chdir(tmp_path)
    text, expected = BAD[case]
    path = write_recipe(text, name=f"{case}.toml")
    args = ["run", path, "--dry-run"] if command == "run" else ["dataset", path]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert str(path) in line
    assert expected in line
    assert not (tmp_path / "data").exists()


def test_missing_recipe_exits_2(tmp_path):
    result = invoke("run", tmp_path / "nowhere.toml", "--dry-run")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "nowhere.toml" in line and "not found" in line


def test_bad_set_exits_2(write_recipe):
    result = invoke("run", write_recipe(MINIMAL), "--dry-run", "--set", "source.4.count=1")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "source.4" in line


def test_only_rank_0_of_a_torchrun_job_prints_an_error(write_recipe, monkeypatch):
    monkeypatch.setenv("RANK", "1")  # each process meets the same error: one says it
    result = invoke("run", write_recipe(MINIMAL), "--dry-run", "--set", "source.4.count=1")
    assert result.exit_code == 2 and result.stderr == ""


def test_hints_under_torchrun_start_as_many_processes(monkeypatch):
    from artgan.cli import _command

    monkeypatch.setenv("ARTGAN_PLUGINS_DIR", "plugins")  # then the hint needs no --plugins-dir
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert _command("train", "r.toml", "--resume", job=True) == \
        "torchrun --nnodes=2 --nproc_per_node=4 -m artgan train r.toml --resume"
    assert _command("dataset", "r.toml") == "artgan dataset r.toml"  # rank 0 alone builds it


def test_dataset_builds_with_contact_sheet_and_prints_counts(write_recipe, tmp_path):
    path = write_recipe(MINIMAL)
    out = tmp_path / "out"
    result = invoke("dataset", path, "--out", out, "--contact-sheet")
    assert result.exit_code == 0, result.output
    folder = out / "data" / "cli-mini"
    assert "dataset built: 12 images of 32px" in result.stdout
    assert "source[0]: 12 images" in result.stdout
    assert len(list((folder / "images").glob("*.png"))) == 12
    assert len((folder / "manifest.jsonl").read_text().splitlines()) == 12
    with Image.open(folder / "contact-sheet.png") as sheet:
        assert sheet.size == (4 * 33 - 1, 3 * 33 - 1)

    again = invoke("dataset", path, "--out", out)
    assert again.exit_code == 0, again.output
    assert "dataset reused: 12 images" in again.stdout

    rebuilt = invoke("dataset", path, "--out", out, "--set", "source.count=5")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "dataset built: 5 images" in rebuilt.stdout


def test_dataset_prints_paths_whole(write_recipe, tmp_path):
    """Printed paths stay on one line, so they can be copied or parsed, however long they are."""
    out = tmp_path / ("a-rather-long-folder-name-" * 4) / ("and-another-one-" * 3)
    result = invoke("dataset", write_recipe(MINIMAL), "--out", out, "--contact-sheet")
    assert result.exit_code == 0, result.output
    assert str(out / "data" / "cli-mini" / "contact-sheet.png") in result.stdout.splitlines()[-1]


def test_python_m_artgan_help(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTGAN_")}
    result = subprocess.run([sys.executable, "-m", "artgan", "--help"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("run", "dataset", "plugins"):
        assert command in result.stdout


def test_demo_trains_renders_and_prints_where_everything_went(tmp_path):
    """The demo recipe as shipped, shrunk with --set: dataset, run, grid and both films."""
    out = tmp_path / "demo"
    result = invoke("demo", "--out", out, "--set", "source.0.count=40", "--set", "train.steps=4",
                    "--set", "train.snapshot_every=2", "--set", "render.2.seconds=1")
    assert result.exit_code == 0, result.output
    run = out / "runs" / "demo"
    assert sorted(p.name for p in (run / "snapshots").glob("*.png")) == [
        "step-0000000.png", "step-0000002.png", "step-0000004.png"]
    assert (run / "checkpoints" / "step-0000004.pt").is_file()
    printed = result.stdout
    for name in ("grid.png", "timelapse.mp4", "timelapse.gif", "interpolation.mp4"):
        assert str(run / name) in printed
    info, frames = read_film(run / "interpolation.mp4")
    assert len(frames) == info["fps"] * 1 and frames.shape[1:3] == (512, 512)
    with Image.open(run / "grid.png") as grid:
        assert grid.size[0] > 32
