"""A reproduction's training epoch: every iteration's step on the feed's batch and noise, its
losses appended to the record as they come, the tutorial's log line at its cadence, and a stop at
the first non-finite loss."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from benchmarks import reproduce_health as health


@dataclass
class EpochEnd:
    """How an epoch ended: its mean losses when every iteration was finite, else where it diverged."""

    d_mean: float = float("nan")
    g_mean: float = float("nan")
    diverged: str | None = None  # what was not finite
    iteration: int = -1  # where


class EpochLoop:
    def __init__(self, spec, backend, feed, epochs: int):
        self.spec, self.backend, self.feed, self.epochs = spec, backend, feed, epochs
        self._placed = False

    def run(self, epoch: int, losses: dict[str, list]) -> EpochEnd:
        """Train one epoch, appending each iteration's D and G loss (and its epoch) to `losses`."""
        from tqdm import tqdm

        batches = self.feed.batches(epoch)
        n = len(batches)
        d_sum = g_sum = 0.0
        bar = tqdm(
            total=n, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False, file=sys.stderr, disable=None
        )  # a bar on a terminal only; a log gets the line per epoch
        try:
            for i, idx in enumerate(batches):
                real = health.planted(self.feed.real(idx), epoch, i)
                s, what = self._step(real, epoch, i)
                bar.update(1)
                if what:
                    return EpochEnd(diverged=what, iteration=i)
                losses["d"].append(s.d_loss)
                losses["g"].append(s.g_loss)
                losses["epoch"].append(epoch)
                d_sum, g_sum = d_sum + s.d_loss, g_sum + s.g_loss
                if i % self.spec.run.log_every == 0:
                    bar.write(
                        f"Epoch:[{epoch:>3d}/{self.epochs:>3d}], step:[{i:>4d}/{n:>4d}], "
                        f"loss_d:{s.d_loss:>8.6f}, loss_g:{s.g_loss:>8.6f}, D(x):{s.d_x:.4f}, "
                        f"D(G(z)):{s.d_g_z1:.4f}/{s.d_g_z2:.4f}"
                    )
        finally:
            bar.close()
        return EpochEnd(d_sum / n, g_sum / n)

    def _step(self, real, epoch: int, i: int):
        """One iteration: its stats and what was not finite (None when all was)."""
        try:
            handle = self.backend.step(real, self.feed.noise(epoch, i, len(real)))
            if not self._placed:  # a run that says cuda computed on the GPU
                self.backend.check_placement(handle)
                self._placed = True
            s = self.backend.read(handle)
            return s, health.nonfinite_losses(s)
        except Exception as exc:
            # some frameworks raise on NaN probabilities (torch's BCE) instead of returning NaN
            if health.still_finite(real, self.backend):
                raise
            return None, f"{type(exc).__name__}: {exc}"
