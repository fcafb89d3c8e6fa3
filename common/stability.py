"""The stability guard: is a run's throughput a measurement or noise?

Checked before anything is reported (terminal line, report row, compare): too few measured steps for
an interval, a jitter (1.4826·MAD of images/s over the median) above JITTER_MAX, or a machine that was
busy while measuring — other processes kept at least BUSY_CORES cores busy (from /proc/stat), or,
where that is unknown, the 1-minute load average exceeded the cores — or a CPU clock that moved by more
than FREQ_SPREAD_MAX. Standard library only, so the harness, the report and compare share it.
"""

from __future__ import annotations

import math
import statistics
from typing import TypeGuard

MIN_STEPS = 6  # the fewest samples with a distribution-free 95 % interval of the median
JITTER_MAX = 0.10
BUSY_CORES = 0.5
FREQ_SPREAD_MAX = 0.10


def stability_warnings(result: dict) -> list[str]:
    """Short, human-readable reasons not to trust this successful run's throughput; [] when none."""
    if result.get("status") != "ok":
        return []
    out = []
    times = result.get("step_times_s") or []
    n = len(times)
    if n < MIN_STEPS:
        out.append(f"only {n} measured step{'s' if n != 1 else ''} (< {MIN_STEPS}: no interval of the median)")
    tp = result.get("throughput") or {}
    med, jitter = tp.get("median") or result.get("images_per_s"), tp.get("mad_jitter")
    if _num(med) and _num(jitter) and med > 0 and jitter / med > JITTER_MAX:
        out.append(f"jitter {100 * jitter / med:.0f}% of the median (> {100 * JITTER_MAX:.0f}%)")
    system = result.get("system") or {}
    other, load, cores = system.get("other_busy_cores"), system.get("loadavg_1m_max"), system.get("cpu_count")
    if _num(other):
        if other >= BUSY_CORES:
            out.append(f"machine busy: other processes used {other:.1f} cores while measuring")
    elif _num(load) and _num(cores) and load > cores:
        out.append(f"machine busy: load average {load:.1f} on {cores} cores while measuring")
    lo, hi = system.get("cpu_mhz_min"), system.get("cpu_mhz_max")
    if _num(lo) and _num(hi) and hi > 0 and (hi - lo) / hi > FREQ_SPREAD_MAX:
        out.append(f"CPU clock moved {lo:.0f}-{hi:.0f} MHz while measuring")
    return out


def _num(v: object) -> TypeGuard[int | float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# --- the interval of the median (the calibration's stopping rule and the history's error bars) ------


def median_ci_indices(n: int, level: float = 0.95) -> tuple[int, int] | None:
    """0-based order statistics (j, n-1-j) that bracket the median with probability ≥ level, from the
    binomial distribution of how many samples fall below it (distribution-free); None when n is too
    small for any pair to reach the level (n < 6 at 95 %)."""
    alpha = (1 - level) / 2
    cdf, j = 0.0, -1
    # largest j with P(Binomial(n, 1/2) <= j) <= alpha: then [x_(j), x_(n-1-j)] covers ≥ level
    log_pmf = -n * math.log(2)  # P(B = 0), in logs: 2**-n underflows for long runs
    for i in range(n + 1):
        cdf += math.exp(log_pmf)
        if cdf > alpha:
            break
        j = i
        log_pmf += math.log((n - i) / (i + 1))
    if j < 0:
        return None
    return j, n - 1 - j


def median_ci(values, level: float = 0.95) -> tuple[float, float] | None:
    """The distribution-free interval of the median of `values` (order statistics), or None."""
    idx = median_ci_indices(len(values), level)
    if idx is None:
        return None
    s = sorted(values)
    return s[idx[0]], s[idx[1]]


def median_ci_rel(values, level: float = 0.95) -> float | None:
    """Half the median's interval as a fraction of the median: 0.02 means ±2 %."""
    ci = median_ci(values, level)
    if ci is None:
        return None
    med = statistics.median(values)
    return (ci[1] - ci[0]) / 2 / med if med > 0 else None
