"""The report's scaling section: images/s against replicas, and scaling efficiency.

Data-parallel results carry `replicas`, `nodes`, `scaling`, `bn_mode`, `engine`, `transport`
(benchmarks/distributed.py); a result without them is a one-replica run. For every (hardware,
device, model, backend, mode, data source) that has a one-replica run, each data-parallel run's
efficiency is E(N) = T(N) / (N·T(1)), T the images/s (median over steps of global batch / step time of
the slowest replica), with the 95 % percentile-bootstrap interval of reports/stats.py (the ratio
T(N)/T(1) resampled over both runs' step times, divided by N). Strong scaling (the tutorial's batch
split over N) and weak scaling (that batch per replica) are kept apart. CPU rows are flagged: two
cores shared by N processes prove the plumbing, not GPU scaling.
"""

from __future__ import annotations

from typing import Any

from .load import Run
from .stats import speed_ratio


def dp_key(doc: dict[str, Any]) -> tuple:
    """What tells a data-parallel result apart from a one-replica run of the same setting."""
    if not doc.get("replicas"):
        return ()
    return (doc.get("replicas"), doc.get("nodes") or 1, doc.get("scaling"), doc.get("bn_mode"))


def _world(run: Run) -> int:
    return int(run.doc.get("world_size") or (run.doc.get("replicas") or 1) * (run.doc.get("nodes") or 1))


def scaling_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per ok run of every setting that has a data-parallel run (its 1-replica run first)."""
    groups: dict[tuple, list[Run]] = {}
    for r in runs:
        if r["status"] != "ok":
            continue
        key = (r.hardware, r["device"], r["model"], r["backend"], r["mode"], r["data_source"])
        groups.setdefault(key, []).append(r)
    rows = []
    for (hardware, device, model, backend, mode, data), items in sorted(groups.items()):
        if not any(_world(r) > 1 for r in items):
            continue
        base = next((r for r in items if _world(r) == 1), None)
        for r in sorted(items, key=lambda r: (r.doc.get("scaling") or "strong", _world(r))):
            n = _world(r)
            eff = lo = hi = None
            if base is not None and r.doc.get("images_per_s") and base.doc.get("images_per_s"):
                ratio = speed_ratio(
                    r.doc["images_per_s"],
                    r.doc.get("step_times_s"),
                    r.doc.get("batch_size"),
                    base.doc["images_per_s"],
                    base.doc.get("step_times_s"),
                    base.doc.get("batch_size"),
                )
                eff = ratio.value / n
                lo, hi = (ratio.lo / n, ratio.hi / n) if ratio.lo is not None else (None, None)
            rows.append(
                {
                    "hardware": hardware,
                    "device": device,
                    "model": model,
                    "backend": backend,
                    "mode": mode,
                    "data_source": data,
                    "replicas": n,
                    "nodes": r.doc.get("nodes") or 1,
                    "scaling": r.doc.get("scaling") or ("-" if n == 1 else "strong"),
                    "bn_mode": r.doc.get("bn_mode") or "-",
                    "engine": r.doc.get("engine") or "single device",
                    "transport": r.doc.get("transport") or "-",
                    "batch_size": r.doc.get("batch_size"),
                    "images_per_s": r.doc.get("images_per_s"),
                    "efficiency": eff if n > 1 else None,
                    "eff_lo": lo if n > 1 else None,
                    "eff_hi": hi if n > 1 else None,
                    "cpu": device == "cpu",
                    "file": r.file,
                }
            )
    return rows


def refusals(runs: list[Run]) -> list[dict[str, Any]]:
    """Data-parallel configurations an engine refused, with the reason."""
    out = []
    for r in runs:
        if r.doc.get("replicas") and r["status"] != "ok":
            err = r.doc.get("error") or {}
            out.append(
                {
                    "backend": r["backend"],
                    "model": r["model"],
                    "device": r["device"],
                    "replicas": r.doc.get("replicas"),
                    "scaling": r.doc.get("scaling"),
                    "bn_mode": r.doc.get("bn_mode"),
                    "type": err.get("type"),
                    "message": str(err.get("message"))[:400],
                    "file": r.file,
                }
            )
    return out


STYLES = {("strong", False): "-", ("weak", False): "--", ("strong", True): ":", ("weak", True): "-."}


def series(rows: list[dict[str, Any]], backend: str) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """One backend's lines: (label, line style, points by replicas), each from its one-replica run;
    strong and weak apart, and runs over several nodes apart from one node's (two replicas on one
    node and one on each of two nodes are both world size 2)."""
    mine = [r for r in rows if r["backend"] == backend]
    one = [r for r in mine if r["replicas"] == 1]
    out = []
    for (scaling, over_nodes), style in STYLES.items():
        pts = one + [
            r for r in mine if r["scaling"] == scaling and r["replicas"] > 1 and (r["nodes"] > 1) == over_nodes
        ]
        if len(pts) >= 2:
            label = f"{backend} ({scaling}{', over nodes' if over_nodes else ''})"
            out.append((label, style, sorted(pts, key=lambda r: r["replicas"])))
    return out


def scaling_chart(rows: list[dict[str, Any]]) -> str | None:
    """images/s against replicas, one panel per (hardware, model); strong solid, weak dashed, runs over
    several nodes dotted."""
    if not any(r["replicas"] > 1 for r in rows):
        return None
    from matplotlib.figure import Figure

    from .charts import colour, to_uri

    panels = sorted({(r["hardware"], r["device"], r["model"]) for r in rows})
    fig = Figure(figsize=(6.0 * len(panels), 4.0))
    for k, (hw, dev, model) in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), k)
        sel = [r for r in rows if (r["hardware"], r["device"], r["model"]) == (hw, dev, model)]
        for backend in sorted({r["backend"] for r in sel}):
            for label, style, pts in series(sel, backend):
                ax.plot(
                    [r["replicas"] for r in pts],
                    [r["images_per_s"] for r in pts],
                    style,
                    marker="o",
                    color=colour(backend),
                    label=label,
                )
        ax.set_xlabel("replicas")
        ax.set_ylabel("images/s")
        note = " — CPU: plumbing, not GPU scaling" if dev == "cpu" else ""
        ax.set_title(f"{model} on {hw}{note}", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return to_uri(fig)


def section(runs: list[Run]) -> dict[str, Any] | None:
    rows = scaling_rows(runs)
    refused = refusals(runs)
    if not rows and not refused:
        return None
    return {"rows": rows, "refused": refused, "chart": scaling_chart(rows), "cpu": any(r["cpu"] for r in rows)}
