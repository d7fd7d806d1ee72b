"""artgan: train GANs on deliberately wrong image sets and turn the training into films.

The Python API (docs/python-api.md): ``load_recipe``, ``run``, ``sweep``, ``dataset``,
``open_run`` and the ``Run`` they give. For plugin authors (docs/plugin-hooks.md): ``hookimpl``,
the plugin base classes, ``Item``, ``Skipped``, ``Context``. No torch at import.
"""
from importlib import import_module

# The module artgan.dataset is loaded before the function artgan.dataset takes its name: a
# submodule loaded later would replace the function with itself.
import_module("artgan.dataset")
from artgan.credits import CreditOptions
from artgan.errors import ArtganError, BadInput
from artgan.hookspecs import hookimpl
from artgan.kinds import Context, Item, Model, Options, Preprocessor, Renderer, Skipped, Source
from artgan.pipeline import dataset, load_recipe, open_run, run, sweep
from artgan.recipe import Recipe
from artgan.runfolder import RecipeLock, RunFolder, RunStatus, Snapshot
from artgan.runs import Run

__version__ = "0.1.0"
__all__ = [
    "ArtganError", "BadInput", "Context", "CreditOptions", "Item", "Model", "Options", "Preprocessor", "Recipe",
    "RecipeLock", "Renderer", "Run", "RunFolder", "RunStatus", "Skipped", "Snapshot", "Source", "dataset",
    "hookimpl", "load_recipe", "open_run", "run", "sweep", "__version__",
]
