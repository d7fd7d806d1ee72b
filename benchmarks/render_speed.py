"""How fast is an interpolation film made, next to how fast its frames can be encoded at all?

Renders a 512x512, 30 fps looping interpolation film from the demo checkpoint (or from a
demo-sized model trained for one step, when no checkpoint is given: speed does not depend on
how well a model is trained), then encodes the same number of ready frames alone: the limit set
by the encoder. Prints frames/s of both and their ratio.

    python benchmarks/render_speed.py [CHECKPOINT_OR_RUN_DIR] [--seconds 10] [--size 512] [--grid 1]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from importlib import resources
from pathlib import Path

import torch
from artgan_plugins.interpolation import Walk

from artgan import checkpoint, film, plugins, runner, sampling
from artgan.dataset import build_dataset
from artgan.kinds import Context
from artgan.precision import cpu_name
from artgan.recipe import load_recipe

FPS = 30


def demo_sized_checkpoint(root: Path) -> Path:
    """The demo's model and data, trained for one step."""
    with resources.as_file(resources.files("artgan") / "demo.toml") as path:
        recipe = load_recipe(path, ["train.steps=1", "source.count=64", "train.batch_size=16"])
    build_dataset(recipe, root)
    run = runner.train(recipe, root)
    return checkpoint.list_checkpoints(run.checkpoints)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", help="checkpoint or run folder (default: train a demo-sized model)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the film")
    parser.add_argument("--size", type=int, default=512, help="side of the film in pixels")
    parser.add_argument("--grid", type=int, default=1, help="grid x grid walks at once")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="render-speed-"))
    target = Path(args.target) if args.target else demo_sized_checkpoint(work)
    path = sampling.resolve_checkpoint(target)
    frames = round(args.seconds * FPS)
    print(f"cpu: {cpu_name()}, torch threads: {torch.get_num_threads()}, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f} (other work on the machine slows both figures)")
    print(f"checkpoint: {path}; film: {frames} frames of {args.size}x{args.size} at {FPS} fps, "
          f"grid {args.grid}, slerp loop")

    info = plugins.get("renderer", "interpolation")
    options = info.cls.Options(seconds=args.seconds, fps=FPS, size=args.size, grid=args.grid, loop=True,
                               out=work / "render.mp4")
    renderer = info.cls(options, Context())

    started = time.perf_counter()
    renderer.render(path)
    render_fps = frames / (time.perf_counter() - started)

    # The same frames, made first and kept in memory, then encoded alone.
    model = checkpoint.build_model(checkpoint.load(path))
    started = time.perf_counter()
    ready = list(renderer.frames(model, Walk.build(model, options)))
    making_fps = frames / (time.perf_counter() - started)
    started = time.perf_counter()
    film.write_film(ready, work / "encode.mp4", FPS, total=len(ready), label="encode only")
    encode_fps = frames / (time.perf_counter() - started)

    print(f"render (load, generate, scale, encode): {render_fps:7.1f} frames/s")
    print(f"generate + scale alone:                 {making_fps:7.1f} frames/s")
    print(f"encode alone (the encoder's limit):     {encode_fps:7.1f} frames/s")
    print(f"ratio render / encode alone:            {render_fps / encode_fps:7.2f}")


if __name__ == "__main__":
    main()
