"""artgan: train GANs on deliberately wrong image sets and turn the training into films.

The public API for plugin authors lives here; see docs/plugin-hooks.md.
"""
from artgan.credits import CreditOptions
from artgan.errors import ArtganError, BadInput
from artgan.hookspecs import hookimpl
from artgan.kinds import Context, Item, Model, Options, Preprocessor, Renderer, Skipped, Source

__version__ = "0.1.0"
__all__ = [
    "ArtganError", "BadInput", "Context", "CreditOptions", "Item", "Model", "Options", "Preprocessor", "Renderer",
    "Skipped", "Source", "hookimpl", "__version__",
]
