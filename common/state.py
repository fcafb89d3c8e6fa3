"""The canonical training state: one flat dict of numpy arrays, saved as `.npz`.

Every backend exports and imports exactly this layout, so a checkpoint or an initial state moves
between frameworks as a file. Layouts are PyTorch's:

  key                         array
  G.{i}.weight                layer i of G: Dense (out, in) · Conv2d (out, in, kH, kW) ·
                              ConvTranspose2d (in, out, kH, kW) · BatchNorm γ (C,)
  G.{i}.bias                  (out,) / BatchNorm β (C,)
  G.{i}.running_mean          BatchNorm running mean (C,)
  G.{i}.running_var           BatchNorm running variance (C,)
  D.…                         the same for D
  opt.G.{i}.{name}.m          Adam first moment of a trainable parameter (same shape)
  opt.G.{i}.{name}.v          Adam second moment (uncorrected, as torch's exp_avg_sq)
  opt.G.step                  int64 scalar: Adam updates made so far (bias-correction exponent)
  opt.D.…                     the same for D's optimiser

`{i}` is the layer's index in the spec's layer list. A fixed γ (MXNet's fix_gamma) is stored as
ones and has no optimiser moments. Floats are float32.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from common.analysis import net_params
from common.init import init_array
from common.results import umask_mode
from common.spec import ModelSpec

NETS = ("G", "D")


def net_of(spec: ModelSpec, net: str):
    return {"G": spec.generator, "D": spec.discriminator}[net]


def param_keys(spec: ModelSpec, net: str, *, trainable_only: bool = False) -> list[str]:
    return [
        f"{net}.{i}.{p.name}"
        for i, _, p in net_params(net_of(spec, net))
        if not (trainable_only and (p.buffer or not p.trainable))
    ]


def state_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every key of the canonical state with its shape."""
    out: dict[str, tuple[int, ...]] = {}
    for net in NETS:
        for i, _, p in net_params(net_of(spec, net)):
            out[f"{net}.{i}.{p.name}"] = p.shape
    for net in NETS:
        for i, _, p in net_params(net_of(spec, net)):
            if p.trainable and not p.buffer:
                out[f"opt.{net}.{i}.{p.name}.m"] = p.shape
                out[f"opt.{net}.{i}.{p.name}.v"] = p.shape
        out[f"opt.{net}.step"] = ()
    return out


def initial_state(spec: ModelSpec, seed: int) -> dict[str, np.ndarray]:
    """The canonical initial state drawn from `seed` by the spec's initialisers (numpy only).

    Every backend starts from this, so all frameworks train the same initial weights."""
    rng = np.random.default_rng(seed)
    state: dict[str, np.ndarray] = {}
    for net in NETS:
        entries = net_params(net_of(spec, net))
        weight_shapes = {i: p.shape for i, _, p in entries if p.name == "weight"}
        for i, layer, p in entries:
            state[f"{net}.{i}.{p.name}"] = init_array(layer, p, weight_shapes[i], rng)
    for key, shape in state_shapes(spec).items():
        if key.startswith("opt."):
            state[key] = np.zeros(shape, np.int64) if key.endswith(".step") else np.zeros(shape, np.float32)
    return state


def check_state(spec: ModelSpec, state: dict[str, np.ndarray]) -> None:
    """Raise ValueError naming every missing, unexpected or mis-shaped key."""
    want = state_shapes(spec)
    problems = [f"missing {k}" for k in want if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in want]
    problems += [
        f"{k}: shape {tuple(np.shape(state[k]))}, expected {s}"
        for k, s in want.items()
        if k in state and tuple(np.shape(state[k])) != tuple(s)
    ]
    if problems:
        raise ValueError(
            f"state does not fit spec {spec.name!r}: "
            + "; ".join(problems[:10])
            + (f" (+{len(problems) - 10} more)" if len(problems) > 10 else "")
        )


def save_state(path: Path, state: dict[str, np.ndarray]) -> None:
    """Write atomically: a crash never leaves a half-written checkpoint under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        os.fchmod(fd, umask_mode())
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **state)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
