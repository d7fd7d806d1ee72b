"""The dataset store: data/NAME/ with images, manifest.jsonl and a packed uint8 array."""
from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import multiprocessing
import os
import pickle
import re
import shutil
import signal
from collections import Counter, deque
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from artgan import folder_lock, plugins, progress
from artgan.errors import ArtganError, BadInput, PluginError
from artgan.files import NO_SPACE, atomic_path, no_space, write_text_atomic
from artgan.images import grid, to_rgb
from artgan.kinds import Context, Item, Skipped, defined_in
from artgan.recipe import Recipe, Step

FORMAT = 1
PACK = "images.u8"  # raw uint8 (N, H, W, 3), memory-mapped by the trainer


@dataclass
class Dataset:
    """A built dataset folder."""

    folder: Path
    count: int
    resolution: int

    @functools.cached_property
    def images(self) -> np.ndarray:
        """All images as a read-only memory-mapped uint8 array (N, H, W, 3), mapped once: a
        rebuild that swaps in a new folder afterwards leaves these images as they were."""
        shape = (self.count, self.resolution, self.resolution, 3)
        if self.count == 0:
            return np.zeros(shape, np.uint8)
        try:
            with open(self.folder / PACK, "rb") as pack:  # the size and the map of the same file
                if os.fstat(pack.fileno()).st_size == math.prod(shape):
                    return np.memmap(pack, np.uint8, "r", shape=shape)
        except FileNotFoundError:
            pass
        raise ArtganError(f"{self.folder} was replaced (rebuilt) while it was being opened; run again")

    def manifest(self) -> list[dict[str, Any]]:
        """One provenance record per image, in order."""
        with open(self.folder / "manifest.jsonl", encoding="utf-8") as lines:
            return [json.loads(line) for line in lines]


@dataclass
class BuildReport:
    """What building a dataset did."""

    dataset: Dataset
    reused: bool
    per_source: dict[str, int] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)

    def skip_reasons(self) -> Counter:
        """Skips counted by kind: a reason's closing details in parentheses are left out, so
        "blurry (laplacian var 3.1 < 20)" and "blurry (laplacian var 4.0 < 20)" count together."""
        return Counter(reason_kind(s.reason) for s in self.skipped)


def reason_kind(reason: str) -> str:
    """A skip reason without its closing details in parentheses."""
    return re.sub(r" \([^()]*\)$", "", reason)


def dataset_folder(recipe: Recipe, root: Path) -> Path:
    return Path(root) / "data" / recipe.dataset


def cache_key(recipe: Recipe) -> str:
    """Changes whenever the options or the code of the source and preprocessor plugins change
    (see :func:`plugin_versions`); the sources' input files are compared apart (:func:`source_inputs`),
    so that a stale dataset can say which changed."""
    spec = {"format": FORMAT, **recipe.dataset_spec(), "plugins": plugin_versions(recipe)}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def plugin_versions(recipe: Recipe) -> dict[str, str]:
    """The version of each source and preprocessor plugin the recipe uses, by name."""
    return {step.name: plugins.get(step.plugin.kind, step.name).version
            for step in [*recipe.sources, *recipe.preprocess]}


def open_dataset(recipe: Recipe, root: Path) -> Dataset:
    """The built dataset of ``recipe``; an error says how to build it when it is missing or stale."""
    folder = dataset_folder(recipe, root)
    meta = _read_meta(folder)
    if meta is None:
        raise DatasetNotReady(folder, "no dataset yet", root)
    if why := _stale(folder, meta, recipe, source_inputs(recipe, root)):
        raise DatasetNotReady(folder, why, root)
    return Dataset(folder, meta["count"], meta["resolution"])


def built_dataset(recipe: Recipe, root: Path) -> BuildReport:
    """The report of the recipe's dataset as it was last built, its sources' inputs not looked at:
    what the other processes of a torchrun job train on once rank 0 has built it, though a picture
    came into a source's folder since (rebuilt there, it would be swapped in under rank 0)."""
    folder = dataset_folder(recipe, root)
    meta = _read_meta(folder)
    if meta is None:
        raise DatasetNotReady(folder, "no dataset yet", root)
    return _reused(folder, meta)


class DatasetNotReady(ArtganError):
    """The dataset a training needs is missing or stale; the message says the Python call that
    builds it in the workspace ``root`` (the command line says its own command instead, with the
    user's --set and --out)."""

    def __init__(self, folder: Path, why: str, root: Path):
        super().__init__(f"{folder}: {why}; build it with artgan.dataset(recipe, out={str(root)!r})")
        self.folder, self.why = folder, why


def source_inputs(recipe: Recipe, root: Path) -> dict[str, str]:
    """The fingerprint of each source's input files (``Source.fingerprint``), by source key
    (``source[0]``…), for the sources that give one: the built-in folder, video-frames and
    duplicate sources hash each file's name, size and modification time, without reading it,
    and give none when they cannot see their inputs (a dataset built elsewhere stays usable)."""
    found = {}
    for step in recipe.sources:
        with recipe.blame(step):
            if (value := step.build(_context(recipe, root, step)).fingerprint()) is not None:
                found[step.key] = value
    return found


def _stale(folder: Path, meta: dict[str, Any], recipe: Recipe, inputs: dict[str, str]) -> str | None:
    """Why the dataset in ``folder`` (described by ``meta``) is not ``recipe``'s as it stands now
    (``inputs``: :func:`source_inputs`), or None when it is."""
    if meta["key"] != cache_key(recipe):
        return f"built from other source or preprocess options{_changed_plugins(meta, recipe)}"
    changed = [f"{step.key} ({step.name})" for step in recipe.sources
               if step.key in inputs and meta.get("inputs", {}).get(step.key) != inputs[step.key]]
    if changed:
        return f"the input files of {', '.join(changed)} changed since it was built (added, removed or replaced)"
    if not _whole(folder, meta):
        return "incomplete (files are missing, as when an older artgan was stopped while it replaced it)"
    return None


def _whole(folder: Path, meta: dict[str, Any]) -> bool:
    """Whether every file ``meta`` (the dataset's record) promises is in ``folder``; files that
    are not artgan's (a .DS_Store a file manager left) do not count."""
    previews = sum("preview" in skip for skip in meta.get("skipped", []))
    try:
        return ((folder / PACK).stat().st_size == meta["count"] * meta["resolution"] ** 2 * 3
                and (folder / "manifest.jsonl").is_file()
                and _pictures(folder / "images") == meta["count"]
                and (previews == 0 or _pictures(folder / "skipped") == previews))
    except OSError:
        return False


def _pictures(folder: Path) -> int:
    """How many PNGs artgan wrote into ``folder`` (hidden files left out)."""
    return sum(name.endswith(".png") and not name.startswith(".") for name in os.listdir(folder))


def _changed_plugins(meta: dict[str, Any], recipe: Recipe) -> str:
    before, now = meta.get("plugins", {}), plugin_versions(recipe)
    changed = [f"{name} {before.get(name, '(unknown)')} -> {version}"
               for name, version in now.items() if before.get(name) != version]
    return f", or other plugin code ({'; '.join(changed)})" if changed else ""


def build_dataset(recipe: Recipe, root: Path, force: bool = False) -> BuildReport:
    """Build data/NAME/ from the recipe's sources and preprocessors, or reuse an up-to-date one."""
    _not_in_a_starting_worker()
    folder = dataset_folder(recipe, root)
    inputs = source_inputs(recipe, root)
    # A swap cut short (an old dataset left aside) is put right first, under the lock.
    if not force and not _aside(folder).exists() and (reused := _reuse(folder, recipe, inputs)):
        return reused
    with folder_lock.hold(folder, then="run again (it then reuses the dataset that process built)"):
        # Build beside the old dataset and swap at the end: a crash or Ctrl-C keeps the old one.
        staging = folder.with_name(f".{folder.name}.building")
        shutil.rmtree(staging, ignore_errors=True)  # left by a build of this dataset killed with kill -9
        _recover(folder)
        meta = None if force else _read_meta(folder)
        why = None if meta is None else _stale(folder, meta, recipe, inputs)
        if meta is not None and why is None:  # built meanwhile by a process now ended
            return _reused(folder, meta)
        if why:
            print(f"rebuilding {folder}: {why}", flush=True)
        folder_lock.remove_abandoned_builds(folder.parent)
        folder_lock.remove_dead_temporaries(folder.parent / ".cache")  # half-finished downloads
        try:
            (staging / "images").mkdir(parents=True)
            report = _write(recipe, root, staging, inputs)
            _swap(staging, folder)
        except BaseException as exc:  # a failure, Ctrl-C or SIGTERM: the old dataset stays, no staging left
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError) and exc.errno in NO_SPACE:
                raise no_space(folder.parent, exc) from None
            raise
    report.dataset.folder = folder
    return report


def _aside(folder: Path) -> Path:
    """Where the old dataset waits while a new one takes its place."""
    return folder.with_name(f".{folder.name}.old")


def _swap(staging: Path, folder: Path) -> None:
    """Put the new dataset in ``staging`` in place of ``folder``. The old one is renamed aside,
    and deleted only once the new one is in: however the process ends, ``folder`` is the old
    dataset or the new one, whole (what a kill -9 leaves between the steps, :func:`_recover`
    puts right at the next build)."""
    try:
        if folder.exists():
            folder.rename(_aside(folder))
        staging.rename(folder)
    except PermissionError as exc:  # Windows renames no folder with a file open in it
        raise ArtganError(f"{folder}: cannot replace it ({exc.strerror}); on Windows, another process may have a "
                          "file in it open: stop it (a training on this dataset, the studio) and build again") from None
    finally:
        _recover(folder)


def _recover(folder: Path) -> None:
    """Finish a swap that was cut short: the old dataset back in ``folder`` if the new one never
    came, else deleted."""
    aside = _aside(folder)
    if not aside.exists():
        return
    if folder.exists():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.rename(folder)


def _reuse(folder: Path, recipe: Recipe, inputs: dict[str, str]) -> BuildReport | None:
    """The report of the dataset in ``folder`` if it is up to date (see :func:`_stale`)."""
    meta = _read_meta(folder)
    return None if meta is None or _stale(folder, meta, recipe, inputs) else _reused(folder, meta)


def _reused(folder: Path, meta: dict[str, Any]) -> BuildReport:
    """The report of reusing the dataset in ``folder``, described by ``meta``."""
    dataset = Dataset(folder, meta["count"], meta["resolution"])
    skipped = [Skipped(s["origin"], s["reason"]) for s in meta.get("skipped", [])]  # without their pictures
    return BuildReport(dataset, reused=True, per_source=meta.get("per_source", {}), skipped=skipped)


def _write(recipe: Recipe, root: Path, staging: Path, inputs: dict[str, str]) -> BuildReport:
    per_source: Counter = Counter()
    skipped: list[Skipped] = []
    count = 0
    res = recipe.resolution
    previews: dict[int, str] = {}  # index in skipped -> file of its picture
    with open(staging / "manifest.jsonl", "w", encoding="utf-8") as manifest, \
            open(staging / PACK, "wb") as pack, progress.task("dataset", every=5.0) as bar:
        for step, result in _items(recipe, root):
            if isinstance(result, Skipped):
                if result.preview is not None:  # saved now, not held: a season drops thousands of frames
                    previews[len(skipped)] = _save_preview(staging, len(skipped), result.preview)
                skipped.append(Skipped(result.origin, result.reason))
                bar.advance(0, status=f"images, {len(skipped)} skipped")
                continue
            item = _fit(result, res)
            png = io.BytesIO()
            item.image.save(png, "PNG")
            name = f"images/{count:07d}.png"
            (staging / name).write_bytes(png.getvalue())
            pack.write(np.asarray(item.image, np.uint8).tobytes())
            manifest.write(json.dumps({
                "file": name, "sha256": hashlib.sha256(png.getvalue()).hexdigest(),
                "source": step.name, "origin": item.origin, "info": item.info, "steps": item.steps,
            }, default=str) + "\n")
            per_source[step.key] += 1
            count += 1
            bar.advance(1, status=f"images, {len(skipped)} skipped")
    if count == 0:
        reasons = "; ".join(f"{n} skipped: {reason}" for reason, n in Counter(s.reason for s in skipped).most_common(3))
        raise ArtganError(f"{recipe.path}: the dataset is empty: no image came through "
                          f"the sources and preprocessors ({reasons or 'nothing was skipped'})")
    meta = {"format": FORMAT, "key": cache_key(recipe), "name": recipe.dataset, "count": count,
            "resolution": res, "plugins": plugin_versions(recipe), "inputs": inputs,
            "per_source": dict(per_source),
            "skipped": [{"origin": s.origin, "reason": s.reason, **({"preview": previews[i]} if i in previews else {})}
                        for i, s in enumerate(skipped)]}
    write_text_atomic(staging / "dataset.json", json.dumps(meta, indent=1))
    return BuildReport(Dataset(staging, count, res), False, dict(per_source), skipped)


def _items(recipe: Recipe, root: Path) -> Iterator[tuple[Step, Item | Skipped]]:
    """Every item of every source, through every preprocessor, tagged with its source step."""
    preprocessors = []
    for step in recipe.preprocess:
        with recipe.blame(step):
            preprocessors.append((step.as_table(), step.build(_context(recipe, root, step)), step, recipe.path))
    yield from preprocessed(_sourced(recipe, root), preprocessors, recipe.workers)


def preprocessed(sourced: Iterable[tuple[Step, Item | Skipped]], preprocessors: list[tuple],
                 workers: int = 1) -> Iterator[tuple[Step, Item | Skipped]]:
    """Each sourced (step, result) through every preprocessor in turn (see :func:`_preprocess`),
    in source order: in ``workers`` processes when above 1, up to the first preprocessor that sees
    the items in order (``in_order``), which runs here with the ones after it. ``preprocessors``
    holds, per step, (its table, the built plugin, the step, the recipe's path)."""
    cut = next((i for i, (_, plugin, _, _) in enumerate(preprocessors) if plugin.in_order), len(preprocessors))
    pure, in_order = preprocessors[:cut], preprocessors[cut:]
    if workers > 1 and pure:
        results = _pooled(sourced, pure, workers)
    else:
        results = ((step, out) for step, result in sourced for out in _preprocess(result, pure))
    for step, result in results:
        for out in _preprocess(result, in_order):
            yield step, out


def _sourced(recipe: Recipe, root: Path) -> Iterator[tuple[Step, Item | Skipped]]:
    """Every item of every source, tagged with its source step."""
    for step in recipe.sources:
        with recipe.blame(step):
            for result in step.build(_context(recipe, root, step)).items():
                check_result(result, step, "items() yielded")
                if isinstance(result, Item):
                    result.info.setdefault("source", step.name)
                yield step, result


def _pooled(sourced, preprocessors, workers: int) -> Iterator[tuple[Step, Item | Skipped]]:
    """:func:`_preprocess` of each sourced result in ``workers`` processes, in source order.

    Workers are spawned, not forked: a fork taken while torch's or mediapipe's threads hold a
    lock can hang. A spawned worker first loads the loose plugin files, then the preprocessors."""
    try:
        initargs = (plugins.loaded_dirs(), pickle.dumps(preprocessors))
    except Exception as exc:
        raise ArtganError(f"the preprocessors cannot be sent to worker processes ({exc}); "
                          "set workers = 1 in the recipe") from exc
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_worker, initargs=initargs) as pool:
        pending: deque = deque()
        for step, result in sourced:
            pending.append((step, result.origin, pool.submit(_preprocess_in_worker, result)))
            if len(pending) > 2 * workers:  # a few images in flight: memory stays flat
                yield from _finished(*pending.popleft())
        while pending:
            yield from _finished(*pending.popleft())


_worker_preprocessors: list = []  # what _start_worker received, in each worker process


def _not_in_a_starting_worker() -> None:
    """Ends a worker process that, as it started, ran the user's script again (a spawned worker
    imports the script it was started from, and runs its top level): one line, not a second build
    that finds the dataset locked. (``_inheriting`` is how multiprocessing itself tells.)"""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise SystemExit('error: a worker process of the dataset build ran your script again as it started: '
                         'put the script\'s calls under `if __name__ == "__main__":`, or set workers = 1')


def _start_worker(plugin_dirs: list[str], preprocessors: bytes) -> None:
    global _worker_preprocessors
    for folder in plugin_dirs:
        plugins.load_plugins_dir(folder)
    _worker_preprocessors = pickle.loads(preprocessors)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops the pool


def _preprocess_in_worker(item: Item | Skipped) -> list[Item | Skipped]:
    return list(_preprocess(item, _worker_preprocessors))


def _finished(step: Step, origin: str, future) -> Iterator[tuple[Step, Item | Skipped]]:
    try:
        results = future.result()
    except BrokenExecutor:
        raise ArtganError("workers: a worker process of the preprocessors ended abruptly (out of memory, killed, "
                          "or failed as it started: see above); set workers = 1 in the recipe to run them in "
                          "this process") from None
    except (PluginError, ArtganError):
        raise
    except Exception as exc:  # e.g. an item that cannot be pickled: only that item is lost
        results = [Skipped(origin, f"failed in a worker process: {exc}")]
    for result in results:
        yield step, result


def _preprocess(item: Item | Skipped, preprocessors) -> Iterator[Item | Skipped]:
    """Run ``item`` through each preprocessor in turn. A Skipped or a BadInput skips only this
    item; an ArtganError (bad input the user must fix) stops the build; any other exception is a
    bug in the plugin, raised as a PluginError naming the plugin and the item."""
    items: list[Item | Skipped] = [item]
    for table, plugin, step, recipe_path in preprocessors:
        passed: list[Item | Skipped] = []
        for current in items:
            if isinstance(current, Skipped):
                passed.append(current)
                continue
            steps = [*current.steps, table]
            try:
                returned = plugin.process(current)
                # one value where a list belongs: an Item or Skipped is a list of one, the rest refused
                single = returned is None or isinstance(returned, (Item, Skipped, Image.Image, str))
                for out in [returned] if single else returned:
                    check_result(out, step, f"process({current.origin}) returned{'' if single else ' a list holding'}")
                    if isinstance(out, Item):
                        out.steps = list(steps)
                    passed.append(out)
            except BadInput as exc:
                passed.append(Skipped(current.origin, f"{step.key} ({step.name}): {exc}"))
            except ArtganError as exc:
                raise ArtganError(f"{recipe_path}: {step.key} ({step.name}): {exc}") from None
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"the preprocessor plugin {step.name!r} ({step.key}) failed on "
                                  f"{current.origin}: {exc!r}; this is a bug in the plugin, not a bad "
                                  f"image (a plugin reports bad images with artgan.Skipped or "
                                  f"artgan.BadInput)") from exc
        items = passed
    yield from items


GIVE_INSTEAD = {
    "source": "yield artgan.Item(image, origin) or artgan.Skipped(origin, reason)",
    "preprocessor": "return a list of artgan.Item (item.derive(image)) and artgan.Skipped; [] drops the image",
}


def check_result(result: Any, step: Step, gave: str) -> None:
    """A PluginError naming the plugin of ``step`` unless ``result`` is a Skipped or an Item
    holding a PIL image of at least a pixel: anything else is a bug in the plugin (an input
    without a picture is a Skipped), which the core would trip on."""
    if isinstance(result, Skipped):
        return
    value = result.image if isinstance(result, Item) else result
    if not isinstance(result, Item):
        got = _kind(value)
    elif not isinstance(value, Image.Image):
        got = f"an Item whose image is {_kind(value)}"
    elif 0 in value.size:
        got = f"an Item whose image is empty ({value.width} x {value.height} pixels)"
    else:
        return
    array = "; Image.fromarray(array) makes a PIL image of an array" if hasattr(value, "shape") else ""
    raise PluginError(f"the {step.plugin.kind} plugin {step.name!r} ({step.key}, {defined_in(step.plugin)}) "
                      f"{gave} {got}; {GIVE_INSTEAD[step.plugin.kind]}{array}")


def _kind(value: Any) -> str:
    """What ``value`` is, for an error message: None, a str, a PIL.Image.Image, a numpy.ndarray…"""
    if value is None:
        return "None"
    kind = type(value)
    return "a " + (kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}")


def _fit(item: Item, resolution: int) -> Item:
    """Every stored image is RGB and exactly resolution x resolution: crop the centre and scale."""
    image = to_rgb(item.image)
    if image.size == (resolution, resolution):
        return item if image is item.image else item.derive(image)
    fitted = item.derive(ImageOps.fit(image, (resolution, resolution), Image.Resampling.LANCZOS))
    fitted.steps.append({"use": "fit", "size": resolution})
    return fitted


def _context(recipe: Recipe, root: Path, step: Step) -> Context:
    digest = hashlib.sha256(json.dumps(step.as_table(), sort_keys=True).encode()).hexdigest()[:16]
    return Context(resolution=recipe.resolution, seed=recipe.seed,
                   cache_dir=Path(root) / "data" / ".cache" / f"{step.name}-{digest}")


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _save_preview(staging: Path, index: int, preview: Image.Image) -> str:
    name = f"skipped/{index:07d}.png"
    (staging / "skipped").mkdir(exist_ok=True)
    preview.save(staging / name)
    return name


def contact_sheet(dataset: Dataset, limit: int = 400) -> Path:
    """A PNG of up to ``limit`` images spread evenly over the dataset; returns its path."""
    pick = np.linspace(0, dataset.count - 1, min(limit, dataset.count)).round().astype(int)
    path = dataset.folder / "contact-sheet.png"
    with atomic_path(path) as tmp:
        grid(np.asarray(dataset.images[np.unique(pick)]), padding=1).save(tmp, "PNG")
    return path


def skipped_sheet(dataset: Dataset, per_reason: int = 24) -> Path | None:
    """A PNG of the skipped inputs that came with a picture (e.g. a video's dropped frames): one
    labelled row per kind of reason, up to ``per_reason`` spread over each, each picture captioned
    with where it came from (a video's time, a file's name); None when there are none."""
    rows: dict[str, list[dict]] = {}
    for skip in (_read_meta(dataset.folder) or {}).get("skipped", []):
        if "preview" in skip:
            rows.setdefault(reason_kind(skip["reason"]), []).append(skip)
    if not rows:
        return None
    tile, caption = 96, 12
    columns = min(per_reason, max(len(skips) for skips in rows.values()))
    sheet = Image.new("RGB", (tile * columns + 1, (tile + 20) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (reason, skips) in enumerate(rows.items()):
        top = row * (tile + 20)
        draw.text((4, top + 4), f"{reason}: {len(skips)}", fill="black")
        for column, index in enumerate(np.unique(np.linspace(0, len(skips) - 1, min(columns, len(skips))).round().astype(int))):
            skip = skips[index]
            picture = ImageOps.contain(Image.open(dataset.folder / skip["preview"]).convert("RGB"),
                                       (tile - 2, tile - 2 - caption))
            left = column * tile + 1
            sheet.paste(picture, (left, top + 20))
            where = skip["origin"].rsplit("@", 1)[-1] if "@" in skip["origin"] else Path(skip["origin"]).name
            shown = where if len(where) <= 15 else "…" + where[-14:]  # a name's end tells copies apart
            draw.text((left + 2, top + 20 + picture.height), shown, fill="black")
    path = dataset.folder / "skipped-sheet.png"
    with atomic_path(path) as tmp:
        sheet.save(tmp, "PNG")
    return path
