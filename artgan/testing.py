"""Helpers for the tests of artgan plugins, and a pytest plugin that offers them as fixtures.

pytest loads this module in every test session where artgan is installed (entry point group
``pytest11``, as pytester), so importing it must not import torch: each helper imports what it
needs when called. In a plugin's tests::

    from artgan.testing import run_source, run_preprocessor, run_renderer

    def test_zip(tmp_path):
        results = run_source("my-zip", {"path": tmp_path / "photos.zip"})
        assert len(results.items) == 3 and not results.skipped

    def test_sheet(artgan_run):                        # a real run folder (fixture below)
        (sheet,) = run_renderer("my-sheet", artgan_run, {"count": 4})

Fixtures: ``artgan_context`` (a factory of :class:`artgan.Context`), ``artgan_run`` (a run
folder of a real tiny training, with snapshots and checkpoints) and ``artgan_checkpoint`` (its
newest checkpoint). Documented in docs/writing-plugins.md, "Testing your plugin".
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import pytest

if TYPE_CHECKING:
    from PIL import Image

    from artgan.kinds import Context, Item, Plugin, Skipped

# The recipe of the tiny run: the smallest dcgan artgan trains (32 px), four steps, which leave
# snapshots at steps 0, 2 and 4 and a checkpoint at each. A few CPU seconds.
TINY_RECIPE: dict[str, Any] = {
    "name": "tiny", "seed": 0, "resolution": 32,
    "source": [{"use": "shapes", "count": 16}],
    "model": {"use": "dcgan", "g_width": 8, "d_width": 8, "z_dim": 16},
    "train": {"steps": 4, "batch_size": 4, "snapshot_every": 2, "checkpoint_every": 2, "metrics_every": 1,
              "grid": 2, "device": "cpu"},
}
SECTIONS = {"source": "source", "preprocessor": "preprocess", "renderer": "render"}  # kind -> recipe section


@dataclass
class Results:
    """What a source or preprocessor gave: its items, and the inputs it skipped, with why."""

    items: list[Item] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def make_context(cache_dir: str | Path | None = None, **fields: Any) -> Context:
    """A :class:`artgan.Context` for a plugin under test, with a cache folder (default: a new
    temporary one, removed when the process ends) and any other field given (``resolution=32``)."""
    from artgan.kinds import Context

    if cache_dir is None:
        cache_dir = tempfile.mkdtemp(prefix="cache-", dir=_temporary_root())
    return Context(cache_dir=Path(cache_dir), **fields)


def run_source(plugin: str | type[Plugin], options: dict[str, Any] | None = None,
               context: Context | None = None) -> Results:
    """Every item and skip of source ``plugin`` (an installed plugin's name, or its class), its
    options validated from ``options`` as from a recipe's [[source]] table: a bad option is the
    ArtganError a recipe would give."""
    from artgan.dataset import check_result
    from artgan.kinds import Item

    step = _step("source", plugin, options, "run_source")
    results = Results()
    for result in step.build(context or make_context()).items():
        check_result(result, step, "items() yielded")
        if isinstance(result, Item):
            result.info.setdefault("source", step.name)  # as the dataset records it
            results.items.append(result)
        else:
            results.skipped.append(result)
    return results


def run_preprocessor(plugin: str | type[Plugin], items: Iterable[Item | Image.Image],
                     options: dict[str, Any] | None = None, context: Context | None = None,
                     workers: int = 1) -> Results:
    """Preprocessor ``plugin`` on ``items`` (artgan.Items, or pictures, which become items with
    the origin "image N") the way a dataset build runs it: options validated as from a recipe's
    [[preprocess]] table, each step recorded in ``Item.steps``, artgan.BadInput turned into a skip,
    any other exception a PluginError. ``workers`` > 1 runs it as ``workers = N`` in a recipe does:
    pickled into spawned worker processes, so a preprocessor that cannot travel there fails here."""
    from artgan.dataset import preprocessed
    from artgan.kinds import Skipped

    step = _step("preprocessor", plugin, options, "run_preprocessor")
    built = step.build(context or make_context())
    sourced = ((step, _item(value, number)) for number, value in enumerate(items))
    results = Results()
    for _, out in preprocessed(sourced, [(step.as_table(), built, step, Path("run_preprocessor"))], workers):
        (results.skipped if isinstance(out, Skipped) else results.items).append(out)
    return results


def run_renderer(plugin: str | type[Plugin], target: str | Path, options: dict[str, Any] | None = None,
                 context: Context | None = None) -> list[Path]:
    """The files renderer ``plugin`` writes for ``target`` (a run folder or a checkpoint), its
    options validated as from a recipe's [[render]] table; a PluginError when it returns anything
    but a list of paths of files that exist, as in a run."""
    from artgan.rendering import files_written

    step = _step("renderer", plugin, options, "run_renderer")
    return files_written(step.name, step.plugin, step.build(context or make_context()).render(Path(target)))


def tiny_run(folder: str | Path, model: dict[str, Any] | None = None) -> Path:
    """Build the dataset of :data:`TINY_RECIPE` and train it in ``folder`` (data/tiny, runs/tiny),
    with ``model`` as its [model] table if given (``{"use": "my-gan", "width": 8}``: does my model
    train, snapshot and checkpoint through artgan's loop?); returns the run folder."""
    import tomli_w

    import artgan

    folder = Path(folder)
    path = folder / "tiny.toml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps({**TINY_RECIPE, "model": model or TINY_RECIPE["model"]}), encoding="utf-8")
    return artgan.run(artgan.load_recipe(path), out=folder).dir


def _step(kind: str, plugin: str | type[Plugin], options: dict[str, Any] | None, caller: str):
    """Plugin ``plugin`` of ``kind`` as the first step of its recipe section."""
    from artgan import plugins
    from artgan.kinds import KINDS
    from artgan.recipe import Step, plugin_options

    if isinstance(plugin, str):
        name, cls = plugin, plugins.get(kind, plugin).cls
    elif isinstance(plugin, type) and issubclass(plugin, KINDS[kind]):
        name, cls = plugin.__name__, plugin
    else:
        raise TypeError(f"{caller}: give a {kind} plugin's name or class, not {plugin!r}")
    section = SECTIONS[kind]
    # a recipe holds paths as text, where a test often gives a Path
    given = {key: str(value) if isinstance(value, Path) else value for key, value in (options or {}).items()}
    return Step(f"{section}[0]", name, cls, plugin_options(cls, given, (section, 0), lambda _: f"{caller}({name!r})"))


def _item(value: Item | Image.Image, number: int) -> Item:
    from PIL import Image

    from artgan.kinds import Item

    if isinstance(value, Item):
        return value
    if not isinstance(value, Image.Image):  # else the plugin would be blamed for a bug of the test
        raise TypeError(f"run_preprocessor: items are artgan.Items or PIL images, not {value!r} (item {number}); "
                        "open a file with PIL.Image.open(path)")
    return Item(value, origin=f"image {number}")


_root: list[str] = []  # the process's temporary folder, made on first use


def _temporary_root() -> str:
    if not _root:
        _root.append(tempfile.mkdtemp(prefix="artgan-testing-"))
        atexit.register(shutil.rmtree, _root[0], ignore_errors=True)
    return _root[0]


# ------------------------------------------------------------------------------- pytest fixtures

@pytest.fixture
def artgan_context(tmp_path):
    """A factory of :class:`artgan.Context`: ``artgan_context(resolution=32, seed=1)``; every
    context of a test shares one cache folder in its tmp_path, as runs of one recipe do."""

    def make(**fields: Any) -> Context:
        return make_context(tmp_path / "artgan-cache", **fields)

    return make


@pytest.fixture(scope="session")
def _artgan_tiny_run(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("artgan-tiny-run"))


@pytest.fixture
def artgan_run(_artgan_tiny_run, tmp_path) -> Path:
    """A run folder of a real tiny training (:data:`TINY_RECIPE`: snapshots at steps 0, 2 and 4,
    a checkpoint at each, metrics.jsonl, recipe.lock.toml), trained once per session and copied
    for each test, which may write into it."""
    return Path(shutil.copytree(_artgan_tiny_run, tmp_path / "artgan-run" / _artgan_tiny_run.name))


@pytest.fixture
def artgan_checkpoint(artgan_run) -> Path:
    """The newest checkpoint of ``artgan_run`` (step 4)."""
    from artgan import open_run

    return open_run(artgan_run).checkpoint()
