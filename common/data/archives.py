"""Reading image collections out of archives: safe one-time .tgz extraction, lazy .zip reads."""
import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath


def extract_tgz_safely(archive: Path, dest_parent: Path, top_folder: str) -> Path:
    """Extract ``archive`` (whose members live under ``top_folder/``) to ``dest_parent/top_folder``.

    Done once: an existing extraction is reused. The tree is unpacked into a temporary sibling
    and renamed into place, so an interrupted run never leaves a half-extracted folder that
    would later be mistaken for a complete one.
    """
    final = dest_parent / top_folder
    if final.is_dir():
        return final
    dest_parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            _refuse_unsafe(archive, member)
        staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=dest_parent))
        try:
            # The "data" filter (Python >= 3.11.4) re-checks paths and links during extraction.
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
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
    return final


def _refuse_unsafe(archive: Path, member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{archive}: refusing to extract member {member.name!r} "
                         "(absolute path or '..' would write outside the destination)")
    if not (member.isfile() or member.isdir()):
        # An image archive has no business holding links or device files.
        raise ValueError(f"{archive}: refusing to extract member {member.name!r} "
                         "(not a regular file or folder)")


class ZipMembers:
    """Random access to the members of a .zip, safe to use after fork (one handle per process)."""

    def __init__(self, archive: Path):
        self.archive = archive
        self._zip = None
        self._pid = None

    def read(self, name: str) -> bytes:
        # A handle inherited through fork shares its file offset with the parent; reopen instead.
        if self._zip is None or self._pid != os.getpid():
            self._zip = zipfile.ZipFile(self.archive)
            self._pid = os.getpid()
        return self._zip.read(name)

    def __getstate__(self):
        return {"archive": self.archive}

    def __setstate__(self, state):
        self.__init__(state["archive"])
