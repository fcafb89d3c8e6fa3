"""Finding, parsing and checking the result files and parity traces under a results folder.

Every JSON file under the folder (any depth) is read. A file that cannot be used is never
dropped silently: it produces one warning that names the file (relative to the folder) and
what is wrong, and the report is built from whatever is valid. The messages are:

    FILE: not valid JSON: MSG (line L, column C)                                   -> skipped
    FILE: cannot read: MSG                                                          -> skipped
    FILE: top level is a list, not an object                                        -> skipped
    FILE: missing required key 'KEY'                                                -> skipped
    FILE: key 'KEY' must be KIND, got VALUE                                         -> skipped
    FILE: schema_version V is not supported (this report reads ganbench-result version 1)
                                                                                    -> skipped
    FILE: not a ganbench result (schema 'S'); skipped
    FILE: cannot be used (TYPE: MSG); skipped        (anything else that fails while reading it)
    FILE: optional key(s) 'KEY', 'KEY2' missing; shown as n/a                       -> run kept
    FILE: optional key 'KEY' must be KIND, got VALUE; shown as n/a                  -> run kept
    FILE: failed run records no error; shown as 'no error recorded'                 -> run kept
    FILE: samples_png 'P' ...: not found / not an image / outside the results folder -> run kept
    FILE: same (backend, model, device, mode), data source and status on HARDWARE as OTHER; kept
          the one finished later (OTHER)                                            -> FILE dropped

A failed run whose data_source is null (it failed before loading data) is kept, with data source
"none". An ok result and a failure of the same run (KEY.json and KEY.failed.json) are both shown.

Files of another known ganbench schema are read as what they are, not reported as problems:
the parity traces ("ganbench-trace") and the reproductions ("ganbench-reproduction", written by
`python -m benchmarks reproduce` as reproduce/MODEL__BACKEND/reproduction.json). A reproduction
is checked like a result: a broken required key skips the file with one warning
(FILE: missing required key 'KEY' / key 'KEY' must be KIND ... / schema_version ...), a broken
optional or nested key keeps the run with one warning per key, and a progress grid or
progress.gif beside it that cannot be shown is named in a warning too.

Keys this version does not know are ignored, since later schema versions add keys.

A results folder may hold run sets (folders with a manifest.json, one per `python -m benchmarks run`).
Then `runs` is the latest view: per key, the run of the newest set that has it, with no warning for the
older sets' runs, which are kept in `history` (every valid run, each with its `run_set`) for the report's
history section. Files outside any set (a folder written before run sets) count as older than every set.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from common.results import (
    DOCTOR_SCHEMA,
    LAUNCHER_LOGS,
    REPRO_SCHEMA,
    RESULT_SCHEMA,
    RUN_SET_SCHEMA,
    TARGETS_SCHEMA,
    TRACE_SCHEMA,
    read_manifest,
    run_sets,
)

SUPPORTED_VERSION = 1
NO_DATA = "none"  # data_source of a failed run that never loaded its data (null in the file)
# Other schemas the suite writes next to results; they are not problems, and not results.
OTHER_KNOWN_SCHEMAS = frozenset({TRACE_SCHEMA, REPRO_SCHEMA, RUN_SET_SCHEMA, DOCTOR_SCHEMA, TARGETS_SCHEMA})

# (kind, nullable). A kind is a type name checked by _conforms, or a tuple of allowed values.
# schema and schema_version are checked before these, since they decide how to read the rest.
REQUIRED: dict[str, tuple[Any, bool]] = {
    "backend": ("str", False),
    "model": ("str", False),
    "device": ("str", False),
    "mode": ("str", False),
    "status": (("ok", "failed"), False),
    "data_source": (("real", "synthetic"), False),
}
# A successful run without a throughput is not a measurement, so these are required for it.
REQUIRED_OK: dict[str, tuple[Any, bool]] = {
    "images_per_s": ("positive", False),
    "batch_size": ("int", False),
}
OPTIONAL: dict[str, tuple[Any, bool]] = {
    "error": ("object", True),
    "data_detail": ("str", True),
    "batch_size": ("int", True),
    "warmup_steps": ("int", True),
    "measured_steps": ("int", True),
    "seed": ("int", True),
    "images_per_s": ("positive", True),
    "throughput": ("object", True),
    "step_times_s": ("numbers", True),
    "first_step_s": ("number", True),
    "compile_s": ("number", True),
    "setup_s": ("number", True),
    "losses": ("object", True),
    "d_x": ("numbers", True),
    "d_g_z": ("numbers", True),
    "peak_memory_bytes": ("number", True),
    "memory_kind": ("str", True),
    "flops_per_iteration": ("number", True),
    "params": ("object", True),
    "samples_png": ("str", True),
    "env": ("object", True),
    "spec_hash": ("str", True),
    "started_at": ("str", True),
    "finished_at": ("str", True),
}
# A failed run never measured anything, so the absence of these keys is expected there.
MEASUREMENT_KEYS = frozenset(OPTIONAL) - {
    "error",
    "env",
    "data_detail",
    "batch_size",
    "seed",
    "started_at",
    "finished_at",
    "spec_hash",
}

# keys added to schema version 1 after its first files were written: their absence is no defect
ADDED_KEYS = frozenset({"compile_s"})

KIND_WORDS = {
    "int": "an integer",
    "str": "a string",
    "number": "a number",
    "positive": "a positive number",
    "numbers": "a list of numbers",
    "object": "an object",
    "list": "a list",
    "count": "a non-negative integer",
}


class _Document:
    """Key access, environment and hardware label of a validated result document."""

    doc: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.doc[key]

    @property
    def env(self) -> dict[str, Any]:
        return self.doc["env"] or {}

    @property
    def hardware(self) -> str:
        return hardware_of(self.doc["device"], self.env)


@dataclass
class Run(_Document):
    """One valid result file; `doc` holds every v1 key (None where the file had none)."""

    file: str
    doc: dict[str, Any]
    samples: Path | None = None
    run_set: str | None = None  # the run-set folder it came from; None for a flat results folder


@dataclass
class Trace:
    file: str
    backend: str
    model: str
    device: str
    mode: str
    d: list[float]
    g: list[float]
    env: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reproduction(_Document):
    """One valid reproduction.json; `doc` holds every v1 key (None where the file had none), with
    the nested lists checked and normalised (see parse_reproduction)."""

    file: str
    doc: dict[str, Any]
    grid: Path | None = None  # the last progress grid that could be read
    grid_name: str | None = None  # its entry in 'grids'
    gif: Path | None = None  # progress.gif beside the file, when there is a readable one


@dataclass
class Loaded:
    runs: list[Run]
    traces: list[Trace]
    warnings: list[str]
    files_seen: int
    reproductions: list[Reproduction] = field(default_factory=list)
    # Every valid run of every run set, older sets' included (`runs` holds only the latest per key),
    # and each set's manifest by folder name, oldest set first.
    history: list[Run] = field(default_factory=list)
    run_sets: dict[str, dict[str, Any]] = field(default_factory=dict)


class Rejected(Exception):
    """A file that cannot be used at all; the message is the warning shown to the user."""


def hardware_of(device: str, env: dict[str, Any]) -> str:
    """What a number was measured on: the GPU's name, or for the CPU the processor's name,
    because "cpu" alone would put two different machines' CPUs into one comparison."""
    if device == "cpu":
        return str(env.get("cpu") or "unknown CPU")
    return str(env.get("device_name") or device)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _conforms(value: Any, kind: Any) -> bool:
    if isinstance(kind, tuple):
        return value in kind
    if kind == "int":  # an int64: the tables hold counts as 64-bit integers
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if kind == "str":
        return isinstance(value, str)
    if kind == "number":
        return _is_number(value)
    if kind == "positive":
        return _is_number(value) and math.isfinite(value) and value > 0
    if kind == "numbers":
        # null stands for a NaN, which strict JSON writers cannot write.
        return isinstance(value, list) and all(v is None or _is_number(v) for v in value)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "count":
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
    raise AssertionError(kind)


def _kind_word(kind: Any, nullable: bool) -> str:
    word = ("one of " + ", ".join(map(repr, kind))) if isinstance(kind, tuple) else KIND_WORDS[kind]
    return word + (" or null" if nullable else "")


def _floats(values: list | None) -> list[float]:
    return [math.nan if v is None else float(v) for v in values or []]


def read_json(path: Path, rel: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Rejected(f"{rel}: cannot read: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(f"{rel}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(doc, dict):
        raise Rejected(f"{rel}: top level is a {type(doc).__name__}, not an object")
    return doc


def _check_version(doc: dict[str, Any], rel: str, schema: str) -> None:
    if "schema_version" not in doc:
        raise Rejected(f"{rel}: missing required key 'schema_version'")
    version = doc["schema_version"]
    if version != SUPPORTED_VERSION or isinstance(version, bool):
        raise Rejected(
            f"{rel}: schema_version {_short(version)} is not supported "
            f"(this report reads {schema} version {SUPPORTED_VERSION})"
        )


def parse_result(doc: dict[str, Any], rel: str, warnings: list[str]) -> dict[str, Any]:
    """The checked, normalised document of a result file, or Rejected."""
    _check_version(doc, rel, RESULT_SCHEMA)
    required = dict(REQUIRED)
    if doc.get("status") == "ok":
        required.update(REQUIRED_OK)
    else:
        # A run that failed before its data was loaded (missing dataset, a worker that died or
        # timed out) has no data source: exactly the failures the report must show.
        required["data_source"] = (REQUIRED["data_source"][0], True)
    _check_required(doc, required, rel)
    failed = doc["status"] == "failed"
    # A failed run measured nothing, and a successful one has no error to record.
    may_lack = (MEASUREMENT_KEYS if failed else {"error"}) | ADDED_KEYS
    out = _checked_optional(doc, {k: v for k, v in OPTIONAL.items() if k not in required}, may_lack, rel, warnings)
    if out["data_source"] is None:
        out["data_source"] = NO_DATA
    _normalise_nested(out, rel, warnings)
    if failed and not out["error"]:
        warnings.append(f"{rel}: failed run records no error; shown as 'no error recorded'")
    return out


def _check_required(doc: dict[str, Any], required: dict[str, tuple[Any, bool]], rel: str) -> None:
    for key, (kind, nullable) in required.items():
        if key not in doc:
            raise Rejected(f"{rel}: missing required key '{key}'")
        value = doc[key]
        if not (value is None and nullable) and not _conforms(value, kind):
            raise Rejected(f"{rel}: key '{key}' must be {_kind_word(kind, nullable)}, got {_short(value)}")


def _checked_optional(
    doc: dict[str, Any], optional: dict[str, tuple[Any, bool]], may_lack, rel: str, warnings: list[str]
) -> dict[str, Any]:
    """A copy of `doc` with every optional key present: a missing or malformed one becomes None
    with a warning (none for keys in `may_lack`)."""
    out = dict(doc)
    missing = []
    for key, (kind, nullable) in optional.items():
        if key not in doc:
            if key not in may_lack:
                missing.append(key)
            out[key] = None
            continue
        value = doc[key]
        if not (value is None and nullable) and not _conforms(value, kind):
            warnings.append(
                f"{rel}: optional key '{key}' must be {_kind_word(kind, nullable)}, got {_short(value)}; shown as n/a"
            )
            out[key] = None
    if missing:
        # One line per file: a file from an older harness may lack many keys at once.
        names = ", ".join(f"'{k}'" for k in missing)
        warnings.insert(0, f"{rel}: optional key{'s' if len(missing) > 1 else ''} {names} missing; shown as n/a")
    return out


def _normalise_nested(out: dict[str, Any], rel: str, warnings: list[str]) -> None:
    losses = out.get("losses")
    if losses is not None:
        bad = [k for k in ("d", "g") if not _conforms(losses.get(k), "numbers")]
        if bad:
            warnings.append(
                f"{rel}: key 'losses' must hold lists 'd' and 'g' of numbers "
                f"(bad: {', '.join(bad)}); loss curves shown as n/a"
            )
            out["losses"] = None
        else:
            out["losses"] = {"d": _floats(losses["d"]), "g": _floats(losses["g"])}
    for key in ("d_x", "d_g_z"):
        out[key] = _floats(out[key]) if out[key] is not None else None
    if out["step_times_s"] is not None:
        times = _floats(out["step_times_s"])
        good = [t for t in times if math.isfinite(t) and t > 0]
        if len(good) != len(times):
            warnings.append(
                f"{rel}: {len(times) - len(good)} step time(s) not positive numbers; "
                "left out of the step-time statistics"
            )
        out["step_times_s"] = good
    tp = out.get("throughput")
    if tp is not None:
        out["throughput"] = {k: float(v) for k, v in tp.items() if _is_number(v)}
    err = out.get("error")
    if err is not None:
        out["error"] = {k: ("" if err.get(k) is None else str(err.get(k))) for k in ("type", "message", "traceback")}


def parse_trace(doc: dict[str, Any], rel: str) -> Trace:
    _check_version(doc, rel, TRACE_SCHEMA)
    for key in ("backend", "model", "device", "losses"):
        if key not in doc:
            raise Rejected(f"{rel}: missing required key '{key}'")
    for key in ("backend", "model", "device"):
        if not isinstance(doc[key], str):
            raise Rejected(f"{rel}: key '{key}' must be a string, got {_short(doc[key])}")
    losses = doc["losses"]
    if not (isinstance(losses, dict) and all(_conforms(losses.get(k), "numbers") for k in ("d", "g"))):
        raise Rejected(f"{rel}: key 'losses' must be an object with lists 'd' and 'g' of numbers")
    env = doc.get("env") if isinstance(doc.get("env"), dict) else {}
    return Trace(
        rel,
        doc["backend"],
        doc["model"],
        doc["device"],
        str(doc.get("mode") or "eager"),
        _floats(losses["d"]),
        _floats(losses["g"]),
        env,
    )


def _image_at(base: Path, name: str, root: Path) -> tuple[Path | None, str | None]:
    """`name` (relative to `base`) as a readable image inside `root`, or why it is not one."""
    where = (base / name).resolve()
    if not where.is_relative_to(root):
        return None, "points outside the results folder"
    if not where.is_file():
        return None, "not found"
    try:
        with Image.open(where) as img:
            img.verify()
    except Exception as exc:  # Pillow raises many types for a broken file
        return None, f"not a readable image ({type(exc).__name__}: {exc})"
    return where, None


def _samples(run: Run, path: Path, root: Path, warnings: list[str]) -> Path | None:
    name = run["samples_png"]
    if not name:
        return None
    where, problem = _image_at(path.parent, name, root)
    if problem:
        warnings.append(f"{run.file}: samples_png {_short(name)} {problem}; no samples shown")
    return where


# --- reproductions -----------------------------------------------------------------------------------
REPRO_STATUSES = ("running", "completed", "diverged", "collapsed", "failed")
REPRO_STOPPED = frozenset({"diverged", "collapsed", "failed"})  # ended early, with an error
REPRO_REQUIRED: dict[str, tuple[Any, bool]] = {
    "model": ("str", False),
    "backend": ("str", False),
    "device": ("str", False),
    "status": (REPRO_STATUSES, False),
    "epochs_planned": ("count", False),
    "epochs_done": ("count", False),
}
REPRO_OPTIONAL: dict[str, tuple[Any, bool]] = {
    "mode": ("str", True),
    "error": ("object", True),
    "iterations_per_epoch": ("count", True),
    "batch_size": ("int", True),
    "seed": ("int", True),
    "subset": ("count", True),
    "data_source": ("str", True),
    "data_detail": ("str", True),
    "losses": ("object", True),
    "epoch_losses": ("list", True),
    "metrics": ("list", True),
    "published": ("object", True),
    "grids": ("list", True),
    "checkpoint": ("str", True),
    "spec_hash": ("str", True),
    "env": ("object", True),
    "started_at": ("str", True),
    "finished_at": ("str", True),
    "seconds": ("number", True),
}
# Per-epoch metric keys: (key in the file, key in the normalised entry, kind).
METRIC_KEYS = (
    ("frechet_mnist", "frechet", "number"),
    ("classes_covered", "covered", "count"),
    ("sample_pixel_std", "pixel_std", "number"),
    ("samples", "samples", "count"),
)


def _finite_or_none(value: Any) -> float | None:
    return float(value) if _is_number(value) and math.isfinite(value) else None


def _epoch_loss(e: dict[str, Any]) -> dict[str, Any] | None:
    if not (_conforms(e.get("epoch"), "count") and _is_number(e.get("d")) and _is_number(e.get("g"))):
        return None
    if any(e.get(k) is not None and not _is_number(e.get(k)) for k in ("last_d", "last_g")):
        return None
    return {
        "epoch": e["epoch"],
        "d": float(e["d"]),
        "g": float(e["g"]),
        "last_d": _finite_or_none(e.get("last_d")),
        "last_g": _finite_or_none(e.get("last_g")),
    }


def _metric(m: dict[str, Any]) -> dict[str, Any] | None:
    """One epoch's metrics flattened, or None when any key present is of the wrong kind."""
    if not _conforms(m.get("epoch"), "count"):
        return None
    out: dict[str, Any] = {"epoch": m["epoch"], "swd": None, "swd_levels": None}
    swd = m.get("swd")
    if swd is not None:
        if not (isinstance(swd, dict) and (swd.get("mean") is None or _is_number(swd.get("mean")))):
            return None
        out["swd"] = _finite_or_none(swd.get("mean"))
        if _conforms(swd.get("levels"), "numbers"):
            out["swd_levels"] = _floats(swd["levels"])
    for key, name, kind in METRIC_KEYS:
        value = m.get(key)
        if value is not None and not _conforms(value, kind):
            return None
        out[name] = _finite_or_none(value) if kind == "number" else value
    hist = m.get("class_histogram")
    if hist is not None and not (isinstance(hist, list) and hist and all(_conforms(v, "count") for v in hist)):
        return None
    out["histogram"] = hist
    return out


def _range(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value) and value[0] <= value[1]


def _published(p: dict[str, Any]) -> dict[str, Any] | None:
    if not (_conforms(p.get("from_epoch"), "count") and _range(p.get("loss_d")) and _range(p.get("loss_g"))):
        return None
    first = p.get("first_step")
    if first is not None and not (
        isinstance(first, dict) and all(_is_number(first.get(k)) for k in ("loss_d", "loss_g"))
    ):
        return None
    return {
        "source": None if p.get("source") is None else str(p["source"]),
        "from_epoch": p["from_epoch"],
        "loss_d": [float(v) for v in p["loss_d"]],
        "loss_g": [float(v) for v in p["loss_g"]],
        "first_step": None if first is None else {k: float(first[k]) for k in ("loss_d", "loss_g")},
    }


def _entries(out: dict[str, Any], key: str, parse, rel: str, warnings: list[str]) -> None:
    values = out[key]
    if values is None:
        return
    good = [item for item in (parse(v) if isinstance(v, dict) else None for v in values) if item is not None]
    if len(good) != len(values):
        bad = len(values) - len(good)
        warnings.append(f"{rel}: {bad} of {len(values)} entries of '{key}' malformed; left out")
    out[key] = sorted(good, key=lambda item: item["epoch"])


def _normalise_reproduction(out: dict[str, Any], rel: str, warnings: list[str]) -> None:
    err = out["error"]
    if err is not None:
        out["error"] = {k: ("" if err.get(k) is None else str(err.get(k))) for k in ("type", "message")}
    losses = out["losses"]
    if losses is not None:
        bad = [k for k in ("d", "g") if not _conforms(losses.get(k), "numbers")]
        if bad:
            warnings.append(
                f"{rel}: key 'losses' must hold lists 'd' and 'g' of numbers "
                f"(bad: {', '.join(bad)}); per-step losses shown as n/a"
            )
            out["losses"] = None
        else:
            d, g = _floats(losses["d"]), _floats(losses["g"])
            if len(d) != len(g):
                warnings.append(
                    f"{rel}: 'losses' has {len(d)} D and {len(g)} G values; "
                    f"the first {min(len(d), len(g))} steps are shown"
                )
                d, g = d[: len(g)], g[: len(d)]
            out["losses"] = {"d": d, "g": g}
    _entries(out, "epoch_losses", _epoch_loss, rel, warnings)
    _entries(out, "metrics", _metric, rel, warnings)
    if out["published"] is not None:
        pub = _published(out["published"])
        if pub is None:
            warnings.append(
                f"{rel}: key 'published' must hold 'from_epoch', 'loss_d' [lo, hi], 'loss_g' "
                f"[lo, hi] and optionally 'first_step' {{loss_d, loss_g}}; no published comparison shown"
            )
        out["published"] = pub
    if out["grids"] is not None and not all(isinstance(g, str) for g in out["grids"]):
        warnings.append(f"{rel}: key 'grids' must be a list of file names; no progress grid shown")
        out["grids"] = None


def parse_reproduction(doc: dict[str, Any], rel: str, warnings: list[str]) -> dict[str, Any]:
    """The checked, normalised document of a reproduction.json, or Rejected."""
    _check_version(doc, rel, REPRO_SCHEMA)
    _check_required(doc, REPRO_REQUIRED, rel)
    out = _checked_optional(doc, REPRO_OPTIONAL, frozenset(), rel, warnings)
    _normalise_reproduction(out, rel, warnings)
    if out["status"] in REPRO_STOPPED and not (out["error"] and (out["error"]["type"] or out["error"]["message"])):
        warnings.append(f"{rel}: {out['status']} run records no error; shown as 'no error recorded'")
    return out


def _reproduction_media(rep: Reproduction, path: Path, root: Path, warnings: list[str]) -> None:
    """The last readable progress grid (one warning when the last one is not), and progress.gif."""
    grids = rep["grids"] or []
    problem = None
    for name in reversed(grids):
        where, why = _image_at(path.parent, name, root)
        if where is not None:
            rep.grid, rep.grid_name = where, name
            break
        problem = problem or f"last progress grid {_short(grids[-1])} {why}"
    if problem:
        instead = f"showing {_short(rep.grid_name)} instead" if rep.grid else "no progress grid shown"
        warnings.append(f"{rep.file}: {problem}; {instead}")
    gif = path.parent / "progress.gif"
    if gif.is_file() or gif.is_symlink():
        where, why = _image_at(path.parent, "progress.gif", root)
        if where is not None:
            with Image.open(where) as img:
                why = None if img.format == "GIF" else f"is {img.format}, not a GIF"
        if why:
            warnings.append(f"{rep.file}: progress.gif beside it {why}; no animation shown")
        else:
            rep.gif = where


def _finished(run: Run) -> str:
    return str(run["finished_at"] or "")


def load_results(results_dir: Path) -> Loaded:
    """Read every *.json under `results_dir`; never raises for a bad file, only warns."""
    root = results_dir.resolve()
    warnings: list[str] = []
    runs: dict[tuple, Run] = {}
    traces: list[Trace] = []
    reproductions: list[Reproduction] = []
    files = sorted(p for p in root.rglob("*.json") if p.is_file() and LAUNCHER_LOGS not in p.relative_to(root).parts)
    # A folder of run sets: the newest set that has a key gives "the latest" run of it, silently; older
    # sets' runs are history, not duplicates. Files outside any set rank before every set.
    set_folders = run_sets(root)
    set_rank = {p.name: k for k, p in enumerate(set_folders)}
    history: list[Run] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        try:
            doc = read_json(path, rel)
            schema = doc.get("schema")
            if schema == TRACE_SCHEMA:
                traces.append(parse_trace(doc, rel))
                continue
            if schema == REPRO_SCHEMA:
                file_warnings = []
                rep = Reproduction(rel, parse_reproduction(doc, rel, file_warnings))
                warnings.extend(file_warnings)
                _reproduction_media(rep, path, root, warnings)
                reproductions.append(rep)
                continue
            if schema != RESULT_SCHEMA:
                if schema in OTHER_KNOWN_SCHEMAS:
                    continue
                what = "no 'schema' key" if "schema" not in doc else f"schema {_short(schema)}"
                warnings.append(f"{rel}: not a ganbench result ({what}); skipped")
                continue
            file_warnings: list[str] = []
            run = Run(rel, parse_result(doc, rel, file_warnings))
            warnings.extend(file_warnings)
        except Rejected as exc:
            warnings.append(str(exc))
            continue
        except Exception as exc:  # whatever a crafted file holds, the other files are still read
            warnings.append(f"{rel}: cannot be used ({type(exc).__name__}: {_short(str(exc))}); skipped")
            continue
        try:
            run.samples = _samples(run, path, root, warnings)
        except Exception as exc:  # e.g. a NUL byte in samples_png
            warnings.append(
                f"{rel}: samples_png {_short(run['samples_png'])} cannot be used "
                f"({type(exc).__name__}: {exc}); no samples shown"
            )
            run.samples = None
        top = Path(rel).parts[0]
        run.run_set = top if top in set_rank and len(Path(rel).parts) > 1 else None
        history.append(run)
        # The batch is part of what ran: a batch sweep's runs are distinct runs, not duplicates; and
        # status is too: a failed re-run written beside an ok result (KEY.failed.json) is shown next
        # to it, not dropped as a duplicate.
        key = (
            run["backend"],
            run["model"],
            run["device"],
            run["mode"],
            run.hardware,
            run["data_source"],
            run["batch_size"],
            run["status"],
        )
        key += _dp_key(run.doc)  # a data-parallel run is not a duplicate of the one-replica run
        rank = set_rank.get(run.run_set, -1)
        if key in runs and set_rank.get(runs[key].run_set, -1) != rank:
            if set_rank.get(runs[key].run_set, -1) < rank:
                runs[key] = run
            continue
        if key in runs:
            older, newer = sorted([runs[key], run], key=_finished)
            warnings.append(
                f"{older.file}: same (backend, model, device, mode), data source and status on "
                f"{run.hardware} as {newer.file}; kept the one finished later ({newer.file})"
            )
            run = newer
        runs[key] = run
    return Loaded(
        list(runs.values()),
        traces,
        warnings,
        len(files),
        reproductions,
        history,
        {p.name: read_manifest(p) for p in set_folders},
    )


def _dp_key(doc: dict[str, Any]) -> tuple:
    from .scaling import dp_key

    return dp_key(doc)
