"""Throughput statistics of one run's step times: what the harness writes into a result, and what the
report computes for an older result that lacks them (numpy only)."""

from __future__ import annotations

import math

import numpy as np

from common.stability import median_ci


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
        "median": med,
        "mean": float(np.mean(ips)),
        "p10": float(np.percentile(ips, 10)),
        "p90": float(np.percentile(ips, 90)),
        "min": float(ips.min()),
        "max": float(ips.max()),
        "stdev": stdev,
        "stderr": stdev / math.sqrt(n) if n > 1 else 0.0,
        "mad_jitter": float(1.4826 * np.median(np.abs(ips - med))),
        "n": n,
        "median_step_s": float(np.median(t)),
        # the median's distribution-free 95 % interval (None under 6 steps): a history chart's error bar
        "median_lo": float(ci[0]) if (ci := median_ci(ips.tolist())) else None,
        "median_hi": float(ci[1]) if ci else None,
    }
