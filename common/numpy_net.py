"""Inference-mode forward pass of a spec network in numpy (for metrics that must not need a framework).

Parameters come in the canonical layout (common/state.py). Convolutions use a strided window view
and one tensordot per chunk, which is fast enough for a small classifier over ten thousand images.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from common.spec import Act, BatchNorm, Conv2d, Dense, Flatten, MaxPool2d, NetSpec, Reshape


def _conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, pad: int) -> np.ndarray:
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[2]
    win = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]  # N C Ho Wo k k
    out = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3]))  # N Ho Wo O
    out = out.transpose(0, 3, 1, 2)
    return out + b[None, :, None, None] if b is not None else out


def _max_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s].max(axis=(4, 5))


def _param(params: dict[str, np.ndarray], layer_prefix: str, name: str) -> np.ndarray:
    return params[layer_prefix + name]


def forward(
    net: NetSpec, params: dict[str, np.ndarray], prefix: str, x: np.ndarray, upto: int | None = None, chunk: int = 1000
) -> np.ndarray:
    """Output of layers [0, upto) of `net` (all by default) on x, BatchNorm in inference mode."""
    if len(x) > chunk:
        return np.concatenate(
            [forward(net, params, prefix, x[i : i + chunk], upto, chunk) for i in range(0, len(x), chunk)]
        )
    h = np.asarray(x, np.float32)
    for i, layer in enumerate(net.layers[:upto]):
        p = partial(_param, params, f"{prefix}.{i}.")
        if isinstance(layer, Dense):
            h = h @ p("weight").T + (p("bias") if layer.bias else 0)
        elif isinstance(layer, Conv2d):
            h = _conv2d(h, p("weight"), p("bias") if layer.bias else None, layer.stride, layer.padding)
        elif isinstance(layer, MaxPool2d):
            h = _max_pool(h, layer.kernel, layer.stride)
        elif isinstance(layer, BatchNorm):
            shape = (1, -1) + (1,) * (h.ndim - 2)
            inv = 1.0 / np.sqrt(p("running_var") + layer.eps)
            h = (h - p("running_mean").reshape(shape)) * (inv * p("weight")).reshape(shape) + p("bias").reshape(shape)
        elif isinstance(layer, Act):
            if layer.fn == "relu":
                h = np.maximum(h, 0)
            elif layer.fn == "leaky_relu":
                h = np.where(h > 0, h, layer.slope * h)
            elif layer.fn == "tanh":
                h = np.tanh(h)
            else:
                h = 1.0 / (1.0 + np.exp(-h))
        elif isinstance(layer, Reshape):
            h = h.reshape(len(h), *layer.shape)
        elif isinstance(layer, Flatten):
            h = h.reshape(len(h), -1)
        else:
            raise TypeError(f"numpy forward does not implement {layer.op}")
        h = h.astype(np.float32, copy=False)
    return h
