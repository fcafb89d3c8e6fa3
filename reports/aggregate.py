"""The report's tables, computed with pandas from the loaded runs and traces.

Comparisons are made only within a *setting*: the same model, device kind, hardware (GPU or
CPU name) and data source. A speed-up compares a run with the baseline backend's fastest
successful run (any mode) in the same setting at the same batch size; synthetic-data runs are thus compared only
with synthetic-data baseline runs, and a setting without a baseline run has no speed-up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from common.models import MODELS
from common.stability import stability_warnings
from common.throughput import throughput_stats

from .load import Run, Trace
from .peaks import mfu, peak_for, peak_tflops
from .stats import Pair, geomean_ratio, speed_ratio

SETTING = ["device", "hardware", "data_source", "model"]
SPEED_KEY = SETTING + ["batch_size"]
# the tutorials' order (common/models.py); a model the suite does not know sorts after them by name
KNOWN_MODELS = tuple(MODELS)
# Final losses are means over this many last iterations: one iteration of a GAN is too noisy
# to say whether two backends ended in the same place.
FINAL_WINDOW = 10
# |Δ|/|ref| divides by at least this, so a reference loss of exactly 0 gives a finite number.
PARITY_EPS = 1e-12

COLUMNS = [
    "device",
    "hardware",
    "data_source",
    "model",
    "backend",
    "mode",
    "status",
    "images_per_s",
    "ips_p10",
    "ips_p90",
    "jitter_pct",
    "steps",
    "batch_size",
    "speedup",
    "speedup_lo",
    "speedup_hi",
    "speedup_vs",
    "is_reference",
    "first_step_s",
    "compile_s",
    "setup_s",
    "peak_memory_bytes",
    "memory_kind",
    "flops_per_iteration",
    "mfu_pct",
    "mfu_peak",
    "machine",
    "error_type",
    "error_message",
    "file",
    "run_set",
    "stability",
    "framework_version",
    "git_commit",
    "finished_at",
]
COUNTS = ["steps", "batch_size"]
NUMERIC = [
    "images_per_s",
    "ips_p10",
    "ips_p90",
    "jitter_pct",
    "speedup",
    "speedup_lo",
    "speedup_hi",
    "first_step_s",
    "compile_s",
    "setup_s",
    "peak_memory_bytes",
    "flops_per_iteration",
    "mfu_pct",
]


def _model_order(model: str) -> tuple[int, str]:
    return (KNOWN_MODELS.index(model) if model in KNOWN_MODELS else len(KNOWN_MODELS), model)


def _spread(run: Run) -> tuple[float | None, float | None, float | None]:
    """p10 and p90 of throughput, and the MAD jitter as % of the median."""
    tp = run["throughput"] or {}
    p10, p90, jitter = tp.get("p10"), tp.get("p90"), tp.get("mad_jitter")
    times, batch = run["step_times_s"], run["batch_size"]
    if times and batch and (p10 is None or p90 is None or jitter is None):
        computed = throughput_stats(times, batch) or {}  # an older result without them: as the harness does
        p10 = computed["p10"] if p10 is None else p10
        p90 = computed["p90"] if p90 is None else p90
        jitter = computed["mad_jitter"] if jitter is None else jitter
    median = run["images_per_s"]
    jitter_pct = 100 * jitter / median if jitter is not None and median else None
    return p10, p90, jitter_pct


def _row(run: Run) -> dict[str, Any]:
    row = _measure_row(run)
    # the stability guard's reasons not to trust this row's throughput ("" when none), and its run set
    row["stability"] = "; ".join(stability_warnings(run.doc))
    row["run_set"] = run.run_set
    # what a row needs to stand alone in a spreadsheet: which build, which code, when
    row["framework_version"] = run.env.get("framework_version")
    row["git_commit"] = run.env.get("git_commit")
    row["finished_at"] = run.doc.get("finished_at") or run.env.get("date")
    return row


def _measure_row(run: Run) -> dict[str, Any]:
    p10, p90, jitter_pct = _spread(run)
    ips, batch = run["images_per_s"], run["batch_size"]
    peak = peak_for(run["device"], run.env.get("device_name"))
    its = ips / batch if ips and batch else None
    precision = run.env.get("precision") or "fp32"
    util = mfu(run["flops_per_iteration"], its, peak, precision)
    err = run["error"] or {}
    return {
        "device": run["device"],
        "hardware": run.hardware,
        "data_source": run["data_source"],
        "model": run["model"],
        "backend": run["backend"],
        "mode": run["mode"],
        "status": run["status"],
        "images_per_s": ips,
        "ips_p10": p10,
        "ips_p90": p90,
        "jitter_pct": jitter_pct,
        "steps": len(run["step_times_s"] or []) or None,
        "batch_size": batch,
        "first_step_s": run["first_step_s"],
        "compile_s": run["compile_s"],
        "setup_s": run["setup_s"],
        "peak_memory_bytes": run["peak_memory_bytes"],
        "memory_kind": run["memory_kind"],
        "flops_per_iteration": run["flops_per_iteration"],
        "mfu_pct": 100 * util if util is not None else None,
        "mfu_peak": f"{peak.name} {precision} {peak_tflops(peak, precision):g} TFLOP/s" if peak else None,
        "machine": run.env.get("hostname"),
        "error_type": err.get("type") if run["status"] == "failed" else None,
        "error_message": (err.get("message") or "no error recorded") if run["status"] == "failed" else None,
        "file": run.file,
    }


def summary_frame(runs: list[Run], baseline: str) -> pd.DataFrame:
    """One row per run with speed-ups against the baseline; index = position in `runs`."""
    if not runs:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame([_row(r) for r in runs])
    ok = df["status"] == "ok"
    # A speed-up compares runs at the same batch size: a batch sweep's runs are not rivals.
    refs = df[ok & (df["backend"] == baseline)].sort_values("images_per_s").groupby(SPEED_KEY).tail(1)
    ref_of = {tuple(row[c] for c in SPEED_KEY): idx for idx, row in refs.iterrows()}
    speed: dict[int, tuple] = {}
    for idx, row in df[ok].iterrows():
        ref = ref_of.get(tuple(row[c] for c in SPEED_KEY))
        if ref is None:
            continue
        label = f"{baseline} {df.at[ref, 'mode']}"
        if ref == idx:
            speed[idx] = (1.0, 1.0, 1.0, label, True)
            continue
        a, b = runs[idx], runs[ref]
        r = speed_ratio(
            a["images_per_s"], a["step_times_s"], a["batch_size"], b["images_per_s"], b["step_times_s"], b["batch_size"]
        )
        speed[idx] = (r.value, r.lo, r.hi, label, False)
    cols = ["speedup", "speedup_lo", "speedup_hi", "speedup_vs", "is_reference"]
    df = df.join(pd.DataFrame.from_dict(speed, orient="index", columns=cols))
    df["is_reference"] = df["is_reference"].eq(True)
    # Missing numbers are NaN, not None, so the CSV and callers see float columns.
    for c in NUMERIC:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    for c in COUNTS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    return sort_rows(df)[COLUMNS]


def sort_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Settings in a fixed order (GPU first, real data first, the tutorials' order), and in a
    setting the fastest run first and failures last, so each block reads as a ranking."""
    key = pd.DataFrame(
        {
            "device": df["device"].map(lambda d: (d == "cpu", d)),
            "hardware": df["hardware"],
            "data": df["data_source"].map(lambda s: s != "real"),
            "model": df["model"].map(_model_order),
            # A batch sweep's runs: each batch size its own ranking, the tutorial's batch first.
            "batch": _batch_rank(df),
            "failed": df["status"] != "ok",
            "ips": -df["images_per_s"].fillna(0).astype(float),
            "backend": df["backend"],
            "mode": df["mode"],
        }
    )
    return df.loc[key.sort_values(list(key.columns)).index]


def setting_title(device: str, hardware: str, data_source: str) -> str:
    return f"{hardware} ({device}) · {data_source} data"


def headlines(df: pd.DataFrame, runs: list[Run], baseline: str) -> list[dict[str, Any]]:
    """Per setting and model: the fastest backend, its lead over the next one and the baseline."""
    out = []
    ok = df[df["status"] == "ok"]
    for keys, group in ok.groupby(SETTING, sort=False):
        device, hardware, data_source, model = keys
        group = group.sort_values("images_per_s", ascending=False)
        first = group.iloc[0]
        item = {
            "device": device,
            "hardware": hardware,
            "data_source": data_source,
            "model": model,
            "fastest": first["backend"],
            "fastest_mode": first["mode"],
            "ips": first["images_per_s"],
            "runner_up": None,
            "lead": None,
            "vs_baseline": first["speedup"],
            "vs_baseline_lo": first["speedup_lo"],
            "vs_baseline_hi": first["speedup_hi"],
            "baseline": baseline,
        }
        if len(group) > 1:
            second = group.iloc[1]
            a, b = runs[group.index[0]], runs[group.index[1]]
            r = speed_ratio(
                a["images_per_s"],
                a["step_times_s"],
                a["batch_size"],
                b["images_per_s"],
                b["step_times_s"],
                b["batch_size"],
            )
            item.update(
                runner_up=second["backend"],
                runner_up_mode=second["mode"],
                lead=r.value,
                lead_lo=r.lo,
                lead_hi=r.hi,
                lead_resolved=r.resolved,
            )
        out.append(item)
    return out


def _tail_mean(values: list[float] | None) -> float | None:
    if not values:
        return None
    tail = np.asarray(values[-FINAL_WINDOW:], dtype=float)
    return float(np.mean(tail))


def learning_frame(df: pd.DataFrame, runs: list[Run]) -> pd.DataFrame:
    """Per successful run: mean D and G loss, D(x) and D(G(z)) over the last iterations."""
    rows = []
    for idx in df.index[df["status"] == "ok"]:
        run = runs[idx]
        losses = run["losses"] or {}
        d, g = losses.get("d"), losses.get("g")
        rows.append(
            {
                **{c: df.at[idx, c] for c in SETTING + ["backend", "mode"]},
                "iterations": len(d) if d else None,
                "d_loss": _tail_mean(d),
                "g_loss": _tail_mean(g),
                "d_x": _tail_mean(run["d_x"]),
                "d_g_z": _tail_mean(run["d_g_z"]),
                "non_finite": any(not math.isfinite(v) for v in (d or []) + (g or [])),
            }
        )
    return pd.DataFrame(rows)


def parity(traces: list[Trace], baseline: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Per (model, device): each trace's max over D and G of |Δ|/|ref| against the baseline's
    trace, step by step. Returns the blocks and the notes on traces that could not be compared."""
    groups: dict[tuple[str, str], list[Trace]] = defaultdict(list)
    for t in traces:
        groups[(t.model, t.device)].append(t)
    blocks, notes = [], []
    for (model, device), items in sorted(groups.items(), key=lambda kv: (_model_order(kv[0][0]), kv[0][1])):
        refs = sorted((t for t in items if t.backend == baseline), key=lambda t: t.mode != "eager")
        if not refs:
            notes.append(f"parity: no {baseline} trace for {model} on {device}; {len(items)} trace(s) not compared")
            continue
        ref = refs[0]
        rows = []
        for t in sorted(items, key=lambda t: (t.backend, t.mode)):
            if t is ref:
                continue
            steps = min(len(t.d), len(t.g), len(ref.d), len(ref.g))
            rel = pd.DataFrame(
                {
                    k: np.abs(np.asarray(getattr(t, k)[:steps]) - np.asarray(getattr(ref, k)[:steps]))
                    / np.maximum(np.abs(np.asarray(getattr(ref, k)[:steps])), PARITY_EPS)
                    for k in ("d", "g")
                }
            )
            per_step = rel.max(axis=1, skipna=False).tolist()
            rows.append(
                {
                    "backend": t.backend,
                    "mode": t.mode,
                    "file": t.file,
                    "steps": steps,
                    "per_step": per_step,
                    "max": max(per_step) if per_step else None,
                    "short": steps < max(len(t.d), len(ref.d)),
                }
            )
        blocks.append(
            {
                "model": model,
                "device": device,
                "ref": ref,
                "rows": rows,
                "steps": max((r["steps"] for r in rows), default=0),
            }
        )
    return blocks, notes


ENV_FIELDS = [
    ("python", "Python"),
    ("platform", "Platform"),
    ("cpu", "CPU"),
    ("cpu_count", "CPU count"),
    ("threads", "Threads"),
    ("numpy", "NumPy"),
    ("device_name", "Accelerator"),
    ("cuda", "CUDA"),
    ("driver", "Driver"),
    ("git_commit", "Commit"),
    ("date", "Dates"),
]


def environments(runs: list[Run]) -> list[dict[str, Any]]:
    """Per machine (hostname): each environment field's distinct values and framework versions."""
    machines: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        machines[str(run.env.get("hostname") or "unknown machine")].append(run)
    out = []
    for host, items in sorted(machines.items()):
        fields = []
        for key, label in ENV_FIELDS:
            values = sorted({str(r.env[key]) for r in items if r.env.get(key) is not None})
            if key == "date" and len(values) > 2:
                values = [values[0], "…", values[-1]]
            fields.append((label, ", ".join(values) if values else "n/a"))
        frameworks: dict[str, set[str]] = defaultdict(set)
        for r in items:
            name = str(r.env.get("framework") or r["backend"])
            frameworks[name].add(str(r.env.get("framework_version") or "n/a"))
        out.append(
            {
                "host": host,
                "fields": fields,
                "runs": len(items),
                "frameworks": [(k, ", ".join(sorted(v))) for k, v in sorted(frameworks.items())],
            }
        )
    return out


def failures(df: pd.DataFrame, runs: list[Run]) -> list[dict[str, Any]]:
    out = []
    for idx in df.index[df["status"] == "failed"]:
        run = runs[idx]
        err = run["error"] or {}
        out.append(
            {
                **{c: df.at[idx, c] for c in SETTING + ["backend", "mode", "file"]},
                "type": err.get("type") or "",
                "message": err.get("message") or "no error recorded",
                "traceback": err.get("traceback") or "",
            }
        )
    return out


# --- each framework at its best, one number per framework, batch sweeps ------------------

# The tutorials' batch sizes, from their specs. A setting's headline numbers, heat map and geometric
# means use the tutorial's batch, so a batch sweep adds a chart, not rivals.
TUTORIAL_BATCH = {name: spec.data.batch_size for name, spec in MODELS.items()}
# Each backend's plainest mode, the tutorial's own loop (the adapters' `modes[0]`; checked by the
# same test), which `--mode plain` runs and against which a faster mode's gain is measured.
PLAIN_MODES = {"torch": "eager", "jax": "jit", "mxnet": "imperative", "paddle": "dynamic", "mindspore": "pynative"}
# How each framework says it ran out of memory (lower case, matched in "type: message"): torch
# OutOfMemoryError / "CUDA out of memory", MXNet "cudaMalloc ... out of memory", JAX/XLA
# RESOURCE_EXHAUSTED, Paddle ResourceExhaustedError "Out of memory error on GPU", MindSpore
# "Device memory isn't enough", host allocators' MemoryError / std::bad_alloc.
OOM_MARKERS = (
    "outofmemory",
    "out of memory",
    "resource_exhausted",
    "resourceexhausted",
    "resource exhausted",
    "memory isn't enough",
    "memory is not enough",
    "memory not enough",
    "failed to allocate",
    "memoryerror",
    "bad_alloc",
    "cannot allocate memory",
)
SETTING_NO_MODEL = ["device", "hardware", "data_source"]


def is_oom(error_type: Any, message: Any) -> bool:
    text = f"{error_type or ''}: {message or ''}".lower()
    return any(m in text for m in OOM_MARKERS)


def is_refusal(error_type: Any) -> bool:
    """ModeRefused, DeviceRefused: the suite declined the run on purpose (a known limitation)."""
    return bool(error_type) and str(error_type).endswith("Refused")


def _batch_of(df: pd.DataFrame) -> pd.Series:
    return pd.to_numeric(df["batch_size"], errors="coerce")


def primary_batch(df: pd.DataFrame) -> pd.Series:
    """Per row, the batch size its setting's comparisons use: the tutorial's where any run of the
    setting has it, else the batch most successful runs used (the smallest on a tie). NaN where
    no run of the setting records a batch."""
    batch = _batch_of(df)
    out = pd.Series(np.nan, index=df.index, dtype=float)
    for _, group in df.groupby(SETTING, sort=False, dropna=False):
        sizes = batch[group.index].dropna()
        if sizes.empty:
            continue
        tutorial = TUTORIAL_BATCH.get(group["model"].iloc[0])
        if tutorial in set(sizes):
            out[group.index] = tutorial
            continue
        ok = sizes[group.loc[sizes.index, "status"] == "ok"]
        counts = (ok if not ok.empty else sizes).value_counts()
        out[group.index] = min(b for b, n in counts.items() if n == counts.max())
    return out


def at_primary(df: pd.DataFrame) -> pd.Series:
    """Rows at their setting's primary batch. A failed run that recorded no batch ran the
    tutorial's (the harness writes the batch only when it was given), so it counts as primary."""
    batch, prim = _batch_of(df), primary_batch(df)
    return (batch == prim) | batch.isna()


def _batch_rank(df: pd.DataFrame) -> pd.Series:
    batch, at = _batch_of(df), at_primary(df)
    return pd.Series([(not a, b if b == b else 0) for a, b in zip(at, batch)], index=df.index)


def _pair(runs: list[Run], a: int, b: int) -> Pair:
    ra, rb = runs[a], runs[b]
    return Pair(
        ra["images_per_s"],
        ra["step_times_s"],
        ra["batch_size"],
        rb["images_per_s"],
        rb["step_times_s"],
        rb["batch_size"],
    )


def _backend_order(backends, baseline: str) -> list[str]:
    known = list(PLAIN_MODES)
    return sorted(set(backends), key=lambda b: (b != baseline, known.index(b) if b in known else len(known), b))


def framework_overview(df: pd.DataFrame, runs: list[Run], baseline: str) -> list[dict[str, Any]]:
    """Per device, hardware and data source (never across them): each framework's best run per
    model at the tutorial's batch against the baseline's best, as a model × framework grid, and
    the geometric mean of those speed-ups over the models it ran, with a bootstrap interval.

    "Best" is a framework's fastest successful mode, the rule the speed-up column already uses
    for the baseline, so with `--mode best,plain` it is the better of the two. A framework with
    no successful run of a model but a failed or refused one gets that cell, not a hole."""
    prim = df[at_primary(df)]
    blocks = []
    for (device, hardware, data_source), block in prim.groupby(SETTING_NO_MODEL, sort=False):
        models = sorted(dict.fromkeys(block["model"]), key=_model_order)
        backends = _backend_order(block["backend"], baseline)
        cells: dict[tuple[str, str], dict[str, Any]] = {}
        best_of: dict[tuple[str, str], int] = {}
        for (model, backend), group in block.groupby(["model", "backend"], sort=False):
            ok = group[group["status"] == "ok"]
            if ok.empty:
                types = [t for t in group["error_type"].dropna()]
                refused = [t for t in types if is_refusal(t)]
                cells[(model, backend)] = {
                    "kind": "refused" if refused else "failed",
                    "error_type": (refused or types or ["no error recorded"])[0],
                    "mode": ", ".join(group["mode"]),
                }
                continue
            idx = ok["images_per_s"].astype(float).idxmax()
            best_of[(model, backend)] = idx
            r = df.loc[idx]
            cell = {"kind": "ok", "mode": r["mode"], "ips": r["images_per_s"], "batch": r["batch_size"]}
            if pd.notna(r["speedup"]):
                cell.update(value=float(r["speedup"]), lo=_f(r["speedup_lo"]), hi=_f(r["speedup_hi"]))
            else:
                cell["kind"] = "no-baseline"
            cells[(model, backend)] = cell
        means = []
        for backend in backends:
            covered = [m for m in models if cells.get((m, backend), {}).get("value") is not None]
            ran = [m for m in models if (m, backend) in cells]
            item = {
                "backend": backend,
                "is_baseline": backend == baseline,
                "models": covered,
                "n": len(covered),
                "ran": len(ran),
                "comparable": sum((m, baseline) in best_of for m in models),
                "modes": sorted({cells[(m, backend)]["mode"] for m in covered}),
            }
            if covered:
                ref = {m: best_of[(m, baseline)] for m in covered}
                g = geomean_ratio([_pair(runs, best_of[(m, backend)], ref[m]) for m in covered])
                item.update(value=g.value, lo=g.lo, hi=g.hi, resolved=g.resolved)
            means.append(item)
        blocks.append(
            {
                "device": device,
                "hardware": hardware,
                "data_source": data_source,
                "synthetic": data_source == "synthetic",
                "title": setting_title(device, hardware, data_source),
                "models": models,
                "backends": backends,
                "cells": cells,
                "grid": [[cells.get((m, b)) for b in backends] for m in models],
                "means": means,
                "gains": mode_gains(block, runs, models, backends),
                "batches": sorted({int(b) for b in _batch_of(block).dropna()}),
            }
        )
    return blocks


def _f(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def mode_gains(block: pd.DataFrame, runs: list[Run], models: list[str], backends: list[str]) -> list[dict[str, Any]]:
    """Per model and framework: its fastest mode against its plain mode (the tutorial's loop),
    with the bootstrap interval of that ratio, so what each mode buys shows beside the best."""
    out = []
    for model in models:
        for backend in backends:
            ok = block[(block["model"] == model) & (block["backend"] == backend) & (block["status"] == "ok")]
            if ok.empty:
                continue
            best = ok["images_per_s"].astype(float).idxmax()
            plain_mode = PLAIN_MODES.get(backend)
            plain = ok[ok["mode"] == plain_mode]
            item = {
                "model": model,
                "backend": backend,
                "modes": sorted(ok["mode"]),
                "best_mode": block.at[best, "mode"],
                "best_ips": block.at[best, "images_per_s"],
                "plain_mode": plain_mode,
                "plain_ips": None,
                "gain": None,
                "lo": None,
                "hi": None,
            }
            if not plain.empty:
                p = plain.index[0]
                item["plain_ips"] = block.at[p, "images_per_s"]
                if p == best:
                    item["gain"] = 1.0
                else:
                    pair = _pair(runs, best, p)
                    r = speed_ratio(pair.ips_a, pair.times_a, pair.batch_a, pair.ips_b, pair.times_b, pair.batch_b)
                    item.update(gain=r.value, lo=r.lo, hi=r.hi, resolved=r.resolved)
            out.append(item)
    return out


def batch_sweeps(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Per device, hardware and data source: the models run at two or more batch sizes, with
    each framework's images/s per batch (one mode per line) and the largest batch that fitted."""
    out = []
    batch, primary = _batch_of(df), at_primary(df)
    for (device, hardware, data_source), block in df.groupby(SETTING_NO_MODEL, sort=False):
        models = [
            m
            for m in sorted(dict.fromkeys(block["model"]), key=_model_order)
            if batch[block.index[block["model"] == m]].nunique() >= 2
        ]
        if not models:
            continue
        lines, fits = [], []
        for model in models:
            mblock = block[block["model"] == model]
            for backend in _backend_order(mblock["backend"], ""):
                rows = mblock[mblock["backend"] == backend]
                ok = rows[rows["status"] == "ok"]
                if not ok.empty:
                    lines.append({"model": model, "backend": backend, **_sweep_line(ok, primary)})
                fits.append({"model": model, "backend": backend, **_fit(rows)})
        out.append(
            {
                "device": device,
                "hardware": hardware,
                "data_source": data_source,
                "synthetic": data_source == "synthetic",
                "title": setting_title(device, hardware, data_source),
                "models": models,
                "lines": lines,
                "fits": fits,
            }
        )
    return out


def _sweep_line(ok: pd.DataFrame, primary: pd.Series) -> dict[str, Any]:
    """The mode drawn for one framework: the one measured at the most batch sizes, and of those
    the fastest at the primary batch, so a line never jumps between modes."""
    counts = ok.groupby("mode")["batch_size"].nunique()
    candidates = ok[ok["mode"].isin(counts[counts == counts.max()].index)]
    prim = candidates[primary[candidates.index]]
    pick = prim if not prim.empty else candidates
    mode = pick.loc[pick["images_per_s"].astype(float).idxmax(), "mode"]
    rows = ok[ok["mode"] == mode].sort_values("batch_size")
    return {
        "mode": mode,
        "batch": [int(b) for b in rows["batch_size"]],
        "ips": rows["images_per_s"].astype(float).tolist(),
        "p10": rows["ips_p10"].astype(float).tolist(),
        "p90": rows["ips_p90"].astype(float).tolist(),
    }


def _fit(rows: pd.DataFrame) -> dict[str, Any]:
    """Largest batch that ran (any mode) and the smallest that ran out of memory."""
    ok = rows[rows["status"] == "ok"]
    failed = rows[(rows["status"] != "ok") & _batch_of(rows).notna()]
    oom = failed[[is_oom(t, m) for t, m in zip(failed["error_type"], failed["error_message"])]]
    other = failed.drop(oom.index)
    largest = int(ok["batch_size"].max()) if not ok.empty else None
    at_largest = ok[ok["batch_size"] == largest]["images_per_s"].max() if largest else None
    return {
        "tried": sorted({int(b) for b in _batch_of(rows).dropna()}),
        "largest_ok": largest,
        "largest_ok_ips": _f(at_largest),
        "smallest_oom": int(oom["batch_size"].min()) if not oom.empty else None,
        "other_failures": sorted(
            {(int(b), str(t or "failed")) for b, t in zip(other["batch_size"], other["error_type"])}
        ),
    }
