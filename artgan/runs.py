"""``artgan.Run``: a training run as Python code sees it, from a notebook or from a plugin's hook.

While a run trains, the hooks (on_run_start, on_snapshot, ...) receive it with its live model and
counters; ``artgan.run`` returns it when training ends; ``artgan.open_run`` opens one from its
folder. Its files are read through its RunFolder. No torch at import.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from artgan import notebook
from artgan.errors import ArtganError
from artgan.runfolder import RunFolder, RunStatus, Snapshot

if TYPE_CHECKING:
    from artgan.kinds import Model
    from artgan.recipe import Recipe

# Run.samples keeps every image in memory; past this many bytes `artgan sample` (which streams
# them to files) is the tool, and a typo of n (10**9) does not end in the OOM killer.
SAMPLES_IN_MEMORY = 2 * 2**30

# The model Runs sample with once training is over, loaded from a checkpoint: one for the whole
# process, whichever Run asks. A notebook keeps every Run a cell showed (Out[n]): were each to
# keep its model, a session of run after run would keep them all (on a GPU, until it runs out).
_LOADED: dict[tuple, Model] = {}


@dataclass(eq=False, repr=False)
class Run:
    """A run folder and, while it trains in this process, its model and counters."""

    folder: RunFolder
    recipe: Recipe | None = None  # None for a run opened from its folder
    model: Model | None = None  # the live model while training (samples() loads the newest checkpoint's after)
    device: str = "auto"
    precision: str = "fp32"  # what the passes run in: fp32, bf16 or fp16 (see artgan.toolkit.precision)
    step: int = 0
    images_seen: int = 0
    seconds: float = 0.0  # training time so far, across resumes
    started_at: int = 0  # the step this session started from (above 0 when resumed)
    fixed_z: Any = None  # latents of the snapshot grid, a tensor (grid * grid, z_dim)
    interrupted: bool = False  # stopped by Ctrl-C or SIGTERM before its end
    stopped_by: int = 0  # the signal that stopped it early (SIGINT, SIGTERM) or 0

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, step={self.step}, dir={str(self.dir)!r})"

    def _repr_html_(self) -> str:  # in a notebook: the newest grid, step, losses and state
        return notebook.run_html(self)

    def _repr_png_(self) -> bytes | None:  # where a notebook shows no HTML: the newest grid
        return notebook.run_png(self)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def dir(self) -> Path:
        """The run folder's path."""
        return self.folder.path

    def status(self) -> RunStatus:
        """Training, finished, interrupted, failed (or unknown, for older runs), with step and pace."""
        return self.folder.status()

    def snapshots(self) -> list[Snapshot]:
        """The saved grids of fixed samples, oldest first."""
        return self.folder.snapshots()

    def grid(self, step: int | None = None) -> Image.Image:
        """The snapshot grid at ``step`` (default: the newest) as a PIL image."""
        if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
            raise ArtganError(f"Run.grid: step is a training step, a whole number (got {step!r})")
        shots = self.snapshots()
        if step is None:
            return shots[-1].picture()
        for shot in shots:
            if shot.step == step:
                return shot.picture()
        raise ArtganError(f"{self.dir}: no snapshot at step {step}; it has {', '.join(str(s.step) for s in shots)}")

    def metrics(self) -> list[dict[str, Any]]:
        """The rows of metrics.jsonl: step, images_seen, seconds, losses, images_per_s (and the
        events: rollbacks, and each snapshot's diversity)."""
        return self.folder.metrics()

    def checkpoint(self) -> Path:
        """The newest checkpoint's path."""
        found = self.folder.checkpoints()
        if not found:
            raise ArtganError(f"{self.dir}: no checkpoints yet; train the run first")
        return found[-1]

    def samples(self, n: int = 16, seed: int = 0, truncation: float = 1.0) -> list[Image.Image]:
        """``n`` images from the model (the live one while training, else the newest checkpoint's),
        the same for the same seed on every machine, as ``artgan sample`` writes them."""
        from artgan.sampling import check_request, generate, latents

        asked = check_request(n, seed, truncation, lambda name: f"Run.samples: {name}")
        n, seed, truncation = asked.n, asked.seed, asked.truncation
        model = self._model()
        side = model.context.resolution
        needed = n * (side * side * 3 + model.z_dim * 4)  # the images and their latents
        if needed > SAMPLES_IN_MEMORY:
            raise ArtganError(f"Run.samples: {n} images of {side}x{side} px need {needed / 1e9:.1f} GB of memory; "
                              f"ask for fewer, or write them to files: artgan sample {self.dir} --n {n} --out DIR")
        return [Image.fromarray(image) for batch in generate(model, latents(model, n, seed), truncation)
                for image in batch]

    def render(self, name: str, **options: Any) -> list[Path]:
        """Run renderer ``name`` (timelapse, interpolation, loss-plot, ...) on this run with
        ``options`` as Python values (``seeds=[3, 17, 42]``); returns the files it wrote (which,
        in a notebook, play and show inline)."""
        from artgan.rendering import render_typed

        if not isinstance(name, str):
            raise ArtganError(f'Run.render: name is a renderer\'s name, e.g. "timelapse" (got {name!r}); '
                              "see `artgan plugins`")
        given = {key: [getattr(v, "dir", v) for v in value] if isinstance(value, (list, tuple)) else value
                 for key, value in options.items()}  # compare's runs=[...] also takes Runs
        return notebook.Files(render_typed(name, self.dir, given, self.device))

    def _model(self) -> Model:
        """The live model while training, else the newest checkpoint's, kept until another is loaded."""
        if self.model is not None:
            return self.model
        from artgan.device import pick_device
        from artgan.sampling import load_model

        newest = self.checkpoint()
        key = (newest.absolute(), newest.stat().st_mtime_ns, self.device)
        if key not in _LOADED:
            _LOADED.clear()  # the last one's memory is free before this one loads
            _LOADED[key] = load_model(newest, pick_device(self.device))
        return _LOADED[key]
