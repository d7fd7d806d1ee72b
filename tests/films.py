"""Helpers for the film tests: decode films independently of the writer, make run folders."""
from __future__ import annotations

import json
import types
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch
import tomli_w
from PIL import Image

import artgan
from artgan import checkpoint, pipeline
from artgan.dataset import build_dataset
from artgan.recipe import parse_recipe

TINY = {
    "name": "tiny", "seed": 3, "resolution": 32,
    "source": [{"use": "shapes", "count": 24}],
    "model": {"use": "dcgan", "g_width": 8, "d_width": 8, "z_dim": 16},
    "train": {"steps": 4, "batch_size": 8, "snapshot_every": 2, "checkpoint_every": 2,
              "metrics_every": 1, "grid": 2},
}


def read_film(path) -> tuple[dict, np.ndarray]:
    """ffmpeg's metadata of a film (size, fps, codec, pix_fmt) and all its frames (N, H, W, 3)."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(raw, np.uint8).reshape(height, width, 3) for raw in reader]
    return meta, np.stack(frames)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two pictures, 0..255."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def tiny_recipe(root: Path, renders: list[dict] = ()):
    """The tiny DCGAN recipe of the training tests, with these [[render]] tables."""
    return parse_recipe(json.loads(json.dumps({**TINY, "render": list(renders)})), root / "tiny.toml")


def tiny_run(root: Path) -> Path:
    """Train the tiny recipe in ``root`` (a few seconds); returns the run folder."""
    recipe = tiny_recipe(root)
    build_dataset(recipe, root)
    return pipeline.train(recipe, root).dir


def fake_run(root: Path, count: int = 5, grid: int = 2, side: int = 16, seed: int = 0) -> Path:
    """A run folder with ``count`` snapshots of ``grid`` x ``grid`` flat-coloured samples, each
    snapshot clearly unlike the others, and the recipe.lock.toml training writes."""
    run = root / "fake"
    (run / "snapshots").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        colours = rng.integers(0, 256, (grid, grid, 3), dtype=np.uint8)
        picture = colours.repeat(side, axis=0).repeat(side, axis=1)  # (grid*side, grid*side, 3)
        Image.fromarray(picture).save(run / "snapshots" / f"step-{index * 100:07d}.png")
    lock = {"name": "fake", "resolution": side, "train": {"grid": grid, "batch_size": 8},
            "lock": {"dataset_images": 24}}
    (run / "recipe.lock.toml").write_text(tomli_w.dumps(lock))
    return run


class Projection(artgan.Model):
    """Test model with vivid output that changes smoothly with z: a fixed random projection of z
    to 4x4 blocks of colour.

    Untrained GANs draw near-uniform grey, too faint to tell frames apart after compression;
    blocks, unlike pixel noise, survive H.264 nearly unchanged.
    """

    z_dim = 8
    batches: list[int] = []  # sizes of the batches sample() was given, to check batching

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.weight = torch.randn(self.z_dim, 3 * 4 * 4, generator=torch.Generator().manual_seed(0))

    def sample(self, z, truncation=1.0):
        Projection.batches.append(len(z))
        block = self.context.resolution // 4
        colours = torch.tanh((z * truncation) @ self.weight / 3).reshape(-1, 3, 4, 4)
        return colours.repeat_interleave(block, dim=2).repeat_interleave(block, dim=3)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def projection_plugin(register_plugin, folder: Path, name: str) -> Path:
    """Register :class:`Projection` as model "projection" (through the ``register_plugin``
    fixture, under plugin ``name``); returns a checkpoint of it in ``folder``."""
    module = types.ModuleType(name.replace("-", "_"))
    module.register_models = artgan.hookimpl(lambda register: register("projection", Projection))
    register_plugin(module, name)
    Projection.batches = []
    return projection_checkpoint(folder / "projection.pt")


def projection_checkpoint(path: Path, resolution: int = 16) -> Path:
    """A checkpoint of the :class:`Projection` model (registered as model "projection")."""
    return checkpoint.save(path, {"model": {"use": "projection"}, "resolution": resolution, "seed": 0,
                                  "state": {}})
