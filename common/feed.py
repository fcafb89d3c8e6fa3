"""Batch order, real batches and noise for a run, produced in numpy from one seed.

Every backend can be fed exactly the same arrays (parity mode), and any iteration's inputs can be
rebuilt without replaying the ones before it: the RNG of epoch e's order is seeded with
(seed, e), and the noise of iteration (e, i) with (seed, e, i). That is what lets a resumed run
continue the interrupted run's data order and noise stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from common.recipe import plan
from common.spec import DataSpec, ModelSpec, Noise

_ORDER, _NOISE, _FIXED = 1, 2, 3  # RNG stream tags


@dataclass(frozen=True)
class StepNoise:
    """Noise for one iteration: `d` feeds the fakes of the D step (and the G step when the recipe
    reuses them); `g` holds one array per G update when the recipe draws fresh noise."""

    d: np.ndarray
    g: tuple[np.ndarray, ...] = field(default=())


def draw_noise(noise: Noise, batch: int, rng: np.random.Generator) -> np.ndarray:
    shape = (batch, *noise.shape)
    if noise.dist == "uniform":
        return rng.uniform(noise.low, noise.high, size=shape).astype(np.float32)
    return (rng.standard_normal(size=shape) * noise.std + noise.mean).astype(np.float32)


def fixed_noise(spec: ModelSpec, n: int | None = None, seed: int = 0) -> np.ndarray:
    """The fixed noise progress grids are drawn from (the tutorial's own seed when it gives one)."""
    n = n or spec.run.grid_noise
    if spec.run.grid_noise_seed is not None:
        # MindSpore's tutorial: np.random.seed(2323); np.random.normal(size=(25, 100)).
        legacy = np.random.RandomState(spec.run.grid_noise_seed)
        if spec.recipe.noise.dist == "uniform":
            z = legacy.uniform(spec.recipe.noise.low, spec.recipe.noise.high, size=(n, *spec.noise_shape))
        else:
            z = legacy.normal(spec.recipe.noise.mean, spec.recipe.noise.std, size=(n, *spec.noise_shape))
        return z.astype(np.float32)
    return draw_noise(spec.recipe.noise, n, np.random.default_rng([seed, _FIXED]))


def to_float(images: np.ndarray, pixel_map: str) -> np.ndarray:
    """uint8 images to float32 exactly as the tutorial writes the mapping."""
    x = images.astype(np.float32)
    f = np.float32
    if pixel_map in ("x/127.5-1", "x/(255/2)-1"):
        return x / f(127.5) - f(1)
    if pixel_map == "(x-127.5)/127.5":
        return (x - f(127.5)) / f(127.5)
    if pixel_map == "x/255*2-1":
        return x / f(255) * f(2) - f(1)
    if pixel_map == "(x/255-0.5)/0.5":
        return (x / f(255) - f(0.5)) / f(0.5)
    raise ValueError(f"unknown pixel_map {pixel_map!r}")


def epoch_order(data: DataSpec, n: int, epoch: int, seed: int) -> np.ndarray:
    """Indices of the whole dataset in the order epoch `epoch` visits them."""
    if data.order == "file_order":
        return np.arange(n)
    if data.order == "fixed_permutation":
        # The MXNet tutorial: np.random.seed(1); np.random.permutation(n) — the legacy RNG, reproduced.
        return np.random.RandomState(data.order_seed).permutation(n)
    return np.random.default_rng([seed, epoch, _ORDER]).permutation(n)


def epoch_batches(data: DataSpec, n: int, epoch: int, seed: int, batch_size: int | None = None) -> list[np.ndarray]:
    b = batch_size or data.batch_size
    order = epoch_order(data, n, epoch, seed)
    full, rest = divmod(n, b)
    batches = [order[i * b : (i + 1) * b] for i in range(full)]
    if rest:
        if data.last_batch == "keep_short":
            batches.append(order[full * b :])
        elif data.last_batch == "pad_wrap":
            # NDArrayIter's 'pad': the short batch is completed from the start of the order.
            batches.append(np.concatenate([order[full * b :], order[: b - rest]]))
    return batches


class Feed:
    """Real batches and noise of a run. `source` is a common.data ImageSource."""

    def __init__(self, spec: ModelSpec, source, seed: int, batch_size: int | None = None):
        self.spec, self.source, self.seed = spec, source, seed
        self.batch_size = batch_size or spec.data.batch_size
        self._fresh_noise = plan(spec.recipe).fresh_noise  # noise batches per iteration besides z
        self._epoch_cache: tuple[int, list[np.ndarray]] | None = None

    def batches(self, epoch: int) -> list[np.ndarray]:
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            self._epoch_cache = (
                epoch,
                epoch_batches(self.spec.data, len(self.source), epoch, self.seed, self.batch_size),
            )
        return self._epoch_cache[1]

    def iterations_per_epoch(self) -> int:
        return len(self.batches(0))

    def real(self, indices: np.ndarray) -> np.ndarray:
        x = to_float(self.source.get(np.asarray(indices)), self.spec.data.pixel_map)
        return x.reshape(len(x), -1) if self.spec.data.flatten else x

    def noise(self, epoch: int, iteration: int, batch: int) -> StepNoise:
        r = self.spec.recipe
        rng = np.random.default_rng([self.seed, epoch, iteration, _NOISE])
        z = draw_noise(r.noise, batch, rng)
        extra = tuple(draw_noise(r.noise, batch, rng) for _ in range(self._fresh_noise))
        return StepNoise(z, extra)

    def iterate(
        self, start_epoch: int = 0, start_iteration: int = 0, with_noise: bool = True
    ) -> Iterator[tuple[int, int, np.ndarray, StepNoise | None]]:
        """(epoch, iteration, real batch, noise) forever from the given position; callers stop it."""
        epoch, it = start_epoch, start_iteration
        while True:
            batches = self.batches(epoch)
            if not batches:
                raise ValueError(
                    f"{self.spec.name}: dataset of {len(self.source)} images gives no batch of {self.batch_size}"
                )
            while it < len(batches):
                real = self.real(batches[it])
                yield epoch, it, real, (self.noise(epoch, it, len(real)) if with_noise else None)
                it += 1
            epoch, it = epoch + 1, 0
