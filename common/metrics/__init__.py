"""Quality metrics computed in numpy from generated and real samples (no pretrained download)."""
from __future__ import annotations

import numpy as np

from common.metrics.frechet import frechet_distance
from common.metrics.swd import swd

__all__ = ["frechet_distance", "swd", "quality"]


def quality(real: np.ndarray, fake: np.ndarray, mnist: bool, seed: int = 0) -> dict:
    """Every metric that applies: SWD for all models; for MNIST models the Fréchet distance in the
    classifier's feature space and the predicted-class histogram of the generated digits."""
    out = {"swd": swd(real, fake, seed=seed), "samples": int(min(len(real), len(fake)))}
    if mnist:
        from common.metrics import mnist_classifier as clf

        w = clf.load_weights()
        out["frechet_mnist"] = frechet_distance(clf.features(real, w), clf.features(fake, w))
        counts = np.bincount(clf.predict(fake, w), minlength=10)
        out["class_histogram"] = counts.tolist()
        out["classes_covered"] = int((counts >= max(1, 0.01 * len(fake))).sum())
    return out
