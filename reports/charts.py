"""The report's figures, one per question, returned as PNG data URIs so the page is one file.

Figures are built with matplotlib's object API on the Agg canvas rather than pyplot, so no
global figure state or GUI backend is involved. Every figure's title names the hardware, the
device and the data source; a synthetic-data figure says so in its title in capitals and
hatches its bars, so it cannot be mistaken for a real-data result.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import matplotlib
import matplotlib.lines
import matplotlib.patches
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .aggregate import setting_title
from .load import Run

DPI = 100
RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "figure.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
BACKEND_COLOURS = {
    "torch": "#d62728",
    "mxnet": "#1f77b4",
    "paddle": "#2ca02c",
    "mindspore": "#9467bd",
    "jax": "#ff7f0e",
}
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


_WATERMARK: list[str] = []  # set by `watermarked` while a page from demo data is built


@contextlib.contextmanager
def watermarked(text: str | None):
    """Every chart drawn inside carries `text` across it (None: no mark)."""
    _WATERMARK.append(text or "")
    try:
        yield
    finally:
        _WATERMARK.pop()


def to_uri(fig: Figure, fmt: str = "png") -> str:
    """The figure as a data URI. Sample grids go as JPEG: they are photographs in effect, and
    PNG made them several times larger for no visible gain; line art stays PNG."""
    if _WATERMARK and _WATERMARK[-1]:
        fig.text(
            0.5,
            0.5,
            _WATERMARK[-1],
            transform=fig.transFigure,
            ha="center",
            va="center",
            rotation=18,
            fontsize=26,
            color="#c00000",
            alpha=0.3,
            zorder=100,
        )
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
            ax.barh(
                y,
                ips,
                color=[colour(b) for b in rows["backend"]],
                hatch="//" if synthetic else None,
                edgecolor="white" if synthetic else None,
                xerr=[lo.to_numpy(float), hi.to_numpy(float)],
                capsize=3,
                error_kw={"elinewidth": 1, "ecolor": "#333"},
            )
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
                ax.text(
                    max(r["images_per_s"], r["ips_p90"] if _finite(r["ips_p90"]) else 0),
                    yi,
                    note,
                    va="center",
                    fontsize=8,
                )
            ax.set_title(plain(model))
            ax.set_xlabel("images/s (median; bars: p10–p90 over steps)")
        ref = block["speedup_vs"].dropna()
        question = (
            f"Training throughput by backend (×: speed-up vs {ref.iloc[0]})"
            if len(ref)
            else "Training throughput by backend"
        )
        fig.suptitle(title(question, device, hardware, data_source), color="#b00" if synthetic else "black")
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
            parts = ax.boxplot(
                data, patch_artist=True, widths=0.6, medianprops={"color": "black"}, flierprops={"markersize": 3}
            )
            for patch, backend in zip(parts["boxes"], rows["backend"]):
                patch.set_facecolor(colour(backend))
                patch.set_alpha(0.6)
            ax.set_xticks(
                np.arange(1, len(rows) + 1), [plain(f"{b}\n({m})") for b, m in zip(rows["backend"], rows["mode"])]
            )
            ax.set_title(plain(model))
            ax.set_ylabel("step time (ms)")
        fig.supxlabel("box: quartiles and median; whiskers: 1.5 IQR; dots: slower or faster outlying steps", fontsize=8)
        fig.suptitle(
            title("Step-time distributions", device, hardware, data_source),
            color="#b00" if data_source == "synthetic" else "black",
        )
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
                    ax.plot(
                        np.arange(len(values)),
                        values,
                        color=colour(r["backend"]),
                        lw=1.2,
                        alpha=0.85,
                        label=label(r["backend"], r["mode"]),
                        linestyle="-" if r["mode"] == "eager" else "--",
                    )
                if run["warmup_steps"]:
                    warmups.add(run["warmup_steps"])
            for w in warmups:
                ax.axvspan(-0.5, w - 0.5, color="#ddd", alpha=0.5, lw=0)
            ax.set_title(name)
            ax.set_xlabel("iteration (grey: warm-up, not timed)")
        handles, labels = axes[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), frameon=False)
        fig.suptitle(
            title("What each backend learned", device, hardware, data_source, model),
            color="#b00" if data_source == "synthetic" else "black",
        )
        return to_uri(fig)


def _sample_image(path) -> np.ndarray:
    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((SAMPLE_MAX_PX, SAMPLE_MAX_PX), Image.Resampling.LANCZOS)
        return np.asarray(img)


TITLE_WIDTH_IN = 7.5  # inches a chart's two-line title needs (device, hardware and data on the second)


def samples_chart(block: pd.DataFrame, runs: list[Run]) -> str | None:
    """Every backend's final sample grid side by side, for one model and setting."""
    rows = [(i, r) for i, r in block.iterrows() if r["status"] == "ok"]
    if not any(runs[i].samples for i, _ in rows):
        return None
    device, hardware, data_source, model = block.iloc[0][["device", "hardware", "data_source", "model"]]
    rows = [(i, r) for i, r in rows if runs[i].samples]  # the others are linked under the chart
    images = [(r, _sample_image(runs[i].samples) if runs[i].samples else None) for i, r in rows]
    side = max(img.shape[1] for _, img in images if img is not None) / DPI
    with matplotlib.rc_context(RC):
        cell = max(side, 1.5)
        rows_needed = math.ceil(len(images) / max(1, int(14 // cell)))
        ncols = math.ceil(len(images) / rows_needed)  # balanced rows: five grids wrap 3 + 2, not 4 + 1
        nrows, ncols = _grid(len(images), ncols)
        # never narrower than the two-line title (one grid alone clipped it)
        fig = Figure(
            figsize=(max(ncols * cell + 0.3, TITLE_WIDTH_IN), nrows * (side + 0.45) + 1.0), layout="constrained"
        )
        for ax, (r, img) in zip(_axes(fig, len(images), ncols), images):
            ax.set_axis_off()
            ax.set_title(label(r["backend"], r["mode"]), color=colour(r["backend"]))
            if img is None:
                ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.imshow(img, interpolation="nearest")
        fig.suptitle(
            title("Final samples", device, hardware, data_source, model),
            color="#b00" if data_source == "synthetic" else "black",
        )
        return to_uri(fig, "jpeg")


def parity_chart(block: dict[str, Any], baseline: str) -> str:
    """Per-step relative loss difference of each backend's trace against the baseline's."""
    ref = block["ref"]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(11, 3.6), layout="constrained")
        ax = fig.subplots()
        for row in block["rows"]:
            values = np.maximum(np.asarray(row["per_step"], dtype=float), 1e-16)
            ax.plot(
                np.arange(len(values)),
                values,
                marker="o",
                ms=3,
                color=colour(row["backend"]),
                label=label(row["backend"], row["mode"]),
            )
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("max(|ΔD|/|D_ref|, |ΔG|/|G_ref|)\n(0 drawn at 1e-16)")
        if block["rows"]:
            ax.legend(frameon=False)
        data = ref.env.get("data_source") or "data source not recorded in traces"
        fig.suptitle(
            plain(f"Loss parity against {baseline} ({ref.mode}) — {block['model']}\n{block['device']} · {data}")
        )
        return to_uri(fig)


# --- reproductions ------------------------------------------------------------------------------------
D_COLOUR, G_COLOUR = "#5b8fd6", "#f0a050"  # per step (light) ...
D_MEAN, G_MEAN = "#0f2f6b", "#9a4300"  # ... and per-epoch means (dark), so the means stand out
MAX_POINTS = 3000  # a longer per-step curve is drawn as bucket means with a min–max band
LINESTYLES = ["-", "--", ":", "-."]


def reproduction_labels(reps: list) -> list[str]:
    """ "backend (device)", with the run's folder added where that is not unique in the group."""
    labels = [f"{r['backend']} ({r['device']})" for r in reps]
    return [
        lab + (f" · {r.file.rsplit('/', 2)[-2] if '/' in r.file else r.file}" if labels.count(lab) > 1 else "")
        for lab, r in zip(labels, reps)
    ]


def _styles(reps: list) -> list[tuple[str, str]]:
    seen: dict[str, int] = {}
    out = []
    for r in reps:
        n = seen.get(r["backend"], 0)
        seen[r["backend"]] = n + 1
        out.append((colour(r["backend"]), LINESTYLES[n % len(LINESTYLES)]))
    return out


def _buckets(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centres (in steps), means, minima and maxima of equal buckets, NaNs ignored."""
    size = math.ceil(len(values) / MAX_POINTS)
    n = math.ceil(len(values) / size)
    padded = np.full(n * size, np.nan)
    padded[: len(values)] = values
    blocks = padded.reshape(n, size)
    with warnings.catch_warnings():  # an all-NaN bucket is drawn as a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, lo, hi = np.nanmean(blocks, 1), np.nanmin(blocks, 1), np.nanmax(blocks, 1)
    centres = np.arange(n) * size + (size - 1) / 2
    return centres, mean, lo, hi


def _per_step(ax, values: list[float], scale: float, col: str) -> None:
    v = np.asarray(values, dtype=float)
    if len(v) > MAX_POINTS:
        x, mean, lo, hi = _buckets(v)
        ax.fill_between(x / scale, lo, hi, color=col, alpha=0.15, lw=0)
        ax.plot(x / scale, mean, color=col, lw=0.7, alpha=0.7)
    else:
        ax.plot(np.arange(len(v)) / scale, v, color=col, lw=0.6, alpha=0.45)


def _published_bands(ax, pub: dict[str, Any] | None, end: float, keys=(("loss_d", D_COLOUR), ("loss_g", G_COLOUR))):
    if not pub:
        return
    start = pub["from_epoch"]
    end = max(end, start + 1)
    for key, col in keys:
        lo, hi = pub[key]
        ax.fill_between(
            [start, end],
            [lo, lo],
            [hi, hi],
            color=col,
            alpha=0.18,
            lw=0.8,
            ls="--",
            edgecolor=col,
            label=f"published {key} range",
        )


def reproduction_loss_chart(reps: list, labels: list[str]) -> str | None:
    """Per run: per-step D and G losses, with the per-epoch means and the published ranges over them."""
    fig = reproduction_loss_figure(reps, labels)
    return to_uri(fig) if fig is not None else None


def save_reproduction_loss_chart(record: Mapping[str, Any], path) -> bool:
    """The loss chart of one run (a reproduction.json record) as a PNG file: the report's chart
    with that run alone. False, and no file, when the record holds no losses yet."""
    fig = reproduction_loss_figure([record], reproduction_labels([record]))
    if fig is None:
        return False
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI)
    return True


def reproduction_loss_figure(reps: list, labels: list[str]) -> Figure | None:
    """The figure of reproduction_loss_chart; None when no run has a loss."""
    items = [(r, lab) for r, lab in zip(reps, labels) if (r["losses"] or {}).get("d") or r["epoch_losses"]]
    if not items:
        return None
    model = reps[0]["model"]
    steps = np.concatenate(
        [np.asarray((r["losses"] or {}).get(k) or [], dtype=float) for r, _ in items for k in ("d", "g")]
    )
    steps = steps[np.isfinite(steps)]
    means = [v for r, _ in items for e in r["epoch_losses"] or [] for v in (e["d"], e["g"]) if math.isfinite(v)]
    pubs = [v for r, _ in items if r["published"] for k in ("loss_d", "loss_g") for v in r["published"][k]]
    top = max([float(np.percentile(steps, 99.5)) if len(steps) else 0.0] + means + pubs) * 1.08 or 1.0
    bottom = min([0.0] + ([float(np.percentile(steps, 0.5))] if len(steps) else []) + means)
    clipped = bool(len(steps)) and float(steps.max()) > top
    with matplotlib.rc_context(RC):
        nrows, ncols = _grid(len(items), 3)
        fig = Figure(figsize=(11, 1.1 + 3.1 * nrows), layout="constrained")
        axes = list(_axes(fig, len(items), ncols))
        for ax, (r, lab) in zip(axes, items):
            ipe = r["iterations_per_epoch"]
            scale = float(ipe) if ipe else 1.0
            losses = r["losses"] or {}
            for key, col in (("d", D_COLOUR), ("g", G_COLOUR)):
                if losses.get(key):
                    _per_step(ax, losses[key], scale, col)
            epochs = r["epoch_losses"] or []
            if epochs and ipe:
                x = [e["epoch"] + 0.5 for e in epochs]
                marker = "o" if len(epochs) <= 40 else None
                ax.plot(x, [e["d"] for e in epochs], color=D_MEAN, lw=1.5, marker=marker, ms=3, label="D, epoch mean")
                ax.plot(x, [e["g"] for e in epochs], color=G_MEAN, lw=1.5, marker=marker, ms=3, label="G, epoch mean")
            end = len(losses.get("d") or []) / scale if losses.get("d") else len(epochs)
            if ipe:
                _published_bands(ax, r["published"], max(end, r["epochs_planned"]))
            ax.set_ylim(bottom, top)
            if r["status"] in ("diverged", "collapsed", "failed"):
                ax.axvline(end, color="#b00", lw=1.2, ls=":")
                ax.text(
                    end,
                    top,
                    f" {r['status'].upper()}",
                    color="#b00",
                    fontweight="bold",
                    va="top",
                    ha="right" if end > 0.6 * max(r["epochs_planned"], 1) else "left",
                )
            head = f"{lab}\n{r['status']}, {r['epochs_done']}/{r['epochs_planned']} epochs"
            if r["subset"]:
                head += f" — SUBSET: first {r['subset']} images"
            ax.set_title(
                plain(head),
                color="#b00" if r["status"] in ("diverged", "collapsed", "failed") or r["subset"] else "black",
            )
            ax.set_xlabel("epoch" if ipe else "iteration (iterations per epoch not recorded)")
            ax.set_ylabel("loss")
        handles, names = [], []
        for ax in axes:
            for h, n in zip(*ax.get_legend_handles_labels()):
                if n not in names:
                    handles.append(h)
                    names.append(n)
        handles = [
            matplotlib.lines.Line2D([], [], color=D_COLOUR, lw=0.6, alpha=0.6),
            matplotlib.lines.Line2D([], [], color=G_COLOUR, lw=0.6, alpha=0.6),
        ] + handles
        names = ["D, per step", "G, per step"] + names
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 6), frameon=False)
        note = "long runs: per-step curves drawn as bucket means with a min–max band"
        if clipped:
            note += "; y axis cut at the 99.5th percentile of the per-step losses"
        fig.suptitle(plain(f"Reproduction losses — {model}\n{note}"))
        return fig


def reproduction_compare_chart(reps: list, labels: list[str]) -> str | None:
    """Every run of one model overlaid: per-epoch mean losses, SWD, Fréchet(MNIST) and the last
    epoch's predicted-digit histogram, so whether the backends learned the same thing shows."""
    if not any(r["epoch_losses"] or r["metrics"] for r in reps):
        return None
    model = reps[0]["model"]
    styles = _styles(reps)
    panels = [
        ("d", "mean D loss per epoch"),
        ("g", "mean G loss per epoch"),
        ("swd", "SWD ×10³ (lower: closer to the data)"),
    ]
    if any(m["frechet"] is not None for r in reps for m in r["metrics"] or []):
        panels.append(("frechet", "Fréchet(MNIST) (lower: closer)"))
    hists = [(r["metrics"][-1]["histogram"], r["metrics"][-1]["epoch"]) if r["metrics"] else (None, None) for r in reps]
    if any(h for h, _ in hists):
        panels.append(("hist", "predicted digit of the samples, last epoch"))
    with matplotlib.rc_context(RC):
        nrows, ncols = _grid(len(panels), 3)
        fig = Figure(figsize=(11, 1.0 + 2.9 * nrows), layout="constrained")
        for ax, (key, name) in zip(_axes(fig, len(panels), ncols), panels):
            ax.set_title(plain(name))
            if key == "hist":
                shown = [(i, h, e) for i, (h, e) in enumerate(hists) if h]
                width = 0.8 / len(shown)
                for k, (i, h, e) in enumerate(shown):
                    pct = 100 * np.asarray(h, dtype=float) / max(sum(h), 1)
                    ax.bar(
                        np.arange(len(h)) + (k - (len(shown) - 1) / 2) * width,
                        pct,
                        width,
                        color=styles[i][0],
                        label=plain(f"{labels[i]} (epoch {e})"),
                    )
                ax.axhline(10, color="#555", lw=0.8, ls="--")
                ax.set_xticks(np.arange(max(len(h) for _, h, _ in shown)))
                ax.set_xlabel("digit (dashed: 10 %, every digit equally often)")
                ax.set_ylabel("% of samples")
                continue
            for r, lab, (col, ls) in zip(reps, labels, styles):
                rows = r["epoch_losses"] if key in ("d", "g") else r["metrics"]
                pts = [(e["epoch"], e[key]) for e in rows or [] if e[key] is not None]
                if pts:
                    x, y = zip(*pts)
                    ax.plot(
                        x, y, color=col, ls=ls, lw=1.3, marker="o" if len(pts) <= 40 else None, ms=3, label=plain(lab)
                    )
            if key in ("d", "g"):
                pub = next((r["published"] for r in reps if r["published"]), None)
                if pub:
                    lo, hi = pub[f"loss_{key}"]
                    end = max([pub["from_epoch"] + 1] + [r["epochs_planned"] for r in reps])
                    ax.fill_between(
                        [pub["from_epoch"], end],
                        [lo, lo],
                        [hi, hi],
                        color="#888",
                        alpha=0.25,
                        lw=0,
                        label="published range",
                    )
            if key in ("swd", "frechet"):
                ax.set_yscale("log")
                # Plain numbers (20, 30, 50) rather than 2×10¹: these axes span one or two decades.
                ax.yaxis.set_major_formatter(matplotlib.ticker.LogFormatter())
                ax.yaxis.set_minor_formatter(
                    matplotlib.ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5))
                )
            ax.set_xlabel("epoch")
        handles, names = [], []
        for ax in fig.axes:
            for h, n in zip(*ax.get_legend_handles_labels()):
                if n not in names:
                    handles.append(h)
                    names.append(n)
        if handles:
            fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 5), frameon=False)
        subset = [lab for r, lab in zip(reps, labels) if r["subset"]]
        head = f"Did the reproductions learn the same thing? — {model}"
        if subset:
            head += f"\nSUBSET runs (only the first images of the data): {', '.join(subset)}"
        fig.suptitle(plain(head), color="#b00" if subset else "black")
        return to_uri(fig)


# --- one number per framework, batch sweeps ------------------------------------------------
HEAT_SPAN = 4.0  # colours saturate at ×4 and ×1/4: beyond that the printed number says enough


def _clip(text: Any, width: int = 24) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def heatmap_chart(block: dict[str, Any], baseline: str) -> str | None:
    """Model × framework: speed-up of each framework's best run over the baseline's best, on a
    log colour scale centred at ×1 (red slower, blue faster); failed and refused cells are
    grey and say so, and a framework that did not run a model leaves the cell empty."""
    models, backends = block["models"], block["backends"]
    if not models or not backends:
        return None
    from matplotlib.colors import LogNorm

    values = np.full((len(models), len(backends)), np.nan)
    for i, row in enumerate(block["grid"]):
        for j, cell in enumerate(row):
            if cell and cell.get("value") is not None:
                values[i, j] = cell["value"]
    synthetic = block["data_source"] == "synthetic"
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(min(11, 3.0 + 1.5 * len(backends)), 2.3 + 0.55 * len(models)), layout="constrained")
        ax = fig.subplots()
        norm = LogNorm(vmin=1 / HEAT_SPAN, vmax=HEAT_SPAN)
        shown = np.ma.masked_invalid(np.clip(values, 1 / HEAT_SPAN, HEAT_SPAN))
        cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="#f2f2f2")
        image = ax.imshow(shown, cmap=cmap, norm=norm, aspect="auto")
        for i, row in enumerate(block["grid"]):
            for j, cell in enumerate(row):
                if cell is None:
                    text, col = "not run", "#888"
                elif cell["kind"] in ("failed", "refused"):
                    text, col = f"{cell['kind']}\n{_clip(cell['error_type'], 16)}", "#8a0000"
                    # Hatched, so a failure never reads as the pale ×1 of the colour scale.
                    ax.add_patch(
                        matplotlib.patches.Rectangle(
                            (j - 0.5, i - 0.5), 1, 1, fill=False, lw=0, hatch="//", edgecolor="#e3b5b5"
                        )
                    )
                elif cell.get("value") is None:
                    text, col = f"no {baseline}\nto compare", "#555"
                else:
                    v = cell["value"]
                    text = f"×{v:.2f}\n{_clip(cell['mode'], 14)}"
                    col = "white" if abs(math.log(min(max(v, 1 / HEAT_SPAN), HEAT_SPAN))) > 0.8 else "black"
                ax.text(j, i, plain(text), ha="center", va="center", fontsize=8, color=col)
        # Names come from result files: a long one would squeeze the grid to nothing.
        ax.set_xticks(np.arange(len(backends)), [plain(_clip(b)) for b in backends])
        ax.set_yticks(np.arange(len(models)), [plain(_clip(m)) for m in models])
        ax.tick_params(length=0)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        bar = fig.colorbar(image, ax=ax, shrink=0.9)
        bar.set_label(plain(f"speed-up vs {baseline} (log)"))
        ticks = [t for t in (0.25, 0.5, 1, 2, 4) if 1 / HEAT_SPAN <= t <= HEAT_SPAN]
        bar.set_ticks(ticks, labels=[f"×{t:g}" for t in ticks])
        bar.minorticks_off()
        fig.suptitle(
            title(
                f"Best run of each framework against {baseline}'s best",
                block["device"],
                block["hardware"],
                block["data_source"],
            ),
            color="#b00" if synthetic else "black",
        )
        return to_uri(fig)


def batch_sweep_chart(sweep: dict[str, Any]) -> str | None:
    """Images/s against batch size (log2), one line per framework (one mode), one panel per model."""
    models = sweep["models"]
    if not sweep["lines"]:
        return None
    synthetic = sweep["data_source"] == "synthetic"
    with matplotlib.rc_context(RC):
        nrows, _ = _grid(len(models), 2)
        fig = Figure(figsize=(11, 1.2 + 3.2 * nrows), layout="constrained")
        for ax, model in zip(_axes(fig, len(models), 2), models):
            for line in (x for x in sweep["lines"] if x["model"] == model):
                x = np.asarray(line["batch"], dtype=float)
                y = np.asarray(line["ips"], dtype=float)
                lo = np.clip(y - np.asarray(line["p10"], dtype=float), 0, None)
                hi = np.clip(np.asarray(line["p90"], dtype=float) - y, 0, None)
                ax.errorbar(
                    x,
                    y,
                    yerr=[np.nan_to_num(lo), np.nan_to_num(hi)],
                    marker="o",
                    ms=4,
                    capsize=3,
                    color=colour(line["backend"]),
                    label=label(line["backend"], line["mode"]),
                )
            for fit in (f for f in sweep["fits"] if f["model"] == model and f["smallest_oom"]):
                ax.axvline(fit["smallest_oom"], color=colour(fit["backend"]), ls=":", lw=1)
                ax.text(
                    fit["smallest_oom"],
                    1,
                    plain(f" {fit['backend']}: out of memory"),
                    rotation=90,
                    va="top",
                    ha="right",
                    fontsize=7,
                    color=colour(fit["backend"]),
                    transform=ax.get_xaxis_transform(),
                )
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.set_ylim(bottom=0)
            ax.set_title(plain(model))
            ax.set_xlabel("batch size (log₂)")
            ax.set_ylabel("images/s (median; bars: p10–p90)")
            ax.legend(frameon=False, fontsize=8)
        fig.suptitle(
            title("Throughput against batch size", sweep["device"], sweep["hardware"], sweep["data_source"]),
            color="#b00" if synthetic else "black",
        )
        return to_uri(fig)
