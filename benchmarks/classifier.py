"""`python -m benchmarks train-classifier`: train the MNIST feature extractor of the quality metrics
once (PyTorch), check its accuracy on the test set with the numpy forward, and save it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.analysis import net_params
from common.data.mnist import load_mnist
from common.init import init_array
from common.metrics import mnist_classifier as clf

MIN_ACCURACY = 0.99


def initial_weights(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    entries = net_params(clf.CLASSIFIER)
    weight_shapes = {i: p.shape for i, _, p in entries if p.name == "weight"}
    return {f"{clf.PREFIX}.{i}.{p.name}": init_array(layer, p, weight_shapes[i], rng) for i, layer, p in entries}


def train_and_save(out: Path = clf.WEIGHTS, data_dir=None, epochs: int = 6, seed: int = 0) -> float:
    from backends.pytorch import train_classifier

    train, test = load_mnist("train", data_dir), load_mnist("test", data_dir)
    weights = train_classifier(
        clf.CLASSIFIER,
        initial_weights(seed),
        clf.PREFIX,
        clf.to_input(train.images),
        train.labels,
        epochs=epochs,
        seed=seed,
        progress=lambda e: print(f"epoch {e + 1}/{epochs} done", flush=True),
    )
    acc = clf.accuracy(test.images, test.labels, weights)
    print(f"test accuracy {acc:.4f} on {len(test.labels)} images it was not trained on")
    if acc < MIN_ACCURACY:
        raise SystemExit(f"accuracy {acc:.4f} is below {MIN_ACCURACY}: not saved")
    np.savez_compressed(out, **{k: v.astype(np.float32) for k, v in weights.items()})
    print(f"saved {out} ({Path(out).stat().st_size / 1e6:.2f} MB)")
    return acc
