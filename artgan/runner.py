"""The runner: the stages of a recipe after its dataset: training on it, then rendering."""
from __future__ import annotations

from pathlib import Path

from artgan import training
from artgan.dataset import open_dataset
from artgan.kinds import Context
from artgan.recipe import Recipe
from artgan.training import Run


def render(recipe: Recipe, run_dir: Path) -> list[Path]:
    """Run every [[render]] step of the recipe on ``run_dir``; returns the files written."""
    device = training.pick_device(recipe.train.device)
    context = Context(resolution=recipe.resolution, seed=recipe.seed, device=device)
    written: list[Path] = []
    for step in recipe.render:
        with recipe.blame(step):
            written += step.build(context).render(run_dir)
    return written


def train(recipe: Recipe, root: Path, resume: bool = False) -> Run:
    """Train on the recipe's already built dataset."""
    return training.train(recipe, open_dataset(recipe, root), root, resume)
