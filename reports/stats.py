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


def speed_ratio(
    ips_a: float,
    times_a: list[float] | None,
    batch_a: int | None,
    ips_b: float,
    times_b: list[float] | None,
    batch_b: int | None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Ratio:
    """ips_a / ips_b with the bootstrap interval; no interval when a run lacks step times."""
    value = ips_a / ips_b
    if not times_a or not times_b or not batch_a or not batch_b or len(times_a) < MIN_STEPS or len(times_b) < MIN_STEPS:
        return Ratio(value, None, None)
    ratios = ratio_replicates(times_a, batch_a, times_b, batch_b, np.random.default_rng(seed), resamples)
    return Ratio(value, *_interval(ratios))


def _interval(replicates: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2
    lo, hi = np.quantile(replicates, [tail, 1 - tail])
    return float(lo), float(hi)


def ratio_replicates(
    times_a: list[float],
    batch_a: int,
    times_b: list[float],
    batch_b: int,
    rng: np.random.Generator,
    resamples: int = RESAMPLES,
) -> np.ndarray:
    """The bootstrap replicates of median-throughput(a) / median-throughput(b) that speed_ratio
    takes its interval from: both runs' step times resampled with replacement."""
    a = rng.choice(np.asarray(times_a, dtype=float), size=(resamples, len(times_a)))
    b = rng.choice(np.asarray(times_b, dtype=float), size=(resamples, len(times_b)))
    return _median_ips(a, batch_a) / _median_ips(b, batch_b)


@dataclass(frozen=True)
class Pair:
    """One model's comparison in a geometric mean: run a's throughput and step times against b's."""

    ips_a: float
    times_a: list[float] | None
    batch_a: int | None
    ips_b: float
    times_b: list[float] | None
    batch_b: int | None

    def resamplable(self) -> bool:
        return bool(
            self.times_a
            and self.times_b
            and self.batch_a
            and self.batch_b
            and len(self.times_a) >= MIN_STEPS
            and len(self.times_b) >= MIN_STEPS
        )


def geomean_ratio(pairs: list[Pair], resamples: int = RESAMPLES, seed: int = SEED) -> Ratio:
    """Geometric mean over models of ips_a/ips_b, with a percentile bootstrap interval.

    Each replicate resamples every model's two step-time series independently (the runs are
    independent measurements), recomputes each model's ratio of median throughputs as
    speed_ratio does, and takes the geometric mean of those ratios; the interval is the
    2.5th-97.5th percentile of the replicates. The point estimate is the geometric mean of
    the reported ratios. A model without enough step times gives no interval at all, rather
    than an interval that silently treats its ratio as exact."""
    if not pairs:
        raise ValueError("a geometric mean needs at least one ratio")
    value = float(np.exp(np.mean([np.log(p.ips_a / p.ips_b) for p in pairs])))
    if not all(p.resamplable() for p in pairs):
        return Ratio(value, None, None)
    rng = np.random.default_rng(seed)
    logs = np.zeros(resamples)
    for p in pairs:
        logs += np.log(ratio_replicates(p.times_a, p.batch_a, p.times_b, p.batch_b, rng, resamples))
    return Ratio(value, *_interval(np.exp(logs / len(pairs))))
