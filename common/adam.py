"""The scalars of each Adam form (common/spec.py `ADAM_FORMS`), computed once on the host in numpy.

A fused Adam kernel that adds ε to sqrt(v) computes  p -= S · m / (sqrt(v) + E)  with the moments
updated by the factors 1-β1, 1-β2. Every form is that kernel with the right (S, E) per update and
the right β for the moments, so a backend that runs any Adam kernel can compute any form by feeding
it these numbers: they are the same numbers on every framework, which keeps cross-framework parity.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from common.spec import ADAM_FORMS, Adam, ModelSpec

F32 = np.float32


def moment_betas(opt: Adam) -> tuple[float, float]:
    """β1, β2 as doubles whose 1-β (formed in double) is the form's 1-β exactly.

    For a float32 form that is float32(β): 1 - float32(β) is exact in double and equals the float32
    subtraction a kernel does (Sterbenz: β ≥ 1/2), and float32(β) itself multiplies the moment."""
    if opt.adam_form.one_minus_beta == "float32":
        return float(F32(opt.beta1)), float(F32(opt.beta2))
    return float(opt.beta1), float(opt.beta2)


def beta_powers(opt: Adam, t: int) -> tuple[float, float]:
    """β1ᵗ, β2ᵗ for update t (1-based) as the form holds them: a float32 product updated once per
    step (MindSpore's beta1_power, fluid's Beta1Pow), or Python's beta ** t."""
    if t < 1:
        raise ValueError(f"Adam update numbers start at 1, got {t}")
    if opt.adam_form.beta_power == "float32":
        return float32_powers(opt.beta1, t), float32_powers(opt.beta2, t)
    return float(opt.beta1) ** t, float(opt.beta2) ** t


_POWERS: dict[float, list[float]] = {}  # β -> [β^0, β^1, ...] as float32 products, extended on demand


def float32_powers(beta: float, t: int) -> float:
    """β^t as a float32 product of t factors float32(β), starting from 1 (memoised: a backend asks
    for every step's power, and a run makes 1e5 of them)."""
    seq = _POWERS.setdefault(float(beta), [1.0])
    if t >= len(seq) and seq[-1] != 0.0:
        b, p = F32(beta), F32(seq[-1])
        while len(seq) <= t and p != 0:
            p = F32(p * b)
            seq.append(float(p))
    return seq[t] if t < len(seq) else 0.0


def step_scalars(opt: Adam, t: int) -> tuple[float, float]:
    """(S, E) of update t: p -= S · m / (sqrt(v) + E), in the form's precision (a float32 form's
    values are float32 numbers, returned as doubles that convert back without rounding)."""
    form = opt.adam_form
    p1, p2 = beta_powers(opt, t)
    if form.beta_power == "float32":
        # float arithmetic in the kernels' order: lr * sqrt(1 - b2p) / (1 - b1p)
        one = F32(1.0)
        root = np.sqrt(F32(one - F32(p2)), dtype=F32)
        s = F32(F32(F32(opt.lr) * root) / F32(one - F32(p1)))
        e = F32(opt.eps) if form.eps == "sqrt_v" else F32(F32(opt.eps) * root)
        return float(s), float(e)
    root = math.sqrt(1.0 - p2)
    s = opt.lr * (root / (1.0 - p1))  # MXNet's order: lr *= sqrt(coef2)/coef1
    return s, (opt.eps if form.eps == "sqrt_v" else opt.eps * root)


def float32_step_table(opt: Adam) -> np.ndarray:
    """(S, E) of updates 1, 2, … T as a float32 array of shape (T, 2), for a form whose β powers are
    float32 products: from update T on they no longer change (1-β1ᵗ and 1-β2ᵗ both round to 1 in
    float32), so row min(t, T) - 1 serves update t. A jitted step indexes it by its update count
    instead of forming the products itself, which a compiler may fuse into a later 1-βᵗ and so skip
    their rounding (XLA does, on CPU and GPU)."""
    if opt.adam_form.beta_power != "float32":
        raise ValueError(f"{opt.form}: its β powers are not float32 products")
    rows, t = [], 1
    while True:
        rows.append(step_scalars(opt, t))
        p1, p2 = beta_powers(opt, t)
        if F32(F32(1.0) - F32(p1)) == 1 and F32(F32(1.0) - F32(p2)) == 1:
            return np.asarray(rows, F32)
        t += 1


def torch_scalars(opt: Adam, t: int) -> tuple[float, float]:
    """(lr', ε') that make torch.optim.Adam — p -= lr'/(1-b1ᵗ) · m / (sqrt(v)/sqrt(1-b2ᵗ) + ε'), with
    b = `moment_betas` and its bias corrections in doubles — compute `step_scalars` of update t:
    lr' = S·(1-b1ᵗ)/sqrt(1-b2ᵗ), ε' = E/sqrt(1-b2ᵗ) (exact in real arithmetic). The same holds for
    optax-style kernels and Paddle 3's (lr'·sqrt(1-b2ᵗ)/(1-b1ᵗ), ε'·sqrt(1-b2ᵗ))."""
    s, e = step_scalars(opt, t)
    b1, b2 = moment_betas(opt)
    c1, root2 = 1.0 - b1**t, math.sqrt(1.0 - b2**t)
    return s * c1 / root2, e / root2


def reference_update(opt: Adam, t: int, p, g, m, v, dtype=np.float64):
    """One update of the form in numpy (`dtype` arithmetic); returns new (p, m, v). Tests compare
    every backend's optimiser with this."""
    b1, b2 = moment_betas(opt)
    s, e = step_scalars(opt, t)
    p, g, m, v = (np.asarray(x, dtype) for x in (p, g, m, v))
    m = dtype(b1) * m + dtype(1.0 - b1) * g
    v = dtype(b2) * v + dtype(1.0 - b2) * g * g
    return p - dtype(s) * m / (np.sqrt(v) + dtype(e)), m, v


def with_adam_form(spec: ModelSpec, form: str | None) -> ModelSpec:
    """The spec with both optimisers switched to `form` (validated), or unchanged for None."""
    if form is None or all(o.form == form for o in (spec.recipe.opt_g, spec.recipe.opt_d)):
        return spec
    r = spec.recipe
    recipe = dataclasses.replace(
        r, opt_g=dataclasses.replace(r.opt_g, form=form), opt_d=dataclasses.replace(r.opt_d, form=form)
    )
    return dataclasses.replace(spec, recipe=recipe)


def adam_form_of(spec: ModelSpec) -> str:
    forms = {spec.recipe.opt_g.form, spec.recipe.opt_d.form}
    return forms.pop() if len(forms) == 1 else "/".join(sorted(forms))


__all__ = [
    "ADAM_FORMS",
    "moment_betas",
    "beta_powers",
    "float32_powers",
    "step_scalars",
    "torch_scalars",
    "reference_update",
    "with_adam_form",
    "adam_form_of",
]
