"""The walk every adapter makes over a network spec: one framework module per spec layer, in order,
so that module `i` holds the canonical `{net}.{i}.*` arrays (common/state.py). Adapters supply only
the per-layer-type constructors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.analysis import infer_shapes
from common.spec import NetSpec


def build_layers(net_spec: NetSpec, make: dict[type, Callable[[Any, int], Any]]) -> list[Any]:
    """`make[type(layer)](layer, input_channels_or_features)` for every layer of `net_spec`."""
    shapes = infer_shapes(net_spec)
    out = []
    for layer, shape in zip(net_spec.layers, shapes):
        factory = make.get(type(layer))
        if factory is None:  # validated specs never get here unless an adapter lacks a layer type
            raise TypeError(f"unsupported layer {layer!r}")
        out.append(factory(layer, shape[0]))
    return out
