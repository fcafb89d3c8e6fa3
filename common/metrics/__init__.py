"""Quality metrics computed in numpy from generated and real samples (no pretrained download)."""

from __future__ import annotations

import numpy as np

from common.metrics.frechet import frechet_distance
from common.metrics.swd import swd

__all__ = ["frechet_distance", "swd", "quality"]


def quality(
    real: np.ndarray, fake: np.ndarray, digits: tuple[np.ndarray, np.ndarray] | None = None, seed: int = 0
) -> dict:
    """Every metric that applies: SWD of the (N, C, H, W) sets for all models; given `digits`
    (the same sets as 28×28 greyscale digits, for the MNIST models), the Fréchet distance in the
    classifier's feature space and the predicted-class histogram of the generated digits."""
    out = {"swd": swd(real, fake, seed=seed), "samples": int(min(len(real), len(fake)))}
    if digits is not None:
        from common.metrics import mnist_classifier as clf

        w = clf.load_weights()
        real_d, fake_d = digits
        out["frechet_mnist"] = frechet_distance(clf.features(real_d, w), clf.features(fake_d, w))
        counts = np.bincount(clf.predict(fake_d, w), minlength=10)
        out["class_histogram"] = counts.tolist()
        out["classes_covered"] = int((counts >= max(1, 0.01 * len(fake_d))).sum())
    return out
