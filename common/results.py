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
REPRO_SCHEMA = "ganbench-reproduction"
SCHEMA_VERSION = 1


def run_key(backend: str, model: str, device: str, mode: str, batch: int | None = None) -> str:
    """The result file's name without `.json`. `batch` is given only when a run's batch differs
    from the tutorial's (a batch sweep), so those runs do not overwrite each other and every
    name written before sweeps existed stays valid."""
    key = f"{backend}__{model}__{device}__{mode}"
    return f"{key}__b{batch}" if batch is not None else key


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


# --- run sets ----------------------------------------------------------------------------------------
# Every `python -m benchmarks run` writes into its own folder RESULTS/<UTC time>_<id>/ with a manifest, so
# a re-run never overwrites an earlier one and results can be compared over time. "The latest result"
# of a (backend, model, device, mode) is the one in the newest set that has it: a view, not a file.
RUN_SET_SCHEMA = "ganbench-run-set"
DOCTOR_SCHEMA = "ganbench-doctor"  # results/doctor.json: what `doctor` found
TARGETS_SCHEMA = "ganbench-targets"  # results/targets.json: `targets` ratios
MANIFEST = "manifest.json"
# where data-parallel launchers (paddle launch, msrun) log, inside a run set: their files are not results
LAUNCHER_LOGS = "launcher_logs"
_SET_TIME = "%Y-%m-%dT%H-%M-%S"  # ':' is not allowed in Windows file names


def new_run_set_name(when=None, ident: str | None = None) -> str:
    """`2026-11-25T10-00-00_ab12cd`: sorts by time as text; the id tells apart two sets begun in one second."""
    import datetime as _dt
    import uuid

    when = when or _dt.datetime.now(_dt.timezone.utc)
    return f"{when.strftime(_SET_TIME)}_{ident or uuid.uuid4().hex[:6]}"


def is_run_set(folder: Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def run_sets(results_dir: Path) -> list[Path]:
    """The run-set folders directly inside `results_dir`, oldest first (by the manifest's creation time,
    then by name)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    sets = [p for p in results_dir.iterdir() if p.is_dir() and is_run_set(p)]
    return sorted(sets, key=lambda p: (str(read_manifest(p).get("created_at") or ""), p.name))


def read_manifest(folder: Path) -> dict:
    """The set's manifest, or {} when it cannot be read (a set whose manifest is broken still holds results)."""
    try:
        doc = read_json(Path(folder) / MANIFEST)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def resolve_run_set(path: Path) -> Path:
    """A run-set folder as given, or for a results folder its newest set; a folder of results written
    before run sets existed (no manifest anywhere) is taken as one set. Raises FileNotFoundError."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder")
    if is_run_set(path):
        return path
    sets = run_sets(path)
    if sets:
        return sets[-1]
    if any(path.glob("*.json")):
        return path
    raise FileNotFoundError(f"{path} holds no run set and no result file")


def write_manifest(folder: Path, manifest: dict) -> Path:
    doc = {"schema": RUN_SET_SCHEMA, "schema_version": SCHEMA_VERSION, **manifest}
    return write_json_atomic(Path(folder) / MANIFEST, doc)


# --- CSV safety --------------------------------------------------------------------------------------
# A spreadsheet runs a cell that begins with one of these as a formula (OWASP "CSV injection"); text from
# result files (error messages, hardware names, command lines) can begin with anything.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value):
    """Text that a spreadsheet could execute, prefixed with ' so it is shown as text; numbers pass as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def set_results(folder: Path) -> list[dict]:
    """The result documents directly inside one run-set folder (or a flat results folder), by file name;
    files that are not readable ganbench results are left to the report's loader to warn about."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            doc = read_json(path)
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("schema") == RESULT_SCHEMA:
            out.append(doc)
    return out


def hardware_of(doc: dict) -> str:
    """What a result was measured on (the report's rule): the CPU's name on CPU, the GPU's name on GPU."""
    env = doc.get("env") or {}
    if doc.get("device") == "cpu":
        return str(env.get("cpu") or "unknown CPU")
    return str(env.get("device_name") or doc.get("device"))
