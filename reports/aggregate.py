"""The report's tables, computed with pandas from the loaded runs and traces.

Comparisons are made only within a *setting*: the same model, device kind, hardware (GPU or
CPU name) and data source. A speed-up compares a run with the baseline backend's fastest
successful run (any mode) in the same setting; synthetic-data runs are thus compared only
with synthetic-data baseline runs, and a setting without a baseline run has no speed-up.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from .load import Run, Trace
from .peaks import mfu, peak_for, peak_tflops
from .stats import speed_ratio
from common.stability import stability_warnings

SETTING = ["device", "hardware", "data_source", "model"]
KNOWN_MODELS = ("paddle-dcgan28", "mindspore-mlp-gan", "mxnet-dcgan64", "gluon-lfw-dcgan",
                "pytorch-celeba-dcgan")
# Final losses are means over this many last iterations: one iteration of a GAN is too noisy
# to say whether two backends ended in the same place.
FINAL_WINDOW = 10
# |Δ|/|ref| divides by at least this, so a reference loss of exactly 0 gives a finite number.
PARITY_EPS = 1e-12

COLUMNS = [
    "device", "hardware", "data_source", "model", "backend", "mode", "status",
    "images_per_s", "ips_p10", "ips_p90", "jitter_pct", "steps", "batch_size",
    "speedup", "speedup_lo", "speedup_hi", "speedup_vs", "is_reference",
    "first_step_s", "compile_s", "setup_s", "peak_memory_bytes", "memory_kind",
    "flops_per_iteration", "mfu_pct", "mfu_peak", "machine", "error_type", "error_message", "file",
    "run_set", "stability",
]
COUNTS = ["steps", "batch_size"]
NUMERIC = ["images_per_s", "ips_p10", "ips_p90", "jitter_pct", "speedup", "speedup_lo",
           "speedup_hi", "first_step_s", "compile_s", "setup_s", "peak_memory_bytes", "flops_per_iteration", "mfu_pct"]


def _model_order(model: str) -> tuple[int, str]:
    return (KNOWN_MODELS.index(model) if model in KNOWN_MODELS else len(KNOWN_MODELS), model)


def _spread(run: Run) -> tuple[float | None, float | None, float | None]:
    """p10 and p90 of throughput, and the MAD jitter as % of the median."""
    tp = run["throughput"] or {}
    p10, p90, jitter = tp.get("p10"), tp.get("p90"), tp.get("mad_jitter")
    times, batch = run["step_times_s"], run["batch_size"]
    if times and batch and (p10 is None or p90 is None or jitter is None):
        ips = batch / np.asarray(times)
        p10 = float(np.percentile(ips, 10)) if p10 is None else p10
        p90 = float(np.percentile(ips, 90)) if p90 is None else p90
        if jitter is None:
            jitter = float(1.4826 * np.median(np.abs(ips - np.median(ips))))
    median = run["images_per_s"]
    jitter_pct = 100 * jitter / median if jitter is not None and median else None
    return p10, p90, jitter_pct


def _row(run: Run) -> dict[str, Any]:
    row = _measure_row(run)
    # the stability guard's reasons not to trust this row's throughput ("" when none), and its run set
    row["stability"] = "; ".join(stability_warnings(run.doc))
    row["run_set"] = run.run_set
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
        "device": run["device"], "hardware": run.hardware, "data_source": run["data_source"],
        "model": run["model"], "backend": run["backend"], "mode": run["mode"],
        "status": run["status"], "images_per_s": ips, "ips_p10": p10, "ips_p90": p90,
        "jitter_pct": jitter_pct, "steps": len(run["step_times_s"] or []) or None,
        "batch_size": batch, "first_step_s": run["first_step_s"],
        "compile_s": run["compile_s"], "setup_s": run["setup_s"],
        "peak_memory_bytes": run["peak_memory_bytes"], "memory_kind": run["memory_kind"],
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
    refs = (df[ok & (df["backend"] == baseline)]
            .sort_values("images_per_s").groupby(SETTING).tail(1))
    ref_of = {tuple(row[c] for c in SETTING): idx for idx, row in refs.iterrows()}
    speed: dict[int, tuple] = {}
    for idx, row in df[ok].iterrows():
        ref = ref_of.get(tuple(row[c] for c in SETTING))
        if ref is None:
            continue
        label = f"{baseline} {df.at[ref, 'mode']}"
        if ref == idx:
            speed[idx] = (1.0, 1.0, 1.0, label, True)
            continue
        a, b = runs[idx], runs[ref]
        r = speed_ratio(a["images_per_s"], a["step_times_s"], a["batch_size"],
                        b["images_per_s"], b["step_times_s"], b["batch_size"])
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
    key = pd.DataFrame({
        "device": df["device"].map(lambda d: (d == "cpu", d)),
        "hardware": df["hardware"],
        "data": df["data_source"].map(lambda s: s != "real"),
        "model": df["model"].map(_model_order),
        "failed": df["status"] != "ok",
        "ips": -df["images_per_s"].fillna(0).astype(float),
        "backend": df["backend"], "mode": df["mode"],
    })
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
        item = {"device": device, "hardware": hardware, "data_source": data_source, "model": model,
                "fastest": first["backend"], "fastest_mode": first["mode"],
                "ips": first["images_per_s"], "runner_up": None, "lead": None,
                "vs_baseline": first["speedup"], "vs_baseline_lo": first["speedup_lo"],
                "vs_baseline_hi": first["speedup_hi"], "baseline": baseline}
        if len(group) > 1:
            second = group.iloc[1]
            a, b = runs[group.index[0]], runs[group.index[1]]
            r = speed_ratio(a["images_per_s"], a["step_times_s"], a["batch_size"],
                            b["images_per_s"], b["step_times_s"], b["batch_size"])
            item.update(runner_up=second["backend"], runner_up_mode=second["mode"],
                        lead=r.value, lead_lo=r.lo, lead_hi=r.hi, lead_resolved=r.resolved)
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
        rows.append({
            **{c: df.at[idx, c] for c in SETTING + ["backend", "mode"]},
            "iterations": len(d) if d else None,
            "d_loss": _tail_mean(d), "g_loss": _tail_mean(g),
            "d_x": _tail_mean(run["d_x"]), "d_g_z": _tail_mean(run["d_g_z"]),
            "non_finite": any(not math.isfinite(v) for v in (d or []) + (g or [])),
        })
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
            notes.append(f"parity: no {baseline} trace for {model} on {device}; "
                         f"{len(items)} trace(s) not compared")
            continue
        ref = refs[0]
        rows = []
        for t in sorted(items, key=lambda t: (t.backend, t.mode)):
            if t is ref:
                continue
            steps = min(len(t.d), len(t.g), len(ref.d), len(ref.g))
            rel = pd.DataFrame({
                k: np.abs(np.asarray(getattr(t, k)[:steps]) - np.asarray(getattr(ref, k)[:steps]))
                / np.maximum(np.abs(np.asarray(getattr(ref, k)[:steps])), PARITY_EPS)
                for k in ("d", "g")})
            per_step = rel.max(axis=1, skipna=False).tolist()
            rows.append({"backend": t.backend, "mode": t.mode, "file": t.file, "steps": steps,
                         "per_step": per_step,
                         "max": max(per_step) if per_step else None,
                         "short": steps < max(len(t.d), len(ref.d))})
        blocks.append({"model": model, "device": device, "ref": ref, "rows": rows,
                       "steps": max((r["steps"] for r in rows), default=0)})
    return blocks, notes


ENV_FIELDS = [("python", "Python"), ("platform", "Platform"), ("cpu", "CPU"),
              ("cpu_count", "CPU count"), ("threads", "Threads"), ("numpy", "NumPy"),
              ("device_name", "Accelerator"), ("cuda", "CUDA"), ("driver", "Driver"),
              ("git_commit", "Commit"), ("date", "Dates")]


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
        out.append({"host": host, "fields": fields, "runs": len(items),
                    "frameworks": [(k, ", ".join(sorted(v))) for k, v in sorted(frameworks.items())]})
    return out


def failures(df: pd.DataFrame, runs: list[Run]) -> list[dict[str, Any]]:
    out = []
    for idx in df.index[df["status"] == "failed"]:
        run = runs[idx]
        err = run["error"] or {}
        out.append({**{c: df.at[idx, c] for c in SETTING + ["backend", "mode", "file"]},
                    "type": err.get("type") or "", "message": err.get("message") or "no error recorded",
                    "traceback": err.get("traceback") or ""})
    return out
