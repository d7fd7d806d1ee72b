"""How fast are films and samples made, next to the limits set by the encoder and the model?

Every film renderer (interpolation, timelapse, compare) at two film sizes, as mp4 and as mp4 +
GIF, from a demo-sized model (trained for one step when no checkpoint is given: speed does not
depend on how well a model is trained) and a run folder of that model's snapshots. For each, the
renderer's frames are also collected at the film's size and encoded alone, with the same
settings: the encoder's limit. Renderer and encode-alone runs alternate, repeated, so load from
other work hits both alike; each line prints frames/s, CPU seconds (this process and ffmpeg) and
the ratio render / encode alone of that repeat. Then `artgan sample` against generation alone.

    python benchmarks/render_speed.py [CHECKPOINT_OR_RUN_DIR] [--frames 120] [--sizes 512,1024]
        [--repeats 2] [--renderers interpolation,timelapse,compare] [--formats mp4,mp4+gif] [--samples 2000]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from artgan import checkpoint, film, plugins, pipeline, sampling
from artgan.dataset import build_dataset
from artgan.images import grid
from artgan.kinds import Context
from artgan.toolkit.precision import cpu_name
from artgan.recipe import load_recipe

FPS = 30


def demo_sized_checkpoint(root: Path) -> Path:
    """The demo's model and data, trained for one step."""
    with resources.as_file(resources.files("artgan") / "demo.toml") as path:
        recipe = load_recipe(path, ["train.steps=1", "source.count=64", "train.batch_size=16"])
    build_dataset(recipe, root)
    run = pipeline.train(recipe, root)
    return run.folder.checkpoints()[-1]


def snapshot_run(root: Path, model, count: int, name: str) -> Path:
    """A run folder with ``count`` snapshots: 8 x 8 grids of the model's samples, as training writes."""
    run = root / name
    (run / "snapshots").mkdir(parents=True)
    [samples] = sampling.generate(model, sampling.latents(model, 512, len(name)), batch_size=512)
    for index in range(count):  # the samples in another order each time: every snapshot differs
        grid(np.roll(samples, 37 * index, axis=0)[:64]).save(run / "snapshots" / f"step-{index * 100:07d}.png")
    (run / "recipe.lock.toml").write_text('[train]\ngrid = 8\nbatch_size = 32\n\n[lock]\ndataset_images = 5000\n')
    return run


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the ffmpeg encoders)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


@contextmanager
def timed(results: list, frames: int):
    """Appends (frames/s, CPU seconds) of the block to ``results``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    yield
    results.append((frames / (time.perf_counter() - wall), cpu_seconds() - cpu))


@contextmanager
def captured(calls: list):
    """Renderers hand their frames to a recorder instead of the encoder, scaled as the encoder would."""
    write_film = film.write_film

    def record(frames, out, fps, *, size=None, smooth=False, **options):
        pictures = [np.asarray(film.fit(Image.fromarray(frame), size, smooth)) for frame in frames]
        calls.append((pictures, fps, options))
        return []

    film.write_film = record
    try:
        yield
    finally:
        film.write_film = write_film


def renderer(name: str, size: int, frames: int, gif: bool, out: Path, runs: list[Path]):
    """Renderer ``name`` set up for a ``frames``-frame film about ``size`` pixels wide."""
    common = {"fps": FPS, "hold": 0, "gif": gif, "out": out}
    options = {
        "interpolation": {"seconds": frames / FPS, "size": size, "grid": 1, "loop": True},
        "timelapse": {"size": size},
        "compare": {"size": size // 2, "runs": runs[1:]},  # two runs side by side: about size wide
    }[name]
    info = plugins.get("renderer", name)
    return info.cls(info.cls.Options.model_validate({**common, **options}), Context())


def film_speed(name: str, target: Path, runs: list[Path], size: int, frames: int, gif: bool, repeats: int,
               work: Path) -> None:
    calls: list = []
    with captured(calls):
        renderer(name, size, frames, gif, work / "x.mp4", runs).render(target)
    [(pictures, fps, options)] = calls
    rendered, alone = [], []
    for _ in range(repeats):
        with timed(rendered, len(pictures)):
            renderer(name, size, frames, gif, work / "render.mp4", runs).render(target)
        with timed(alone, len(pictures)):
            film.write_film(iter(pictures), work / "alone.mp4", fps, **{**options, "label": "encode alone"})
    height, width = pictures[0].shape[:2]
    ratios = [r[0] / a[0] for r, a in zip(rendered, alone)]
    kind = "mp4+gif" if gif else "mp4"
    print(f"{name:13} {width:4}x{height:<4} {kind:7} {len(pictures):4} frames | "
          + " | ".join(f"render {r:6.1f}/s {rc:5.1f} cpu-s, alone {a:6.1f}/s {ac:5.1f} cpu-s, ratio {q:.2f}"
                       for (r, rc), (a, ac), q in zip(rendered, alone, ratios))
          + f" | median ratio {statistics.median(ratios):.2f}", flush=True)


def sample_speed(path: Path, count: int, repeats: int, work: Path) -> None:
    model = checkpoint.build_model(checkpoint.load(path))
    generated, written = [], []
    for repeat in range(repeats):
        with timed(generated, count):
            for _ in sampling.generate(model, sampling.latents(model, count, repeat)):
                pass
        with timed(written, count):
            sampling.write_samples(path, count, work / f"samples-{repeat}", seed=repeat, device="cpu")
    print(f"artgan sample --n {count}: " + " | ".join(
        f"generation alone {g:6.0f}/s {gc:5.1f} cpu-s, sample {w:6.0f}/s {wc:5.1f} cpu-s, ratio {w / g:.2f}"
        for (g, gc), (w, wc) in zip(generated, written)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", help="checkpoint or run folder (default: train a demo-sized model)")
    parser.add_argument("--frames", type=int, default=120, help="frames per film (snapshots, for timelapse)")
    parser.add_argument("--sizes", default="512,1024", help="film sizes in pixels, comma-separated")
    parser.add_argument("--repeats", type=int, default=2, help="render / encode-alone pairs per film")
    parser.add_argument("--renderers", default="interpolation,timelapse,compare")
    parser.add_argument("--formats", default="mp4,mp4+gif", help="mp4 alone and/or mp4 with a GIF beside it")
    parser.add_argument("--samples", type=int, default=2000, help="images for the sample benchmark (0: skip)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="render-speed-"))
    target = Path(args.target) if args.target else demo_sized_checkpoint(work)
    path = sampling.resolve_checkpoint(target)
    model = checkpoint.build_model(checkpoint.load(path))
    runs = [snapshot_run(work, model, args.frames, name) for name in ("run-a", "run-b")] \
        if {"timelapse", "compare"} & set(args.renderers.split(",")) else []
    print(f"cpu: {cpu_name()} ({os.cpu_count()} cores), torch threads: {torch.get_num_threads()}, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} (other work on the machine "
          f"slows every figure; the ratios, taken side by side, hold better)")
    print(f"checkpoint: {path} ({model.context.resolution} px); {FPS} fps, no hold; "
          f"film settings: {' '.join(film.MP4['output_params'])}")
    loading: list = []
    with timed(loading, 1):  # what every interpolation render pays before its first frame
        list(sampling.generate(checkpoint.build_model(checkpoint.load(path)), sampling.latents(model, 1, 0)))
    print(f"of each interpolation render: loading the model and its first sample {1 / loading[0][0]:.1f} s, "
          f"{loading[0][1]:.1f} cpu-s (dcgan recomputes its averaged G's batch-norm statistics then)")
    targets = {"interpolation": path, "timelapse": runs[0], "compare": runs[0]}
    for size in map(int, args.sizes.split(",")):
        for name in args.renderers.split(","):
            for gif in [kind == "mp4+gif" for kind in args.formats.split(",")]:
                film_speed(name, targets[name], runs, size, args.frames, gif, args.repeats, work)
    if args.samples:
        sample_speed(path, args.samples, args.repeats, work)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
