"""Start-up of the commands that neither train nor sample: CPU seconds (user + system, children
included), wall seconds and peak memory of each, and whether it imported torch.

    python benchmarks/startup.py [--repeat N]

Each command runs in a fresh interpreter, as a user's does; `python -X importtime -m artgan ARGS`
shows what one imports. Figures on a busy machine vary: compare CPU seconds, not wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [["--help"], ["--version"], ["recipes"], ["plugins"], ["plugins", "dcgan"], ["plugins", "--json"],
            ["run", "ellipses", "--dry-run"], ["render", "--help"], ["render", "interpolation", "--help"],
            ["new-plugin", "glitch", "--kind", "source"], ["studio", "--help"]]

# At exit, reports the process's own resource use on the fd given as its first argument.
REPORT = """
import atexit, json, os, resource, sys
def report():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with os.fdopen(fd, "w") as out:
        json.dump({"cpu": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime,
                   "peak_mb": max(own.ru_maxrss, kids.ru_maxrss) / 1024, "torch": "torch" in sys.modules}, out)
fd = int(sys.argv[1])
atexit.register(report)
"""
# Runs artgan's entry point with the other arguments, and reports.
PROBE = REPORT + """
sys.argv = ["artgan"] + sys.argv[2:]
from artgan.cli import main
main()
"""


def measure(args: list[str]) -> dict:
    """Run ``artgan ARGS`` once in a fresh interpreter: cpu and wall seconds, peak MB, torch imported."""
    read, write = os.pipe()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as cwd:
        process = subprocess.Popen([sys.executable, "-c", PROBE, str(write), *args], cwd=cwd, pass_fds=(write,),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(write)
        with os.fdopen(read) as report:
            figures = json.loads(report.read() or "{}")
        stderr = process.communicate()[1].decode(errors="replace")
    if process.returncode != 0 or not figures:
        raise RuntimeError(f"artgan {' '.join(args)} failed ({process.returncode}): {stderr.strip()}")
    return {**figures, "wall": time.perf_counter() - started}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the figures are the lowest")
    repeat = parser.parse_args().repeat
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {load:.2f}; Python {platform.python_version()}")
    width = max(len("artgan " + " ".join(args)) for args in COMMANDS)
    print(f"{'command':<{width}} {'cpu s':>7} {'wall s':>7} {'peak MB':>8}  torch imported")
    for args in COMMANDS:
        runs = [measure(args) for _ in range(repeat)]
        best = {key: min(run[key] for run in runs) for key in ("cpu", "wall", "peak_mb")}
        torch = "yes" if any(run["torch"] for run in runs) else "no"
        print(f"{'artgan ' + ' '.join(args):<{width}} {best['cpu']:7.2f} {best['wall']:7.2f} {best['peak_mb']:8.0f}  {torch}")


if __name__ == "__main__":
    main()
