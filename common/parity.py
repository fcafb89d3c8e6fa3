"""Parity traces: K iterations from the canonical initial state on inputs every backend can rebuild.

Inputs come from a smooth synthetic source (low-frequency random images, so D does not separate
real from fake within a step or two and the losses stay in a range where float32 comparisons mean
something) and from common.feed's noise stream. A trace records every iteration's losses; backends
are compared with `max_rel_diff`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.feed import Feed
from common.spec import ModelSpec

TRACE_STEPS = 10
TRACE_BATCH = 16
TRACE_SEED = 0
# the repository's reference traces: PyTorch backend, float32 (tests/golden) and float64 (tests/golden/f64)
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "golden"
TRACE_KEYS = ("d", "g")  # the quantities parity is judged on; D outputs saturate near 0 and are informative only


class SmoothSource:
    """Deterministic low-frequency uint8 images: random 4×4 (or 7×7) fields upsampled by repetition
    and smoothed, in the spec's image shape."""

    kind = "synthetic"

    def __init__(self, image_shape: tuple[int, int, int], n: int, seed: int = 0):
        self.image_shape, self.n = tuple(image_shape), n
        self.dataset = "parity-smooth"
        self.description = f"smooth synthetic images for parity traces (seed {seed})"
        c, h, w = self.image_shape
        rng = np.random.default_rng([seed, 17])
        cells = 7 if h % 7 == 0 else 4
        coarse = rng.uniform(0, 255, size=(n, c, cells, cells))
        big = np.repeat(np.repeat(coarse, h // cells, axis=2), w // cells, axis=3)
        # a 3-tap box blur along each axis softens the block edges
        for ax in (2, 3):
            big = (np.roll(big, 1, ax) + big + np.roll(big, -1, ax)) / 3.0
        self.images = np.clip(big, 0, 255).astype(np.uint8)

    def __len__(self) -> int:
        return self.n

    def get(self, indices: np.ndarray) -> np.ndarray:
        return self.images[np.asarray(indices)]


def parity_feed(spec: ModelSpec, batch: int = TRACE_BATCH, seed: int = TRACE_SEED) -> Feed:
    return Feed(spec, SmoothSource(spec.data.image_shape, n=batch * 4, seed=seed), seed, batch)


def parity_inputs(spec: ModelSpec, steps: int = TRACE_STEPS, batch: int = TRACE_BATCH, seed: int = TRACE_SEED):
    """[(real, StepNoise)] for `steps` iterations, the same in every backend."""
    it = parity_feed(spec, batch, seed).iterate()
    return [next(it)[2:] for _ in range(steps)]


def max_rel_diff(a: list[float], b: list[float]) -> list[float]:
    """|a-b| / max(|b|, 1e-6) per step (b is the reference)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (np.abs(x - y) / np.maximum(np.abs(y), 1e-6)).tolist()


def compare(trace: dict, golden: dict, keys=TRACE_KEYS) -> dict[str, float]:
    """Largest relative difference of each traced quantity over all steps."""
    return {k: max(max_rel_diff(trace["losses"][k], golden["losses"][k])) for k in keys}


def float32_comparable_steps(spec: ModelSpec, steps: int = TRACE_STEPS) -> int:
    """How many leading float32 iterations two correct implementations (or one on two CPUs) agree on.

    A network without convolutions stays at float32 round-off over all `steps`. A conv GAN does not
    after its first iteration: Adam's first updates are about lr·sign(g) whatever |g|, so a gradient
    component at the float32 noise floor whose sign differs between two kernels (another vector
    width, thread count or convolution algorithm) moves its parameter 2·lr apart, and the dynamics
    amplify that to 1e-3…1e-1 by iteration ten. Those iterations are held to the float64 golden.
    """
    convolutional = any(
        layer.op in ("conv2d", "conv_transpose2d")
        for net in (spec.generator, spec.discriminator)
        for layer in net.layers
    )
    return 1 if convolutional else steps


def load_golden(model: str, dtype: str = "float32") -> dict:
    """The PyTorch backend's reference trace of `model`; refuses one made for another spec."""
    from common.models import get_model

    path = GOLDEN_DIR / ("f64" if dtype == "float64" else "") / f"{model}.json"
    golden = json.loads(path.read_text())
    if golden.get("dtype", "float32") != dtype:
        raise ValueError(f"{path}: a {golden.get('dtype')} trace where {dtype} was expected")
    if golden["spec_hash"] != get_model(model).spec_hash():
        raise ValueError(
            f"{path} was made for another version of the {model} spec: regenerate it with "
            f"`python -m benchmarks trace -b torch --dtype {dtype} --golden-dir {path.parent}`"
        )
    return golden
