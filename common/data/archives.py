"""Reading image collections out of archives: safe one-time .tgz extraction, lazy .zip reads.

Archives are bounded by what the real datasets hold, so a crafted or wrong archive is refused
before it fills the disk or the memory (README, "Datasets"). The real ones: LFW deep-funneled is
13,233 JPEGs (largest under 30 KB) in a 104 MiB .tgz; CelebA aligned is 202,599 JPEGs (each
under 30 KB) in a 1.4 GiB .zip. JPEGs do not compress, so the bytes an archive unpacks to are
within a small factor of its own size.
"""

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any


@dataclass(frozen=True)
class Limits:
    members: int  # files (and folders) in the archive
    member_bytes: int  # one member, unpacked
    total_bytes: int  # all members, unpacked
    ratio: float  # unpacked bytes per archive byte (plus 1 MiB of slack for small archives)

    def check(self, archive: Path, sizes: list[tuple[str, int]]) -> None:
        if len(sizes) > self.members:
            raise ValueError(
                f"{archive}: holds {len(sizes):,} members, more than the {self.members:,} "
                "the dataset has; refusing it (is it the right archive?)"
            )
        for name, size in sizes:
            if size > self.member_bytes:
                raise ValueError(
                    f"{archive}: member {name!r} unpacks to {size:,} bytes, more than "
                    f"{self.member_bytes:,} (no image of the dataset is that large); refusing it"
                )
        total = sum(size for _, size in sizes)
        bound = min(self.total_bytes, self.ratio * archive.stat().st_size + 2**20)
        if total > bound:
            raise ValueError(
                f"{archive}: unpacks to {total:,} bytes, more than {int(bound):,} "
                f"(at most {self.ratio:g}x its own size and {self.total_bytes:,} in all); "
                "refusing it (a compression bomb or not the dataset's archive)"
            )


LFW_LIMITS = Limits(members=30_000, member_bytes=2**20, total_bytes=2**30, ratio=20)
CELEBA_LIMITS = Limits(members=300_000, member_bytes=2**20, total_bytes=8 * 2**30, ratio=20)
# what reading a broken archive raises (truncated gzip stream, bad zip directory, …)
ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(2**20), b""):
            h.update(chunk)
    return h.hexdigest()


def extract_tgz_safely(archive: Path, dest_parent: Path, top_folder: str, limits: Limits = LFW_LIMITS) -> Path:
    """Extract ``archive`` (whose members live under ``top_folder/``) to ``dest_parent/top_folder``.

    Done once: an existing extraction is reused (the caller keys ``dest_parent`` on the archive's
    checksum). The tree is unpacked into a temporary sibling and renamed into place, so an
    interrupted run never leaves a half-extracted folder that would later be mistaken for a
    complete one. A truncated or corrupted archive raises ValueError naming it.
    """
    final = dest_parent / top_folder
    if final.is_dir():
        return final
    dest_parent.mkdir(parents=True, exist_ok=True)
    try:
        _extract(archive, dest_parent, top_folder, final, limits)
    except ARCHIVE_ERRORS as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(str(archive)):
            raise
        raise ValueError(
            f"{archive}: cannot be read as a gzipped tar ({type(exc).__name__}: {exc}); it is "
            "truncated or corrupted: download it again"
        ) from None
    return final


def _extract(archive: Path, dest_parent: Path, top_folder: str, final: Path, limits: Limits) -> None:
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            _refuse_unsafe(archive, member)
        limits.check(archive, [(m.name, m.size) for m in members])
        staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=dest_parent))
        try:
            # The "data" filter (Python >= 3.11.4) re-checks paths and links during extraction.
            extra: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(staging, members=members, **extra)
            extracted = staging / top_folder
            if not extracted.is_dir():
                raise ValueError(f"{archive}: has no top-level folder {top_folder}/")
            try:
                os.replace(extracted, final)
            except OSError:
                if not final.is_dir():  # otherwise another process finished first: use its copy
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _refuse_unsafe(archive: Path, member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(
            f"{archive}: refusing to extract member {member.name!r} "
            "(absolute path or '..' would write outside the destination)"
        )
    if not (member.isfile() or member.isdir()):
        # An image archive has no business holding links or device files.
        raise ValueError(f"{archive}: refusing to extract member {member.name!r} (not a regular file or folder)")


class ZipMembers:
    """Random access to the members of a .zip, safe to use after fork (one handle per process)."""

    def __init__(self, archive: Path):
        self.archive = archive
        self._zip: zipfile.ZipFile | None = None
        self._pid: int | None = None

    def read(self, name: str) -> bytes:
        try:
            # A handle inherited through fork shares its file offset with the parent; reopen instead.
            if self._zip is None or self._pid != os.getpid():
                self._zip = zipfile.ZipFile(self.archive)
                self._pid = os.getpid()
            size = self._zip.getinfo(name).file_size
            if size > CELEBA_LIMITS.member_bytes:  # zipfile inflates a member whole, in memory
                raise ValueError(
                    f"{self.archive}: member {name!r} unpacks to {size:,} bytes, more than "
                    f"{CELEBA_LIMITS.member_bytes:,}; refusing it"
                )
            return self._zip.read(name)
        except ARCHIVE_ERRORS as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(str(self.archive)):
                raise
            raise ValueError(
                f"{self.archive}: cannot read member {name!r} ({type(exc).__name__}: {exc}); "
                "the archive is truncated or corrupted: download it again"
            ) from None

    def __getstate__(self):
        return {"archive": self.archive}

    def __setstate__(self, state):
        self.__init__(state["archive"])


def zip_jpegs(archive: Path, limits: Limits = CELEBA_LIMITS) -> list[str]:
    """The sorted .jpg members of a .zip, after checking it against `limits`; ValueError naming
    the archive when it cannot be read."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except ARCHIVE_ERRORS as exc:
        raise ValueError(
            f"{archive}: cannot be read as a .zip ({type(exc).__name__}: {exc}); it is "
            "truncated or corrupted: download it again"
        ) from None
    limits.check(archive, [(i.filename, i.file_size) for i in infos])
    return sorted(i.filename for i in infos if i.filename.lower().endswith(".jpg"))
