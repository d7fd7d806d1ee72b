"""What the hardening of issue 21 costs: the checks made before any work (the model built on the
"meta" device), a checkpoint serialised in memory before it is written atomically (so that a full
disk is an OSError with the size needed, not torch's "unexpected pos" RuntimeError) against
torch.save straight into the temporary file, as before (both fsync and rename), and the clean-up
of a run folder's dead temporary files. Prints wall and CPU seconds (this process and its
children) and the CPU.

    python benchmarks/hardening.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

from artgan import checkpoint, folder_lock, plugins
from artgan.toolkit import precision
from artgan.files import atomic_path
from artgan.kinds import Context


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(label: str, work, repeats: int) -> float:
    """Run ``work`` ``repeats`` times; print and return the mean wall seconds."""
    work()  # once to warm up imports and caches
    wall, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(repeats):
        work()
    wall, cpu = (time.perf_counter() - wall) / repeats, (cpu_seconds() - cpu) / repeats
    print(f"{label:<58} {wall * 1000:9.1f} ms wall {cpu * 1000:9.1f} ms CPU")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    print(f"CPU: {precision.cpu_name()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, resolution in (("dcgan", 64), ("stylegan2", 256)):
        info = plugins.get("model", name)
        timed(f"check before work: {name} at {resolution} px on meta",
              lambda: info.cls(info.cls.Options(), Context(resolution=resolution, device="meta")), repeats)
    info = plugins.get("model", "stylegan2")
    model = info.cls(info.cls.Options(), Context(resolution=256))
    payload = {"model": {"use": "stylegan2"}, "resolution": 256, "seed": 0, "dataset": "x", "step": 0,
               "images_seen": 0, "seconds": 0.0, "state": model.state_dict(), "trainer": {}}
    with tempfile.TemporaryDirectory() as folder:
        def save_into_the_file():  # what checkpoint.save did before: no size known until it fails
            with atomic_path(Path(folder) / "direct.pt") as tmp:
                torch.save(payload, tmp)

        direct = timed("checkpoint: torch.save into the file (before)", save_into_the_file, repeats)
        memory = timed("checkpoint: in memory, then written atomically (after)",
                       lambda: checkpoint.save(Path(folder) / "step-0000000.pt", payload), repeats)
        size = (Path(folder) / "step-0000000.pt").stat().st_size
        print(f"  checkpoint of {size / 1e6:.1f} MB: after / before = {memory / direct:.2f}; "
              f"peak extra memory = one copy of the file ({size / 1e6:.1f} MB)")
        run = Path(folder) / "run"
        (run / "snapshots").mkdir(parents=True)
        for step in range(2000):
            (run / "snapshots" / f"step-{step:07d}.png").touch()
        timed("clean-up: a run folder of 2,000 snapshots, nothing dead", lambda: folder_lock.remove_dead_temporaries(run),
              repeats)

        def take_and_release():
            with folder_lock.hold(run, "retry"):
                pass

        timed("lock: take and release a run folder's lock", take_and_release, repeats)


if __name__ == "__main__":
    main()
