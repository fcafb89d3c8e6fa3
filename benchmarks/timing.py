"""The one timing core behind `python -m benchmarks run` and the pytest-benchmark benchmarks.

A `Stepper` owns a backend and a feed. `prepare()` stages the next iteration's host arrays (data
decoding and noise drawing stay outside the clock); calling the stepper runs one iteration and
synchronises the device, so a clock read right after it has seen all the work. Every measured
step's time is kept; warm-up steps (which include compilation and autotuning) are not measured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from common.feed import Feed
from common.stability import median_ci_rel  # shared with the report and the stability guard


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
    # which rule ended the measured steps and what it was asked for (see time_steps)
    calibration: dict = field(default_factory=dict)


# --target-ci without --max-time: measuring stops after this long even if the interval is still wide
DEFAULT_MAX_TIME_S = 120.0


def time_steps(
    stepper: Stepper,
    warmup: int,
    steps: int,
    clock: Callable[[], float] = time.perf_counter,
    progress=None,
    min_time: float | None = None,
    target_ci: float | None = None,
    max_time: float | None = None,
    max_steps: int | None = None,
    sampler=None,
    after_first=None,
) -> Timing:
    """Run `warmup` iterations, then measured ones; keep each measured step's wall time (device synchronised).

    Measuring stops after `steps` iterations unless asked for more, as pytest-benchmark (min_time) and
    asv (sample_time) calibrate: `min_time` keeps going until that many seconds were spent measuring;
    `target_ci` keeps going until the 95 % interval of the median step time is within ±target_ci of
    the median (a fraction, 0.02 = ±2 %), or `max_time` seconds (default DEFAULT_MAX_TIME_S) were spent.
    `max_steps` caps the count either way. `calibration["stop_rule"]` names the rule that ended it:
    "steps", "min_time", "target_ci", "max_time" (interval still too wide) or "max_steps".
    `sampler` (a SystemSampler) watches the machine while the measured steps run.
    `after_first(handle)` runs once, after the first step and outside its time (the placement check).
    """
    if target_ci is not None and max_time is None:
        max_time = DEFAULT_MAX_TIME_S
    warm, measured = [], []
    start = None
    rule, pending_before, ci_rel = "steps", "steps", None
    k = 0
    while True:
        if k == warmup:
            start = clock()
            if sampler is not None:
                sampler.start()
        stepper.prepare()  # host-side staging, outside the clock
        t0 = clock()
        handle = stepper()
        dt = clock() - t0
        if k == 0 and after_first is not None:
            after_first(handle)
        (warm if k < warmup else measured).append(dt)
        if progress is not None:
            progress(k, dt)
        k += 1
        if k <= warmup or len(measured) < steps:
            continue
        spent = clock() - start
        pending, out_of_time = [], False
        if min_time is not None and spent < min_time:
            pending.append("min_time")
        if target_ci is not None:
            ci_rel = median_ci_rel(measured)
            if ci_rel is None or ci_rel > target_ci:
                if spent >= max_time:
                    out_of_time = True
                else:
                    pending.append("target_ci")
        if not pending:
            rule = "max_time" if out_of_time else pending_before
            break
        if max_steps is not None and len(measured) >= max_steps:
            rule = "max_steps"
            break
        pending_before = pending[-1]
    if sampler is not None:
        sampler.stop()
    first = (warm or measured or [None])[0]
    calibration = {
        "stop_rule": rule,
        "steps": steps,
        "min_time_s": min_time,
        "target_ci": target_ci,
        "max_time_s": max_time,
        "max_steps": max_steps,
        "measured_s": (clock() - start) if start is not None else 0.0,
        "median_ci_rel": median_ci_rel(measured),
    }
    return Timing(first, warm, measured, stepper.handles, calibration)


class SystemSampler:
    """Watches the machine while measured steps run, in a light background thread: the 1-minute load
    average and the CPU clock every `interval` seconds, and from /proc/stat how many cores other
    processes kept busy (all CPU time used on the machine minus this process's own). A value the system
    does not offer (no cpufreq in many VMs, no /proc outside Linux) is recorded as None."""

    def __init__(self, interval: float = 1.0):  # the load average itself moves every 5 s
        self.interval = interval
        self.load: list[float] = []
        self.mhz: list[float] = []
        self._stop = None
        self._thread = None
        self._t0 = self._stat0 = self._cpu0 = None
        self._summary: dict | None = None

    def _sample(self) -> None:
        try:
            self.load.append(os.getloadavg()[0])
        except (AttributeError, OSError):
            pass
        mhz = cpu_mhz()
        if mhz is not None:
            self.mhz.append(mhz)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        import threading

        self._t0, self._stat0, self._cpu0 = time.monotonic(), _proc_stat_busy(), time.process_time()
        self._sample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ganbench-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> dict:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._sample()
            wall = time.monotonic() - self._t0
            stat1, own = _proc_stat_busy(), time.process_time() - self._cpu0
            other = None
            if self._stat0 is not None and stat1 is not None and wall > 0:
                other = max(0.0, ((stat1 - self._stat0) - own) / wall)
            self._summary = {
                "interval_s": self.interval,
                "samples": len(self.load),
                "seconds": wall,
                "loadavg_1m": [round(v, 3) for v in self.load],
                "loadavg_1m_max": max(self.load) if self.load else None,
                "cpu_mhz": [round(v, 1) for v in self.mhz] or None,
                "cpu_mhz_min": min(self.mhz) if self.mhz else None,
                "cpu_mhz_max": max(self.mhz) if self.mhz else None,
                "other_busy_cores": other,
                "cpu_count": os.cpu_count(),
            }
        return self.summary()

    def summary(self) -> dict | None:
        return self._summary


def cpu_mhz() -> float | None:
    """Mean current clock over the CPUs: cpufreq where the kernel offers it, else /proc/cpuinfo."""
    import glob

    vals = []
    for path in glob.glob("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq"):
        try:
            vals.append(int(open(path).read()) / 1000)  # kHz
        except (OSError, ValueError):
            pass
    if not vals:
        try:
            with open("/proc/cpuinfo") as f:
                vals = [float(line.split(":", 1)[1]) for line in f if line.startswith("cpu MHz")]
        except (OSError, ValueError):
            vals = []
    return sum(vals) / len(vals) if vals else None


def _proc_stat_busy() -> float | None:
    """CPU seconds the whole machine has spent not idle since boot (Linux), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / hz
