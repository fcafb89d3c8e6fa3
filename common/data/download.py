"""Checksum-verified downloads from a list of mirrors (stdlib urllib, no extra dependency)."""

import hashlib
import os
import sys
import urllib.request
from pathlib import Path

from tqdm import tqdm

_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """Every mirror failed; the message lists each mirror's error and where to put the file."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    filename: str, mirrors: list[str], sha256: str, dest_dir: Path, *, timeout: float = 30, progress: bool = True
) -> Path:
    """Fetch ``filename`` from the first mirror that serves it with the expected SHA-256.

    The data is streamed to ``<name>.part`` and only renamed to its final name once complete
    and verified, so an interrupted or corrupted download never looks like a usable file.
    """
    dest_dir = Path(dest_dir)
    final = dest_dir / filename
    if final.is_file():
        if sha256_of(final) == sha256:
            return final
        # Fall through and fetch again: a verified copy will replace it atomically.
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest_dir / (filename + ".part")
    failures = []
    if final.is_file():
        failures.append(f"  {final}: already present but its sha256 does not match; re-downloading")
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            got = _fetch(url, part, timeout=timeout, progress=progress, label=filename)
        except Exception as exc:  # any network/IO failure just means "try the next mirror"
            part.unlink(missing_ok=True)
            failures.append(f"  {url}: {type(exc).__name__}: {exc}")
            continue
        except BaseException:  # Ctrl-C: leave no half-written file behind
            part.unlink(missing_ok=True)
            raise
        if got != sha256:
            part.unlink(missing_ok=True)
            failures.append(f"  {url}: sha256 mismatch (expected {sha256}, got {got})")
            continue
        os.replace(part, final)
        return final
    raise DownloadError(
        f"could not download {filename}; tried {len(mirrors)} mirror(s):\n"
        + "\n".join(failures)
        + f"\nDownload it by hand and put it at {final} (its sha256 must be {sha256})."
    )


def _fetch(url: str, part: Path, *, timeout: float, progress: bool, label: str) -> str:
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "ganbench"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            file=sys.stderr,
            disable=None if progress else True,
            leave=False,
        ) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        if total is not None and out.tell() != total:
            raise OSError(f"connection closed after {out.tell()} of {total} bytes")
    return digest.hexdigest()
