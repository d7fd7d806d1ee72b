"""The plugin contract: every hook a plugin may implement (pluggy project "artgan")."""
import pluggy

hookspec = pluggy.HookspecMarker("artgan")
hookimpl = pluggy.HookimplMarker("artgan")


@hookspec
def register_sources(register):
    """Add dataset sources: call ``register(name, SourceClass)`` once per source."""


@hookspec
def register_preprocessors(register):
    """Add preprocessors: call ``register(name, PreprocessorClass)`` once per preprocessor."""


@hookspec
def register_models(register):
    """Add GAN models: call ``register(name, ModelClass)`` once per model."""


@hookspec
def register_renderers(register):
    """Add renderers: call ``register(name, RendererClass)`` once per renderer."""


@hookspec
def register_commands(app):
    """Add commands to the ``artgan`` command line; ``app`` is the typer application."""


@hookspec
def on_run_start(run):
    """A training run starts (or resumes); ``run`` is the :class:`artgan.Run`."""


@hookspec
def on_snapshot(run, step, images):
    """A snapshot grid was saved; ``images`` is a uint8 array (N, H, W, 3) of the fixed samples."""


@hookspec
def on_checkpoint(run, step, path):
    """A checkpoint was written atomically to ``path``."""


@hookspec
def on_run_end(run):
    """A training run finished, was interrupted, or stopped on an error."""
