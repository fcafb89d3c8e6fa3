"""A reproduction's pictures: grids/epoch_NNN.png from the tutorial's fixed noise every epoch, and
at the end progress.gif (those grids animated) and losses.png (reports.charts' loss chart of the run)."""

from __future__ import annotations

from pathlib import Path

from common.grid import save_grid

GIF_FRAME_MS = 500


def save_epoch_grid(out: Path, epoch: int, samples, image_shape) -> str:
    """Write this epoch's grid; returns its path as the record holds it."""
    path = out / "grids" / f"epoch_{epoch:03d}.png"
    save_grid(path, samples, image_shape)
    return path.relative_to(out).as_posix()


def save_progress_gif(out: Path, grids: list[str]) -> None:
    frames_at = [out / g for g in grids if (out / g).exists()]
    if not frames_at:
        return
    from PIL import Image

    frames = [Image.open(p).convert("RGB") for p in frames_at]
    frames[0].save(out / "progress.gif", save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS, loop=0)


def save_loss_plot(out: Path, record: dict) -> None:
    from reports.charts import save_reproduction_loss_chart

    save_reproduction_loss_chart(record, out / "losses.png")


def save_final_artefacts(out: Path, record: dict) -> None:
    save_progress_gif(out, record["grids"])
    save_loss_plot(out, record)
