"""The Python API as a notebook uses it: `import artgan`, a short demo through artgan.run beside
the same recipe through `artgan run`, then samples and a film from the Run. For each: CPU seconds
(user + system, children included), wall seconds, peak memory, and the output it printed (lines
and bytes; a notebook cell shows all of it). Output goes to a pipe, not a terminal, as in Jupyter.

    python benchmarks/python_api.py [--steps 200]

Each step runs in a fresh interpreter. Figures on a busy machine vary: compare CPU seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from startup import REPORT, cpu_model

# Runs a case's code with STEPS and OUT set from its arguments, and reports (see startup.py).
PROBE = REPORT + """
STEPS, OUT = int(sys.argv[2]), sys.argv[3]
"""
CASES = {
    "import artgan": "import artgan",
    "artgan.run(demo)": "import artgan\n"
                        "artgan.run(artgan.load_recipe('demo', set={'train.steps': STEPS, 'source.0.count': 500,"
                        " 'render': []}), out=OUT)",
    "artgan run demo (CLI)": "from artgan.cli import app\n"
                             "app(['run', 'demo', '--out', OUT, '--set', f'train.steps={STEPS}',"
                             " '--set', 'source.0.count=500', '--set', 'render=[]'], standalone_mode=False)",
    "open_run + samples(16)": "import artgan\nartgan.open_run(OUT + '/runs/demo').samples(16)",
    "run.render('timelapse')": "import artgan\nartgan.open_run(OUT + '/runs/demo').render('timelapse', size=256)",
}


def measure(code: str, steps: int, out: str) -> dict:
    """Run ``code`` once in a fresh interpreter: cpu and wall seconds, peak MB, torch, output."""
    read, write = os.pipe()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", PROBE + code, str(write), str(steps), out],
                               pass_fds=(write,), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.close(write)
    with os.fdopen(read) as report:
        figures = json.loads(report.read() or "{}")
    printed = process.communicate()[0]
    if process.returncode != 0 or not figures:
        raise RuntimeError(f"{code!r} failed ({process.returncode}): {printed.decode(errors='replace')[-2000:]}")
    return {**figures, "wall": time.perf_counter() - started, "lines": printed.count(b"\n"), "bytes": len(printed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps of the short demo")
    steps = parser.parse_args().steps
    load = os.getloadavg()[0]
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {load:.2f}; demo of {steps} steps, 500 images")
    print(f"{'case':<26} {'cpu s':>7} {'wall s':>7} {'peak MB':>8} {'lines':>6} {'bytes':>7}  torch")
    figures = {}
    with tempfile.TemporaryDirectory() as api, tempfile.TemporaryDirectory() as cli:
        for name, code in CASES.items():
            figures[name] = f = measure(code, steps, cli if "CLI" in name else api)
            print(f"{name:<26} {f['cpu']:7.2f} {f['wall']:7.2f} {f['peak_mb']:8.0f} {f['lines']:6d} {f['bytes']:7d}  "
                  f"{'yes' if f['torch'] else 'no'}")
    api_run, cli_run = figures["artgan.run(demo)"], figures["artgan run demo (CLI)"]
    print(f"API / CLI: cpu {api_run['cpu'] / cli_run['cpu']:.2f}, wall {api_run['wall'] / cli_run['wall']:.2f}, "
          f"peak memory {api_run['peak_mb'] / cli_run['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
