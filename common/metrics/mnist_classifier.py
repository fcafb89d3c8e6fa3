"""A small MNIST classifier whose features give the Fréchet distance of the MNIST models.

No pretrained network can be downloaded, so the suite trains this one once with the PyTorch
backend (`python -m benchmarks train-classifier`), keeps its weights in the repository
(`mnist_classifier.npz`, ~0.7 MB, canonical layout under the prefix "C") and checks it reaches
≥ 99 % on the MNIST test set, on which it was not trained. Inference runs in numpy.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from common.numpy_net import forward
from common.spec import Act, Conv2d, Dense, Flatten, Init, MaxPool2d, NetSpec

WEIGHTS = Path(__file__).with_name("mnist_classifier.npz")
PREFIX = "C"
_DEFAULT = Init("default", framework="torch")

CLASSIFIER = NetSpec(
    (1, 28, 28),
    (
        Conv2d(32, 5, weight_init=_DEFAULT, bias_init=_DEFAULT),
        Act("relu"),
        MaxPool2d(2, 2),
        Conv2d(64, 5, weight_init=_DEFAULT, bias_init=_DEFAULT),
        Act("relu"),
        MaxPool2d(2, 2),
        Flatten(),
        Dense(128, weight_init=_DEFAULT, bias_init=_DEFAULT),
        Act("relu"),  # features: 128-d after this ReLU
        Dense(10, weight_init=_DEFAULT, bias_init=_DEFAULT),
    ),
)
FEATURE_LAYERS = 9


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) / (N, 1, 28, 28), or floats in [-1, 1] from a generator, to the classifier's input."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 127.5 - 1.0
    return x.reshape(len(x), 1, 28, 28).astype(np.float32)


@lru_cache(maxsize=1)
def load_weights(path: Path = WEIGHTS) -> dict[str, np.ndarray]:
    if not Path(path).exists():
        raise FileNotFoundError(
            f"{path} is missing: train it with `python -m benchmarks train-classifier` (needs torch and MNIST)"
        )
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def features(images: np.ndarray, weights: dict | None = None) -> np.ndarray:
    return forward(CLASSIFIER, weights or load_weights(), PREFIX, to_input(images), upto=FEATURE_LAYERS)


def predict(images: np.ndarray, weights: dict | None = None) -> np.ndarray:
    return forward(CLASSIFIER, weights or load_weights(), PREFIX, to_input(images)).argmax(1)


def accuracy(images: np.ndarray, labels: np.ndarray, weights: dict | None = None) -> float:
    return float((predict(images, weights) == np.asarray(labels)).mean())
