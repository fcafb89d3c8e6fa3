"""``open_images``: the one entry point the suite uses to get tutorial-preprocessed images."""

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import images as img
from .errors import DataUnavailable
from .mnist import load_mnist
from .paths import default_cache_dir, default_data_dir

# Nominal sizes of the full datasets; synthetic stand-ins have these lengths.
DATASET_SIZES = {"mnist-train": 60000, "mnist-all": 70000, "lfw-deepfunneled": 13233, "celeba-aligned": 202599}
RESIZES = ("none", "cv2-bilinear", "pil-short-side-bilinear-center-crop")
CHANNELS = ("keep", "tile-to-3")
SOURCES = ("auto", "real", "synthetic")
# (channels, height, width) of the images as stored, before any resizing.
_NATIVE_SHAPE = {
    "mnist-train": (1, 28, 28),
    "mnist-all": (1, 28, 28),
    "lfw-deepfunneled": (3, 250, 250),
    "celeba-aligned": (3, 218, 178),
}
DEFAULT_CACHE_BYTES = 1 << 30
SYNTHETIC_POOL = 1024


class ImageSource:
    """Indexable images, uint8 (k, C, H, W), preprocessed as the tutorial does, before scaling."""

    dataset: str
    kind: str
    description: str
    image_shape: tuple[int, int, int]

    def __len__(self) -> int:
        raise NotImplementedError

    def get(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _indices(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(
                f"{self.dataset}: indices must lie in [0, {len(self)}); got min {idx.min()}, max {idx.max()}"
            )
        return idx


class ArraySource(ImageSource):
    """Images held in memory as (N, c, H, W); greyscale is tiled per batch to save memory."""

    kind = "real"

    def __init__(self, dataset: str, images: np.ndarray, image_shape, description: str):
        self.dataset = dataset
        self.image_shape = tuple(image_shape)
        self.description = description
        self._images = images

    def __len__(self) -> int:
        return len(self._images)

    def get(self, indices) -> np.ndarray:
        batch = self._images[self._indices(indices)]
        if batch.shape[1] != self.image_shape[0]:
            batch = np.repeat(batch, self.image_shape[0], axis=1)
        return batch


class FileSource(ImageSource):
    """Images decoded from files on demand, with a bounded in-memory cache of decoded results."""

    kind = "real"

    def __init__(
        self,
        dataset: str,
        files: img.ImageFiles,
        image_shape,
        description: str,
        decode,
        resize,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        workers: int | None = None,
    ):
        self.dataset = dataset
        self.image_shape = tuple(image_shape)
        self.description = description
        self.files = files
        self._decode = decode
        self._resize = resize
        self._cache_bytes = cache_bytes
        # cv2 and Pillow release the GIL while decoding and resizing, so threads scale.
        self._workers = workers or min(8, os.cpu_count() or 1)
        self._setup()

    def _setup(self):
        per_image = int(np.prod(self.image_shape))
        capacity = max(0, self._cache_bytes // per_image)
        self._cached = functools.lru_cache(maxsize=capacity)(self._load)
        self._pool = None
        self._pool_pid = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.files)

    def get(self, indices) -> np.ndarray:
        idx = self._indices(indices)
        if len(idx) <= 1 or self._workers <= 1:
            items = [self._cached(int(i)) for i in idx]
        else:
            items = list(self._executor().map(self._cached, idx.tolist()))
        return np.stack(items) if items else np.empty((0, *self.image_shape), np.uint8)

    def _load(self, index: int) -> np.ndarray:
        name = self.files.names[index]
        decoded = self._decode(self.files.read(index), f"{self.files.location}/{name}")
        chw = np.ascontiguousarray(self._resize(decoded).transpose(2, 0, 1))
        chw.flags.writeable = False  # cached: callers get copies via np.stack
        if chw.shape != self.image_shape:
            raise ValueError(f"{name}: preprocessed to {chw.shape}, expected {self.image_shape}")
        return chw

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            # Threads do not survive fork; a forked worker process needs its own pool.
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="decode")
                self._pool_pid = os.getpid()
            return self._pool

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_cached", "_pool", "_pool_pid", "_lock"):
            del state[key]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._setup()


class SyntheticSource(ImageSource):
    """Seeded uniform-noise stand-in with the real dataset's shape and nominal length."""

    kind = "synthetic"

    def __init__(self, dataset: str, image_shape, length: int, seed: int = 0, pool: int = SYNTHETIC_POOL):
        self.dataset = dataset
        self.image_shape = tuple(image_shape)
        self._length = length
        rng = np.random.default_rng(seed)
        self._pool = rng.integers(0, 256, size=(min(pool, length), *self.image_shape), dtype=np.uint8)
        self.description = (
            f"SYNTHETIC data, not {dataset}: {length:,} items cycling {len(self._pool)} "
            f"uniform-noise images (seed {seed}), shape {self.image_shape}; "
            "valid for timing only, meaningless for sample quality"
        )

    def __len__(self) -> int:
        return self._length

    def get(self, indices) -> np.ndarray:
        return self._pool[self._indices(indices) % len(self._pool)]


def open_images(
    dataset: str,
    image_shape: tuple[int, int, int],
    resize: str,
    channels: str,
    source: str = "auto",
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    download: bool = True,
    log=print,
) -> ImageSource:
    """Images of ``dataset`` preprocessed as its tutorial does, or a synthetic stand-in.

    source="real" raises DataUnavailable when the data cannot be had; "auto" falls back to
    synthetic data with a loud warning; "synthetic" never touches the disk. A real file that
    is present but corrupted raises ValueError in every mode: falling back would hide it.
    """
    _check_choice("dataset", dataset, tuple(DATASET_SIZES))
    _check_choice("resize", resize, RESIZES)
    _check_choice("channels", channels, CHANNELS)
    _check_choice("source", source, SOURCES)
    image_shape = _check_shape(dataset, tuple(image_shape), resize, channels)
    if source == "synthetic":
        return SyntheticSource(dataset, image_shape, DATASET_SIZES[dataset])
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        return _open_real(dataset, image_shape, resize, channels, data_dir, cache_dir, download)
    except DataUnavailable as exc:
        if source == "real":
            raise
        log(_synthetic_warning(dataset, exc))
        return SyntheticSource(dataset, image_shape, DATASET_SIZES[dataset])


def _check_choice(argument: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{argument} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def _check_shape(dataset, shape, resize, channels) -> tuple[int, int, int]:
    if len(shape) != 3 or not all(isinstance(n, (int, np.integer)) and n > 0 for n in shape):
        raise ValueError(f"image_shape must be three positive ints (C, H, W); got {shape!r}")
    shape = tuple(int(n) for n in shape)
    native_c, native_h, native_w = _NATIVE_SHAPE[dataset]
    want_c = 3 if channels == "tile-to-3" else native_c
    if shape[0] != want_c:
        raise ValueError(
            f"image_shape {shape}: {dataset} with channels={channels!r} gives {want_c} channel(s), not {shape[0]}"
        )
    if resize == "none" and shape[1:] != (native_h, native_w):
        raise ValueError(f"image_shape {shape}: resize='none' keeps {dataset}'s native {native_h}x{native_w}")
    if resize == "pil-short-side-bilinear-center-crop" and shape[1] != shape[2]:
        raise ValueError(f"image_shape {shape}: resize={resize!r} makes square images")
    return shape


def _preprocess_words(shape, resize, channels, native_c) -> str:
    _, h, w = shape
    words = {
        "none": "no resize",
        "cv2-bilinear": f"cv2.resize to {h}x{w} (INTER_LINEAR)",
        "pil-short-side-bilinear-center-crop": f"PIL bilinear resize of the short side to {h}, center crop {h}x{w}",
    }[resize]
    if channels == "tile-to-3" and native_c == 1:
        words += ", tiled to 3 channels"
    return words


def _open_real(dataset, shape, resize, channels, data_dir, cache_dir, download) -> ImageSource:
    c, h, w = shape
    native_c = _NATIVE_SHAPE[dataset][0]
    how = _preprocess_words(shape, resize, channels, native_c)
    if dataset.startswith("mnist"):
        split = "train" if dataset == "mnist-train" else "all"
        data = load_mnist(split, data_dir, cache_dir, download=download)
        images = data.images
        if split == "all":
            # The MXNet tutorial's fetch_mldata('MNIST original') rows: train then test, each sorted
            # by digit. The order within a digit is not documented; a stable sort keeps IDX order.
            n_train = DATASET_SIZES["mnist-train"]
            images = images[
                np.concatenate(
                    [
                        np.argsort(data.labels[:n_train], kind="stable"),
                        n_train + np.argsort(data.labels[n_train:], kind="stable"),
                    ]
                )
            ]
        if resize == "cv2-bilinear":
            pixels = img.resize_mnist_cv2(images, h, w)
        elif resize == "none":
            pixels = images
        else:
            pixels = np.stack([img.resize_short_side_center_crop(x, h) for x in images])
        what = (
            "train (60,000)"
            if split == "train"
            else "train + test (70,000; train then test, each sorted by digit as fetch_mldata gave them)"
        )
        return ArraySource(dataset, pixels[:, None], shape, f"MNIST {what}: {data.source}; {how}")

    if dataset == "lfw-deepfunneled":
        files = img.lfw_files(data_dir, cache_dir)
        decode, name = img.decode_cv2_rgb, "LFW deep-funneled"
        decoder = "decoded as RGB with OpenCV (as mx.image.imread)"
    else:
        files = img.celeba_files(data_dir)
        decode, name = img.decode_pil_rgb, "CelebA aligned"
        decoder = "decoded with Pillow, .convert('RGB')"
    # partials of module-level functions keep the source picklable for worker processes
    resize_fn: Callable[[np.ndarray], np.ndarray]
    if resize == "cv2-bilinear":
        resize_fn = functools.partial(img.resize_cv2_bilinear, height=h, width=w)
    elif resize == "none":
        resize_fn = _unchanged
    else:
        resize_fn = functools.partial(img.resize_short_side_center_crop, size=h)
    count = f"{len(files):,} JPEGs"
    if len(files) != DATASET_SIZES[dataset]:
        count += f" (a subset: the full set has {DATASET_SIZES[dataset]:,})"
    return FileSource(
        dataset,
        files,
        shape,
        f"{name}, {count} in {files.location}, sorted by path; {decoder}; {how}",
        decode,
        resize_fn,
    )


def _unchanged(image: np.ndarray) -> np.ndarray:
    return image


def _synthetic_warning(dataset: str, exc: DataUnavailable) -> str:
    bar = "!" * 78
    reason = "\n".join(f"WARNING:   {line}" for line in str(exc).splitlines())
    return (
        f"{bar}\n"
        f"WARNING: using SYNTHETIC data for {dataset!r}: the real dataset was not found.\n"
        f"WARNING: Timings stay meaningful; samples, losses and quality metrics do not.\n"
        f"WARNING: Why:\n{reason}\n"
        f"WARNING: Pass --data real to make this an error instead.\n"
        f"{bar}"
    )
