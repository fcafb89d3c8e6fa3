"""Shapes, parameter counts and analytic FLOPs derived from a spec (no framework needed).

FLOP conventions (written down because MFU depends on them):
- dense / conv / transposed conv: 2 FLOPs per multiply-accumulate, plus one per output for a bias;
- batch norm: 6 FLOPs per element (batch mean and variance, normalise, scale and shift);
- activations and max-pool: one FLOP per element compared or computed;
- a backward pass costs twice its forward pass (gradients for inputs and for weights), the usual
  convention of MFU accounting; every pass the recipe makes is counted, including G's forward for
  the fakes D is trained on and the forward passes the G step re-does.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.recipe import SAME_FAKE, plan
from common.spec import (
    Act,
    BatchNorm,
    Conv2d,
    ConvTranspose2d,
    Dense,
    Flatten,
    Layer,
    MaxPool2d,
    ModelSpec,
    NetSpec,
    Reshape,
    SpecError,
)


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def output_shape(layer: Layer, shape: tuple[int, ...], *, model: str = "", path: str = "") -> tuple[int, ...]:
    """Shape of one sample after `layer`, or SpecError if the layer cannot take `shape`."""

    def need_rank(r: int):
        if len(shape) != r:
            raise SpecError(model, path, f"{layer.op} needs a rank-{r} sample, gets {shape}")

    if isinstance(layer, Dense):
        need_rank(1)
        return (layer.out_features,)
    if isinstance(layer, Conv2d):
        need_rank(3)
        h, w = ((s + 2 * layer.padding - layer.kernel) // layer.stride + 1 for s in shape[1:])
        if h <= 0 or w <= 0:
            raise SpecError(model, path, f"conv output would be empty for input {shape}")
        return (layer.out_channels, h, w)
    if isinstance(layer, ConvTranspose2d):
        need_rank(3)
        h, w = ((s - 1) * layer.stride - 2 * layer.padding + layer.kernel + layer.output_padding for s in shape[1:])
        return (layer.out_channels, h, w)
    if isinstance(layer, MaxPool2d):
        need_rank(3)
        h, w = ((s - layer.kernel) // layer.stride + 1 for s in shape[1:])
        return (shape[0], h, w)
    if isinstance(layer, BatchNorm):
        need_rank(1 if layer.dim == 1 else 3)
        return shape
    if isinstance(layer, Act):
        return shape
    if isinstance(layer, Reshape):
        if _prod(layer.shape) != _prod(shape):
            raise SpecError(model, f"{path}.shape", f"cannot reshape {shape} to {layer.shape}")
        return tuple(layer.shape)
    if isinstance(layer, Flatten):
        return (_prod(shape),)
    raise SpecError(model, path, f"unknown layer {layer!r}")


def infer_shapes(net: NetSpec, *, model: str = "", name: str = "") -> list[tuple[int, ...]]:
    """[input shape, shape after layer 0, after layer 1, ...] for one sample."""
    shapes = [tuple(net.input_shape)]
    for i, layer in enumerate(net.layers):
        shapes.append(output_shape(layer, shapes[-1], model=model, path=f"{name}.layers[{i}]"))
    return shapes


@dataclass(frozen=True)
class ParamInfo:
    """One array of a layer's state, in PyTorch's layout."""

    name: str  # weight | bias | running_mean | running_var
    shape: tuple[int, ...]
    trainable: bool  # updated by the optimiser
    buffer: bool  # running statistic, not a parameter


def layer_params(layer: Layer, in_shape: tuple[int, ...]) -> list[ParamInfo]:
    if isinstance(layer, Dense):
        out = [ParamInfo("weight", (layer.out_features, in_shape[0]), True, False)]
        if layer.bias:
            out.append(ParamInfo("bias", (layer.out_features,), True, False))
        return out
    if isinstance(layer, Conv2d):
        out = [ParamInfo("weight", (layer.out_channels, in_shape[0], layer.kernel, layer.kernel), True, False)]
        if layer.bias:
            out.append(ParamInfo("bias", (layer.out_channels,), True, False))
        return out
    if isinstance(layer, ConvTranspose2d):
        out = [ParamInfo("weight", (in_shape[0], layer.out_channels, layer.kernel, layer.kernel), True, False)]
        if layer.bias:
            out.append(ParamInfo("bias", (layer.out_channels,), True, False))
        return out
    if isinstance(layer, BatchNorm):
        c = (in_shape[0],)
        return [
            ParamInfo("weight", c, layer.gamma == "learned", False),
            ParamInfo("bias", c, True, False),
            ParamInfo("running_mean", c, False, True),
            ParamInfo("running_var", c, False, True),
        ]
    return []


def net_params(net: NetSpec) -> list[tuple[int, Layer, ParamInfo]]:
    shapes = infer_shapes(net)
    return [(i, layer, p) for i, layer in enumerate(net.layers) for p in layer_params(layer, shapes[i])]


@dataclass(frozen=True)
class ParamCount:
    trainable: int  # what the optimiser updates
    fixed: int  # parameters held constant (MXNet's fix_gamma γ)
    buffers: int  # BatchNorm running statistics

    @property
    def parameters(self) -> int:
        """Everything a framework lists as a parameter (trainable + fixed)."""
        return self.trainable + self.fixed


def param_count(net: NetSpec) -> ParamCount:
    t = f = b = 0
    for _, _, p in net_params(net):
        n = _prod(p.shape)
        if p.buffer:
            b += n
        elif p.trainable:
            t += n
        else:
            f += n
    return ParamCount(t, f, b)


def forward_flops(net: NetSpec, batch: int = 1, *, elementwise: bool = True, bias: bool = True) -> int:
    """Forward FLOPs of `net` on `batch` samples; `elementwise=False, bias=False` leaves the
    multiply-accumulates alone (what torch.utils.flop_counter counts)."""
    shapes = infer_shapes(net)
    total = 0
    for i, layer in enumerate(net.layers):
        inp, out = shapes[i], shapes[i + 1]
        add_bias = bias and getattr(layer, "bias", False)
        if isinstance(layer, Dense):
            f = 2 * inp[0] * layer.out_features + (layer.out_features if add_bias else 0)
        elif isinstance(layer, Conv2d):
            f = 2 * inp[0] * layer.kernel**2 * _prod(out) + (_prod(out) if add_bias else 0)
        elif isinstance(layer, ConvTranspose2d):
            f = 2 * _prod(inp) * layer.kernel**2 * layer.out_channels + (_prod(out) if add_bias else 0)
        elif not elementwise:
            f = 0
        elif isinstance(layer, BatchNorm):
            f = 6 * _prod(out)
        elif isinstance(layer, Act):
            f = _prod(out)
        elif isinstance(layer, MaxPool2d):
            f = _prod(out) * layer.kernel**2
        else:  # reshape / flatten move no data
            f = 0
        total += f
    return total * batch


def iteration_flops(spec: ModelSpec, batch: int | None = None) -> int:
    """Analytic FLOPs of one training iteration as the recipe makes it."""
    b = batch or spec.data.batch_size
    g, d = forward_flops(spec.generator, b), forward_flops(spec.discriminator, b)
    iteration = plan(spec.recipe)
    # D step(s): G makes the fakes; D runs forward and backward on the real and the fake batch.
    total = g + 2 * (d + 2 * d)
    for update in iteration.g_updates:
        regen = 0 if update.source == SAME_FAKE else g
        total += regen + d + 2 * d + 2 * g  # D forward/backward for the input gradient, then G backward
    return total
