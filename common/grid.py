"""Sample grids as PNG (Pillow): generated images in [-1, 1] tiled row by row."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def grid_image(
    images: np.ndarray, image_shape: tuple[int, int, int], nrow: int | None = None, pad: int = 2
) -> Image.Image:
    """images: (N, C, H, W) or (N, C*H*W) floats in [-1, 1] (tanh range)."""
    c, h, w = image_shape
    x = np.asarray(images, np.float32).reshape(-1, c, h, w)
    x = np.clip((x + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    n = len(x)
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    ncol = math.ceil(n / nrow)
    canvas = np.zeros((ncol * (h + pad) + pad, nrow * (w + pad) + pad, c), np.uint8)
    for k, img in enumerate(x):
        r, q = divmod(k, nrow)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        canvas[top : top + h, left : left + w] = img.transpose(1, 2, 0)
    return Image.fromarray(canvas[..., 0] if c == 1 else canvas, "L" if c == 1 else "RGB")


def save_grid(path: Path, images: np.ndarray, image_shape: tuple[int, int, int], nrow: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        grid_image(images, image_shape, nrow).save(tmp, format="PNG")
        tmp.replace(path)
    except BaseException:  # a full disk or Ctrl-C leaves no .part behind
        tmp.unlink(missing_ok=True)
        raise
    return path
