"""A checklist for the first CUDA machine: does artgan train, sample and film there, how fast?

For each model at each size: a few hundred training steps in the precision `auto` picks and in
fp32 beside it; sampling and an interpolation film from the trained model; then one torchrun job
over every GPU (nccl). Each line is a Markdown table row: images/s (the median of metrics.jsonl's
lines after the first), the peak GPU memory, the precision used, or the error. Paste the output
into an issue. On a machine without CUDA it says so and exits 0.

    python benchmarks/gpu_check.py [--models dcgan,stylegan2] [--sizes 64,256,512] [--steps 200]
        [--batch N] [--list] [--keep DIR]
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import tomli_w

from artgan import plugins

BATCH = {64: 64, 128: 32, 256: 16, 512: 8, 1024: 4}  # per GPU, so 512 px fits in 8 GB
SHAPES = 256  # training images: enough for the steps, quick to draw at 512 px


def power_of_two_sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip().isdigit()]
    if len(sizes) != len(text.split(",")) or any(s < 16 or s & (s - 1) for s in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: give powers of two from 16, comma-separated (e.g. 64,256,512)")
    return sizes


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="models to check, comma-separated (default: every installed one)")
    parser.add_argument("--sizes", type=power_of_two_sizes, default=[64, 256, 512], help="resolutions (default 64,256,512)")
    parser.add_argument("--steps", type=int, default=200, help="training steps per check (default 200)")
    parser.add_argument("--batch", type=int, help="batch per GPU (default: 64 at 64 px down to 8 at 512 px)")
    parser.add_argument("--list", action="store_true", help="print the checks and exit, without a GPU")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    installed = sorted(plugins.collect("model"))
    args.models = args.models.split(",") if args.models else installed
    unknown = [name for name in args.models if name not in installed]
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; installed: {', '.join(installed)}")
    if args.steps < 20:
        parser.error("--steps: at least 20, so that metrics.jsonl has lines after the first")
    return args


def checks(args: argparse.Namespace) -> list[tuple[str, str, int, str]]:
    """(kind, model, size, precision) of every check, in the order they run."""
    planned = []
    for model in args.models:
        for size in args.sizes:
            planned += [("train", model, size, "auto"), ("train", model, size, "fp32"),
                        ("sample", model, size, ""), ("interpolation", model, size, "")]
    return planned + [("torchrun", args.models[0], args.sizes[0], "auto")]


def recipe(model: str, size: int, precision: str, steps: int, batch: int) -> dict:
    return {"name": f"{model}-{size}-{precision}", "seed": 0, "resolution": size,
            "source": [{"use": "shapes", "count": SHAPES}], "model": {"use": model},
            "train": {"steps": steps, "batch_size": batch, "device": "cuda", "precision": precision,
                      "metrics_every": 10, "snapshot_every": steps, "checkpoint_every": steps}}


def trained_figures(run: Path) -> tuple[float, str]:
    """Median images/s after the first metrics line (warm-up, cuDNN benchmarking), and the precision."""
    from artgan.runfolder import RunFolder

    folder = RunFolder(run)
    speeds = [line["images_per_s"] for line in folder.metrics() if "images_per_s" in line]  # not event lines
    speeds = speeds[1:] or speeds
    return statistics.median(speeds), folder.lock().environment.get("precision", "?")


class Checklist:
    def __init__(self, args: argparse.Namespace, work: Path):
        self.args, self.work = args, work
        self.runs: dict[tuple[str, int], Path] = {}  # (model, size) -> run trained in auto precision

    def run(self, kind: str, model: str, size: int, precision: str) -> str:
        """One table row: the check's figures, or its error."""
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        try:
            speed, used = getattr(self, kind)(model, size, precision)
            memory = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GB"
            result = "ok"
        except Exception as exc:  # a checklist reports every failure and goes on
            speed, used, memory = "", precision if kind in ("train", "torchrun") else "", ""
            result = f"**{type(exc).__name__}**: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            traceback.print_exc(file=sys.stderr)
        return f"| {kind} | {model} | {size} | {used} | {speed} | {memory} | {result} |"

    def _batch(self, size: int) -> int:
        return self.args.batch or BATCH.get(size, 8)

    def train(self, model: str, size: int, precision: str):
        from artgan import pipeline
        from artgan.dataset import build_dataset
        from artgan.recipe import parse_recipe

        folder = self.work / f"{model}-{size}-{precision}"
        parsed = parse_recipe(recipe(model, size, precision, self.args.steps, self._batch(size)), folder / "r.toml")
        build_dataset(parsed, folder)
        run = pipeline.train(parsed, folder).dir
        if precision == "auto":
            self.runs[model, size] = run
        speed, used = trained_figures(run)
        return f"{speed:.1f} img/s", used

    def _trained(self, model: str, size: int) -> Path:
        if (model, size) not in self.runs:
            raise RuntimeError("no trained model: its training check (auto) failed")
        return self.runs[model, size]

    def sample(self, model: str, size: int, precision: str):
        from artgan import sampling

        count = 1000
        started = time.perf_counter()
        sampling.write_samples(self._trained(model, size), count, self.work / f"samples-{model}-{size}", device="cuda")
        return f"{count / (time.perf_counter() - started):.1f} img/s (PNG files)", ""

    def interpolation(self, model: str, size: int, precision: str):
        from artgan import rendering

        started = time.perf_counter()
        rendering.render("interpolation", [self._trained(model, size)],
                         {"seconds": "10", "loop": True, "out": str(self.work / f"film-{model}-{size}.mp4")},
                         device="cuda")
        return f"{300 / (time.perf_counter() - started):.1f} frames/s (10 s, 512 px)", ""

    def torchrun(self, model: str, size: int, precision: str):
        import torch

        gpus = torch.cuda.device_count()
        folder = self.work / "torchrun"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "recipe.toml"
        path.write_text(tomli_w.dumps(recipe(model, size, precision, self.args.steps, self._batch(size))))
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
                   "-m", "artgan", "--quiet", "run", str(path), "--out", str(folder)]
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        speed, used = trained_figures(folder / "runs" / f"{model}-{size}-{precision}")
        return f"{speed:.1f} img/s over {gpus} GPU(s), nccl", used


def header() -> list[str]:
    """What the machine is: GPUs, memory, compute capability, CUDA, cuDNN, torch."""
    import torch

    lines = [f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
             f"bf16 supported: {torch.cuda.is_bf16_supported()}"]
    for index in range(torch.cuda.device_count()):
        gpu = torch.cuda.get_device_properties(index)
        lines.append(f"GPU {index}: {gpu.name}, {gpu.total_memory / 2**30:.1f} GB, "
                     f"compute capability {gpu.major}.{gpu.minor}, {gpu.multi_processor_count} SMs")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    planned = checks(args)
    if args.list:
        for kind, model, size, precision in planned:
            print(f"- [ ] {kind} {model} {size} px {precision}".rstrip())
        return 0
    import torch

    if not torch.cuda.is_available():
        print(f"no CUDA GPU here (torch {torch.__version__}, built for CUDA: {torch.version.cuda or 'no'}): "
              "nothing to check. Run this on a machine with an NVIDIA GPU and a CUDA build of torch.")
        return 0
    print("\n".join(header()))
    print(f"\n{args.steps} steps per training check, batch per GPU: {args.batch or 'by size'}\n")
    print("| check | model | px | precision | speed | peak GPU memory | result |")
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    with contextlib.ExitStack() as stack:  # the checks' runs and films: removed after, unless --keep
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gpu-check-")))
        checklist = Checklist(args, work)
        for check in planned:
            with contextlib.redirect_stdout(sys.stderr):  # progress lines: the table stays clean
                row = checklist.run(*check)
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
