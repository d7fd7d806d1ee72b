"""artgan studio: how long the server takes to list a workspace of 200 runs (aim: under 100 ms),
how long a snapshot file takes from landing on disk to showing on an open page, measured in the
browser (aim: under 1 s), how fast a run with a metrics.jsonl of 200,000 lines serves and charts,
how fast a run of 5,000 snapshots serves them one by one (a scrubber dragged along), and the
studio's memory, also once the film composer has loaded a model.

    python benchmarks/studio.py [--runs 200] [--shots 10]

The studio runs as `artgan studio` in its own process; the page in Debian's chromium (headless).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from studio_helpers import chromium, train_run  # noqa: E402  (the tests' tiny training and browser)

from artgan.files import write_bytes_atomic  # noqa: E402


def cpu_model() -> str:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def workspace(root: Path, runs: int) -> Path:
    """``runs`` copies of one real tiny run of 300 steps (300 metrics lines, 31 snapshots)."""
    first = train_run(root, "run-000", "train.steps=300", "train.snapshot_every=10", "train.checkpoint_every=300",
                      "train.metrics_every=1")
    for index in range(1, runs):
        shutil.copytree(first, root / "runs" / f"run-{index:03d}", ignore=shutil.ignore_patterns("checkpoints"))
    return root


def process_figures(pid: int) -> tuple[float, float]:
    """RSS in MB and CPU seconds (user + system) of process ``pid``."""
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:")) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return rss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listing(url: str, times: int = 20) -> list[float]:
    """Seconds for GET /api/runs and for the gallery page, as the client sees them."""
    spent = []
    with httpx.Client() as client:
        for path in ["api/runs", ""] * times:
            started = time.perf_counter()
            client.get(url + path).raise_for_status()
            spent.append(time.perf_counter() - started)
    return spent


def snapshot_delays(url: str, run_dir: Path, shots: int) -> list[float]:
    """Seconds from a snapshot's atomic rename to the open page's picture having loaded it."""
    delays = []
    source = (run_dir / "snapshots" / "step-0000300.png").read_bytes()
    with chromium() as browser:
        page = browser.new_page()
        page.goto(url + "runs/run-000")
        page.evaluate("""() => { window.shown = {};
            document.querySelector('#shot').addEventListener('load', e => {
                window.shown[e.target.src.split('/').pop()] = performance.timeOrigin + performance.now(); }); }""")
        for index in range(shots):
            step = 1000 + index
            landed = time.time()
            write_bytes_atomic(run_dir / "snapshots" / f"step-{step:07d}.png", source)
            page.wait_for_function(f"window.shown['{step}.png']", timeout=10_000)
            delays.append(page.evaluate(f"window.shown['{step}.png']") / 1000 - landed)
            time.sleep(0.3)
    return delays


def long_run(root: Path, lines: int) -> Path:
    """A copy of run-000 whose metrics.jsonl has ``lines`` loss lines."""
    run = root / "runs" / "run-long"
    shutil.copytree(root / "runs" / "run-000", run, ignore=shutil.ignore_patterns("checkpoints"))
    rows = (json.dumps({"step": step, "images_seen": step * 8, "seconds": step * 0.01, "loss_d": 1 + step % 7 / 10,
                        "loss_g": 2 - step % 5 / 10, "images_per_s": 800.0}) for step in range(1, lines + 1))
    (run / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    return run


def long_metrics(url: str, run: Path, lines: int) -> None:
    """Print how long the server takes to give a 200,000-line run's page data, cold, again, and
    after 100 more lines; its size against the unthinned rows; and the page's charts drawn."""
    def fetch() -> tuple[float, int]:
        started = time.perf_counter()
        answer = httpx.get(url + "api/runs/run-long", timeout=60)
        answer.raise_for_status()
        return time.perf_counter() - started, len(answer.content)

    cold, size = fetch()
    again = statistics.median(fetch()[0] for _ in range(10))
    with open(run / "metrics.jsonl", "a") as metrics:
        metrics.writelines(json.dumps({"step": lines + i, "loss_d": 1.0, "loss_g": 2.0}) + "\n" for i in range(1, 101))
    grown, _ = fetch()
    full = (run / "metrics.jsonl").stat().st_size
    print(f"a run of {lines} metrics lines ({full / 1e6:.0f} MB): /api/runs/run-long first {cold * 1000:.0f} ms, "
          f"again {again * 1000:.0f} ms (median of 10), after 100 more lines {grown * 1000:.0f} ms; "
          f"{size / 1e3:.0f} kB sent (the charts' 2000 points)")
    with chromium() as browser:
        page = browser.new_page()
        started = time.perf_counter()
        page.goto(url + "runs/run-long")
        page.wait_for_selector(".chart canvas", timeout=60_000)
        print(f"its page, open to charts drawn in chromium: {(time.perf_counter() - started) * 1000:.0f} ms")


def scrubbing(url: str, run: Path, shots: int = 5000, fetched: int = 100) -> None:
    """Print how long ``fetched`` snapshots of a run of ``shots`` take to serve, one by one."""
    png = next((run / "snapshots").glob("step-*.png")).read_bytes()
    for step in range(shots):
        (run / "snapshots" / f"step-{step:07d}.png").write_bytes(png)
    steps = range(0, shots, shots // fetched)
    with httpx.Client(base_url=url) as client:
        started = time.perf_counter()
        for step in steps:
            client.get(f"files/runs/{run.name}/snapshots/{step}.png").raise_for_status()
        took = time.perf_counter() - started
    print(f"a run of {shots} snapshots: {len(steps)} of them served one by one in {took * 1000:.0f} ms "
          f"({took / len(steps) * 1000:.1f} ms each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--lines", type=int, default=200_000, help="metrics lines of the long run")
    args = parser.parse_args()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory() as scratch:
        root = workspace(Path(scratch), args.runs)
        studio = subprocess.Popen([sys.executable, "-m", "artgan", "studio", "--workspace", str(root), "--port", "0",
                                   "--no-browser"], stdout=subprocess.PIPE, text=True)
        try:
            url = re.search(r"at (http://\S+)", studio.stdout.readline()).group(1)
            for _ in range(200):
                try:
                    httpx.get(url + "static/studio.css")  # answers without listing: the first listing stays cold
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
            rss, cpu = process_figures(studio.pid)
            print(f"studio started: {rss:.0f} MB RSS, {cpu:.2f} CPU s")
            first = time.perf_counter()
            httpx.get(url + "api/runs").raise_for_status()
            first = time.perf_counter() - first
            spent = listing(url)
            api, page = spent[0::2], spent[1::2]
            print(f"list {args.runs} runs: first (cold) {first * 1000:.0f} ms; then /api/runs median "
                  f"{statistics.median(api) * 1000:.0f} ms (max {max(api) * 1000:.0f}), gallery page median "
                  f"{statistics.median(page) * 1000:.0f} ms (max {max(page) * 1000:.0f}); aim under 100 ms")
            delays = snapshot_delays(url, root / "runs" / "run-000", args.shots)
            print(f"snapshot landed -> shown in the browser: median {statistics.median(delays) * 1000:.0f} ms, "
                  f"max {max(delays) * 1000:.0f} ms over {len(delays)}; aim under 1 s")
            long = long_run(root, args.lines)
            long_metrics(url, long, args.lines)
            scrubbing(url, long)
            rss, cpu = process_figures(studio.pid)
            print(f"studio before the composer: {rss:.0f} MB RSS, {cpu:.2f} CPU s in all")
            started = time.perf_counter()
            httpx.get(url + "files/runs/run-000/samples/3.png", timeout=120).raise_for_status()
            loaded = time.perf_counter() - started
            rss, cpu = process_figures(studio.pid)
            print(f"studio once the composer loaded run-000's model (first sample {loaded:.1f} s, torch imported): "
                  f"{rss:.0f} MB RSS, {cpu:.2f} CPU s in all")
        finally:
            studio.terminate()
            studio.wait(10)
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"this benchmark: {own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime:.1f} CPU s "
          f"(itself, the studio and chromium); load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
