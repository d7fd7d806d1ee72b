"""artgan in a Jupyter kernel: the start-up and memory of `import artgan` and of a first
`artgan.run`, and what a training's progress leaves in the saved notebook (bytes and lines per
1,000 steps): the bar redrawn in place, as now, against plain lines (what a kernel showed before,
its output not being a terminal, and what `progress.QUIET` still gives).

    python benchmarks/notebook.py [--steps 1000] [--count 2000]

Each mode runs in a fresh kernel (nbclient), on the bundled recipe "ellipses" shortened to
--steps. CPU seconds include child processes; memory is the kernel's peak resident size.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

MEASURE = """
import json, resource, sys, time

def used():
    self, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), self.ru_utime + self.ru_stime + children.ru_utime + children.ru_stime, self.ru_maxrss / 1024

figures = {"kernel_mb": used()[2]}
"""
IMPORT = """
wall, cpu, _ = used()
import artgan
now = used()
figures.update(import_s=now[0] - wall, import_cpu_s=now[1] - cpu, import_mb=now[2], torch_at_import="torch" in sys.modules)
"""
PLAIN = "from artgan import progress\nprogress.QUIET = True"
TRAIN = """
wall, cpu, _ = used()
run = artgan.run(artgan.load_recipe("ellipses", set={settings}), out=".")
now = used()
figures.update(run_s=now[0] - wall, run_cpu_s=now[1] - cpu, run_mb=now[2], steps=run.step)
"""
REPORT = "print(json.dumps(figures))"


def measure(mode: str, steps: int, count: int, folder: Path) -> dict:
    settings = {"name": f"bench-{mode}", "train.steps": steps, "source.0.count": count}
    cells = [MEASURE, IMPORT, *([PLAIN] if mode == "plain" else []), TRAIN.format(settings=settings), REPORT]
    notebook = new_notebook(cells=[new_code_cell(code) for code in cells])
    NotebookClient(notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    path = folder / f"{mode}.ipynb"
    nbformat.write(notebook, path)
    training = notebook.cells[-2].outputs
    figures = json.loads(notebook.cells[-1].outputs[0]["text"])
    figures.update(mode=mode, output_bytes=len(json.dumps(training)), output_lines=_lines(training),
                   notebook_bytes=path.stat().st_size)
    return figures


def _lines(outputs: list) -> int:
    """Lines a reader sees: printed text, and the plain-text form of each display."""
    return sum(len((o.get("text", "") if o["output_type"] == "stream" else o.get("data", {}).get("text/plain", ""))
                   .splitlines()) for o in outputs)


def cpu_name() -> str:
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), platform.processor())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--count", type=int, default=2000, help="ellipses in the dataset")
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("display", "plain"):
            started = time.perf_counter()
            f = measure(mode, args.steps, args.count, Path(folder))
            print(f"{mode:8} import artgan {f['import_s']:.2f} s ({f['import_cpu_s']:.2f} CPU s; kernel "
                  f"{f['kernel_mb']:.0f} -> {f['import_mb']:.0f} MB; torch imported: {f['torch_at_import']}); "
                  f"first artgan.run, {f['steps']} steps: {f['run_s']:.1f} s ({f['run_cpu_s']:.1f} CPU s, peak "
                  f"{f['run_mb']:.0f} MB); its progress in the saved notebook: {f['output_bytes']:,} bytes, "
                  f"{f['output_lines']} lines (whole notebook {f['notebook_bytes']:,} bytes); "
                  f"{time.perf_counter() - started:.0f} s in all, load {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
