"""Result files: one JSON per (backend, model, device, mode), written atomically.

The schema is the suite's public interface (README.md, "Result files"). A file is written under a
temporary name and renamed, so a crash never leaves a truncated result behind.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

RESULT_SCHEMA = "ganbench-result"
TRACE_SCHEMA = "ganbench-trace"
SCHEMA_VERSION = 1


def run_key(backend: str, model: str, device: str, mode: str) -> str:
    return f"{backend}__{model}__{device}__{mode}"


def _clean(obj: Any) -> Any:
    """JSON has no NaN/Inf: a diverged loss is written as null rather than as invalid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def umask_mode() -> int:
    """The permissions open() would give a new file (0o666 less the umask): mkstemp creates 0600,
    which would make results, checkpoints and records private unlike the images beside them."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_json_atomic(path: Path, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        os.fchmod(fd, umask_mode())
        with os.fdopen(fd, "w") as f:
            json.dump(_clean(data), f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: Path) -> dict:
    with open(path) as f:
        return json.load(f)
