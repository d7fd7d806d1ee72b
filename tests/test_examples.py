"""The bundled recipes: `artgan recipes` lists them, a bare name finds one, each has its opening
comment, every `artgan run` command in those comments validates, values left to the user are asked
for by their --set key, and each recipe runs end to end with tiny counts."""
from __future__ import annotations

import functools
import json
import re
import shlex
import shutil
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps
from typer.testing import CliRunner

from artgan import bundled
from artgan.cli import app
from films import read_film

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLES = Path(__file__).parents[1] / "examples"
FIXTURES = Path(__file__).parent / "fixtures"
NAMES = sorted(path.stem for path in EXAMPLES.glob("*.toml"))
NEEDS = {  # what each recipe leaves to the user
    "black-square": ["sweep.train.init_from"],
    "cartoon-frames": ["source.0.paths"],
    "cartoon-frames-stylegan": ["source.0.paths", "train.init_from"],
    "ellipses": [],
    "folder": ["source.0.path"],
    "single-photo": ["source.0.path"],
    "web-faces": ["source.0.query"],
    "white-ellipses": [],
}
# Small enough for a test: one step of four images; a 2x2 snapshot grid before and after it.
TINY = ["--set", "train.steps=1", "--set", "train.batch_size=4", "--set", "train.snapshot_every=1",
        "--set", "train.checkpoint_every=1", "--set", "train.grid=2"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def header(name: str) -> list[str]:
    """The recipe's opening comment, without the "# "."""
    lines = (EXAMPLES / f"{name}.toml").read_text(encoding="utf-8").splitlines()
    return [line[1:].strip() for line in lines[:next(i for i, line in enumerate(lines) if not line.startswith("#"))]]


def documented_runs(name: str) -> list[list[str]]:
    """The `artgan run …` commands in the recipe's opening comment, as arguments after `artgan`
    (a command goes on over lines ending in a backslash; a closing "(…)" is a remark)."""
    commands, current = [], None
    for text in header(name):
        text = text.removeprefix("Run:").strip()
        if current is None and not text.startswith("artgan run "):
            continue
        current = text if current is None else f"{current} {text}"
        if current.endswith("\\"):
            current = current[:-1].strip()
            continue
        commands.append(shlex.split(re.sub(r"\s+\(.*\)$", "", current))[1:])
        current = None
    return commands


def test_the_list_holds_the_expected_recipes():
    assert NAMES == sorted(NEEDS)


def test_recipes_lists_every_bundled_recipe_with_its_summary_and_needs():
    result = invoke("recipes", "--json")
    assert result.exit_code == 0, result.output
    listed = {r["name"]: r for r in json.loads(result.stdout)}
    assert sorted(listed) == NAMES
    for name, recipe in listed.items():
        assert recipe["summary"] == header(name)[0]
        assert recipe["needs"] == NEEDS[name]
        assert Path(recipe["path"]).resolve() == (EXAMPLES / f"{name}.toml").resolve()


def test_recipes_table_names_each_recipe():
    result = invoke("recipes")
    assert result.exit_code == 0, result.output
    for name in NAMES:
        assert f" {name} " in result.stdout
    assert "artgan run NAME" in result.stdout


def fields(name: str) -> dict[str, str]:
    """The "Field: text" paragraphs of the recipe's opening comment, after its summary line."""
    found: dict[str, str] = {}
    for line in header(name)[2:]:
        match = re.match(r"^([A-Z][a-z]+): (.*)", line)
        if match:
            field = match[1]
            found[field] = match[2]
        else:
            found[field] += " " + line
    return found


@pytest.mark.parametrize("name", NAMES)
def test_each_header_figure_names_the_benchmark_that_measured_it(name):
    """The time a recipe takes was measured on it as shipped: its "Takes:" names the command."""
    takes = fields(name)["Takes"]
    commands = re.findall(r"`python (benchmarks/\w+\.py)([^`]*)`", takes)
    assert commands, f"{name}.toml: Takes: names no `python benchmarks/....py` command"
    for script, arguments in commands:
        assert (EXAMPLES.parent / script).is_file(), script
        if script == "benchmarks/recipe_time.py":
            assert name in arguments.split(), f"{name}.toml: recipe_time.py measured another recipe"
    assert re.search(r"CPU[- ]s", takes) or "CPU minutes" in takes, f"{name}.toml: Takes: gives no CPU time"


@pytest.mark.parametrize("name", NAMES)
def test_each_recipe_opens_with_what_it_is(name):
    summary, blank, *_ = header(name)
    assert len(summary) > 20 and blank == ""  # a one-line summary, then the details
    details = fields(name)
    assert list(details) == ["Reproduces", "Expect", "Takes", "Needs", "Run"]
    assert any(command[:2] == ["run", name] for command in documented_runs(name))


@pytest.mark.parametrize("name, index", [(name, i) for name in NAMES for i in range(len(documented_runs(name)))])
def test_every_documented_command_validates(name, index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = documented_runs(name)[index]
    result = invoke(*command, "--dry-run")
    assert result.exit_code == 0, f"{shlex.join(command)}: {result.output}"
    named = next((arg.split("=", 1)[1] for arg in command if arg.startswith("name=")), command[1])
    assert tomllib.loads(result.stdout)["name"] == named
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", [name for name in NAMES if NEEDS[name]])
def test_a_value_left_to_the_user_is_asked_for_by_its_set_key(name):
    result = invoke("run", name, "--dry-run")
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {bundled.folder() / name}.toml: ")
    for key in NEEDS[name]:
        assert f"--set {key}=..." in line or f"--set '{key}=[\"...\"]'" in line


def test_white_ellipses_is_ellipses_in_white():
    """white-ellipses.toml must follow the settings tuned in ellipses.toml: only the name and the
    colour may differ. When ellipses.toml changes, change white-ellipses.toml the same way."""
    ellipses = tomllib.loads((EXAMPLES / "ellipses.toml").read_text())
    white = tomllib.loads((EXAMPLES / "white-ellipses.toml").read_text())
    assert (white.pop("name"), white["source"][0].pop("colors")) == ("white-ellipses", "white")
    assert (ellipses.pop("name"), ellipses["source"][0].pop("colors")) == ("ellipses", "random")
    assert white == ellipses


def test_the_demo_trains_the_model_of_ellipses_but_for_the_settings_its_few_minutes_need():
    """The demo's [model] and learning-rate ramp are ellipses.toml's (it trains for fewer steps on
    fewer images): when the tuned settings change, change artgan/demo.toml the same way. Only these
    differ, each for the demo's 4,500 steps (README, Benchmarks): resize upsampling (transposed
    convolutions left a checkerboard that few steps do not smooth away), and Adam without momentum,
    D shown saturation and a stronger R1 (clean shapes and the data's spread sooner)."""
    ellipses = tomllib.loads((EXAMPLES / "ellipses.toml").read_text())
    demo = tomllib.loads((Path(bundled.__file__).parent / "demo.toml").read_text())
    own = {key: demo["model"].pop(key) for key in ("upsample", "beta1", "d_saturation")}
    assert own == {"upsample": "resize", "beta1": 0.0, "d_saturation": True}
    assert not set(own) & set(ellipses["model"])
    assert (demo["model"].pop("r1_gamma"), ellipses["model"].pop("r1_gamma")) == (0.3, 0.1)
    assert demo["model"] == ellipses["model"]
    assert demo["train"]["lr_ramp_down"] == ellipses["train"]["lr_ramp_down"]


def test_an_unknown_bare_name_points_to_the_list(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "no-such-recipe", "--dry-run")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "no-such-recipe" in line and "artgan recipes" in line


def test_a_file_of_that_name_comes_before_the_bundled_recipe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (EXAMPLES / "ellipses.toml").read_text().replace('name = "ellipses"', 'name = "mine"')
    (tmp_path / "ellipses").write_text(text)
    result = invoke("run", "ellipses", "--dry-run")
    assert result.exit_code == 0, result.output
    assert tomllib.loads(result.stdout)["name"] == "mine"


# ------------------------------------------------------------------------------ end to end

def run(name: str, root: Path, *args) -> Path:
    """Run bundled recipe ``name`` with tiny counts into ``root``; returns runs/."""
    result = invoke("run", name, "--out", root, *TINY, *args)
    assert result.exit_code == 0, result.output
    return root / "runs"


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"))


@pytest.mark.parametrize("name, colourful", [("ellipses", True), ("white-ellipses", False)])
def test_ellipses_run_end_to_end(name, colourful, tmp_path):
    runs = run(name, tmp_path, "--set", "source.0.count=8")
    assert (runs / name / "grid.png").is_file()
    assert (runs / name / "checkpoints" / "step-0000001.pt").is_file()
    drawn = np.concatenate([pixels(p).reshape(-1, 3) for p in (tmp_path / "data" / name / "images").glob("*.png")])
    spread = (drawn.max(1).astype(int) - drawn.min(1)).max()  # how far from grey any pixel is
    assert (spread > 100) == colourful


@pytest.fixture(scope="module")
def photo_start(tmp_path_factory):
    """single-photo.toml run on the astronaut at the shared StyleGAN2's capacity, as black-square.toml
    says: its folder, a starting point for the others."""
    root = tmp_path_factory.mktemp("single-photo")
    runs = run("single-photo", root, "--set", f"source.0.path={FIXTURES / 'astronaut.jpg'}",
               "--set", "model.capacity=0.125",
               "--set", "source.0.count=8")
    return runs / "single-photo"


def test_single_photo_runs_end_to_end(tmp_path):
    folder = run("single-photo", tmp_path, "--set", f"source.0.path={FIXTURES / 'astronaut.jpg'}",
                 "--set", "source.0.count=8") / "single-photo"
    assert {p.name for p in folder.iterdir()} >= {"timelapse.mp4", "grid.png", "metrics.jsonl"}
    _, frames = read_film(folder / "timelapse.mp4")
    assert len(frames) >= 2  # steps 0 and 1
    images = sorted((tmp_path / "data" / "single-photo" / "images").glob("*.png"))
    assert len(images) == 8
    assert np.array_equal(pixels(images[0]), pixels(images[-1]))  # the same photo


def test_folder_runs_end_to_end(tmp_path):
    runs = run("folder", tmp_path, "--set", f"source.0.path={FIXTURES}", "--set", "render.1.seconds=1")
    folder = runs / "folder"
    assert {"timelapse.mp4", "interpolation.mp4", "grid.png"} <= {p.name for p in folder.iterdir()}
    dataset = json.loads((tmp_path / "data" / "folder" / "dataset.json").read_text())
    assert dataset["count"] == 2 * len(list(FIXTURES.glob("*.jpg")))  # each photo and its mirror image


def test_black_square_runs_from_the_starting_points_its_comment_makes(photo_start, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (ellipses_command,) = [c for c in documented_runs("black-square") if c[1] == "white-ellipses"]
    result = invoke(*ellipses_command, "--out", tmp_path, *TINY, "--set", "source.0.count=8")
    assert result.exit_code == 0, result.output
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(tmp_path / "runs" / "ellipses-64" / "checkpoints" / "step-0000001.pt", library / "ellipses.pt")
    shutil.copy(photo_start / "checkpoints" / "step-0000001.pt", library / "photo.pt")
    starts = json.dumps([str(library / "ellipses.pt"), str(library / "photo.pt")])
    runs = run("black-square", tmp_path, "--set", f"sweep.train.init_from={starts}", "--set", "source.0.count=8")
    for label in ("ellipses", "photo"):
        assert (runs / f"black-square-{label}" / "timelapse.mp4").is_file()
        lock = tomllib.loads((runs / f"black-square-{label}" / "recipe.lock.toml").read_text())
        assert lock["train"]["init_from"] == str(library / f"{label}.pt")
    meta, frames = read_film(runs / "black-square-sweep" / "compare.mp4")
    assert len(frames) >= 2 and meta["size"][0] > meta["size"][1]  # two runs side by side


def write_episode(path: Path, seconds: int = 4, fps: int = 10) -> None:
    """A short video of shapes moving over a changing background: every frame sharp and new."""
    writer = imageio_ffmpeg.write_frames(str(path), (160, 120), fps=fps, macro_block_size=1)
    writer.send(None)
    for i in range(seconds * fps):
        picture = Image.new("RGB", (160, 120), (40 + 5 * i, 90, 140))
        draw = ImageDraw.Draw(picture)
        draw.rectangle((10 + 3 * i, 20, 60 + 3 * i, 70), fill=(250, 220, 30))
        draw.ellipse((100 - 2 * i, 50, 150 - 2 * i, 110), fill=(230, 60, 40))
        writer.send(np.asarray(picture).tobytes())
    writer.close()


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("episodes")
    write_episode(folder / "s01e01.mp4")
    # the recipes skip the intro and the credits; these episodes have neither
    return ["--set", f"source.0.paths={json.dumps([str(folder)])}", "--set", "source.0.every=0.5",
            "--set", "source.0.skip_start=0", "--set", "source.0.skip_end=0"]


def test_cartoon_frames_runs_end_to_end(episodes, tmp_path):
    runs = run("cartoon-frames", tmp_path, *episodes, "--set", "render.1.count=4")
    assert {"timelapse.mp4", "grid.png"} <= {p.name for p in (runs / "cartoon-frames").iterdir()}
    dataset = json.loads((tmp_path / "data" / "cartoon-frames" / "dataset.json").read_text())
    assert dataset["resolution"] == 128 and dataset["count"] >= 6


def test_cartoon_frames_stylegan_starts_from_a_starting_point(episodes, photo_start, tmp_path):
    start = photo_start / "checkpoints" / "step-0000001.pt"
    runs = run("cartoon-frames-stylegan", tmp_path, *episodes, "--set", f"train.init_from={start}",
               "--set", "render.1.seconds=1")
    folder = runs / "cartoon-frames-stylegan"
    assert {"timelapse.mp4", "interpolation.mp4"} <= {p.name for p in folder.iterdir()}
    assert tomllib.loads((folder / "recipe.lock.toml").read_text())["train"]["init_from"] == str(start)


@pytest.fixture
def image_search(tmp_path):
    """A search service on 127.0.0.1: search.json lists three photos, two of them with a face."""
    folder = tmp_path / "web"
    folder.mkdir()
    astronaut = Image.open(FIXTURES / "astronaut.jpg")
    astronaut.save(folder / "astronaut.jpg")
    ImageOps.mirror(astronaut).save(folder / "astronaut-mirrored.jpg")
    shutil.copy(FIXTURES / "rocket.jpg", folder / "rocket.jpg")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    results = [{"original": f"{url}/{name}", "by": "NASA", "lic": "public domain"}
               for name in ("astronaut.jpg", "astronaut-mirrored.jpg", "rocket.jpg")]
    (folder / "search.json").write_text(json.dumps({"images_results": results}))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_web_faces_runs_end_to_end_against_a_local_search(image_search, tmp_path):
    runs = run("web-faces", tmp_path, "--set", "source.0.query=Ada Lovelace", "--set", "workers=1",
               "--set", "source.0.provider=json", "--set", "source.0.allow_local=true",
               "--set", f"source.0.endpoint={image_search}/search.json?q={{query}}",
               "--set", 'source.0.json_fields={creator = "by", license = "lic"}', "--set", "render.1.seconds=1")
    folder = runs / "web-faces"
    assert {"timelapse.mp4", "interpolation.mp4", "CREDITS.md"} <= {p.name for p in folder.iterdir()}
    dataset = json.loads((tmp_path / "data" / "web-faces" / "dataset.json").read_text())
    assert dataset["count"] == 2  # the astronaut and her mirror image; the rocket has no face
    assert [skip["reason"] for skip in dataset["skipped"]] == [
        "no face as wide as min_face (searched down to 24 px wide)"]
    credits = (folder / "CREDITS.md").read_text()
    assert credits.count("by NASA, licensed public domain") == 2
