"""LFW and CelebA: file discovery, archives, and preprocessing against direct cv2 / PIL code."""

import hashlib
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from common.data.archives import extract_tgz_safely
from common.data.sources import open_images

LFW = ("lfw-deepfunneled", (3, 64, 64), "cv2-bilinear", "keep")
CELEBA = ("celeba-aligned", (3, 64, 64), "pil-short-side-bilinear-center-crop", "keep")


def _real(spec, data_dir, cache_dir):
    return open_images(*spec, source="real", data_dir=data_dir, cache_dir=cache_dir, download=False)


def _jpeg(seed: int, shape=(40, 30, 3)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", pixels)
    assert ok
    return buf.tobytes()


def _cv2_reference(path: Path) -> np.ndarray:
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (64, 64)).transpose(2, 0, 1)


def _torchvision_reference(path: Path) -> np.ndarray:
    # Resize(64): shorter side to 64, longer side int(64 * long / short); CenterCrop(64).
    image = Image.open(path).convert("RGB")
    w, h = image.size
    if w <= h:
        size = (64, int(64 * h / w))
    else:
        size = (int(64 * w / h), 64)
    image = image.resize(size, Image.BILINEAR)
    top = int(round((image.height - 64) / 2.0))
    left = int(round((image.width - 64) / 2.0))
    return np.asarray(image.crop((left, top, left + 64, top + 64))).transpose(2, 0, 1)


def test_lfw_real_subset(shared_data, tmp_path):
    src = _real(LFW, shared_data, tmp_path)
    root = shared_data / "lfw" / "lfw-deepfunneled"
    expected = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.jpg"))
    assert len(src) == 1517 and src.files.names == expected
    assert src.kind == "real" and src.image_shape == (3, 64, 64)
    assert "1,517" in src.description and str(root.resolve()) in src.description
    picks = np.array([0, 777, 1516])
    batch = src.get(picks)
    assert batch.shape == (3, 3, 64, 64) and batch.dtype == np.uint8
    for row, index in zip(batch, picks):
        assert np.array_equal(row, _cv2_reference(root / expected[index]))


def test_celeba_real_subset(shared_data, tmp_path):
    src = _real(CELEBA, shared_data, tmp_path)
    folder = shared_data / "celeba" / "img_align_celeba"
    names = sorted(p.name for p in folder.glob("*.jpg"))
    assert len(src) == 2000 and src.files.names == names and names[0] == "000040.jpg"
    batch = src.get([0, 1999, 0])
    assert batch.shape == (3, 3, 64, 64) and batch.dtype == np.uint8
    assert np.array_equal(batch[0], _torchvision_reference(folder / names[0]))
    assert np.array_equal(batch[1], _torchvision_reference(folder / names[1999]))
    assert np.array_equal(batch[2], batch[0])


def test_celeba_wide_image_is_cropped_horizontally(tmp_path):
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    (folder / "000001.jpg").write_bytes(_jpeg(0, shape=(50, 91, 3)))
    src = _real(CELEBA, tmp_path, tmp_path / "cache")
    assert np.array_equal(src.get([0])[0], _torchvision_reference(folder / "000001.jpg"))


def test_celeba_zip_matches_folder(tmp_path):
    folder = tmp_path / "folder" / "img_align_celeba"
    folder.mkdir(parents=True)
    names = ["000003.jpg", "000001.jpg", "000002.jpg"]  # written out of order on purpose
    (tmp_path / "zipped").mkdir()
    with zipfile.ZipFile(tmp_path / "zipped" / "img_align_celeba.zip", "w") as zf:
        for seed, name in enumerate(names):
            data = _jpeg(seed, shape=(218, 178, 3))
            (folder / name).write_bytes(data)
            zf.writestr("img_align_celeba/" + name, data)
    from_zip = _real(CELEBA, tmp_path / "zipped", tmp_path / "cache")
    from_folder = _real(CELEBA, tmp_path / "folder", tmp_path / "cache")
    assert len(from_zip) == 3 and from_zip.files.names[0].endswith("000001.jpg")
    assert np.array_equal(from_zip.get([0, 1, 2]), from_folder.get([0, 1, 2]))
    # Sources travel to worker processes by pickling; the zip handle must not.
    clone = pickle.loads(pickle.dumps(from_zip))
    assert np.array_equal(clone.get([2, 0]), from_folder.get([2, 0]))


def _lfw_tree(root: Path) -> None:
    (root / "B_Person").mkdir(parents=True)
    (root / "A_Person").mkdir(parents=True)
    (root / "B_Person" / "B_Person_0001.jpg").write_bytes(_jpeg(1, shape=(250, 250, 3)))
    (root / "A_Person" / "A_Person_0001.jpg").write_bytes(_jpeg(2, shape=(250, 250, 3)))
    grey = np.random.default_rng(3).integers(0, 256, (250, 250), dtype=np.uint8)
    cv2.imwrite(str(root / "A_Person" / "A_Person_0002.jpg"), grey)
    (root / "A_Person" / "notes.txt").write_text("not an image")


def test_lfw_greyscale_is_three_channels(tmp_path):
    _lfw_tree(tmp_path / "lfw" / "lfw-deepfunneled")
    src = _real(LFW, tmp_path, tmp_path / "cache")
    assert src.files.names == ["A_Person/A_Person_0001.jpg", "A_Person/A_Person_0002.jpg", "B_Person/B_Person_0001.jpg"]
    grey = src.get([1])[0]
    assert grey.shape == (3, 64, 64)
    assert np.array_equal(grey[0], grey[1]) and np.array_equal(grey[0], grey[2])
    colour = src.get([0])[0]
    assert not np.array_equal(colour[0], colour[1])


def test_lfw_tgz_is_extracted_once_into_cache(tmp_path):
    _lfw_tree(tmp_path / "src" / "lfw-deepfunneled")
    archive = tmp_path / "data" / "lfw-deepfunneled.tgz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "lfw-deepfunneled", arcname="lfw-deepfunneled")
    src = _real(LFW, tmp_path / "data", tmp_path / "cache")
    key = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]  # keyed on the archive's content
    extracted = tmp_path / "cache" / "lfw" / key / "lfw-deepfunneled"
    assert len(src) == 3 and (extracted / "B_Person" / "B_Person_0001.jpg").is_file()
    assert [p.name for p in (tmp_path / "cache" / "lfw" / key).iterdir()] == ["lfw-deepfunneled"]
    first = src.get([0, 1, 2])
    archive.unlink()  # the cached extraction is enough from now on
    again = _real(LFW, tmp_path / "data", tmp_path / "cache")
    assert np.array_equal(again.get([0, 1, 2]), first)


def _tar_with(path: Path, name: str, kind=tarfile.REGTYPE) -> None:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("lfw-deepfunneled/A/A_0001.jpg")
        ok.size = 3
        tar.addfile(ok, io.BytesIO(b"abc"))
        bad = tarfile.TarInfo(name)
        bad.type = kind
        if kind == tarfile.SYMTYPE:
            bad.linkname = "/etc/passwd"
        else:
            bad.size = 3
        tar.addfile(bad, io.BytesIO(b"xyz") if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize(
    "name, kind",
    [
        ("../escaped.jpg", tarfile.REGTYPE),
        ("lfw-deepfunneled/../../escaped.jpg", tarfile.REGTYPE),
        ("/tmp/escaped.jpg", tarfile.REGTYPE),
        ("lfw-deepfunneled/A/link.jpg", tarfile.SYMTYPE),
    ],
)
def test_unsafe_tar_members_are_refused(tmp_path, name, kind):
    archive = tmp_path / "lfw-deepfunneled.tgz"
    _tar_with(archive, name, kind)
    dest = tmp_path / "deep" / "cache"
    with pytest.raises(ValueError, match="refusing to extract") as err:
        extract_tgz_safely(archive, dest, "lfw-deepfunneled")
    assert repr(name) in str(err.value)
    assert not any(dest.iterdir())  # nothing extracted, no staging folder left
    assert not (tmp_path / "escaped.jpg").exists()
    assert not (tmp_path / "deep" / "escaped.jpg").exists()


def test_decoded_cache_is_not_aliased(tmp_path):
    _lfw_tree(tmp_path / "lfw-deepfunneled")
    src = _real(LFW, tmp_path, tmp_path / "cache")
    reads = []
    original = src.files.read
    src.files.read = lambda i: reads.append(i) or original(i)
    first = src.get([2, 0])
    first[:] = 0
    second = src.get([0, 2])
    assert sorted(reads) == [0, 2]  # the second call was served from the decoded cache
    assert second.any()


def test_corrupt_jpeg_names_the_file(tmp_path):
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    (folder / "000001.jpg").write_bytes(b"not a jpeg")
    src = _real(CELEBA, tmp_path, tmp_path / "cache")
    with pytest.raises(ValueError, match="000001.jpg"):
        src.get([0])
