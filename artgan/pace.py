"""How fast training goes, said as it starts: the line that opens a run (device, precision,
threads, dataset, where it resumes), the thread count that is fastest here (measured on the run's
own first steps), the estimated time once steps are measured, and one line when the run slows
far below what this machine did at its start."""
from __future__ import annotations

import os
import statistics
import time

import torch

from artgan import distributed
from artgan.progress import duration

TRIAL_STEPS = 6  # timed steps per thread count tried, after one untimed warm-up step
WINDOW = 50  # steps per speed check after the start
SLOW = 3.0  # a window this many times slower than the start's speed is worth a line


def say(text: str) -> None:
    """Print a line about the run (rank 0 only)."""
    if distributed.is_main():
        print(text, flush=True)


def fixed_threads(option: int | str, device: str, steps_left: int) -> str | None:
    """Why the run keeps one thread count for ``train.threads`` = ``option`` (a number given,
    OMP_NUM_THREADS, a GPU, several processes, or too short a run to measure), or None when its
    first steps time 1, 2, 4… threads."""
    if option != "auto":
        return "train.threads"
    if os.environ.get("OMP_NUM_THREADS"):
        return "OMP_NUM_THREADS"
    if torch.device(device).type != "cpu":
        return "torch's default"
    if distributed.launched():
        return "per process"
    most = torch.get_num_threads()
    if most == 1 or steps_left < 4 * (TRIAL_STEPS + 1) * most.bit_length():
        return "torch's default; too few steps to time others"
    return None


def thread_trials(most: int) -> list[int]:
    """The thread counts to time, in order: 1, 2, 4… up to ``most`` (torch's default: the cores)."""
    trials = [1]
    while trials[-1] * 2 < most:
        trials.append(trials[-1] * 2)
    return trials + [most]


def _threads(count: int) -> str:
    return f"{count} thread{'s' if count > 1 else ''}"


class Pace:
    """Follows a run's steps: ``stepped()`` after each one. It first times the thread counts to
    try and keeps the fastest, then says how long the rest will take, then watches for a slowdown."""

    def __init__(self, run, dataset_count: int, resumed_from=None):
        self.run = run
        options = run.recipe.train
        self.option = options.threads
        if isinstance(self.option, int):
            torch.set_num_threads(self.option)
        self.fixed = fixed_threads(self.option, run.device, options.steps - run.step)
        self.trials = [] if self.fixed else thread_trials(torch.get_num_threads())
        self.speeds: dict[int, float] = {}
        self.times: list[float] = []
        self.reference: float | None = None  # img/s measured at the start
        self.warned = False
        self._last = time.perf_counter()
        self._start_line(dataset_count, resumed_from)
        if self.trials:
            torch.set_num_threads(self.trials[0])

    def _start_line(self, dataset_count: int, resumed_from) -> None:
        run, options = self.run, self.run.recipe.train
        if resumed_from is not None and run.step >= options.steps:  # nothing to train: this line alone
            past = f", past train.steps = {options.steps}" if run.step > options.steps else ""
            say(f"already trained {run.step} steps{past} ({resumed_from}): rendering only")
            return
        cores = os.cpu_count() or 1
        over = (f", more than the {cores} cores here: they take turns, which is usually slower"
                if isinstance(self.option, int) and self.option > cores else "")
        threads = (f"threads: timing {', '.join(map(str, self.trials))} on the first steps" if self.trials else
                   f"{_threads(torch.get_num_threads())} ({self.fixed}{over})")
        processes = f", {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
        say(f"training on {run.device}{processes}, {run.precision}, {threads}; {dataset_count} images, "
            f"{options.steps} steps of {options.batch_size}")
        if resumed_from is not None:
            say(f"resuming from step {run.step} (checkpoint {resumed_from})")

    def stepped(self) -> None:
        """Call after each training step."""
        now = time.perf_counter()
        self.times.append(now - self._last)
        self._last = now
        if self.trials:
            self._try_threads()
        elif self.reference is None:
            if len(self.times) >= 10:
                self.reference = self._speed()
                self._estimate()
        elif len(self.times) >= WINDOW:
            self._watch()

    def _step_speed(self) -> float:
        """Images per second over the steps timed since the last reset (the median step: a
        snapshot or a checkpoint on the way does not count; nor does the first, a warm-up)."""
        return self.run.recipe.train.batch_size / statistics.median(self.times[1:] or self.times)

    def _speed(self) -> float:
        """:meth:`_step_speed`, starting the next measurement."""
        speed = self._step_speed()
        self.times = []
        return speed

    def _try_threads(self) -> None:
        # The first step after a change warms up; a count already twice as slow as the best
        # so far has shown enough after three steps.
        done = len(self.times) >= TRIAL_STEPS + 1 or (
            len(self.times) >= 3 and self.speeds and self._step_speed() * 2 < max(self.speeds.values()))
        if not done:
            return
        self.speeds[torch.get_num_threads()] = self._speed()
        self.trials.pop(0)
        if self.trials:
            torch.set_num_threads(self.trials[0])
            return
        best = max(self.speeds, key=self.speeds.get)
        torch.set_num_threads(best)
        measured = ", ".join(f"{_threads(n)} {self.speeds[n]:.0f} images/s" for n in self.speeds)
        say(f"threads: {best}, the fastest here (measured: {measured}; --set train.threads=N to choose)")
        self.reference = self.speeds[best]
        self._estimate()

    def _estimate(self) -> None:
        left = self.run.recipe.train.steps - self.run.step
        if left <= 0:  # the timing ended with the run: nothing to foretell
            return
        seconds = left * self.run.recipe.train.batch_size / self.reference
        say(f"about {duration(seconds)} for the {left} steps left ({self.reference:.0f} images/s)")

    def _watch(self) -> None:
        speed = self._speed()
        if self.warned or speed * SLOW > self.reference:
            return
        self.warned = True
        cores = os.cpu_count() or 1
        busy = f"busy (load {os.getloadavg()[0]:.1f} on {cores} cores)" if hasattr(os, "getloadavg") else "busy"
        threads = torch.get_num_threads()
        fix = ("--set train.threads=1 often helps on a busy machine" if threads > 1 else
               "free the CPU of other work (Ctrl-C saves a checkpoint; the same command resumes)")
        say(f"slow: {speed:.0f} images/s, {self.reference / speed:.0f}x slower than at the start "
            f"({self.reference:.0f}); the machine is {busy}: {fix}")
