"""The pipeline: build the dataset, train, render, for one recipe and for a [sweep].

The one place the CLI, notebooks and the studio call; the public functions are exported as
``artgan.load_recipe``, ``artgan.run``, ``artgan.sweep``, ``artgan.dataset`` and
``artgan.open_run`` (docs/python-api.md). Errors are the ArtganErrors the CLI prints; nothing
here prints or exits: what happens is told to a Listener. No torch at import.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from artgan import bundled, recipe as recipes
from artgan.errors import ArtganError
from artgan.files import ensure_writable_folder
from artgan.recipe import Recipe
from artgan.runfolder import RunFolder
from artgan.runs import Run

if TYPE_CHECKING:
    from artgan.dataset import BuildReport


class Listener:
    """What the pipeline tells as it goes. The CLI prints it; the default listens to nothing."""

    def dataset_ready(self, report: BuildReport) -> None:
        """The dataset was built (or found up to date)."""

    def trained(self, run: Run) -> None:
        """Training ended: finished, or stopped by Ctrl-C or SIGTERM (``run.interrupted``)."""

    def rendered(self, path: Path) -> None:
        """A renderer wrote ``path``."""


def load_recipe(name_or_path: str | Path, set: Mapping[str, Any] | None = None,
                overrides: Sequence[str] = ()) -> Recipe:
    """A recipe file, or a bundled recipe by name (``"ellipses"``; ``"demo"`` is artgan demo's),
    validated with ``set`` values (``{"train.steps": 300}``) and ``--set`` texts ``overrides``."""
    name_or_path = _path(name_or_path, "artgan.load_recipe", "a recipe file or a bundled recipe's name")
    if str(name_or_path) == "demo" and not Path("demo").is_file():
        with resources.as_file(resources.files("artgan") / "demo.toml") as path:
            return recipes.load_recipe(path, overrides, set)
    return recipes.load_recipe(bundled.find_recipe(Path(name_or_path)), overrides, set)


def dataset(recipe: Recipe | str | Path, out: str | Path = ".", rebuild: bool = False) -> BuildReport:
    """Build only the recipe's dataset in OUT/data/NAME (reused when up to date)."""
    from artgan.dataset import build_dataset

    return build_dataset(_loaded(recipe), _out_folder(out), force=rebuild)


def run(recipe: Recipe | str | Path, out: str | Path = ".", resume: bool = False, rebuild: bool = False,
        listener: Listener | None = None) -> Run:
    """Build the dataset, train in OUT/runs/NAME and render the recipe's [[render]] steps.
    Ctrl-C or SIGTERM stops training after a checkpoint: the Run comes back with
    ``interrupted`` set and nothing rendered; ``resume=True`` continues it."""
    recipe, listener = _loaded(recipe), _listener(listener)
    if recipe.sweep:
        raise ArtganError(f"{recipe.path}: has a [sweep]; artgan.sweep(recipe) runs each of its runs")
    root = _out_folder(out)
    check(recipe, root, resume)
    return _run_one(recipe, root, resume, rebuild, listener)


def sweep(recipe: Recipe | str | Path, out: str | Path = ".", resume: bool = False, rebuild: bool = False,
          listener: Listener | None = None) -> list[Run]:
    """Run each run of the recipe's [sweep] (as ``run`` does), then film their snapshots side by
    side in OUT/runs/NAME-sweep/compare.mp4. Stops at a run that was interrupted."""
    from artgan import distributed
    from artgan.rendering import render_typed

    recipe, listener = _loaded(recipe), _listener(listener)
    if not recipe.sweep:
        raise ArtganError(f"{recipe.path}: has no [sweep]; artgan.run(recipe) runs it")
    root = _out_folder(out)
    check(recipe, root, resume)
    runs: list[Run] = []
    rebuilt: set[str] = set()  # each dataset once, though sweep runs share one
    for label, variant in recipes.expand_sweep(recipe):
        runs.append(_run_one(variant, root, resume, rebuild and variant.dataset not in rebuilt, listener,
                             sweep=(recipe.name, label)))
        rebuilt.add(variant.dataset)
        if runs[-1].interrupted:
            return runs
    if distributed.is_main():
        options = {"runs": [r.dir for r in runs[1:]], "out": RunFolder.sweep_film(recipe, root)}
        for path in render_typed("compare", runs[0].dir, options, recipe.train.device):
            listener.rendered(path)
    return runs


def check(recipe: Recipe | str | Path, out: str | Path = ".", resume: bool = False) -> None:
    """Raise now the ArtganError that training the recipe (each run of its [sweep]) in OUT would
    raise at its start, so that bad input stops before the dataset is built."""
    from artgan import training

    recipe, root = _loaded(recipe), _path(out, "out", "a folder (a str or a Path)")
    for _, variant in recipes.expand_sweep(recipe) if recipe.sweep else [(None, recipe)]:
        training.check(variant, root, resume)


def train(recipe: Recipe | str | Path, out: str | Path = ".", resume: bool = False) -> Run:
    """Train on the recipe's already built dataset (``dataset`` builds it)."""
    from artgan import training
    from artgan.dataset import open_dataset

    recipe = _loaded(recipe)
    if recipe.sweep:
        raise ArtganError(f"{recipe.path}: has a [sweep]; `artgan run {recipe.path}` trains each of its runs")
    root = _out_folder(out)
    training.check(recipe, root, resume)  # the run first: a resume with another seed says so, not "rebuild"
    return _kept(training.train(recipe, open_dataset(recipe, root), root, resume))


def render(recipe: Recipe | str | Path, run: Run | str | Path) -> list[Path]:
    """Run every [[render]] step of the recipe on ``run`` (a Run or its folder); returns the files
    written (in a torchrun job, rank 0 renders and the others write nothing)."""
    from artgan import distributed
    from artgan.device import pick_device
    from artgan.kinds import Context
    from artgan.rendering import files_written

    if not distributed.is_main():
        return []
    recipe = _loaded(recipe)
    context = Context(resolution=recipe.resolution, seed=recipe.seed, device=pick_device(recipe.train.device))
    written: list[Path] = []
    for step in recipe.render:
        with recipe.blame(step):
            target = run.dir if isinstance(run, Run) else _path(run, "artgan.pipeline.render", "a Run or its folder")
            written += files_written(step.name, step.plugin, step.build(context).render(target))
    return written


def open_run(path: str | Path) -> Run:
    """The run in folder ``path`` (runs/NAME), to read, sample and render; also one still training."""
    folder = RunFolder(_path(path, "artgan.open_run", "a run folder like runs/NAME")).existing()
    if not (folder.is_run() or folder.snapshots_dir.is_dir() or folder.checkpoints()):
        raise ArtganError(f"{folder.path}: not a run folder (no {folder.lock_file.name}, snapshots or "
                          "checkpoints); give a folder like runs/NAME")
    status = folder.status()
    return _kept(Run(folder, step=status.step, interrupted=status.state == "interrupted"))


def _kept(run: Run) -> Run:
    """``run`` for the caller to keep: at its folder's absolute path, which a notebook's ``%cd``
    does not move."""
    run.folder = RunFolder(run.dir.absolute())
    return run


def _loaded(recipe: Recipe | str | Path) -> Recipe:
    """A recipe as given, or loaded from its file or bundled name."""
    if isinstance(recipe, Recipe):
        return recipe
    return load_recipe(_path(recipe, "recipe", "an artgan.Recipe (artgan.load_recipe), a recipe file or a bundled recipe's name"))


def _listener(listener: Listener | None) -> Listener:
    if listener is None:
        return Listener()
    if not isinstance(listener, Listener):
        raise ArtganError(f"listener: expected an artgan.pipeline.Listener (subclass it and override dataset_ready, "
                          f"trained, rendered), got {listener!r} ({type(listener).__name__})")
    return listener


def _out_folder(out: str | Path) -> Path:
    return ensure_writable_folder(_path(out, "out", "a folder (a str or a Path)"))


def _path(value: Any, call: str, expected: str) -> Path:
    """``value`` as a Path, ``~`` expanded; anything else (None, a number, a dict) is an ArtganError
    naming ``call``."""
    if not isinstance(value, (str, os.PathLike)):
        raise ArtganError(f"{call}: expected {expected}, got {value!r} ({type(value).__name__})")
    return Path(value).expanduser()


def _run_one(recipe: Recipe, root: Path, resume: bool, rebuild: bool, listener: Listener,
             sweep: tuple[str, str] | None = None) -> Run:
    from artgan import distributed, training
    from artgan.dataset import build_dataset, built_dataset

    with distributed.main_first():  # rank 0 builds the dataset; the others then open what it built
        report = build_dataset(recipe, root, force=rebuild) if distributed.is_main() else built_dataset(recipe, root)
    listener.dataset_ready(report)
    trained = training.train(recipe, report.dataset, root, resume, sweep)
    listener.trained(trained)
    if not trained.interrupted:
        for path in render(recipe, trained):
            listener.rendered(path)
    trained.model = None  # samples() loads the newest checkpoint's: a notebook keeps every Run it showed
    return _kept(trained)
