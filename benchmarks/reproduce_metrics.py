"""A reproduction's quality metrics after each epoch (common.metrics.quality): the same real images
and the same noise every epoch, drawn from the run's seed, so epochs and resumed runs compare."""

from __future__ import annotations

import numpy as np

from common.feed import draw_noise

METRIC_NOISE_SEED = 4242
CHUNK = 250  # samples generated per call


def mnist_view(images: np.ndarray, spec) -> np.ndarray:
    """Samples as 28×28 greyscale for the MNIST classifier (64×64 tiled MNIST is resized back)."""
    import cv2

    c, h, w = spec.data.image_shape
    x = np.asarray(images, np.float32).reshape(-1, c, h, w)[:, 0]
    if (h, w) != (28, 28):
        x = np.stack([cv2.resize(img, (28, 28), interpolation=cv2.INTER_AREA) for img in x])
    return x


class EpochMetrics:
    """SWD for every model; for MNIST models also Fréchet(MNIST) and the predicted-digit histogram."""

    def __init__(self, spec, feed, source, seed: int, samples: int):
        self.spec, self.feed, self.seed = spec, feed, seed
        self.n = min(samples, len(source))
        self.noise = draw_noise(spec.recipe.noise, self.n, np.random.default_rng([seed, METRIC_NOISE_SEED]))
        self.real_idx = np.random.default_rng([seed, METRIC_NOISE_SEED, 1]).permutation(len(source))[: self.n]

    def measure(self, backend, epoch: int) -> dict:
        from common.metrics import quality

        z = self.noise
        fake = np.concatenate([backend.generate(z[k : k + CHUNK]) for k in range(0, self.n, CHUNK)])
        shape = (-1, *self.spec.data.image_shape)
        real = self.feed.real(self.real_idx).reshape(shape)
        fake = np.asarray(fake, np.float32).reshape(shape)
        digits = None
        if self.spec.data.is_mnist:
            digits = (mnist_view(real, self.spec), mnist_view(fake, self.spec))
        out = quality(real, fake, digits, seed=self.seed)
        out["epoch"] = epoch
        return out
