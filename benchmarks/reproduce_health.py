"""A reproduction's health checks: a non-finite loss stops it as diverged, a generator whose
fixed-noise samples are all alike stops it as collapsed. Each returns the record's `error` entry
({"type", "message"}) or None."""

from __future__ import annotations

import math
import os

import numpy as np

NAN_HOOK = "GANBENCH_PLANT_NAN"  # test hook: "E:I" feeds a NaN batch at epoch E, iteration I
COLLAPSE_STD = 0.01  # mean per-pixel std over the fixed-noise samples below this: a collapsed generator


def planted(real: np.ndarray, epoch: int, i: int) -> np.ndarray:
    """The batch, or a NaN batch of its shape where NAN_HOOK names this iteration."""
    return np.full_like(real, np.nan) if os.environ.get(NAN_HOOK, "") == f"{epoch}:{i}" else real


def nonfinite_losses(stats) -> str | None:
    """What is not finite in a step's losses, or None."""
    return (
        None
        if math.isfinite(stats.d_loss) and math.isfinite(stats.g_loss)
        else f"loss_d {stats.d_loss}, loss_g {stats.g_loss}"
    )


def still_finite(real: np.ndarray, backend) -> bool:
    """Whether the batch and the whole training state are still finite numbers: some frameworks
    raise on NaN probabilities (torch's BCE) instead of returning a NaN loss."""
    return bool(np.isfinite(real).all()) and all(np.isfinite(v).all() for v in backend.export_state().values())


def diverged(what: str, epoch: int, i: int, checkpoint: str | None) -> dict:
    return {
        "type": "Diverged",
        "message": f"{what} at epoch {epoch} iteration {i}; the last good checkpoint is {checkpoint}",
    }


def sample_spread(samples) -> float:
    """The mean over pixels of the per-pixel std across the samples."""
    return float(np.asarray(samples).reshape(len(samples), -1).std(axis=0).mean())


def collapsed(spread: float, epoch: int) -> dict | None:
    if spread >= COLLAPSE_STD:
        return None
    return {
        "type": "Collapsed",
        "message": f"the fixed-noise samples are all alike "
        f"(mean per-pixel std {spread:.2e} < {COLLAPSE_STD}) after epoch {epoch}",
    }
