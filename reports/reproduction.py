"""The reproduction section: what each `python -m benchmarks reproduce` run learned, side by side.

Reproductions of one model on different backends form one group, so a reader sees whether they
learned the same thing: one table, the published comparison, the last progress grid and the
animation of every run next to each other, and two charts (charts.reproduction_*).

The published comparison: the run's mean D and G loss over the epochs from the published
window's first epoch on (the mean of the per-epoch means: every epoch has the same number of
iterations), or over its last completed epoch when the run has not reached the window, which
the page then says; each against the published [lo, hi] range. The first iteration's losses are
compared with the published first step, and called close within FIRST_STEP_TOL of it.
"""

from __future__ import annotations

import base64
import io
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import charts
from .aggregate import _model_order
from .load import REPRO_STOPPED, Reproduction

GIF_MAX_BYTES = 3 * 2**20  # larger animations are not embedded: the last grid alone is shown
GRID_RAW_MAX = 2**20  # a grid file up to this size is embedded as it is, a larger one re-encoded smaller
GRID_MAX_PX = 600
FIRST_STEP_TOL = 0.05  # relative: |run - published| <= 5 % of |published| is "close"
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}

STATUS_NOTES = {
    "running": "no end recorded: still running, or stopped before it could write its end "
    "(`python -m benchmarks reproduce MODEL --resume` continues it)",
    "completed": "",
    "diverged": "stopped: a loss became non-finite",
    "collapsed": "stopped: the generator's samples became all alike",
    "failed": "stopped by an error",
}


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def image_uri(path: Path) -> str:
    """A checked image file as a data URI: as it is when small, else re-encoded smaller as PNG."""
    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as img:
        if len(raw) <= GRID_RAW_MAX and img.format in MIME:
            return f"data:{MIME[img.format]};base64," + base64.b64encode(raw).decode("ascii")
        img = img.convert("RGB")
        img.thumbnail((GRID_MAX_PX, GRID_MAX_PX), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _grid_epoch(name: str | None, grids: list[str]) -> int | None:
    if name is None:
        return None
    hit = re.search(r"epoch_(\d+)", name)
    return int(hit.group(1)) if hit else grids.index(name)


def _verdict(value: float | None, lo: float, hi: float) -> tuple[str, str]:
    """(word, css class) for a run's mean against a published [lo, hi] range."""
    if value is None:
        return "n/a", ""
    if lo <= value <= hi:
        return "within", "good"
    if value > hi:
        return f"above by {value - hi:.3f}", "bad"
    return f"below by {lo - value:.3f}", "bad"


def compare(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The run against the tutorial's published numbers; None without published numbers."""
    pub = doc["published"]
    if pub is None:
        return None
    epochs = doc["epoch_losses"] or []
    start = pub["from_epoch"]
    window = [e for e in epochs if e["epoch"] >= start]
    note = None
    if not window and epochs:
        window = [epochs[-1]]
        note = (
            f"the run has not reached the published window (epochs ≥ {start}): it has "
            f"{len(epochs)} completed epoch(s), so its last epoch ({epochs[-1]['epoch']}) is compared"
        )
    elif not epochs:
        note = "the run has no completed epoch to compare"
    if window:
        first, last = window[0]["epoch"], window[-1]["epoch"]
        span = f"epoch {first}" if first == last else f"epochs {first}–{last} ({len(window)} epochs)"
    else:
        span = "none"
    rows = []
    for key, name in (("d", "loss_d"), ("g", "loss_g")):
        value = _mean([e[key] for e in window]) if window else None
        lo, hi = pub[name]
        word, css = _verdict(value, lo, hi)
        rows.append({"what": f"mean {name}", "run": value, "lo": lo, "hi": hi, "verdict": word, "css": css})
    first_rows = []
    losses = doc["losses"] or {}
    if pub["first_step"] is not None:
        for key, name in (("d", "loss_d"), ("g", "loss_g")):
            values = losses.get(key) or []
            run = values[0] if values and math.isfinite(values[0]) else None
            ref = pub["first_step"][name]
            delta = None if run is None else run - ref
            close = delta is not None and abs(delta) <= FIRST_STEP_TOL * abs(ref)
            first_rows.append(
                {
                    "what": f"first-step {name}",
                    "run": run,
                    "published": ref,
                    "delta": delta,
                    "verdict": "n/a" if delta is None else ("close" if close else "differs"),
                    "css": "" if delta is None else ("good" if close else "bad"),
                }
            )
    return {"source": pub["source"], "from_epoch": start, "span": span, "note": note, "rows": rows, "first": first_rows}


def _epoch_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per epoch: mean losses and metrics, merged on the epoch number."""
    rows: dict[int, dict[str, Any]] = {}
    for e in doc["epoch_losses"] or []:
        rows.setdefault(e["epoch"], {"epoch": e["epoch"]}).update(d=e["d"], g=e["g"])
    for m in doc["metrics"] or []:
        rows.setdefault(m["epoch"], {"epoch": m["epoch"]}).update(
            swd=m["swd"], frechet=m["frechet"], covered=m["covered"], pixel_std=m["pixel_std"]
        )
    keys = ("d", "g", "swd", "frechet", "covered", "pixel_std")
    return [{k: None for k in keys} | row for _, row in sorted(rows.items())]


ANIMATION_FRAMES = 12  # frames of the embedded animation, evenly spaced over the run, the last included
ANIMATION_SIDE = 256  # its longer side in pixels, at most


def small_animation(path: Path) -> tuple[bytes, int]:
    """progress.gif cut to ANIMATION_FRAMES frames and ANIMATION_SIDE pixels: the page embeds this
    and links the full file (four 200-epoch GIFs made the demo page 14 MB)."""
    with Image.open(path) as gif:
        n = getattr(gif, "n_frames", 1)
        picks = sorted({round(i * (n - 1) / max(ANIMATION_FRAMES - 1, 1)) for i in range(min(n, ANIMATION_FRAMES))})
        frames = []
        for k in picks:
            gif.seek(k)
            frame = gif.convert("RGB")
            frame.thumbnail((ANIMATION_SIDE, ANIMATION_SIDE))
            # no dithering: dithered noise defeats GIF's compression (1.2 MB for 12 frames of 320 px)
            frames.append(frame.quantize(colors=128, dither=Image.Dither.NONE))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=400, loop=0)
    return buf.getvalue(), len(frames)


def item(rep: Reproduction, page_dir: Path | None = None) -> dict[str, Any]:
    doc = rep.doc
    status = doc["status"]
    err = doc["error"] or {}
    stopped = status in REPRO_STOPPED
    metrics = doc["metrics"] or []
    last_metric = metrics[-1] if metrics else None
    epochs = doc["epoch_losses"] or []
    losses = doc["losses"] or {}
    gif_uri = gif_note = gif_href = None
    gif_frames = 0
    if rep.gif is not None:
        size = rep.gif.stat().st_size
        if size <= GIF_MAX_BYTES:
            try:
                small, gif_frames = small_animation(rep.gif)
                gif_uri = "data:image/gif;base64," + base64.b64encode(small).decode("ascii")
            except (OSError, ValueError) as exc:
                gif_note = f"progress.gif could not be read ({exc}): only the last grid is shown"
        else:
            gif_note = (
                f"progress.gif is {size / 2**20:.1f} MiB, over the {GIF_MAX_BYTES / 2**20:.0f} MiB "
                "limit for embedding: only the last grid is shown"
            )
        if page_dir is not None:
            gif_href = Path(os.path.relpath(rep.gif, page_dir)).as_posix()
    else:
        gif_note = (
            "no progress.gif (it is written when the run ends)"
            if status == "running"
            else "no progress.gif beside the file"
        )
    hist = last_metric["histogram"] if last_metric else None
    return {
        "file": rep.file,
        "model": doc["model"],
        "backend": doc["backend"],
        "device": doc["device"],
        "hardware": rep.hardware,
        "mode": doc["mode"] or "n/a",
        "framework_version": rep.env.get("framework_version"),
        "status": status,
        "stopped": stopped,
        "status_note": STATUS_NOTES[status],
        "error_type": err.get("type") or "",
        "error_message": (err.get("message") or ("no error recorded" if stopped else "")),
        "epochs_done": doc["epochs_done"],
        "epochs_planned": doc["epochs_planned"],
        "iterations_per_epoch": doc["iterations_per_epoch"],
        "batch_size": doc["batch_size"],
        "seed": doc["seed"],
        "subset": doc["subset"],
        "data_source": doc["data_source"] or "n/a",
        "data_detail": doc["data_detail"],
        "steps": len(losses.get("d") or []),
        "last_epoch": epochs[-1] if epochs else None,
        "last_metric": last_metric,
        "histogram": list(enumerate(hist)) if hist else None,
        "histogram_total": sum(hist) if hist else None,
        "seconds": doc["seconds"],
        "started_at": doc["started_at"],
        "finished_at": doc["finished_at"],
        "checkpoint": doc["checkpoint"],
        "comparison": compare(doc),
        "epoch_rows": _epoch_rows(doc),
        "grid_uri": image_uri(rep.grid) if rep.grid else None,
        "grid_epoch": _grid_epoch(rep.grid_name, doc["grids"] or []),
        "gif_uri": gif_uri,
        "gif_note": gif_note,
        "gif_href": gif_href,
        "gif_frames": gif_frames,
    }


def _order(rep: Reproduction, baseline: str) -> tuple:
    return (rep["backend"] != baseline, rep["backend"], rep["device"], rep.file)


def sections(reps: list[Reproduction], baseline: str, page_dir: Path | None = None) -> list[dict[str, Any]]:
    """One group per model, the tutorials' order; in a group the baseline backend first."""
    models = sorted({r["model"] for r in reps}, key=_model_order)
    out = []
    for model in models:
        group = sorted((r for r in reps if r["model"] == model), key=lambda r: _order(r, baseline))
        items = [item(r, page_dir) for r in group]
        labels = charts.reproduction_labels(group)
        for it, lab in zip(items, labels):
            it["label"] = lab
        out.append(
            {
                "model": model,
                "runs": items,
                "published": next((i["comparison"] for i in items if i["comparison"]), None),
                "any_subset": any(i["subset"] for i in items),
                "loss_chart": charts.reproduction_loss_chart(group, labels),
                "compare_chart": charts.reproduction_compare_chart(group, labels),
            }
        )
    return out
