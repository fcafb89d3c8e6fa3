"""`python -m benchmarks compare BASE NEW` and `python -m benchmarks export RESULTS`.

compare: per (backend, model, device, mode, batch) found in both run sets, the change of images/s
(NEW / BASE - 1) with the report's 95 % bootstrap interval over both runs' step times
(reports.stats.speed_ratio; the tests check it against scipy.stats.bootstrap), and a verdict:
"faster" or "slower" when the interval excludes no change, else "not told apart". Runs measured on
different hardware or data sources are never compared; their row says why. `--fail-above 5%` exits 1
when some run is "slower" by more than 5 % (point estimate), for CI.

export: every run set as a pytest-benchmark JSON file (so `pytest-benchmark compare` and its
histogram read ganbench results), or one CSV of every run of every set with commit, versions and
date on each row; text that a spreadsheet could execute is neutralised.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common.results import (
    csv_safe,
    hardware_of,
    read_manifest,
    resolve_run_set,
    run_key,
    run_sets,
    set_results,
    write_json_atomic,
)
from common.stability import stability_warnings

KEY = ("backend", "model", "device", "mode", "batch_size")
VERDICTS = ("faster", "slower", "not told apart", "not compared")


@dataclass
class Row:
    backend: str
    model: str
    device: str
    mode: str
    batch_size: int | None
    base_ips: float | None = None
    new_ips: float | None = None
    change: float | None = None  # NEW / BASE - 1
    change_lo: float | None = None
    change_hi: float | None = None
    verdict: str = "not compared"
    # a side failed the stability guard: the interval covers the noise within each run, not a machine that
    # was busier during one run than the other, so such a verdict is shown as "(noisy)"
    noisy: bool = False
    notes: list[str] = field(default_factory=list)


def _ok(doc: dict) -> bool:
    return doc.get("status") == "ok" and bool(doc.get("images_per_s"))


def compare_docs(base: list[dict], new: list[dict]) -> list[Row]:
    """One row per key on either side; a verdict only where both sides ran on the same hardware and
    data source."""
    from reports.stats import speed_ratio  # the report's bootstrap, so compare and the report agree

    def index(docs):
        return {tuple(d.get(k) for k in KEY): d for d in docs}

    b_idx, n_idx = index(base), index(new)
    rows = []
    for key in sorted(set(b_idx) | set(n_idx), key=lambda k: tuple(str(v) for v in k)):
        b, n = b_idx.get(key), n_idx.get(key)
        row = Row(*key)
        if b is not None and _ok(b):
            row.base_ips = float(b["images_per_s"])
        if n is not None and _ok(n):
            row.new_ips = float(n["images_per_s"])
        if b is None or n is None:
            row.notes.append("only in " + ("NEW" if b is None else "BASE"))
        elif not (_ok(b) and _ok(n)):
            row.notes.append("failed in " + " and ".join(s for s, d in (("BASE", b), ("NEW", n)) if not _ok(d)))
        elif hardware_of(b) != hardware_of(n):
            row.notes.append(f"different hardware ({hardware_of(b)} vs {hardware_of(n)}): not compared")
        elif b.get("data_source") != n.get("data_source"):
            row.notes.append(f"different data source ({b.get('data_source')} vs {n.get('data_source')}): not compared")
        else:
            r = speed_ratio(
                n["images_per_s"],
                n.get("step_times_s"),
                n.get("batch_size"),
                b["images_per_s"],
                b.get("step_times_s"),
                b.get("batch_size"),
            )
            row.change = r.value - 1
            if r.lo is None:
                row.verdict = "not told apart"
                row.notes.append("too few step times for an interval")
            else:
                row.change_lo, row.change_hi = r.lo - 1, r.hi - 1
                row.verdict = ("faster" if r.lo > 1 else "slower") if r.resolved else "not told apart"
            if b.get("spec_hash") and n.get("spec_hash") and b["spec_hash"] != n["spec_hash"]:
                row.notes.append("the model's spec changed")
            for side, d in (("BASE", b), ("NEW", n)):
                for why in stability_warnings(d):
                    row.noisy = True
                    row.notes.append(f"{side} noisy: {why}")
        rows.append(row)
    return rows


def regressions(rows: list[Row], threshold: float) -> list[Row]:
    """Rows told apart as slower whose slowdown (point estimate) exceeds `threshold` (0.05 = 5 %)."""
    return [r for r in rows if r.verdict == "slower" and r.change is not None and -r.change > threshold]


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:+.1f}%"


def _ips(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.1f}"


def _cells(r: Row) -> list[str]:
    interval = f"[{_pct(r.change_lo)}, {_pct(r.change_hi)}]" if r.change_lo is not None else ""
    return [
        r.backend,
        r.model,
        r.device,
        str(r.mode),
        str(r.batch_size),
        _ips(r.base_ips),
        _ips(r.new_ips),
        f"{_pct(r.change)} {interval}".strip() if r.change is not None else "n/a",
        r.verdict + (" (noisy)" if r.noisy else ""),
        "; ".join(r.notes),
    ]


HEAD = [
    "backend",
    "model",
    "device",
    "mode",
    "batch",
    "BASE images/s",
    "NEW images/s",
    "change [95% CI]",
    "verdict",
    "notes",
]


def render(rows: list[Row], fmt: str, base: Path, new: Path, threshold: float | None) -> str:
    if fmt == "json":
        return json.dumps(
            {
                "base": str(base),
                "new": str(new),
                "fail_above": threshold,
                "regressions": len(regressions(rows, threshold)) if threshold is not None else None,
                "rows": [asdict(r) for r in rows],
            },
            indent=1,
        )
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        names = list(asdict(rows[0]) if rows else Row("", "", "", "", None).__dict__)
        w.writerow(names)
        for r in rows:
            d = asdict(r)
            d["notes"] = "; ".join(d["notes"])
            w.writerow([csv_safe(d[k]) for k in names])
        return buf.getvalue()
    table = [_cells(r) for r in rows]
    if fmt == "markdown":
        esc = [[c.replace("|", "\\|") for c in row] for row in table]
        lines = [
            f"**ganbench compare** `{base.name}` → `{new.name}`",
            "",
            "| " + " | ".join(HEAD) + " |",
            "|" + "---|" * len(HEAD),
        ]
        lines += ["| " + " | ".join(row) + " |" for row in esc]
        return "\n".join(lines)
    widths = [max(len(x[i]) for x in [HEAD] + table) for i in range(len(HEAD))]
    out = [f"BASE {base}", f"NEW  {new}", ""]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [HEAD] + table]
    return "\n".join(out)


def add_compare_parser(sub, fraction) -> None:
    c = sub.add_parser("compare", help="change of images/s between two run sets, with a verdict per run")
    c.add_argument("base", type=Path, help="a run-set folder, or a results folder (its latest set)")
    c.add_argument("new", type=Path, help="a run-set folder, or a results folder (its latest set)")
    c.add_argument(
        "--fail-above",
        type=fraction,
        metavar="P",
        help="exit 1 when a run is told apart as slower by more than P (5%% or 0.05)",
    )
    c.add_argument("--format", default="table", choices=["table", "markdown", "csv", "json"])


def add_export_parser(sub) -> None:
    e = sub.add_parser("export", help="run sets as pytest-benchmark JSON files, or every run as one CSV")
    e.add_argument("results", type=Path, help="a results folder (every set in it) or one run-set folder")
    e.add_argument("--format", default="pytest-benchmark", choices=["pytest-benchmark", "csv"])
    e.add_argument(
        "--out",
        "-o",
        type=Path,
        required=True,
        help="pytest-benchmark: a folder, one JSON per run set; csv: the file to write",
    )


def cmd_compare(a) -> int:
    try:
        base, new = resolve_run_set(a.base), resolve_run_set(a.new)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if base.resolve() == new.resolve():
        print(f"note: BASE and NEW are the same run set ({base})", file=sys.stderr)
    rows = compare_docs(set_results(base), set_results(new))
    print(render(rows, a.format, base, new, a.fail_above))
    told = [r for r in rows if r.verdict != "not compared"]
    if not told:
        print("note: no run was compared (nothing in common on the same hardware and data source)", file=sys.stderr)
    if a.fail_above is not None:
        bad = regressions(rows, a.fail_above)
        for r in bad:
            print(
                f"REGRESSION: {r.backend} {r.model} {r.device}/{r.mode} batch {r.batch_size}: {_pct(r.change)} "
                f"[{_pct(r.change_lo)}, {_pct(r.change_hi)}] (threshold -{100 * a.fail_above:g}%)"
                + (" — measured on a noisy machine, re-run to confirm" if r.noisy else ""),
                file=sys.stderr,
            )
        if bad:
            return 1
    return 0


# --- export ------------------------------------------------------------------------------------------


def _sets_of(results: Path) -> list[Path]:
    results = Path(results)
    if (results / "manifest.json").is_file():
        return [results]
    return run_sets(results) or ([results] if any(results.glob("*.json")) else [])


def pytest_benchmark_doc(folder: Path) -> dict:
    """One run set in pytest-benchmark's JSON layout: a benchmark per successful run, its rounds being
    the measured step times (one iteration per round), its stats computed by pytest-benchmark itself."""
    from pytest_benchmark import __version__ as pb_version
    from pytest_benchmark.stats import Stats

    manifest = read_manifest(folder)
    machine = manifest.get("machine") or {}
    benches = []
    docs = set_results(folder)
    for doc in docs:
        times = doc.get("step_times_s") or []
        if doc.get("status") != "ok" or not times:
            continue
        st = Stats()
        for t in times:
            st.update(float(t))
        stats = st.as_dict()
        stats.update(iterations=1, data=[float(t) for t in times])
        name = run_key(doc["backend"], doc["model"], doc["device"], doc["mode"])
        env = doc.get("env") or {}
        benches.append(
            {
                "group": f"{doc['model']} {doc['device']} batch {doc.get('batch_size')}",
                "name": name,
                "fullname": f"ganbench::{name}",
                "params": {"backend": doc["backend"], "mode": doc["mode"], "batch_size": doc.get("batch_size")},
                "param": f"{doc['backend']}-{doc['mode']}",
                "extra_info": {
                    "images_per_s_median": doc.get("images_per_s"),
                    "batch_size": doc.get("batch_size"),
                    "data_source": doc.get("data_source"),
                    "hardware": hardware_of(doc),
                    "framework": env.get("framework"),
                    "framework_version": env.get("framework_version"),
                    "stability_warnings": stability_warnings(doc),
                    "stop_rule": (doc.get("calibration") or {}).get("stop_rule"),
                },
                "options": {
                    "disable_gc": False,
                    "timer": "perf_counter",
                    "min_rounds": doc.get("measured_steps"),
                    "max_time": None,
                    "min_time": None,
                    "warmup": doc.get("warmup_steps"),
                },
                "stats": stats,
            }
        )
    first = docs[0] if docs else {}
    env = first.get("env") or {}
    commit = str(manifest.get("git_commit") or env.get("git_commit") or "")
    return {
        "machine_info": {
            "node": machine.get("hostname") or env.get("hostname"),
            "processor": machine.get("cpu") or env.get("cpu"),
            "machine": env.get("platform"),
            "python_implementation": "CPython",
            "python_version": machine.get("python") or env.get("python"),
            "system": machine.get("platform") or env.get("platform"),
            "cpu": {
                "brand_raw": machine.get("cpu") or env.get("cpu"),
                "count": machine.get("cpu_count") or env.get("cpu_count"),
            },
            "ganbench_frameworks": manifest.get("frameworks"),
        },
        "commit_info": {
            "id": commit.removesuffix("-dirty"),
            "dirty": commit.endswith("-dirty"),
            "project": "ganbench",
            "branch": None,
            "time": None,
        },
        "benchmarks": benches,
        "datetime": manifest.get("created_at") or first.get("started_at"),
        "version": pb_version,
    }


CSV_COLUMNS = [
    "run_set",
    "set_created_at",
    "git_commit",
    "command",
    "backend",
    "framework",
    "framework_version",
    "model",
    "device",
    "hardware",
    "mode",
    "batch_size",
    "data_source",
    "status",
    "images_per_s",
    "median_lo",
    "median_hi",
    "jitter_pct",
    "measured_steps",
    "stop_rule",
    "python",
    "numpy",
    "hostname",
    "started_at",
    "stability_warnings",
    "error",
]


def history_rows(results: Path) -> list[dict]:
    """Every run of every set, oldest set first, with the set's commit, versions and date on each row."""
    rows = []
    for folder in _sets_of(results):
        manifest = read_manifest(folder)
        for doc in set_results(folder):
            env, tp = doc.get("env") or {}, doc.get("throughput") or {}
            ips = doc.get("images_per_s")
            err = doc.get("error") or {}
            rows.append(
                {
                    "run_set": folder.name,
                    "set_created_at": manifest.get("created_at"),
                    "git_commit": manifest.get("git_commit") or env.get("git_commit"),
                    "command": " ".join(map(str, manifest.get("command") or [])) or None,
                    "backend": doc.get("backend"),
                    "framework": env.get("framework"),
                    "framework_version": env.get("framework_version"),
                    "model": doc.get("model"),
                    "device": doc.get("device"),
                    "hardware": hardware_of(doc),
                    "mode": doc.get("mode"),
                    "batch_size": doc.get("batch_size"),
                    "data_source": doc.get("data_source"),
                    "status": doc.get("status"),
                    "images_per_s": ips,
                    "median_lo": tp.get("median_lo"),
                    "median_hi": tp.get("median_hi"),
                    "jitter_pct": 100 * tp["mad_jitter"] / ips if ips and tp.get("mad_jitter") is not None else None,
                    "measured_steps": len(doc.get("step_times_s") or []),
                    "stop_rule": (doc.get("calibration") or {}).get("stop_rule"),
                    "python": env.get("python"),
                    "numpy": env.get("numpy"),
                    "hostname": env.get("hostname"),
                    "started_at": doc.get("started_at"),
                    "stability_warnings": "; ".join(stability_warnings(doc)),
                    "error": f"{err.get('type')}: {err.get('message')}" if err else None,
                }
            )
    return rows


def write_history_csv(results: Path, path: Path) -> int:
    rows = history_rows(results)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(["" if r[k] is None else csv_safe(r[k]) for k in CSV_COLUMNS])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)  # atomic, as every result file
    return len(rows)


def cmd_export(a) -> int:
    sets = _sets_of(a.results)
    if not sets:
        print(f"error: {a.results} holds no run set and no result file", file=sys.stderr)
        return 2
    if a.format == "csv":
        n = write_history_csv(a.results, a.out)
        print(f"{n} run(s) from {len(sets)} run set(s) -> {a.out}")
        return 0
    try:
        import pytest_benchmark  # noqa: F401
    except ImportError:
        print(
            "error: the pytest-benchmark export uses pytest-benchmark's own statistics; `pip install pytest-benchmark`",
            file=sys.stderr,
        )
        return 2
    for k, folder in enumerate(sets, 1):
        # pytest-benchmark lists saved runs by a numeric prefix; keep the sets' time order
        path = write_json_atomic(Path(a.out) / f"{k:04d}_{folder.name}.json", pytest_benchmark_doc(folder))
        print(path)
    return 0
