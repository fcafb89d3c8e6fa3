"""How sure a speed-up is: a percentile bootstrap over the measured step times of both runs.

A ratio of two medians has no simple closed-form interval, and step times are skewed (a few
slow steps from the allocator or the OS), so both runs' step times are resampled with
replacement, the ratio of the two resampled median throughputs (median of batch/step_time,
the same statistic as the results' `images_per_s`) is taken each time, and the 2.5th and
97.5th percentiles of those ratios are the 95 % interval. The point estimate is the ratio of
the `images_per_s` the result files report. The generator is seeded so a report is
reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0
# Fewer step times than this give an interval that means little; none is shown then.
MIN_STEPS = 3


@dataclass(frozen=True)
class Ratio:
    value: float
    lo: float | None
    hi: float | None

    @property
    def resolved(self) -> bool:
        """Whether the interval excludes 1, i.e. the two runs are told apart."""
        return self.lo is not None and self.hi is not None and (self.lo > 1 or self.hi < 1)


def _median_ips(step_times: np.ndarray, batch_size: int) -> np.ndarray:
    return np.median(batch_size / step_times, axis=-1)


def speed_ratio(ips_a: float, times_a: list[float] | None, batch_a: int | None,
                ips_b: float, times_b: list[float] | None, batch_b: int | None,
                resamples: int = RESAMPLES, seed: int = SEED) -> Ratio:
    """ips_a / ips_b with the bootstrap interval; no interval when a run lacks step times."""
    value = ips_a / ips_b
    if (not times_a or not times_b or not batch_a or not batch_b
            or len(times_a) < MIN_STEPS or len(times_b) < MIN_STEPS):
        return Ratio(value, None, None)
    rng = np.random.default_rng(seed)
    a = rng.choice(np.asarray(times_a, dtype=float), size=(resamples, len(times_a)))
    b = rng.choice(np.asarray(times_b, dtype=float), size=(resamples, len(times_b)))
    ratios = _median_ips(a, batch_a) / _median_ips(b, batch_b)
    tail = (1 - LEVEL) / 2
    lo, hi = np.quantile(ratios, [tail, 1 - tail])
    return Ratio(value, float(lo), float(hi))
