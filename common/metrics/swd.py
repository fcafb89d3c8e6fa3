"""Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al., Progressive GAN, 2018).

For each pyramid level, 7×7 patches are drawn at random positions from every image, each channel
is normalised by the mean and standard deviation over both sets, and the distance is the average
over random unit directions of the 1-D Wasserstein distance between the projected patch sets
(sorted projections compared element-wise). Reported ×10³, per level and averaged, as the paper does.
"""

from __future__ import annotations

import numpy as np

_KERNEL = np.array([1, 4, 6, 4, 1], np.float64) / 16.0


def _blur(x: np.ndarray) -> np.ndarray:
    """Separable 5-tap binomial filter, reflect-padded (N, C, H, W)."""
    for axis in (2, 3):
        pad = [(0, 0)] * 4
        pad[axis] = (2, 2)
        xp = np.pad(x, pad, mode="reflect")
        n = x.shape[axis]
        x = sum(w * np.take(xp, np.arange(i, i + n), axis=axis) for i, w in enumerate(_KERNEL))
    return x


def _down(x: np.ndarray) -> np.ndarray:
    return _blur(x)[:, :, ::2, ::2]


def _up(x: np.ndarray, shape) -> np.ndarray:
    up = np.zeros((*x.shape[:2], *shape), x.dtype)
    up[:, :, ::2, ::2] = x
    return _blur(up) * 4.0


def laplacian_pyramid(images: np.ndarray, min_size: int = 16) -> list[np.ndarray]:
    levels, g = [], np.asarray(images, np.float64)
    while g.shape[2] // 2 >= min_size and g.shape[3] // 2 >= min_size and g.shape[2] % 2 == 0:
        small = _down(g)
        levels.append(g - _up(small, g.shape[2:]))
        g = small
    levels.append(g)
    return levels


def _patches(level: np.ndarray, per_image: int, size: int, rng: np.random.Generator) -> np.ndarray:
    n, c, h, w = level.shape
    ys = rng.integers(0, h - size + 1, size=(n, per_image))
    xs = rng.integers(0, w - size + 1, size=(n, per_image))
    idx = np.arange(size)
    rows = (ys[..., None] + idx)[..., :, None]  # n p size 1
    cols = (xs[..., None] + idx)[..., None, :]  # n p 1 size
    img = np.arange(n)[:, None, None, None]
    patches = level.transpose(0, 2, 3, 1)[img, rows, cols]  # n p size size c
    return patches.reshape(n * per_image, -1)


def sliced_wasserstein(
    a: np.ndarray, b: np.ndarray, directions: int = 512, repeats: int = 4, rng: np.random.Generator | None = None
) -> float:
    rng = rng or np.random.default_rng(0)
    total = 0.0
    for _ in range(repeats):
        d = rng.standard_normal((a.shape[1], directions))
        d /= np.linalg.norm(d, axis=0, keepdims=True)
        pa, pb = np.sort(a @ d, axis=0), np.sort(b @ d, axis=0)
        total += float(np.abs(pa - pb).mean())
    return total / repeats


def swd(real: np.ndarray, fake: np.ndarray, patches_per_image: int = 64, patch_size: int = 7, seed: int = 0) -> dict:
    """SWD ×10³ per pyramid level (finest first) and their mean, images (N, C, H, W) in [-1, 1]."""
    if real.ndim != 4 or fake.ndim != 4 or real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"need two (N, C, H, W) sets of one shape, got {real.shape} and {fake.shape}")
    n = min(len(real), len(fake))
    rng = np.random.default_rng(seed)
    per_level = []
    for lr, lf in zip(laplacian_pyramid(real[:n]), laplacian_pyramid(fake[:n])):
        pr = _patches(lr, patches_per_image, min(patch_size, lr.shape[2]), rng)
        pf = _patches(lf, patches_per_image, min(patch_size, lf.shape[2]), rng)
        c = lr.shape[1]
        both = np.concatenate([pr, pf]).reshape(-1, pr.shape[1] // c, c)
        mean, std = both.mean(axis=(0, 1)), both.std(axis=(0, 1)) + 1e-8
        pr = ((pr.reshape(len(pr), -1, c) - mean) / std).reshape(len(pr), -1)
        pf = ((pf.reshape(len(pf), -1, c) - mean) / std).reshape(len(pf), -1)
        per_level.append(sliced_wasserstein(pr, pf, rng=rng) * 1e3)
    return {
        "levels": per_level,
        "mean": float(np.mean(per_level)),
        "resolutions": [int(real.shape[2] / 2**i) for i in range(len(per_level))],
    }
