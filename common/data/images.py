"""LFW and CelebA image files, and the decoders and resizers each tutorial uses.

Decoded images are HWC uint8 RGB arrays (HW for greyscale MNIST); callers turn them into CHW.
"""

import io
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .archives import ZipMembers, extract_tgz_safely, sha256_of, zip_jpegs
from .errors import DataUnavailable

LFW_FOLDER = "lfw-deepfunneled"
LFW_ARCHIVE = "lfw-deepfunneled.tgz"
LFW_URL = "http://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz"
CELEBA_FOLDER = "img_align_celeba"
CELEBA_ARCHIVE = "img_align_celeba.zip"
CELEBA_URL = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"


class ImageFiles:
    """An ordered list of encoded image files, read by index from a folder or a .zip."""

    def __init__(self, names: list[str], location: str, *, folder: Path | None = None, archive: Path | None = None):
        self.names = names
        self.location = location
        self._folder = folder
        self._zip = ZipMembers(archive) if archive is not None else None

    def __len__(self) -> int:
        return len(self.names)

    def read(self, index: int) -> bytes:
        name = self.names[index]
        if self._zip is not None:
            return self._zip.read(name)
        assert self._folder is not None  # __init__ is given a folder or an archive
        return (self._folder / name).read_bytes()


def _jpegs_under(root: Path) -> list[str]:
    # The tutorials list files in os.walk order, which depends on the filesystem; sorting by
    # relative path makes the order (and so every seeded run) the same on every machine.
    found: list[str] = []
    for folder, _, files in os.walk(root):
        rel = Path(folder).relative_to(root)
        found.extend((rel / name).as_posix() for name in files if name.lower().endswith(".jpg"))
    return sorted(found)


def lfw_files(data_dir: Path, cache_dir: Path) -> ImageFiles:
    """LFW deep-funneled JPEGs from an extracted folder or ``lfw-deepfunneled.tgz``.

    A .tgz is extracted into ``cache_dir/lfw/SHA/`` (SHA: the first 16 hex digits of the
    archive's sha256), so a changed archive is extracted afresh; without the archive, the most
    recent earlier extraction is used."""
    folders = [data_dir / LFW_FOLDER, data_dir / "lfw" / LFW_FOLDER]
    archives = [data_dir / LFW_ARCHIVE, data_dir / "lfw" / LFW_ARCHIVE]
    empty = []
    for folder in folders:
        if folder.is_dir():
            names = _jpegs_under(folder)
            if names:
                return ImageFiles(names, str(folder.resolve()), folder=folder)
            empty.append(folder)
    for archive in archives:
        if archive.is_file():
            root = extract_tgz_safely(archive, cache_dir / "lfw" / sha256_of(archive)[:16], LFW_FOLDER)
            names = _jpegs_under(root)
            if names:
                return ImageFiles(names, f"{root.resolve()} (extracted from {archive.resolve()})", folder=root)
            empty.append(archive)
    earlier = sorted((cache_dir / "lfw").glob(f"*/{LFW_FOLDER}"), key=lambda p: p.stat().st_mtime)
    for root in reversed(earlier):
        names = _jpegs_under(root)
        if names:
            return ImageFiles(names, f"{root.resolve()} (extracted earlier from an archive)", folder=root)
    raise DataUnavailable(
        _missing_message(
            "LFW (deep-funneled)",
            f"{LFW_ARCHIVE} (from {LFW_URL}) or its extracted folder {LFW_FOLDER}/ (<Person>/<Person>_NNNN.jpg inside)",
            [*folders[:2], *archives],
            empty,
        )
    )


def celeba_files(data_dir: Path) -> ImageFiles:
    """CelebA aligned JPEGs from ``img_align_celeba/`` or ``img_align_celeba.zip``."""
    folders = [data_dir / CELEBA_FOLDER, data_dir / "celeba" / CELEBA_FOLDER]
    archives = [data_dir / CELEBA_ARCHIVE, data_dir / "celeba" / CELEBA_ARCHIVE]
    empty = []
    for folder in folders:
        if folder.is_dir():
            names = _jpegs_under(folder)
            if names:
                return ImageFiles(names, str(folder.resolve()), folder=folder)
            empty.append(folder)
    for archive in archives:
        if archive.is_file():
            names = zip_jpegs(archive)
            if names:
                return ImageFiles(names, str(archive.resolve()), archive=archive)
            empty.append(archive)
    raise DataUnavailable(
        _missing_message(
            "CelebA (aligned & cropped)",
            f"{CELEBA_ARCHIVE} (from {CELEBA_URL}, 'Align&Cropped "
            f"Images') or its extracted folder {CELEBA_FOLDER}/ (NNNNNN.jpg inside)",
            [*folders, *archives],
            empty,
        )
    )


def _missing_message(what: str, needed: str, candidates: list[Path], empty: list[Path]) -> str:
    looked = "\n".join(f"    {p.resolve()}" for p in candidates)
    extra = "".join(f"\n{p.resolve()} exists but holds no .jpg files." for p in empty)
    return (
        f"{what} is not available.{extra}\n"
        f"Needed: {needed}.\n"
        f"Put it at one of these paths (a .tgz is extracted once, a .zip is read in place):\n"
        f"{looked}"
    )


def decode_cv2_rgb(data: bytes, name: str) -> np.ndarray:
    """RGB HWC uint8 like ``mx.image.imread`` (OpenCV decoder; greyscale gives 3 channels)."""
    if not data:  # cv2.imdecode raises cv2.error ("!buf.empty()") without the file's name
        raise ValueError(f"{name}: the file is empty (0 bytes); replace it from the dataset's archive or delete it")
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ValueError(
            f"{name}: OpenCV could not decode this image ({exc.err}); replace it from the "
            "dataset's archive or delete it"
        ) from None
    if img is None:
        raise ValueError(
            f"{name}: OpenCV could not decode this image; replace it from the dataset's archive or delete it"
        )
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def decode_pil_rgb(data: bytes, name: str) -> np.ndarray:
    """RGB HWC uint8 like torchvision's ``pil_loader`` (``Image.open(f).convert('RGB')``)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))
    except OSError as exc:
        raise ValueError(
            f"{name}: Pillow could not decode this image ({exc}); replace it from the dataset's archive or delete it"
        ) from None


def resize_cv2_bilinear(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """``cv2.resize(img, (width, height))``: INTER_LINEAR, what ``mx.image.imresize`` uses."""
    return cv2.resize(img, (width, height))


def resize_short_side_center_crop(img: np.ndarray, size: int) -> np.ndarray:
    """torchvision ``Resize(size)`` then ``CenterCrop(size)`` on the PIL image, as arrays."""
    h, w = img.shape[:2]
    short, long = min(h, w), max(h, w)
    new_long = int(size * long / short)
    new_w, new_h = (size, new_long) if w <= h else (new_long, size)
    pil = Image.fromarray(img).resize((new_w, new_h), Image.Resampling.BILINEAR)
    top = int(round((new_h - size) / 2.0))
    left = int(round((new_w - size) / 2.0))
    return np.asarray(pil.crop((left, top, left + size, top + size)))


def resize_mnist_cv2(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Each (28, 28) uint8 image through ``cv2.resize`` as the MXNet tutorial does; (N, H, W)."""
    out = np.empty((len(images), height, width), np.uint8)
    for i, img in enumerate(images):
        out[i] = cv2.resize(img, (width, height))
    return out
