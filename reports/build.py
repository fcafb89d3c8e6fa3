"""build_report: results folder in, one self-contained HTML page and a summary CSV out."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from common.results import csv_safe

from . import aggregate, charts, history, reproduction, scaling, stats
from .demo import DEMO_MARK
from .load import load_results
from .peaks import PEAKS
from .render import num, ratio, render_page


class ReportError(Exception):
    """The report cannot be built at all (the results folder does not exist)."""


@dataclass
class ReportOutcome:
    html: Path
    csv: Path
    warnings: list[str]
    # One row per run, as in the CSV; empty when no result file was valid.
    summary: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    # Valid reproduction.json files (shown in their own section, not in the CSV).
    reproductions: int = 0

    @property
    def runs(self) -> int:
        return len(self.summary)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values, which is what the templates test for."""
    return df.astype(object).where(df.notna(), None).to_dict("records")


def _usable(runs: list, warnings: list[str]) -> list:
    """The runs whose summary row can be computed; each other one is named in a warning and left
    out, so one crafted file never stops the page (its values passed the type checks but break
    the arithmetic, e.g. an environment field of the wrong kind)."""
    good = []
    for run in runs:
        try:
            aggregate._row(run)
        except Exception as exc:
            warnings.append(f"{run.file}: cannot be shown ({type(exc).__name__}: {str(exc)[:200]}); skipped")
            continue
        good.append(run)
    return good


def _guarded(make, block: pd.DataFrame, warnings: list[str], what: str):
    """A chart, or None with a warning naming the block's files when it cannot be drawn."""
    try:
        return make()
    except Exception as exc:
        files = ", ".join(sorted(block["file"].astype(str)))[:500]
        warnings.append(f"{what} not drawn ({type(exc).__name__}: {str(exc)[:200]}); its files: {files}")
        return None


def _best_runs(df: pd.DataFrame) -> set:
    """The fastest successful run of each (backend, model) over the whole report: only these
    embed their sample grids, so the page grows with backends × models, not with runs."""
    ok = df[(df["status"] == "ok") & df["images_per_s"].notna()]
    if ok.empty:
        return set()
    return set(ok.sort_values("images_per_s").groupby(["backend", "model"]).tail(1).index)


def _sample_links(block: pd.DataFrame, runs, featured: set, page_dir: Path) -> list[dict[str, str]]:
    """Links (relative to the page) to the sample grids of the block's other successful runs."""
    out = []
    for i, r in block.iterrows():
        if i in featured or r["status"] != "ok" or runs[i].samples is None:
            continue
        href = Path(os.path.relpath(runs[i].samples, page_dir.resolve())).as_posix()
        out.append({"label": f"{r['backend']} ({r['mode']})", "href": href})
    return out


CHARTED_SETTINGS = 6  # settings (device, hardware, data) whose per-run charts are drawn: the most recent


def _charted(df: pd.DataFrame, runs) -> set:
    """The CHARTED_SETTINGS settings with the most recently finished runs. Every setting keeps its
    tables; only these draw their throughput, step-time, loss and sample charts, so a folder of
    thousands of results gives a page of a few MB (200 loss charts made one 45 MB) and a build
    that no longer grows with the number of settings."""
    latest: dict[tuple, str] = {}
    for keys, block in df.groupby(["device", "hardware", "data_source"], sort=False):
        latest[keys] = max((str(runs[i].doc.get("finished_at") or "") for i in block.index), default="")
    return set(sorted(latest, key=lambda k: latest[k], reverse=True)[:CHARTED_SETTINGS])


def _settings(
    df: pd.DataFrame, runs, learning: pd.DataFrame, warnings: list[str] | None = None, page_dir: Path = Path(".")
) -> list[dict[str, Any]]:
    warnings = [] if warnings is None else warnings
    featured = _best_runs(df)
    learned = dict(iter(learning.groupby(aggregate.SETTING))) if not learning.empty else {}
    out = []
    primary = aggregate.at_primary(df)
    charted = _charted(df, runs)

    def chart(draw: bool, make, cblock, what):  # a setting beyond the chart budget draws nothing
        return _guarded(make, cblock, warnings, what) if draw else None

    for keys, block in df.groupby(["device", "hardware", "data_source"], sort=False):
        device, hardware, data_source = keys
        draw = keys in charted

        # The per-run charts label runs by backend and mode, so they draw the tutorial's batch
        # only; a batch sweep's other batches are in the table and in the sweep's own chart.
        chart_block = block[primary[block.index]]
        models = []
        for model, mblock in block.groupby("model", sort=False):
            learn = learned.get((device, hardware, data_source, model))
            cblock = mblock[primary[mblock.index]]
            models.append(
                {
                    "model": model,
                    "rows": _records(mblock),
                    "learning": _records(learn) if learn is not None else [],
                    "batches": sorted({int(b) for b in mblock["batch_size"].dropna()}),
                    "loss_chart": chart(
                        draw, partial(charts.loss_chart, cblock, runs), cblock, f"loss chart of {model}"
                    ),
                    "samples_chart": chart(
                        draw,
                        partial(charts.samples_chart, cblock[cblock.index.isin(featured)], runs),
                        cblock,
                        f"samples of {model}",
                    ),
                    "charts_skipped": not draw,
                    "sample_links": _sample_links(cblock, runs, featured, page_dir),
                }
            )
        details = sorted({str(runs[i]["data_detail"]) for i in block.index if runs[i]["data_detail"]})
        kinds = set(block["memory_kind"].dropna())
        out.append(
            {
                "device": device,
                "hardware": hardware,
                "data_source": data_source,
                "synthetic": data_source == "synthetic",
                "title": aggregate.setting_title(device, hardware, data_source),
                "details": details,
                "rows": _records(block),
                # One kind for the whole block goes in the header; mixed kinds go per row.
                "memory_kind": kinds.pop() if len(kinds) == 1 else None,
                "throughput_chart": chart(
                    draw, partial(charts.throughput_chart, chart_block), chart_block, "throughput chart"
                ),
                "step_chart": chart(
                    draw, partial(charts.step_time_chart, chart_block, runs), chart_block, "step-time chart"
                ),
                "models": models,
                "charts_skipped": not draw,
            }
        )
    return out


def _overview(df: pd.DataFrame, runs, baseline: str) -> list[dict[str, Any]]:
    blocks = aggregate.framework_overview(df, runs, baseline)
    charted = _charted(df, runs)  # the heat maps keep to the per-run charts' budget
    for block in blocks:
        drawn = (block["device"], block["hardware"], block["data_source"]) in charted
        block["chart"] = charts.heatmap_chart(block, baseline) if drawn else None
    return blocks


def _sweeps(df: pd.DataFrame) -> list[dict[str, Any]]:
    sweeps = aggregate.batch_sweeps(df)
    for sweep in sweeps:
        sweep["chart"] = charts.batch_sweep_chart(sweep)
    return sweeps


def build_report(results_dir: Path, out: Path | None = None, baseline: str = "torch") -> ReportOutcome:
    """Read every result file under `results_dir` and write the page and its CSV.

    `out` defaults to RESULTS_DIR/report.html; the CSV goes next to it with the suffix .csv.
    Bad files never stop the build: each gives one entry in `warnings` (also shown on the
    page). A folder with no valid result still gets a page that says so and lists the
    problems; `outcome.runs == 0` tells the caller (and `outcome.reproductions` how many
    reproduction.json files were shown). Raises ReportError only when
    `results_dir` is not a folder.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"results folder {results_dir} does not exist or is not a folder")
    out = Path(out) if out is not None else results_dir / "report.html"
    loaded = load_results(results_dir)
    demo = any(d.env.get("demo") for d in [*loaded.runs, *loaded.reproductions])
    with charts.watermarked(DEMO_MARK if demo else None):
        return _build(results_dir, out, baseline, loaded, demo)


def _build(results_dir: Path, out: Path, baseline: str, loaded, demo: bool) -> ReportOutcome:
    csv_path = out.with_suffix(".csv")
    warnings = list(loaded.warnings)
    runs = _usable(loaded.runs, warnings)
    df = aggregate.summary_frame(runs, baseline)
    if runs and not ((df["backend"] == baseline) & (df["status"] == "ok")).any():
        warnings.append(f"baseline {baseline!r} has no successful run; no speed-ups are shown")
    # the stability guard: a noisy run is named in the warnings (page and terminal), not only on its row
    for _, row in df[df["stability"].fillna("") != ""].iterrows():
        warnings.append(
            f"{row['file']}: noisy measurement ({row['backend']} {row['model']} {row['mode']}): {row['stability']}"
        )
    primary = df[aggregate.at_primary(df)]
    learning = aggregate.learning_frame(primary, runs)
    parity_blocks, parity_notes = aggregate.parity(loaded.traces, baseline)
    for block in parity_blocks:
        block["chart"] = charts.parity_chart(block, baseline) if block["rows"] else None

    context = {
        "results_dir": str(results_dir),
        "baseline": baseline,
        "csv_name": csv_path.name,
        "demo": DEMO_MARK if demo else None,
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "counts": {
            "files": loaded.files_seen,
            "runs": len(runs),
            "traces": len(loaded.traces),
            "ok": int((df["status"] == "ok").sum()),
            "failed": int((df["status"] == "failed").sum()),
            "reproductions": len(loaded.reproductions),
        },
        "warnings": warnings,
        "headlines": aggregate.headlines(primary, runs, baseline),
        "overview": _overview(df, runs, baseline),
        "sweeps": _sweeps(df),
        "tutorial_batch": aggregate.TUTORIAL_BATCH,
        "plain_modes": aggregate.PLAIN_MODES,
        "settings": _settings(df, runs, learning, warnings, out.parent),
        "charted_settings": CHARTED_SETTINGS,
        "parity": parity_blocks,
        "parity_notes": parity_notes,
        "failures": aggregate.failures(df, runs),
        "reproductions": reproduction.sections(loaded.reproductions, baseline, out.parent),
        "gif_max_mib": reproduction.GIF_MAX_BYTES / 2**20,
        "first_step_tol": reproduction.FIRST_STEP_TOL,
        "environments": aggregate.environments([*runs, *loaded.reproductions]),  # reproductions ran somewhere too
        "peaks": [p for _, p in PEAKS],
        "final_window": aggregate.FINAL_WINDOW,
        "resamples": stats.RESAMPLES,
        "seed": stats.SEED,
        "min_steps": stats.MIN_STEPS,
        "parity_eps": aggregate.PARITY_EPS,
        "history": history.sections(loaded),
        "run_set_count": len(loaded.run_sets),
    }
    context["scaling"] = scaling.section(runs)  # data-parallel runs, None without any
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(context), encoding="utf-8")
    # text from result files (error messages, names) that a spreadsheet would run is written as text
    df.map(csv_safe).to_csv(csv_path, index=False)
    return ReportOutcome(out, csv_path, warnings, df, len(loaded.reproductions))


def terminal_table(df: pd.DataFrame) -> str:
    """The summary as fixed-width text for the terminal: the columns a person scans first."""
    if df.empty:
        return "(no valid result)"
    view = pd.DataFrame(
        {
            "model": df["model"],
            "hardware": df["hardware"],
            "data": df["data_source"],
            "backend": df["backend"],
            "mode": df["mode"],
            # A batch sweep's rows differ only here.
            "batch": [str(b) if pd.notna(b) else "n/a" for b in df["batch_size"]],
            "status": df["status"],
            "images/s": df["images_per_s"].map(num),
            "p10-p90": [f"{num(a)}-{num(b)}" if pd.notna(a) else "n/a" for a, b in zip(df["ips_p10"], df["ips_p90"])],
            "speed-up [95% CI]": [
                ratio(v, lo, hi) if pd.notna(v) else "n/a"
                for v, lo, hi in zip(df["speedup"], df["speedup_lo"], df["speedup_hi"])
            ],
            "MFU": df["mfu_pct"].map(lambda v: num(v, 2, "%")),
        }
    )
    return view.to_string(index=False)
