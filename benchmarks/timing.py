"""The one timing core behind `python -m benchmarks run` and the pytest-benchmark benchmarks.

A `Stepper` owns a backend and a feed. `prepare()` stages the next iteration's host arrays (data
decoding and noise drawing stay outside the clock); calling the stepper runs one iteration and
synchronises the device, so a clock read right after it has seen all the work. Every measured
step's time is kept; warm-up steps (which include compilation and autotuning) are not measured.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from common.feed import Feed


class Stepper:
    def __init__(self, backend, feed: Feed, parity_noise: bool = False):
        self.backend, self.feed = backend, feed
        self.parity_noise = parity_noise
        self._it = feed.iterate(with_noise=parity_noise)
        self._next = None
        self.handles: list = []  # device-side results, read after timing

    def prepare(self) -> None:
        _, _, real, noise = next(self._it)
        self._next = (real, noise)

    def __call__(self):
        if self._next is None:
            self.prepare()
        real, noise = self._next
        self._next = None
        handle = self.backend.step(real, noise)
        self.backend.sync()
        self.handles.append(handle)
        return handle


@dataclass
class Timing:
    first_step_s: float | None
    warmup_s: list[float]
    step_times_s: list[float]
    handles: list = field(default_factory=list)


def time_steps(stepper: Stepper, warmup: int, steps: int, clock: Callable[[], float] = time.perf_counter,
               progress=None, after_first=None) -> Timing:
    """Run `warmup` + `steps` iterations; keep each measured step's wall time (device synchronised).

    `after_first(handle)` runs once, after the first step and outside its time (the placement check)."""
    warm, measured = [], []
    for k in range(warmup + steps):
        stepper.prepare()  # host-side staging, outside the clock
        t0 = clock()
        handle = stepper()
        dt = clock() - t0
        if k == 0 and after_first is not None:
            after_first(handle)
        (warm if k < warmup else measured).append(dt)
        if progress is not None:
            progress(k, dt)
    first = (warm or measured or [None])[0]
    return Timing(first, warm, measured, stepper.handles)


def throughput_stats(step_times: list[float], batch: int) -> dict | None:
    """images/s: median, mean, spread (p10/p90, min/max, stdev, stderr) and tf_cnn_benchmarks'
    jitter (1.4826 · median absolute deviation)."""
    if not step_times:
        return None
    t = np.asarray(step_times, np.float64)
    ips = batch / t
    med = float(np.median(ips))
    n = len(ips)
    stdev = float(np.std(ips, ddof=1)) if n > 1 else 0.0
    return {
        "median": med, "mean": float(np.mean(ips)),
        "p10": float(np.percentile(ips, 10)), "p90": float(np.percentile(ips, 90)),
        "min": float(ips.min()), "max": float(ips.max()),
        "stdev": stdev, "stderr": stdev / math.sqrt(n) if n > 1 else 0.0,
        "mad_jitter": float(1.4826 * np.median(np.abs(ips - med))),
        "n": n,
        "median_step_s": float(np.median(t)),
    }
