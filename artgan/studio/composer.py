"""The film composer's work: samples of a checkpoint for chosen seeds, and interpolation films
rendered in the background (one at a time) into the run's own folder, through the same renderer
and options as `artgan render interpolation` and `Run.render`. Torch is imported only when used."""
from __future__ import annotations

import io
import itertools
import os
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from artgan import folder_lock, progress, rendering
from artgan.errors import ArtganError
from artgan.portable import command_line

# What the composer's form may set; everything else keeps the renderer's default.
FORM = ("seeds", "seconds", "loop", "easing", "size", "grid", "gif", "truncation", "fps", "mode")
WAITING = 3  # films queued behind the one rendering, at most: more is a click too many, not a plan
KEPT = 50  # ended jobs remembered (a page asks for its own): older ones are forgotten


class Cancelled(Exception):
    """Raised inside a render whose job was cancelled: the film's temporary file goes with it."""


@dataclass
class Job:
    """One film being rendered."""

    id: int
    run: str
    out: Path
    command: str
    state: str = "queued"  # queued, rendering, done, failed, cancelled
    ahead: int = 0  # films to render before this one, when it was queued
    cancelled: bool = False  # asked to stop: checked at each progress report (5 a second)
    done: int = 0
    total: int | None = None
    error: str = ""
    films: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "run": self.run, "state": self.state, "ahead": self.ahead, "done": self.done,
                "total": self.total,
                "error": self.error, "films": self.films, "command": self.command}


def film_options(form: dict[str, Any], out: Path) -> dict[str, Any]:
    """The composer form's options as `artgan render interpolation` takes them, writing to
    ``out``; those left at the renderer's default are left out (a shorter command says the same)."""
    from artgan import plugins

    fields = plugins.get("renderer", "interpolation").cls.Options.model_fields
    return {**{key: value for key, value in form.items()
               if key in FORM and value not in (None, "") and value != fields[key].default}, "out": str(out)}


def command(target: Path, given: dict[str, Any], root: Path) -> str:
    """The `artgan render interpolation` command, typed in folder ``root``, that makes the same
    film; an ArtganError names the option that is wrong."""
    from artgan import plugins

    given = {**given, "out": os.path.relpath(given["out"], root)}
    options = rendering.validate_options(plugins.get("renderer", "interpolation").cls.Options, given, rendering.flag)
    return command_line(rendering.command_line("interpolation", Path(os.path.relpath(target, root)), options))


class Composer:
    """Samples and renders for the studio; ``publish`` is told of every job's progress."""

    def __init__(self, publish: Callable[[dict[str, Any]], None]):
        self.publish = publish
        self.jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="render")  # one film at a time: the cores are few
        self._model_lock = threading.Lock()
        self._model: tuple[Path, int, Any] | None = None  # (checkpoint, mtime, model): the last one used

    def sample_png(self, checkpoint: Path, seed: int, truncation: float) -> bytes:
        """The picture `artgan sample CHECKPOINT --seed S --n 1` makes, as PNG bytes."""
        from PIL import Image

        from artgan import sampling

        with self._model_lock:
            model = self._load(checkpoint)
            image = next(sampling.generate(model, sampling.latents(model, 1, seed), truncation))[0]
        png = io.BytesIO()
        Image.fromarray(image).save(png, format="PNG")
        return png.getvalue()

    def _load(self, checkpoint: Path):
        from artgan import sampling

        mtime = checkpoint.stat().st_mtime_ns
        if self._model is None or self._model[:2] != (checkpoint, mtime):
            self._model = (checkpoint, mtime, sampling.load_model(checkpoint, "cpu"))
        return self._model[2]

    def submit(self, run: str, run_dir: Path, target: Path, form: dict[str, Any], root: Path) -> Job:
        """Queue a film of ``target`` (a checkpoint of run ``run``) into ``run_dir``; its command
        is said as typed in ``root``."""
        unfinished = [job for job in self.jobs.values() if job.state in ("queued", "rendering")]
        if sum(job.state == "queued" for job in unfinished) >= WAITING:
            raise ArtganError(f"{WAITING} films are waiting to render already: let one finish (or cancel one) first")
        ended = [job.id for job in self.jobs.values() if job.state not in ("queued", "rendering")]
        for old in ended[:max(0, len(ended) - KEPT + 1)]:
            del self.jobs[old]
        number = next(self._ids)
        out = run_dir / f"composed-{time.strftime('%Y%m%d-%H%M%S')}-{number}.mp4"
        given = film_options(form, out)
        job = Job(number, run, out, command(target, given, root), ahead=len(unfinished))
        self.jobs[job.id] = job
        self._pool.submit(self._render, job, target, given)
        self.publish({"kind": "job", **job.as_dict()})
        return job

    def cancel(self, job: Job) -> None:
        """Stop ``job``: at once if it waits, within a fifth of a second if it renders; a film
        cancelled leaves no file behind."""
        if job.state in ("queued", "rendering"):
            job.cancelled = True
            if job.state == "queued":
                job.state = "cancelled"
                self.publish({"kind": "job", **job.as_dict()})

    def _render(self, job: Job, target: Path, given: dict[str, Any]) -> None:
        def advanced(label: str, done: int, total: int | None) -> None:
            if job.cancelled:
                raise Cancelled
            job.done, job.total = done, total
            self.publish({"kind": "job", **job.as_dict()})

        if job.cancelled:
            return
        job.state = "rendering"
        try:
            folder_lock.remove_dead_temporaries(job.out.parent, ".composed-*.tmp")  # a studio killed mid-render left it
            with progress.observed(advanced):
                written = rendering.render_typed("interpolation", target, given)
            job.films = [path.name for path in written]
            job.state = "done"
        except Cancelled:
            job.state = "cancelled"
        except ArtganError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # a bug: said on the page and in the terminal, the studio keeps serving
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            self.publish({"kind": "job", **job.as_dict()})

    def close(self) -> None:
        """Cancel every film not done: Ctrl-C stops the studio now, not after a long render."""
        for job in list(self.jobs.values()):
            self.cancel(job)
        self._pool.shutdown(wait=False, cancel_futures=True)
