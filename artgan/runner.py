"""The runner: the stages of a recipe after its dataset: training on it, then rendering."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from artgan import distributed, rendering, training
from artgan.dataset import open_dataset
from artgan.errors import ArtganError
from artgan.kinds import Context
from artgan.recipe import Recipe, expand_sweep
from artgan.training import Run


def render(recipe: Recipe, run_dir: Path) -> list[Path]:
    """Run every [[render]] step of the recipe on ``run_dir``; returns the files written (in a
    torchrun job, rank 0 renders and the others write nothing)."""
    if not distributed.is_main():
        return []
    device = training.pick_device(recipe.train.device)
    context = Context(resolution=recipe.resolution, seed=recipe.seed, device=device)
    written: list[Path] = []
    for step in recipe.render:
        with recipe.blame(step):
            written += step.build(context).render(run_dir)
    return written


def check(recipe: Recipe, root: Path, resume: bool = False) -> None:
    """Raise now the ArtganError that training the recipe (each run of its [sweep]) would raise
    at its start, so that bad input stops before the dataset is built."""
    for _, variant in expand_sweep(recipe) if recipe.sweep else [(None, recipe)]:
        training.check(variant, root, resume)


def train(recipe: Recipe, root: Path, resume: bool = False) -> Run:
    """Train on the recipe's already built dataset."""
    if recipe.sweep:
        raise ArtganError(f"{recipe.path}: has a [sweep]; `artgan run {recipe.path}` trains each of its runs")
    return training.train(recipe, open_dataset(recipe, root), root, resume)


def sweep(recipe: Recipe, root: Path, run_one: Callable[[Recipe], Run]) -> list[Path]:
    """Run each run of the recipe's [sweep] with ``run_one`` (which builds, trains and renders one
    recipe), then film their snapshots side by side in runs/NAME-sweep/compare.mp4."""
    folders = [run_one(variant).dir for _, variant in expand_sweep(recipe)]
    if not distributed.is_main():
        return []
    out = training.run_folder(recipe, root).with_name(f"{recipe.name}-sweep") / "compare.mp4"
    return rendering.render("compare", folders, {"out": str(out)}, recipe.train.device)
