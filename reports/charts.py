"""The report's figures, one per question, returned as PNG data URIs so the page is one file.

Figures are built with matplotlib's object API on the Agg canvas rather than pyplot, so no
global figure state or GUI backend is involved. Every figure's title names the hardware, the
device and the data source; a synthetic-data figure says so in its title in capitals and
hatches its bars, so it cannot be mistaken for a real-data result.
"""
from __future__ import annotations

import base64
import io
import math
from typing import Any, Iterator

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .aggregate import setting_title
from .load import Run

DPI = 100
RC = {"font.size": 9, "axes.titlesize": 10, "figure.titlesize": 11,
      "axes.spines.top": False, "axes.spines.right": False}
BACKEND_COLOURS = {"torch": "#d62728", "mxnet": "#1f77b4", "paddle": "#2ca02c",
                   "mindspore": "#9467bd", "jax": "#ff7f0e"}
OTHER_COLOURS = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
SAMPLE_MAX_PX = 400


def plain(text: Any) -> str:
    """Text from a result file, shown as written: mathtext would read "$...$" in it as TeX.
    (Turning mathtext off globally would also break the log axes' tick labels.)"""
    return str(text).replace("$", r"\$")


def colour(backend: str) -> str:
    if backend in BACKEND_COLOURS:
        return BACKEND_COLOURS[backend]
    return OTHER_COLOURS[sum(map(ord, backend)) % len(OTHER_COLOURS)]


def label(backend: str, mode: str) -> str:
    return plain(f"{backend} ({mode})")


def title(question: str, device: str, hardware: str, data_source: str, model: str | None = None) -> str:
    head = "SYNTHETIC DATA — not comparable with real-data results\n" if data_source == "synthetic" else ""
    what = f"{question} — {model}" if model else question
    return plain(f"{head}{what}\n{setting_title(device, hardware, data_source)}")


def to_uri(fig: Figure, fmt: str = "png") -> str:
    """The figure as a data URI. Sample grids go as JPEG: they are photographs in effect, and
    PNG made them several times larger for no visible gain; line art stays PNG."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    extra = {"pil_kwargs": {"quality": 90}} if fmt == "jpeg" else {}
    fig.savefig(buf, format=fmt, dpi=DPI, **extra)
    return f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _finite(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _grid(n: int, ncols: int) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def _axes(fig: Figure, n: int, ncols: int) -> Iterator:
    nrows, ncols = _grid(n, ncols)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return iter(axes[:n])


def throughput_chart(block: pd.DataFrame) -> str:
    """Median throughput per backend with p10–p90 bars, one panel per model of one setting."""
    device, hardware, data_source = block.iloc[0][["device", "hardware", "data_source"]]
    models = list(dict.fromkeys(block["model"]))
    synthetic = data_source == "synthetic"
    with matplotlib.rc_context(RC):
        heights = [0.5 + 0.32 * (block["model"] == m).sum() for m in models]
        nrows, _ = _grid(len(models), 2)
        fig = Figure(figsize=(11, 1.3 + sum(sorted(heights)[-nrows:]) * 1.0), layout="constrained")
        for ax, model in zip(_axes(fig, len(models), 2), models):
            rows = block[block["model"] == model].iloc[::-1]
            y = np.arange(len(rows))
            ok = rows["status"] == "ok"
            ips = rows["images_per_s"].where(ok, 0).astype(float).to_numpy()
            lo = (rows["images_per_s"] - rows["ips_p10"]).clip(lower=0).where(ok, 0).fillna(0)
            hi = (rows["ips_p90"] - rows["images_per_s"]).clip(lower=0).where(ok, 0).fillna(0)
            ax.barh(y, ips, color=[colour(b) for b in rows["backend"]],
                    hatch="//" if synthetic else None, edgecolor="white" if synthetic else None,
                    xerr=[lo.to_numpy(float), hi.to_numpy(float)], capsize=3,
                    error_kw={"elinewidth": 1, "ecolor": "#333"})
            ax.set_yticks(y, [label(b, m) for b, m in zip(rows["backend"], rows["mode"])])
            top = np.nanmax(np.r_[ips, rows["ips_p90"].where(ok).to_numpy(float), 0.0])
            ax.set_xlim(0, (top or 1) * 1.35)
            for yi, (_, r) in zip(y, rows.iterrows()):
                if r["status"] != "ok":
                    ax.text(0, yi, "  failed", va="center", color="#b00", fontweight="bold")
                    continue
                note = f"  {r['images_per_s']:,.0f}"
                if _finite(r["speedup"]):
                    note += f"  ×{r['speedup']:.2f}"
                ax.text(max(r["images_per_s"], r["ips_p90"] if _finite(r["ips_p90"]) else 0), yi,
                        note, va="center", fontsize=8)
            ax.set_title(plain(model))
            ax.set_xlabel("images/s (median; bars: p10–p90 over steps)")
        ref = block["speedup_vs"].dropna()
        question = f"Training throughput by backend (×: speed-up vs {ref.iloc[0]})" if len(ref) else \
            "Training throughput by backend"
        fig.suptitle(title(question, device, hardware, data_source),
                     color="#b00" if synthetic else "black")
        return to_uri(fig)


def step_time_chart(block: pd.DataFrame, runs: list[Run]) -> str | None:
    """Distribution of the measured step times of each run, one panel per model."""
    block = block[[bool(runs[i]["step_times_s"]) for i in block.index]]
    if block.empty:
        return None
    device, hardware, data_source = block.iloc[0][["device", "hardware", "data_source"]]
    models = list(dict.fromkeys(block["model"]))
    with matplotlib.rc_context(RC):
        nrows, _ = _grid(len(models), 2)
        fig = Figure(figsize=(11, 1.0 + 3.0 * nrows), layout="constrained")
        for ax, model in zip(_axes(fig, len(models), 2), models):
            rows = block[block["model"] == model]
            data = [np.asarray(runs[i]["step_times_s"]) * 1e3 for i in rows.index]
            # Vertical boxes: the keyword for horizontal ones differs between matplotlib 3.8
            # (the MXNet session's pin) and 3.10+.
            parts = ax.boxplot(data, patch_artist=True, widths=0.6,
                               medianprops={"color": "black"}, flierprops={"markersize": 3})
            for patch, backend in zip(parts["boxes"], rows["backend"]):
                patch.set_facecolor(colour(backend))
                patch.set_alpha(0.6)
            ax.set_xticks(np.arange(1, len(rows) + 1),
                          [plain(f"{b}\n({m})") for b, m in zip(rows["backend"], rows["mode"])])
            ax.set_title(plain(model))
            ax.set_ylabel("step time (ms)")
        fig.supxlabel("box: quartiles and median; whiskers: 1.5 IQR; dots: slower or faster outlying steps",
                      fontsize=8)
        fig.suptitle(title("Step-time distributions", device, hardware, data_source),
                     color="#b00" if data_source == "synthetic" else "black")
        return to_uri(fig)


def loss_chart(block: pd.DataFrame, runs: list[Run]) -> str | None:
    """D and G losses, D(x) and D(G(z)) of every backend overlaid, for one model and setting."""
    series = [("d", "D loss"), ("g", "G loss"), ("d_x", "mean D(x)"), ("d_g_z", "mean D(G(z))")]
    rows = [(i, r) for i, r in block.iterrows() if r["status"] == "ok"]
    if not any(runs[i]["losses"] or runs[i]["d_x"] for i, _ in rows):
        return None
    device, hardware, data_source, model = block.iloc[0][["device", "hardware", "data_source", "model"]]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(11, 6.2), layout="constrained")
        axes = fig.subplots(2, 2, sharex=True).ravel()
        warmups = set()
        for ax, (key, name) in zip(axes, series):
            for i, r in rows:
                run = runs[i]
                values = (run["losses"] or {}).get(key) if key in ("d", "g") else run[key]
                if values:
                    ax.plot(np.arange(len(values)), values, color=colour(r["backend"]), lw=1.2,
                            alpha=0.85, label=label(r["backend"], r["mode"]),
                            linestyle="-" if r["mode"] == "eager" else "--")
                if run["warmup_steps"]:
                    warmups.add(run["warmup_steps"])
            for w in warmups:
                ax.axvspan(-0.5, w - 0.5, color="#ddd", alpha=0.5, lw=0)
            ax.set_title(name)
            ax.set_xlabel("iteration (grey: warm-up, not timed)")
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), frameon=False)
        fig.suptitle(title("What each backend learned", device, hardware, data_source, model),
                     color="#b00" if data_source == "synthetic" else "black")
        return to_uri(fig)


def _sample_image(path) -> np.ndarray:
    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((SAMPLE_MAX_PX, SAMPLE_MAX_PX), Image.Resampling.LANCZOS)
        return np.asarray(img)


def samples_chart(block: pd.DataFrame, runs: list[Run]) -> str | None:
    """Every backend's final sample grid side by side, for one model and setting."""
    rows = [(i, r) for i, r in block.iterrows() if r["status"] == "ok"]
    if not any(runs[i].samples for i, _ in rows):
        return None
    device, hardware, data_source, model = block.iloc[0][["device", "hardware", "data_source", "model"]]
    images = [(r, _sample_image(runs[i].samples) if runs[i].samples else None) for i, r in rows]
    side = max(img.shape[1] for _, img in images if img is not None) / DPI
    with matplotlib.rc_context(RC):
        ncols = min(len(images), max(1, int(12 // max(side, 1.5))))
        nrows, ncols = _grid(len(images), ncols)
        fig = Figure(figsize=(ncols * max(side, 1.5) + 0.3, nrows * (side + 0.45) + 1.0), layout="constrained")
        for ax, (r, img) in zip(_axes(fig, len(images), ncols), images):
            ax.set_axis_off()
            ax.set_title(label(r["backend"], r["mode"]), color=colour(r["backend"]))
            if img is None:
                ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.imshow(img, interpolation="nearest")
        fig.suptitle(title("Final samples", device, hardware, data_source, model),
                     color="#b00" if data_source == "synthetic" else "black")
        return to_uri(fig, "jpeg")


def parity_chart(block: dict[str, Any], baseline: str) -> str:
    """Per-step relative loss difference of each backend's trace against the baseline's."""
    ref = block["ref"]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(11, 3.6), layout="constrained")
        ax = fig.subplots()
        for row in block["rows"]:
            values = np.maximum(np.asarray(row["per_step"], dtype=float), 1e-16)
            ax.plot(np.arange(len(values)), values, marker="o", ms=3, color=colour(row["backend"]),
                    label=label(row["backend"], row["mode"]))
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("max(|ΔD|/|D_ref|, |ΔG|/|G_ref|)\n(0 drawn at 1e-16)")
        if block["rows"]:
            ax.legend(frameon=False)
        data = ref.env.get("data_source") or "data source not recorded in traces"
        fig.suptitle(plain(f"Loss parity against {baseline} ({ref.mode}) — {block['model']}\n"
                             f"{block['device']} · {data}"))
        return to_uri(fig)
