"""Results over time: when the results folder holds several run sets, images/s of each model × backend
by date, each point with the distribution-free 95 % interval of its median, and the changes between
consecutive sets that `python -m benchmarks compare` would call significant (the same bootstrap,
reports.stats.speed_ratio, whose interval excludes no change).

A series is one (mode, device, hardware, data source, batch): points measured on other hardware or
data are never joined by a line or compared.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from common.stability import median_ci, stability_warnings

from .charts import RC, colour, plain, to_uri
from .load import Loaded, Run
from .stats import speed_ratio

MARKERS = "osD^vP*X"


def _when(run: Run, manifests: dict[str, dict]) -> dt.datetime | None:
    text = (manifests.get(run.run_set) or {}).get("created_at") or run["started_at"] or run["finished_at"]
    try:
        when = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _interval(run: Run) -> tuple[float | None, float | None]:
    tp = run["throughput"] or {}
    if tp.get("median_lo") is not None and tp.get("median_hi") is not None:
        return tp["median_lo"], tp["median_hi"]
    times, batch = run["step_times_s"], run["batch_size"]
    ci = median_ci([batch / t for t in times]) if times and batch else None
    return ci if ci else (None, None)


def _commit(run: Run, manifests: dict[str, dict]) -> str:
    c = (manifests.get(run.run_set) or {}).get("git_commit") or run.env.get("git_commit") or "?"
    return str(c)[:7] + ("+" if str(c).endswith("-dirty") else "")


def sections(loaded: Loaded) -> list[dict[str, Any]]:
    """One section per model × backend, or [] when the folder holds fewer than two run sets."""
    if len(loaded.run_sets) < 2:
        return []
    manifests = loaded.run_sets
    groups: dict[tuple, dict[tuple, list]] = defaultdict(lambda: defaultdict(list))
    for run in loaded.history:
        if run.run_set is None or run["status"] != "ok":
            continue
        when = _when(run, manifests)
        if when is None:
            continue
        series = (run["mode"], run["device"], run.hardware, run["data_source"], run["batch_size"])
        groups[(run["model"], run["backend"])][series].append((when, run))
    out = []
    for (model, backend), by_series in sorted(groups.items()):
        if max(len(v) for v in by_series.values()) < 2:
            continue  # a single point is no history
        lines = []
        for series, points in sorted(by_series.items(), key=lambda kv: str(kv[0])):
            points.sort(key=lambda p: p[0])
            rows, prev = [], None
            for when, run in points:
                lo, hi = _interval(run)
                row = {
                    "run_set": run.run_set,
                    "date": when.isoformat(timespec="seconds"),
                    "when": when,
                    "commit": _commit(run, manifests),
                    "version": str(run.env.get("framework_version") or "n/a"),
                    "ips": run["images_per_s"],
                    "lo": lo,
                    "hi": hi,
                    "change": None,
                    "change_lo": None,
                    "change_hi": None,
                    "verdict": None,
                    "stability": "; ".join(stability_warnings(run.doc)),
                }
                if prev is not None:
                    r = speed_ratio(
                        run["images_per_s"],
                        run["step_times_s"],
                        run["batch_size"],
                        prev["images_per_s"],
                        prev["step_times_s"],
                        prev["batch_size"],
                    )
                    row.update(
                        change=r.value - 1,
                        change_lo=None if r.lo is None else r.lo - 1,
                        change_hi=None if r.hi is None else r.hi - 1,
                        verdict=("faster" if r.lo > 1 else "slower") if r.resolved else "not told apart",
                    )
                rows.append(row)
                prev = run
            mode, device, hardware, data_source, batch = series
            lines.append(
                {
                    "mode": mode,
                    "device": device,
                    "hardware": hardware,
                    "data_source": data_source,
                    "batch": batch,
                    "rows": rows,
                }
            )
        out.append(
            {
                "model": model,
                "backend": backend,
                "lines": lines,
                "significant": sum(r["verdict"] in ("faster", "slower") for ln in lines for r in ln["rows"]),
                "chart": chart(model, backend, lines),
            }
        )
    return out


def chart(model: str, backend: str, lines: list[dict]) -> str:
    """images/s by date per series, error bars the median's interval; ▲/▼ mark significant changes."""
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(10, 3.6), layout="constrained")
        ax = fig.subplots()
        for k, ln in enumerate(lines):
            rows = ln["rows"]
            x = [r["when"] for r in rows]
            y = [r["ips"] for r in rows]
            err = [
                [max(0.0, r["ips"] - r["lo"]) if r["lo"] is not None else 0 for r in rows],
                [max(0.0, r["hi"] - r["ips"]) if r["hi"] is not None else 0 for r in rows],
            ]
            name = f"{ln['mode']} · {ln['hardware']} ({ln['device']}) · {ln['data_source']} · batch {ln['batch']}"
            ax.errorbar(
                x,
                y,
                yerr=err,
                marker=MARKERS[k % len(MARKERS)],
                color=colour(backend),
                alpha=1 - 0.5 * k / max(1, len(lines)),
                capsize=3,
                label=plain(name),
                linestyle="--" if ln["data_source"] == "synthetic" else "-",
            )
            for r in rows:
                ax.annotate(
                    plain(f"{r['commit']}\n{backend} {r['version']}"),
                    (r["when"], r["ips"]),
                    textcoords="offset points",
                    xytext=(0, 8),
                    ha="center",
                    fontsize=6,
                    color="#555",
                )
                if r["verdict"] in ("faster", "slower"):
                    up = r["verdict"] == "faster"
                    ax.scatter(
                        [r["when"]],
                        [r["ips"]],
                        marker="^" if up else "v",
                        s=110,
                        zorder=5,
                        color="#2a7a2a" if up else "#b00",
                        edgecolors="black",
                    )
                    ax.annotate(
                        f"{100 * r['change']:+.1f}%",
                        (r["when"], r["ips"]),
                        textcoords="offset points",
                        xytext=(10, -12),
                        fontsize=8,
                        fontweight="bold",
                        color="#2a7a2a" if up else "#b00",
                    )
        ax.set_ylabel("images/s (median, 95% CI)")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="lower left")
        fig.autofmt_xdate()
        fig.suptitle(plain(f"{model} on {backend}: throughput over run sets (▲/▼ significant change)"))
        return to_uri(fig)
