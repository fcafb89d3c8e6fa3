"""build_report: results folder in, one self-contained HTML page and a summary CSV out."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import aggregate, charts, reproduction, scaling, stats
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


def _settings(df: pd.DataFrame, runs, learning: pd.DataFrame) -> list[dict[str, Any]]:
    learned = dict(iter(learning.groupby(aggregate.SETTING))) if not learning.empty else {}
    out = []
    for keys, block in df.groupby(["device", "hardware", "data_source"], sort=False):
        device, hardware, data_source = keys
        models = []
        for model, mblock in block.groupby("model", sort=False):
            learn = learned.get((device, hardware, data_source, model))
            models.append({"model": model, "rows": _records(mblock),
                           "learning": _records(learn) if learn is not None else [],
                           "loss_chart": charts.loss_chart(mblock, runs),
                           "samples_chart": charts.samples_chart(mblock, runs)})
        details = sorted({str(runs[i]["data_detail"]) for i in block.index if runs[i]["data_detail"]})
        kinds = set(block["memory_kind"].dropna())
        out.append({"device": device, "hardware": hardware, "data_source": data_source,
                    "synthetic": data_source == "synthetic",
                    "title": aggregate.setting_title(device, hardware, data_source),
                    "details": details, "rows": _records(block),
                    # One kind for the whole block goes in the header; mixed kinds go per row.
                    "memory_kind": kinds.pop() if len(kinds) == 1 else None,
                    "throughput_chart": charts.throughput_chart(block),
                    "step_chart": charts.step_time_chart(block, runs), "models": models})
    return out


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
    csv_path = out.with_suffix(".csv")

    loaded = load_results(results_dir)
    runs, warnings = loaded.runs, list(loaded.warnings)
    df = aggregate.summary_frame(runs, baseline)
    if runs and not ((df["backend"] == baseline) & (df["status"] == "ok")).any():
        warnings.append(f"baseline {baseline!r} has no successful run; no speed-ups are shown")
    learning = aggregate.learning_frame(df, runs)
    parity_blocks, parity_notes = aggregate.parity(loaded.traces, baseline)
    for block in parity_blocks:
        block["chart"] = charts.parity_chart(block, baseline) if block["rows"] else None

    context = {
        "results_dir": str(results_dir), "baseline": baseline, "csv_name": csv_path.name,
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "counts": {"files": loaded.files_seen, "runs": len(runs), "traces": len(loaded.traces),
                   "ok": int((df["status"] == "ok").sum()), "failed": int((df["status"] == "failed").sum()),
                   "reproductions": len(loaded.reproductions)},
        "warnings": warnings,
        "headlines": aggregate.headlines(df, runs, baseline),
        "settings": _settings(df, runs, learning),
        "parity": parity_blocks, "parity_notes": parity_notes,
        "failures": aggregate.failures(df, runs),
        "reproductions": reproduction.sections(loaded.reproductions, baseline),
        "gif_max_mib": reproduction.GIF_MAX_BYTES / 2**20, "first_step_tol": reproduction.FIRST_STEP_TOL,
        "environments": aggregate.environments(runs),
        "peaks": [p for _, p in PEAKS], "final_window": aggregate.FINAL_WINDOW,
        "resamples": stats.RESAMPLES, "seed": stats.SEED, "min_steps": stats.MIN_STEPS,
        "parity_eps": aggregate.PARITY_EPS,
    }
    context["scaling"] = scaling.section(runs)  # data-parallel runs (issue 15), None without any
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(context), encoding="utf-8")
    df.to_csv(csv_path, index=False)
    return ReportOutcome(out, csv_path, warnings, df, len(loaded.reproductions))


def terminal_table(df: pd.DataFrame) -> str:
    """The summary as fixed-width text for the terminal: the columns a person scans first."""
    if df.empty:
        return "(no valid result)"
    view = pd.DataFrame({
        "model": df["model"], "hardware": df["hardware"], "data": df["data_source"],
        "backend": df["backend"], "mode": df["mode"], "status": df["status"],
        "images/s": df["images_per_s"].map(num),
        "p10-p90": [f"{num(a)}-{num(b)}" if pd.notna(a) else "n/a" for a, b in zip(df["ips_p10"], df["ips_p90"])],
        "speed-up [95% CI]": [ratio(v, lo, hi) if pd.notna(v) else "n/a"
                              for v, lo, hi in zip(df["speedup"], df["speedup_lo"], df["speedup_hi"])],
        "MFU": df["mfu_pct"].map(lambda v: num(v, 2, "%")),
    })
    return view.to_string(index=False)
