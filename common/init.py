"""Initialisers in numpy, including each framework's default, so every backend gets identical weights.

A framework's default is resolved here to a concrete rule (checked in that framework's source):
- torch (and MindSpore 2.x, which copied it): Linear/Conv weight kaiming_uniform(a=√5), i.e.
  U(±1/√fan_in); bias U(±1/√fan_in); torch computes a transposed conv's fan_in from weight.size(1),
  i.e. out_channels·k·k.
- paddle-fluid (1.x): fc and conv2d_transpose weights Xavier-uniform; conv2d weights
  Normal(0, √(2/(k·k·C_in))); all biases 0.
- BatchNorm γ 1, β 0 in every framework.
"""

from __future__ import annotations

import math

import numpy as np

from common.spec import BatchNorm, Conv2d, ConvTranspose2d, Dense, Init, Layer


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) as torch.nn.init computes them from a weight's shape."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def resolve_default(framework: str, layer: Layer, param: str, weight_shape: tuple[int, ...]) -> Init:
    fan_in, _ = fans(weight_shape)
    if isinstance(layer, BatchNorm):
        return Init("constant", value=1.0 if param == "weight" else 0.0)
    if framework in ("torch", "mindspore"):
        if param == "weight":
            return Init("kaiming_uniform", a=math.sqrt(5))
        return Init("uniform_fan_in")
    if framework == "paddle-fluid":
        if param == "bias":
            return Init("constant", value=0.0)
        if isinstance(layer, Conv2d):
            c_in, k = weight_shape[1], weight_shape[2] * weight_shape[3]
            return Init("normal", mean=0.0, std=math.sqrt(2.0 / (k * c_in)))
        if isinstance(layer, (Dense, ConvTranspose2d)):
            return Init("xavier_uniform")
    raise ValueError(f"no default initialiser known for {framework} {layer.op}.{param}")


def sample(init: Init, shape: tuple[int, ...], weight_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw one array. `weight_shape` gives the fans for rules that need them (a bias uses its weight's)."""
    fan_in, fan_out = fans(weight_shape) if len(weight_shape) > 1 else (weight_shape[0], weight_shape[0])
    if init.kind == "normal":
        out = rng.normal(init.mean, init.std, size=shape)
    elif init.kind == "constant":
        out = np.full(shape, init.value)
    elif init.kind == "xavier_uniform":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        out = rng.uniform(-bound, bound, size=shape)
    elif init.kind == "kaiming_uniform":
        gain = math.sqrt(2.0 / (1 + init.a**2))
        bound = gain * math.sqrt(3.0 / fan_in)
        out = rng.uniform(-bound, bound, size=shape)
    elif init.kind == "uniform_fan_in":
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        out = rng.uniform(-bound, bound, size=shape)
    else:
        raise ValueError(f"unresolved initialiser {init.kind!r}")
    return np.asarray(out, dtype=np.float32)


def init_array(layer: Layer, p, weight_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Initial value of `p` (a common.analysis.ParamInfo) of `layer`; a bias's default bound
    comes from its layer's weight shape, hence `weight_shape`."""
    if p.name == "running_mean":
        return np.zeros(p.shape, np.float32)
    if p.name == "running_var":
        return np.ones(p.shape, np.float32)
    if isinstance(layer, BatchNorm):
        if p.name == "weight" and layer.gamma == "fixed":
            return np.ones(p.shape, np.float32)
        init = layer.gamma_init if p.name == "weight" else layer.beta_init
    elif isinstance(layer, (Dense, Conv2d, ConvTranspose2d)):
        init = layer.weight_init if p.name == "weight" else layer.bias_init
    else:
        raise TypeError(f"a {layer.op} layer has no parameter {p.name!r}")
    if init.kind == "default":
        init = resolve_default(init.framework, layer, p.name, weight_shape)
    return sample(init, p.shape, weight_shape, rng)
