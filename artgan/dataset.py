"""The dataset store: data/NAME/ with images, manifest.jsonl and a packed uint8 array."""
from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image, ImageOps

from artgan import progress
from artgan.errors import ArtganError
from artgan.files import write_text_atomic
from artgan.images import grid, to_rgb
from artgan.kinds import Context, Item, Skipped
from artgan.recipe import Recipe, Step

FORMAT = 1
PACK = "images.u8"  # raw uint8 (N, H, W, 3), memory-mapped by the trainer


@dataclass
class Dataset:
    """A built dataset folder."""

    folder: Path
    count: int
    resolution: int

    @property
    def images(self) -> np.ndarray:
        """All images as a read-only memory-mapped uint8 array (N, H, W, 3)."""
        if self.count == 0:
            return np.zeros((0, self.resolution, self.resolution, 3), np.uint8)
        return np.memmap(self.folder / PACK, np.uint8, "r",
                         shape=(self.count, self.resolution, self.resolution, 3))

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
        return Counter(s.reason for s in self.skipped)


def dataset_folder(recipe: Recipe, root: Path) -> Path:
    return Path(root) / "data" / recipe.name


def cache_key(recipe: Recipe) -> str:
    """Changes whenever anything that shapes the dataset's images changes."""
    spec = {"format": FORMAT, "resolution": recipe.resolution, "seed": recipe.seed,
            "source": [s.as_table() for s in recipe.sources],
            "preprocess": [s.as_table() for s in recipe.preprocess]}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def open_dataset(recipe: Recipe, root: Path) -> Dataset:
    """The built dataset of ``recipe``; an error says how to build it when it is missing or stale."""
    folder = dataset_folder(recipe, root)
    meta = _read_meta(folder)
    if meta is None:
        raise ArtganError(f"{folder}: no dataset yet; build it with `artgan dataset {recipe.path}`")
    if meta["key"] != cache_key(recipe):
        raise ArtganError(f"{folder}: built from other source or preprocess options; "
                          f"rebuild it with `artgan dataset {recipe.path}`")
    return Dataset(folder, meta["count"], meta["resolution"])


def build_dataset(recipe: Recipe, root: Path, force: bool = False) -> BuildReport:
    """Build data/NAME/ from the recipe's sources and preprocessors, or reuse an up-to-date one."""
    folder = dataset_folder(recipe, root)
    meta = _read_meta(folder)
    if meta is not None and meta["key"] == cache_key(recipe) and not force:
        dataset = Dataset(folder, meta["count"], meta["resolution"])
        skipped = [Skipped(**s) for s in meta.get("skipped", [])]
        return BuildReport(dataset, reused=True, per_source=meta.get("per_source", {}), skipped=skipped)
    # Build beside the old dataset and swap at the end: a crash or Ctrl-C keeps the old one.
    staging = folder.with_name(f".{folder.name}.building")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "images").mkdir(parents=True)
    report = _write(recipe, root, staging)
    if folder.exists():
        shutil.rmtree(folder)
    staging.rename(folder)
    report.dataset.folder = folder
    return report


def _write(recipe: Recipe, root: Path, staging: Path) -> BuildReport:
    per_source: Counter = Counter()
    skipped: list[Skipped] = []
    count = 0
    res = recipe.resolution
    with open(staging / "manifest.jsonl", "w", encoding="utf-8") as manifest, \
            open(staging / PACK, "wb") as pack, progress.task("dataset", every=5.0) as bar:
        for step, result in _items(recipe, root):
            if isinstance(result, Skipped):
                skipped.append(result)
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
        reasons = Counter(s.reason for s in skipped).most_common(3)
        raise ArtganError(f"{recipe.path}: the dataset is empty: no image came through "
                          f"the sources and preprocessors (skipped: {reasons or 'none'})")
    meta = {"format": FORMAT, "key": cache_key(recipe), "name": recipe.name, "count": count,
            "resolution": res, "per_source": dict(per_source),
            "skipped": [{"origin": s.origin, "reason": s.reason} for s in skipped]}
    write_text_atomic(staging / "dataset.json", json.dumps(meta, indent=1))
    return BuildReport(Dataset(staging, count, res), False, dict(per_source), skipped)


def _items(recipe: Recipe, root: Path) -> Iterator[tuple[Step, Item | Skipped]]:
    """Every item of every source, through every preprocessor, tagged with its source step."""
    preprocessors = [(step.as_table(), step.build(_context(recipe, root, step)), step)
                     for step in recipe.preprocess]
    for step in recipe.sources:
        with recipe.blame(step):
            for result in step.build(_context(recipe, root, step)).items():
                if isinstance(result, Skipped):
                    yield step, result
                    continue
                result.info.setdefault("source", step.name)
                for out in _preprocess(result, preprocessors):
                    yield step, out


def _preprocess(item: Item, preprocessors) -> Iterator[Item | Skipped]:
    """Run ``item`` through each preprocessor in turn; a failure skips only this item."""
    items: list[Item | Skipped] = [item]
    for table, plugin, step in preprocessors:
        passed: list[Item | Skipped] = []
        for current in items:
            if isinstance(current, Skipped):
                passed.append(current)
                continue
            steps = [*current.steps, table]
            try:
                for out in plugin.process(current):
                    if isinstance(out, Item):
                        out.steps = list(steps)
                    passed.append(out)
            except Exception as exc:  # a bad item is reported, never fatal for the rest
                passed.append(Skipped(current.origin, f"{step.key} ({step.name}) failed: {exc}"))
        items = passed
    yield from items


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


def contact_sheet(dataset: Dataset, limit: int = 400) -> Path:
    """A PNG of up to ``limit`` images spread evenly over the dataset; returns its path."""
    pick = np.linspace(0, dataset.count - 1, min(limit, dataset.count)).round().astype(int)
    path = dataset.folder / "contact-sheet.png"
    grid(np.asarray(dataset.images[np.unique(pick)]), padding=1).save(path)
    return path
