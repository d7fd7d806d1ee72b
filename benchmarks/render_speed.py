"""How fast are films and samples made, next to the limits set by the encoder and the model?

Every film renderer (interpolation, timelapse, compare) at two film sizes, as mp4 and as mp4 +
GIF, and as mp4 ending with the credits card, from a demo-sized model (trained for one step when
no checkpoint is given: speed does not depend on how well a model is trained) and run folders of
that model's snapshots.

The encoder's limit ("encode alone") is measured like with like: the frames the renderer handed
the film writer are recorded once, then written from memory by the same call, with the same
arguments (frame size into ffmpeg, in-ffmpeg scaling, GIF palette, hold, fps), so ffmpeg runs the
same command on the same input. Start-up is included in both: encode alone pays ffmpeg's
start-up and its end (x264's flush, faststart); the renderer pays those and its own (loading the
model, listing snapshots, the fonts). Renderer and encode alone alternate, a round at a time
over every film, so load from other work hits both alike; the table gives medians over rounds of
frames/s, CPU seconds (this process, and apart its ffmpeg children) and the ratio render /
encode alone. Then the 512 px mp4 films as `artgan render` in a fresh process, as a user runs it
(the interpreter, its imports and the model's set-up included), against encode alone; and
`artgan sample` against generation alone, from that model and from dcgans of the examples' sizes.

    python benchmarks/render_speed.py --quick   # every renderer, 512 and 1024 px, mp4 and GIF, 3 rounds
    python benchmarks/render_speed.py [CHECKPOINT_OR_RUN_DIR] [--frames 300] [--gif-frames 30]
        [--sizes 512,1024] [--repeats 3] [--renderers interpolation,timelapse,compare]
        [--formats mp4,mp4+gif] [--end-card 2] [--samples 2000] [--sample-sizes 64,128]
        [--sample-folder /dev/shm]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from artgan import checkpoint, film, pipeline, plugins, rendering, sampling
from artgan.dataset import build_dataset
from artgan.images import grid
from artgan.kinds import Context
from artgan.recipe import load_recipe
from artgan.toolkit.precision import cpu_name

FPS = 30
QUICK = {"frames": 300, "gif_frames": 12, "sizes": "512,1024", "repeats": 3, "samples": 2000}


def demo_sized_checkpoint(root: Path, overrides: tuple[str, ...] = ()) -> Path:
    """The demo's model and data (with ``overrides``), trained for one step."""
    with resources.as_file(resources.files("artgan") / "demo.toml") as path:
        recipe = load_recipe(path, ["train.steps=1", "source.count=64", "train.batch_size=16", *overrides])
    build_dataset(recipe, root)
    run = pipeline.train(recipe, root)
    return run.folder.checkpoints()[-1]


def snapshot_run(root: Path, model, count: int, name: str, dataset: Path) -> Path:
    """A run folder with ``count`` snapshots: 8 x 8 grids of the model's samples, as training
    writes, trained on ``dataset``."""
    run = root / name
    (run / "snapshots").mkdir(parents=True)
    [samples] = sampling.generate(model, sampling.latents(model, 512, len(name)), batch_size=512)
    for index in range(count):  # the samples in another order each time: every snapshot differs
        grid(np.roll(samples, 37 * index, axis=0)[:64]).save(run / "snapshots" / f"step-{index * 100:07d}.png")
    (run / "recipe.lock.toml").write_text('[train]\ngrid = 8\nbatch_size = 32\n\n[lock]\ndataset_images = 5000\n'
                                          f'dataset = {json.dumps(str(dataset))}\n')
    return run


def credited_dataset(folder: Path, works: int = 12) -> Path:
    """A dataset folder whose manifest credits ``works`` downloaded images, as web search writes
    it: what a film's credits card lists."""
    folder.mkdir(parents=True, exist_ok=True)
    records = [{"file": f"images/{i:07d}.png", "origin": "web", "info": {
        "url": f"https://example.org/img/{i}.jpg", "creator": f"Photographer {i}", "license": "by",
        "license_version": "4.0", "attribution": f'"{i}.jpg" by Photographer {i}, licensed CC BY 4.0'}}
        for i in range(works)]
    (folder / "manifest.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    return folder


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process, and of its finished children (the ffmpeg encoders)."""
    return tuple(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                   resource.getrusage(resource.RUSAGE_CHILDREN)))


@dataclass
class Timings:
    """frames/s, this process's CPU seconds and its children's, one entry per round."""

    speed: list[float] = field(default_factory=list)
    own: list[float] = field(default_factory=list)
    ffmpeg: list[float] = field(default_factory=list)

    @contextmanager
    def timed(self, frames: int):
        wall, (own, children) = time.perf_counter(), cpu_seconds()
        yield
        self.speed.append(frames / (time.perf_counter() - wall))
        now_own, now_children = cpu_seconds()
        self.own.append(now_own - own)
        self.ffmpeg.append(now_children - children)

    def median(self) -> str:
        return (f"{statistics.median(self.speed):.1f} | {statistics.median(self.own):.2f} + "
                f"{statistics.median(self.ffmpeg):.2f}")


@contextmanager
def captured(calls: list):
    """Renderers hand their frames and arguments to a recorder instead of the film writer."""
    write_film = film.write_film

    def record(frames, out, fps, **options):
        calls.append(([np.array(frame) for frame in frames], fps, options))
        return []

    film.write_film = record
    try:
        yield
    finally:
        film.write_film = write_film


def renderer(name: str, size: int, frames: int, gif: bool, out: Path, runs: list[Path], card: float = 0):
    """Renderer ``name`` set up for a ``frames``-frame film about ``size`` pixels wide, ending
    with ``card`` seconds of the credits card."""
    common = {"fps": FPS, "hold": 0, "gif": gif, "out": out, "end_card": card}
    options = {
        "interpolation": {"seconds": frames / FPS, "size": size, "grid": 1, "loop": True},
        "timelapse": {"size": size},
        "compare": {"size": size // 2, "runs": runs[1:]},  # two runs side by side: about size wide
    }[name]
    info = plugins.get("renderer", name)
    return info.cls(info.cls.Options.model_validate({**common, **options}), Context())


@dataclass
class Film:
    """One film of the benchmark: a renderer at a size and format, its recorded frames and timings."""

    name: str
    size: int
    gif: bool
    target: Path
    runs: list[Path]
    frames: int
    card: float = 0
    recorded: tuple = ()
    rendered: Timings = field(default_factory=Timings)
    alone: Timings = field(default_factory=Timings)

    def make(self, out: Path):
        return renderer(self.name, self.size, self.frames, self.gif, out, self.runs, self.card)

    def record(self, work: Path) -> None:
        calls: list = []
        with captured(calls):
            self.make(work / "x.mp4").render(self.target)
        [self.recorded] = calls

    def round(self, work: Path) -> None:
        """One render, then the same frames encoded alone."""
        pictures, fps, options = self.recorded
        with self.rendered.timed(len(pictures)):
            self.make(work / "render.mp4").render(self.target)
        with self.alone.timed(len(pictures)):
            film.write_film(iter(pictures), work / "alone.mp4", fps, **{**options, "label": "encode alone"})

    def row(self) -> str:
        pictures, _, options = self.recorded
        height, width = pictures[0].shape[:2]
        ratios = [r / a for r, a in zip(self.rendered.speed, self.alone.speed)]
        into = f"{width}x{height}" + (f" -> {options['size']}" if options.get("size") else "")
        name = f"{self.name} + {self.card:g} s card" if self.card else self.name
        return (f"| {name} | {into} | {'mp4+gif' if self.gif else 'mp4'} | {len(pictures)} | "
                f"{self.rendered.median()} | {self.alone.median()} | "
                f"{', '.join(f'{q:.2f}' for q in ratios)} | **{statistics.median(ratios):.2f}** |")


def command_line_speed(films: list[Film], repeats: int, work: Path) -> None:
    """What a user waits for: `artgan render` of each 512 px mp4 film in a fresh process
    (Python, its imports, the model, the film), against encode alone of the same frames."""
    print("\n`artgan render` in a fresh process, as a user runs it (medians; seconds)\n\n"
          "| film | command line | encode alone | ratio per round | median ratio |\n| --- | --- | --- | --- | --- |")
    for one in films:
        pictures, fps, options = one.recorded
        words = rendering.command_line(one.name, one.target, one.make(work / "cli.mp4").options)
        command, alone = Timings(), Timings()
        for _ in range(repeats):
            with command.timed(1):
                subprocess.run([sys.executable, "-m", "artgan", *words[1:]], check=True, stdout=subprocess.DEVNULL)
            with alone.timed(1):
                film.write_film(iter(pictures), work / "alone.mp4", fps, **{**options, "label": "encode alone"})
        ratios = [c / a for c, a in zip(command.speed, alone.speed)]
        print(f"| {one.name} | {1 / statistics.median(command.speed):.2f} | {1 / statistics.median(alone.speed):.2f} | "
              f"{', '.join(f'{q:.2f}' for q in ratios)} | **{statistics.median(ratios):.2f}** |", flush=True)


@contextmanager
def torch_threads(count: int):
    """torch on ``count`` threads inside the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def sample_speed(models: list[tuple[str, Path]], count: int, repeats: int, work: Path) -> None:
    """`artgan sample` against generation alone, on torch's threads and on half the cores; the
    ratio is against the faster of the two. Larger models write fewer samples, count x 32 /
    resolution (at least 256)."""
    print(f"\n`artgan sample` (images/s, medians of {repeats}; the sample figure includes loading the model; "
          f"CPU-s per 1,000 images)\n\n| model | samples | generation alone, {torch.get_num_threads()} threads "
          f"| generation alone, half the cores | artgan sample | ratio per round | median ratio |\n"
          f"| --- | --- | --- | --- | --- | --- | --- |")
    for index, (label, path) in enumerate(models):
        model = checkpoint.build_model(checkpoint.load(path))
        n = max(256, round(count * 32 / model.context.resolution))
        alone, halved, written = Timings(), Timings(), Timings()
        for repeat in range(repeats):
            for timings, threads in ((alone, torch.get_num_threads()), (halved, max(1, os.cpu_count() // 2))):
                with torch_threads(threads), timings.timed(n):
                    for _ in sampling.generate(model, sampling.latents(model, n, repeat)):
                        pass
            with written.timed(n):
                sampling.write_samples(path, n, work / f"samples-{index}-{repeat}", seed=repeat, device="cpu")
        ratios = [w / max(a, h) for a, h, w in zip(alone.speed, halved.speed, written.speed)]
        cells = [f"{statistics.median(t.speed):.0f} ({1000 * statistics.median(t.own) / n:.2f} CPU-s)"
                 for t in (alone, halved, written)]
        print(f"| {label} | {n} | {' | '.join(cells)} | {', '.join(f'{q:.2f}' for q in ratios)} | "
              f"**{statistics.median(ratios):.2f}** |", flush=True)


def film_speed(args, path: Path, model, work: Path) -> None:
    """Every film of ``args`` rendered and encoded alone, a round at a time; then the 512 px mp4
    films from the command line."""
    films = []
    for gif in [kind == "mp4+gif" for kind in args.formats.split(",")]:
        frames = args.gif_frames if gif else args.frames
        root = work / f"{frames}"
        dataset = credited_dataset(root / "data" / "credited")
        runs = [snapshot_run(root, model, frames, name, dataset) for name in ("run-a", "run-b")]
        targets = {"interpolation": path, "timelapse": runs[0], "compare": runs[0]}
        films += [Film(name, size, gif, targets[name], runs, frames)
                  for size in map(int, args.sizes.split(",")) for name in args.renderers.split(",")]
        if args.end_card and not gif:  # the same films at the first size, ending with the credits card
            films += [Film(name, int(args.sizes.split(",")[0]), gif, targets[name], runs, frames, args.end_card)
                      for name in args.renderers.split(",")]
    for one in films:
        one.record(work)
    for round_ in range(args.repeats):
        for one in films:
            one.round(work)
        print(f"round {round_ + 1} of {args.repeats} done, load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"\n| film | frames into ffmpeg | format | frames | render frames/s | render CPU-s (own + ffmpeg) "
          f"| alone frames/s | alone CPU-s (own + ffmpeg) | ratio per round | median ratio |\n"
          f"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for one in films:
        print(one.row(), flush=True)
    plain = [one for one in films if one.size == 512 and not (one.gif or one.card)]
    command_line_speed(plain, args.repeats, work)


def measure(args, work: Path) -> None:
    """The figures ``args`` ask for, made in the folder ``work``."""
    target = Path(args.target) if args.target else demo_sized_checkpoint(work)
    path = sampling.resolve_checkpoint(target)
    model = checkpoint.build_model(checkpoint.load(path))
    print(f"cpu: {cpu_name()} ({os.cpu_count()} cores), torch threads: {torch.get_num_threads()}, "
          f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} (other work on the machine "
          f"slows every figure; the ratios, taken side by side, hold better)")
    print(f"checkpoint: {path} ({model.context.resolution} px); {FPS} fps, no hold; "
          f"mp4: {' '.join(film.MP4['output_params'])}")
    loading = Timings()
    with loading.timed(1):  # what every interpolation render pays before its first frame
        list(sampling.generate(checkpoint.build_model(checkpoint.load(path)), sampling.latents(model, 1, 0)))
    print(f"of each interpolation render: loading the model and its first sample {1 / loading.speed[0]:.2f} s, "
          f"{loading.own[0]:.2f} cpu-s")
    if args.renderers:
        film_speed(args, path, model, work)
    if args.samples:
        models = [(f"the checkpoint's ({model.context.resolution} px)", path)]
        models += [(f"dcgan {size} px, widths 64", demo_sized_checkpoint(
            work / f"dcgan-{size}", (f"resolution={size}", "model.g_width=64", "model.d_width=64")))
            for size in map(int, filter(None, args.sample_sizes.split(",")))]
        if args.sample_folder is None:
            sample_speed(models, args.samples, args.repeats, work)
        else:  # a folder of its own in there, removed after
            with tempfile.TemporaryDirectory(prefix="render-speed-samples-", dir=args.sample_folder) as out:
                print(f"\nsamples written in {out}")
                sample_speed(models, args.samples, args.repeats, Path(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", help="checkpoint or run folder (default: train a demo-sized model)")
    parser.add_argument("--quick", action="store_true", help="the standard set: " + " ".join(
        f"--{key.replace('_', '-')} {value}" for key, value in QUICK.items()))
    parser.add_argument("--frames", type=int, default=300,
                        help="frames per mp4 film (snapshots, for timelapse): 300 = 10 s, the demo's interpolation film")
    parser.add_argument("--gif-frames", type=int, default=30,
                        help="frames per mp4+gif film (GIFs cost many times an mp4 per frame)")
    parser.add_argument("--sizes", default="512,1024", help="film sizes in pixels, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of render / encode alone per film")
    parser.add_argument("--renderers", default="interpolation,timelapse,compare", help="empty: samples only")
    parser.add_argument("--formats", default="mp4,mp4+gif", help="mp4 alone and/or mp4 with a GIF beside it")
    parser.add_argument("--end-card", type=float, default=2.0,
                        help="also each mp4 at the first size ending with this many seconds of the credits card "
                             "(0: none)")
    parser.add_argument("--samples", type=int, default=2000, help="images for the sample benchmark (0: skip)")
    parser.add_argument("--sample-folder", type=Path,
                        help="where `artgan sample` writes (default: the benchmark's temporary folder on disk); "
                             "a tmpfs such as /dev/shm times the sampler without the disk")
    parser.add_argument("--sample-sizes", default="64,128",
                        help="also sample from dcgans of these resolutions (web-faces' 64, cartoon-frames' 128), "
                             "comma-separated; empty: only the checkpoint")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    with tempfile.TemporaryDirectory(prefix="render-speed-") as folder:  # models, runs, films: half a GB, removed after
        measure(args, Path(folder))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
