"""The plugin author's path: the template works as loose files through --plugins-dir; and, in a
virtual environment with artgan installed from its wheel, the template and `artgan new-plugin`'s
output install with pip, show up in `artgan plugins`, run from a recipe and pass their own tests."""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from artgan import bundled
from artgan.cli import app

ROOT = Path(__file__).parents[1]
TEMPLATE = ROOT / "examples" / "plugin-template"
FIXTURES = Path(__file__).parent / "fixtures"
KINDS = ["source", "preprocessor", "model", "renderer"]


def write_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zipped:
        for photo in sorted(FIXTURES.glob("*.jpg")):
            zipped.write(photo, f"photos/{photo.name}")
    return path


def recipe(folder: Path, name: str, plugin: str, model: str = "example", preprocess: bool = True) -> Path:
    """Images from a zip (posterized), a model, a contact sheet: the plugins named ``plugin``,
    and the model ``model``."""
    posterize = f'[[preprocess]]\nuse = "{plugin}"\nlevels = 3' if preprocess else ""
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(f"""
        name = "{name}"
        resolution = 32

        [[source]]
        use = "{plugin}"
        path = "{write_zip(folder / f'{name}.zip')}"

        {posterize}

        [model]
        use = "{model}"

        [train]
        steps = 2
        batch_size = 2
        snapshot_every = 1
        grid = 2

        [[render]]
        use = "{plugin}"
        count = 3
        size = 32
    """))
    return path


def template_files(folder: Path) -> set[Path]:
    """The files of a plugin template, without what running Python and tools leaves beside them."""
    return {p.relative_to(folder) for p in folder.rglob("*.*")
            if not any(part == "__pycache__" or part.startswith(".") for part in p.relative_to(folder).parts)}


def test_template_modules_work_as_loose_plugin_files(tmp_path, restore_plugins):
    # the model is two modules (its torch code apart), which need their package: it is tested installed
    loose = tmp_path / "loose"
    loose.mkdir()
    for kind in ["source", "preprocessor", "renderer"]:
        shutil.copy(TEMPLATE / "artgan_example" / f"{kind}.py", loose / f"example_{kind}.py")
    path = recipe(tmp_path, "loose", "example", model="dcgan")
    result = CliRunner().invoke(app, ["--plugins-dir", str(loose), "run", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "runs" / "loose" / "contact-sheet.png") as sheet:
        assert sheet.size == (2 * 32, 2 * (32 + 14))  # three snapshots (steps 0, 1, 2) in a 2x2 grid
    lock = (tmp_path / "runs" / "loose" / "recipe.lock.toml").read_text()
    assert 'use = "example"' in lock
    manifest = (tmp_path / "data" / "loose" / "manifest.jsonl").read_text().splitlines()
    assert [json.loads(line)["steps"][0]["levels"] for line in manifest] == [3, 3, 3]  # posterized


def test_new_plugin_copies_the_whole_template_under_the_new_name(tmp_path):
    folder = tmp_path / "artgan-glitch"
    result = CliRunner().invoke(app, ["new-plugin", "glitch", "--out", str(folder)])
    assert result.exit_code == 0, result.output
    renamed = {Path(str(p).replace("artgan_example", "artgan_glitch")) for p in template_files(TEMPLATE)}
    assert template_files(folder) == renamed
    for path in folder.rglob("*.*"):
        assert "example" not in path.read_text(), path
    assert 'name = "artgan-glitch"' in (folder / "pyproject.toml").read_text()
    assert 'register("glitch", ZipImages)' in (folder / "artgan_glitch" / "source.py").read_text()


def test_new_plugin_leaves_out_the_modules_of_kinds_not_asked_for(tmp_path):
    folder = tmp_path / "artgan-glitch"
    result = CliRunner().invoke(app, ["new-plugin", "glitch", "--kind", "source", "--out", str(folder)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (folder / "artgan_glitch").iterdir()) == ["__init__.py", "source.py"]
    assert sorted(p.name for p in (folder / "tests").iterdir()) == ["test_source.py"]
    assert "model" not in (folder / "pyproject.toml").read_text()
    assert "model.py" not in (folder / "README.md").read_text()  # nor its row


@pytest.mark.parametrize("args, expected", [
    (["new-plugin", "Glitch"], 'a plugin name starts with a letter and is lower-case letters and digits'),
    (["new-plugin", "123"], 'a plugin name starts with a letter'),
    (["new-plugin", "folder"], '"folder": a source plugin of that name is already installed (artgan '),
    (["new-plugin", "grid", "--kind", "renderer"], "choose another name, e.g. my-grid"),
    (["new-plugin", "glitch", "--out", "{existing}"], "already exists; choose a new folder with --out"),
    (["new-plugin", "glitch", "--out", "{existing}/a-file/glitch"], "a-file is a file, not a folder"),
    (["new-plugin", "glitch", "--out", "/proc/artgan-glitch"], "/proc/artgan-glitch: cannot create the folder"),
])
def test_new_plugin_refuses_a_bad_or_taken_name_or_a_folder_it_cannot_make(args, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    result = CliRunner().invoke(app, [arg.format(existing=tmp_path) for arg in args])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert expected in line
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def test_new_plugin_takes_a_name_installed_for_another_kind_only(tmp_path):
    # "grid" is a renderer; a source named grid clashes with nothing
    result = CliRunner().invoke(app, ["new-plugin", "grid", "--kind", "source", "--out", str(tmp_path / "g")])
    assert result.exit_code == 0, result.output
    assert 'register("grid", ZipImages)' in (tmp_path / "g" / "artgan_grid" / "source.py").read_text()


# ----------------------------------------------------------------------- in a virtual environment

def clean_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTGAN_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv), PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def outer_site_dirs() -> list[str]:
    """The folders this interpreter imports installed packages from: its own site-packages (a
    venv's, a conda env's or a system python's), the base ones a venv with system site-packages
    adds, and the user's."""
    dirs = site.getsitepackages() + ([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])
    return [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]


def see_outer_packages(venv_python: Path) -> None:
    """Let the venv import what this interpreter imports. `venv --system-site-packages` would not:
    made from inside a venv it sees the *base* interpreter's packages, not this venv's. A .pth
    line that starts with `import` runs, and addsitedir also runs the .pth files of each folder
    (editable installs, setuptools' distutils shim)."""
    purelib = subprocess.run([str(venv_python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    lines = [f"import site; site.addsitedir({folder!r})\n" for folder in outer_site_dirs()]
    (Path(purelib) / "_artgan_test_outer.pth").write_text("".join(lines), encoding="utf-8")


class Venv:
    """A virtual environment that sees this interpreter's packages, with artgan installed from a
    wheel built from this checkout (so it has only what the wheel ships)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.env = clean_env(folder)

    def run(self, *args, cwd=None, check=True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=self.env,
                                cwd=cwd or self.folder, timeout=600)
        if check:
            assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
        return result

    def artgan(self, *args, **kwargs) -> subprocess.CompletedProcess:
        return self.run(self.folder / "bin" / "artgan", *args, **kwargs)

    def python(self, *args, **kwargs) -> subprocess.CompletedProcess:
        return self.run(self.folder / "bin" / "python", *args, **kwargs)

    def pip_install_editable(self, folder: Path) -> None:
        self.python("-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", "-e", folder)

    def plugins(self) -> list[dict]:
        return json.loads(self.artgan("plugins", "--json").stdout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("venv")
    # without a pip of its own: this interpreter's pip and setuptools serve it, no network needed
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "env")], check=True, timeout=300)
    env = Venv(root / "env")
    see_outer_packages(env.folder / "bin" / "python")
    source = root / "artgan-src"  # a copy, so that building leaves nothing in the checkout
    leftovers = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache", "build")
    for part in ("artgan", "plugins", "examples"):
        shutil.copytree(ROOT / part, source / part, ignore=leftovers)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    env.python("-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", root / "dist", source)
    (wheel,) = (root / "dist").glob("artgan-*.whl")
    env.python("-m", "pip", "install", "--no-deps", "--force-reinstall", "-q", wheel)  # over the outer artgan
    return env


@pytest.mark.venv
def test_the_installed_wheel_ships_the_recipes_and_the_template(venv):
    where = Path(venv.python("-c", "import artgan_examples; print(artgan_examples.__file__)").stdout.strip())
    assert venv.folder in where.parents  # the wheel's copy, not the checkout's
    listed = json.loads(venv.artgan("recipes", "--json").stdout)
    assert sorted(r["name"] for r in listed) == sorted(p.stem for p in bundled.folder().glob("*.toml"))
    assert all(venv.folder in Path(r["path"]).parents for r in listed)
    dry = venv.artgan("run", "single-photo", "--dry-run", "--set", "source.0.path=me.jpg")
    assert 'name = "single-photo"' in dry.stdout
    assert template_files(where.parent / "plugin-template") == template_files(TEMPLATE)


@pytest.mark.venv
def test_the_template_installs_lists_runs_and_passes_its_tests(venv, tmp_path):
    template = tmp_path / "plugin-template"
    shutil.copytree(TEMPLATE, template, ignore=shutil.ignore_patterns("__pycache__"))
    venv.pip_install_editable(template)
    found = {(p["name"], p["kind"]): p for p in venv.plugins()}
    for kind in KINDS:
        assert found["example", kind]["distribution"] == "artgan-example 0.1.0"
    assert [o["name"] for o in found["example", "source"]["options"]] == ["path", "extensions"]

    venv.artgan("run", recipe(tmp_path, "zipped", "example"), "--out", tmp_path)
    assert (tmp_path / "runs" / "zipped" / "contact-sheet.png").is_file()
    assert json.loads((tmp_path / "data" / "zipped" / "dataset.json").read_text())["count"] == 3

    tests = venv.python("-m", "pytest", "-q", "-p", "no:cacheprovider", template / "tests", cwd=template)
    assert "20 passed" in tests.stdout  # with artgan.testing's fixtures, from the wheel's pytest11 entry point


@pytest.mark.venv
def test_new_plugin_output_installs_and_passes_its_own_tests(venv, tmp_path):
    folder = tmp_path / "artgan-glitch-art"
    made = venv.artgan("new-plugin", "glitch-art", "--kind", "source", "--kind", "renderer", "--out", folder)
    assert f"pip install -e {folder}" in made.stdout
    modules = sorted(p.name for p in (folder / "artgan_glitch_art").iterdir())
    assert modules == ["__init__.py", "renderer.py", "source.py"]
    assert "example" not in (folder / "pyproject.toml").read_text()
    venv.pip_install_editable(folder)
    found = {(p["name"], p["kind"]): p["distribution"] for p in venv.plugins()}
    assert found["glitch-art", "source"] == found["glitch-art", "renderer"] == "artgan-glitch-art 0.1.0"
    assert ("glitch-art", "model") not in found and ("glitch-art", "preprocessor") not in found

    venv.artgan("run", recipe(tmp_path, "glitched", "glitch-art", model="dcgan", preprocess=False), "--out", tmp_path)
    assert (tmp_path / "runs" / "glitched" / "contact-sheet.png").is_file()

    tests = venv.python("-m", "pytest", "-q", "-p", "no:cacheprovider", folder / "tests", cwd=folder)
    assert "9 passed" in tests.stdout  # the source's tests and the renderer's
