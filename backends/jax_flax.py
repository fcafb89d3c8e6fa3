"""JAX adapter: any spec as pure functions over canonical-keyed pytrees, optax Adam, and the whole
training iteration as ONE jitted, buffer-donating XLA computation.

Design (why pure functions, not flax.linen / nnx modules):
- The canonical state is a flat dict keyed `{net}.{i}.{name}` in PyTorch layouts. The networks here
  are pure functions over exactly those dicts (Dense (out, in), Conv OIHW, ConvTranspose IOHW, NCHW
  activations), so `load_state`/`export_state` are a 1:1 copy: no kernel transposes, no renaming,
  an exact round trip, and nothing to get wrong between Flax's (in, out)/HWIO and torch's layouts.
- The recipe needs torch's BatchNorm, which neither flax.linen.BatchNorm nor nnx.BatchNorm is:
  torch normalises with the biased batch variance but keeps the UNBIASED one in running_var, and
  its momentum is the new-statistic weight. Flax also pads ConvTranspose differently. Both would
  be re-implemented anyway; modules would only add a naming/layout layer.
- Threading the BatchNorm statistics explicitly through every forward pass makes their update
  order the recipe's order, visibly: G's forward for the fakes, D's passes in the D step in
  d_pass_order, D's pass in every G step, and G's recomputed / fresh-noise forwards. In "same_fake"
  the G step back-propagates through the very forward that made the fake (`jax.vjp`), so G's
  running statistics move once for it, as in torch.
So this backend needs jax and optax; flax is not used at run time (its version is reported when
installed, since the registry installs it alongside).

Numerics matched to torch (backends/pytorch.py): Conv2d is `lax.conv_general_dilated`; a
ConvTranspose2d is the input-dilated convolution with the spatially flipped IOHW kernel and padding
(k-1-p, k-1-p+output_padding), exactly torch's definition; BCE on probabilities clamps its logs at
-100 and has torch's backward ((p-y)/max(p(1-p), 1e-12)). Adam computes the spec's form
(common/spec.py ADAM_FORMS): torch's is `optax.adam`, which like torch.optim.Adam adds eps to
sqrt(v_hat) after bias correction; the others are `form_adam`, an optax transformation that adds ε
to sqrt(v) with the step size lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) formed on the device as the form forms it
(checked in tests/test_jax_*.py).
In float64 (tests subclass with `dtype = "float64"`) the losses equal torch's float64 ones to
~1e-13 over ten iterations of every model. On CPU the convolutions' kernel gradients are one
im2col matmul each (custom VJPs): XLA:CPU's own lowering of them was ~30x slower on a DCGAN layer.

Execution: `step` runs one AOT-compiled executable (`jax.jit(..., donate_argnums=0).lower().compile()`)
on the carried state (params, Adam states, BatchNorm statistics, PRNG key), whose buffers are
donated and updated in place. Native mode draws the noise on the device from a `jax.random` key
split once per iteration inside the computation; parity mode takes the supplied arrays. The
compile time is measured apart and exposed as `info()["compile_s"]` once the first step has run
(the harness's `first_step_s` includes it; steps after it never recompile for the same shapes).
"""

from __future__ import annotations

import math
import time
import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from backends.base import DEVICE_KIND, Backend
from common.adam import float32_step_table, moment_betas
from common.env import cpu_model, usable_cores
from common.feed import StepNoise
from common.recipe import FAKE, FROM_Z, REAL, SAME_FAKE, plan, stats_row
from common.spec import Act, BatchNorm, Conv2d, ConvTranspose2d, Dense, Flatten, MaxPool2d, ModelSpec, Reshape
from common.state import NETS, check_state, param_keys

_BCE_EPS = 1e-12  # torch's binary_cross_entropy backward: (p - y) / max(p (1 - p), EPSILON)


# --- layers (NCHW activations, PyTorch weight layouts) -----------------------------------------


def _conv2d_xla(x, w, stride: int, padding: int):
    return lax.conv_general_dilated(
        x, w, (stride, stride), [(padding, padding)] * 2, dimension_numbers=("NCHW", "OIHW", "NCHW")
    )


def _conv_transpose2d_xla(x, w, stride: int, padding: int, out_pad_h: int = 0, out_pad_w: int = 0):
    """The gradient of a strided convolution with respect to its input: dilate the input by the
    stride, pad (k-1-p) before and (k-1-p+output_padding) after, and correlate with the kernel
    flipped in space (the kernel is read as IOHW, so no transpose is materialised)."""
    k = w.shape[2]
    lo = k - 1 - padding
    return lax.conv_general_dilated(
        x,
        w[:, :, ::-1, ::-1],
        (1, 1),
        [(lo, lo + out_pad_h), (lo, lo + out_pad_w)],
        lhs_dilation=(stride, stride),
        dimension_numbers=("NCHW", "IOHW", "NCHW"),
    )


def _conv_transpose2d_matmul(x, w, stride: int, padding: int, out_pad_h: int = 0, out_pad_w: int = 0):
    """The same transposed convolution as one matmul to per-tap columns, then col2im by strided
    padding: used on CPU in float64, where XLA's input-dilated convolution takes a slow loop."""
    n, c, h, wd = x.shape
    o, k = w.shape[1], w.shape[2]
    cols = lax.dot_general(x.reshape(n, c, h * wd), w.reshape(c, o * k * k), (((1,), (0,)), ((), ())))
    cols = cols.reshape(n, h, wd, o, k, k).transpose(0, 3, 4, 5, 1, 2)  # (n, o, k, k, h, w)
    hf, wf = (h - 1) * stride + k, (wd - 1) * stride + k
    zero = jnp.zeros((), x.dtype)
    y = None
    for i in range(k):
        for j in range(k):
            tap = lax.pad(
                cols[:, :, i, j], zero, ((0, 0, 0), (0, 0, 0), (i, k - 1 - i, stride - 1), (j, k - 1 - j, stride - 1))
            )
            y = tap if y is None else y + tap
    ho, wo = hf - 2 * padding + out_pad_h, wf - 2 * padding + out_pad_w
    # crop `padding` off the start; output_padding beyond the full output is zeros
    return lax.pad(y, zero, ((0, 0, 0), (0, 0, 0), (-padding, ho + padding - hf, 0), (-padding, wo + padding - wf, 0)))


def _conv_transpose2d_cpu_impl(x, w, stride, padding, out_pad_h=0, out_pad_w=0):
    fn = _conv_transpose2d_matmul if x.dtype == jnp.float64 else _conv_transpose2d_xla
    return fn(x, w, stride, padding, out_pad_h, out_pad_w)


def _patches(xp, k: int, stride: int, ho: int, wo: int):
    """im2col of an already padded (N, C, H, W) array: (N, C*k*k, ho*wo), taps in (c, i, j) order."""
    n, c = xp.shape[:2]
    cols = [
        lax.slice(
            xp, (0, 0, i, j), (n, c, i + stride * (ho - 1) + 1, j + stride * (wo - 1) + 1), (1, 1, stride, stride)
        )
        for i in range(k)
        for j in range(k)
    ]
    return jnp.stack(cols, axis=2).reshape(n, c * k * k, ho * wo)


def _contract_batch_and_space(a, b):
    """(N, A, S) x (N, B, S) -> (A, B), summing over the batch and the positions: one matmul."""
    return lax.dot_general(a, b, (((0, 2), (0, 2)), ((), ())))


# XLA:CPU lowers a convolution's kernel gradient (a convolution whose "kernel" is the output
# gradient) to a slow generic loop: tens of seconds per DCGAN layer. The CPU path therefore
# keeps XLA's convolutions for the forward pass and the input gradient and computes the kernel
# gradient as one im2col matmul. GPUs use plain autodiff of the XLA convolutions (cuDNN).
@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv2d_cpu(x, w, stride, padding):
    return _conv2d_xla(x, w, stride, padding)


def _conv2d_cpu_fwd(x, w, stride, padding):
    return _conv2d_xla(x, w, stride, padding), (x, w)


def _conv2d_cpu_bwd(stride, padding, res, dy):
    x, w = res
    k, (h, wd), (ho, wo) = w.shape[2], x.shape[2:], dy.shape[2:]
    dx = _conv_transpose2d_cpu_impl(
        dy, w, stride, padding, h + 2 * padding - k - (ho - 1) * stride, wd + 2 * padding - k - (wo - 1) * stride
    )
    xp = jnp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding))) if padding else x
    dw = _contract_batch_and_space(dy.reshape(dy.shape[0], dy.shape[1], ho * wo), _patches(xp, k, stride, ho, wo))
    return dx, dw.reshape(w.shape)


_conv2d_cpu.defvjp(_conv2d_cpu_fwd, _conv2d_cpu_bwd)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_transpose2d_cpu(x, w, stride, padding, output_padding):
    return _conv_transpose2d_cpu_impl(x, w, stride, padding, output_padding, output_padding)


def _conv_transpose2d_cpu_fwd(x, w, stride, padding, output_padding):
    return _conv_transpose2d_cpu_impl(x, w, stride, padding, output_padding, output_padding), (x, w)


def _conv_transpose2d_cpu_bwd(stride, padding, output_padding, res, dy):
    x, w = res
    k, (h, wd) = w.shape[2], x.shape[2:]
    dx = _conv2d_xla(dy, w, stride, padding)  # the transposed conv's adjoint: w (I, O, k, k) read as OIHW
    # the un-cropped output gradient: padding rows back on both sides, output_padding rows off the end
    end = padding - output_padding
    dy_full = lax.pad(dy, jnp.zeros((), dy.dtype), ((0, 0, 0), (0, 0, 0), (padding, end, 0), (padding, end, 0)))
    cols = _patches(dy_full, k, stride, h, wd)
    dw = _contract_batch_and_space(x.reshape(x.shape[0], x.shape[1], h * wd), cols)
    return dx, dw.reshape(w.shape)


_conv_transpose2d_cpu.defvjp(_conv_transpose2d_cpu_fwd, _conv_transpose2d_cpu_bwd)


def conv2d(x, w, stride: int, padding: int, cpu: bool = True):
    """torch.nn.functional.conv2d: x (N, C, H, W), w (O, I, kH, kW)."""
    return (_conv2d_cpu if cpu else _conv2d_xla)(x, w, stride, padding)


def conv_transpose2d(x, w, stride: int, padding: int, output_padding: int = 0, cpu: bool = True):
    """torch.nn.functional.conv_transpose2d: x (N, I, H, W), w (I, O, kH, kW)."""
    if cpu:
        return _conv_transpose2d_cpu(x, w, stride, padding, output_padding)
    return _conv_transpose2d_xla(x, w, stride, padding, output_padding, output_padding)


def max_pool2d(x, kernel: int, stride: int):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, kernel, kernel), (1, 1, stride, stride), "VALID")


def leaky_relu(x, slope: float):
    return jnp.where(x > 0, x, x * slope)  # torch: gradient 1 where x > 0, else slope


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def bce_prob(p, y: float):
    """torch.nn.functional.binary_cross_entropy(p, full(y)), mean: logs clamped at -100."""
    return jnp.mean(-(y * jnp.maximum(jnp.log(p), -100.0) + (1.0 - y) * jnp.maximum(jnp.log1p(-p), -100.0)))


def _bce_prob_fwd(p, y):
    return bce_prob(p, y), p


def _bce_prob_bwd(y, p, g):
    return (g * (p - y) / jnp.maximum((1.0 - p) * p, _BCE_EPS) / p.size,)


bce_prob.defvjp(_bce_prob_fwd, _bce_prob_bwd)


def bce_logits(x, y: float):
    """torch.nn.functional.binary_cross_entropy_with_logits(x, full(y)), mean."""
    return jnp.mean((1.0 - y) * x - jax.nn.log_sigmoid(x))


LOSSES = {"bce_prob": bce_prob, "bce_logits": bce_logits, "bce_logits_on_prob": bce_logits}


def _bn_train(x, w, b, rm, rv, layer: BatchNorm):
    """Batch statistics (biased variance) normalise; the running statistics take the unbiased
    variance with torch's update rule (new-statistic weight = 1 - spec momentum)."""
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    bshape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    n = x.size // x.shape[1]
    mean = jnp.mean(x, axes)
    centred = x - mean.reshape(bshape)
    var = jnp.mean(centred * centred, axes)
    y = centred * lax.rsqrt(var + layer.eps).reshape(bshape) * w.reshape(bshape) + b.reshape(bshape)
    m_t = 1.0 - layer.momentum  # torch's momentum
    unbiased = var * (n / max(n - 1, 1))
    new_rm = lax.stop_gradient((1.0 - m_t) * rm + m_t * mean)
    new_rv = lax.stop_gradient((1.0 - m_t) * rv + m_t * unbiased)
    return y, new_rm, new_rv


def _bn_eval(x, w, b, rm, rv, layer: BatchNorm):
    bshape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    return (x - rm.reshape(bshape)) * lax.rsqrt(rv + layer.eps).reshape(bshape) * w.reshape(bshape) + b.reshape(bshape)


class Net:
    """A sequential spec network as a pure function of canonical-keyed dicts.

    params: trainable arrays; fixed: non-trainable parameters (a fixed BatchNorm γ);
    stats: running_mean / running_var buffers. `apply` returns (output, new stats)."""

    # training-mode BatchNorm; backends/jax_dp.py's per-replica Net normalises each replica's slice
    bn_train = staticmethod(_bn_train)

    def __init__(self, prefix: str, net_spec, cpu: bool = True):
        self.prefix, self.cpu = prefix, cpu
        self.layers = tuple(net_spec.layers)

    def apply(self, params, fixed, stats, x, train: bool):
        new_stats = dict(stats)
        n = x.shape[0]
        for i, layer in enumerate(self.layers):
            k = f"{self.prefix}.{i}."
            if isinstance(layer, Dense):
                # full float32 like torch's matmuls (JAX's default may use TF32 on GPUs; no-op on CPU)
                x = lax.dot_general(x, params[k + "weight"], (((1,), (1,)), ((), ())), precision=lax.Precision.HIGHEST)
                if layer.bias:
                    x = x + params[k + "bias"]
            elif isinstance(layer, Conv2d):
                x = conv2d(x, params[k + "weight"], layer.stride, layer.padding, self.cpu)
                if layer.bias:
                    x = x + params[k + "bias"].reshape(1, -1, 1, 1)
            elif isinstance(layer, ConvTranspose2d):
                x = conv_transpose2d(
                    x, params[k + "weight"], layer.stride, layer.padding, layer.output_padding, self.cpu
                )
                if layer.bias:
                    x = x + params[k + "bias"].reshape(1, -1, 1, 1)
            elif isinstance(layer, MaxPool2d):
                x = max_pool2d(x, layer.kernel, layer.stride)
            elif isinstance(layer, BatchNorm):
                w = params[k + "weight"] if layer.gamma == "learned" else fixed[k + "weight"]
                b, rm, rv = params[k + "bias"], stats[k + "running_mean"], stats[k + "running_var"]
                if train:
                    x, rm, rv = self.bn_train(x, w, b, rm, rv, layer)
                    new_stats[k + "running_mean"], new_stats[k + "running_var"] = rm, rv
                else:
                    x = _bn_eval(x, w, b, rm, rv, layer)
            elif isinstance(layer, Act):
                if layer.fn == "relu":
                    x = jax.nn.relu(x)
                elif layer.fn == "leaky_relu":
                    x = leaky_relu(x, layer.slope)
                elif layer.fn == "tanh":
                    x = jnp.tanh(x)
                else:
                    x = jax.nn.sigmoid(x)
            elif isinstance(layer, Reshape):
                x = x.reshape(n, *layer.shape)
            elif isinstance(layer, Flatten):
                x = x.reshape(n, -1)
            else:  # validated specs never get here
                raise TypeError(f"unsupported layer {layer!r}")
        return x, new_stats


class FormAdamState(NamedTuple):
    count: jax.Array  # updates made (int32)
    mu: optax.Updates
    nu: optax.Updates


def form_adam(o) -> optax.GradientTransformation:
    """An Adam form that adds ε to sqrt(v): p -= S · m / (sqrt(v) + E) (common.adam.step_scalars).
    1-β is formed from `moment_betas` (Python doubles, so the weakly typed scalars round to the
    form's float32 values). Forms whose β powers are float32 products (MindSpore's, fluid's) take
    (S, E) from `common.adam.float32_step_table`, indexed by the update count: formed in the step,
    XLA would contract a later 1 - pow·β into one fused multiply-add and skip the product's rounding
    (seen on CPU and GPU with the four updates of paddle-dcgan28's iteration). Double β powers
    (MXNet's) are formed as 1-βᵗ = -expm1(t·ln β), accurate to the last bit of the compute dtype."""
    b1, b2 = moment_betas(o)
    form = o.adam_form
    lb1, lb2 = math.log(o.beta1), math.log(o.beta2)
    table = float32_step_table(o) if form.beta_power == "float32" else None

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        # every leaf its own buffer: the compiled step donates the state
        return (FormAdamState(jnp.zeros([], jnp.int32), zeros, jax.tree_util.tree_map(jnp.zeros_like, params)),)

    def update(grads, state, params=None):
        (st,) = state
        mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1.0 - b1) * g, st.mu, grads)
        nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1.0 - b2) * g * g, st.nu, grads)
        count = st.count + 1
        dtype = jax.tree_util.tree_leaves(grads)[0].dtype
        if table is not None:
            row = jnp.asarray(table)[jnp.minimum(st.count, len(table) - 1)]  # update st.count + 1
            step, eps = row[0], row[1]
        else:
            t = count.astype(dtype)
            root = jnp.sqrt(-jnp.expm1(t * lb2))
            step = o.lr * (root / -jnp.expm1(t * lb1))
            eps = o.eps * (root if form.eps == "sqrt_v_hat" else jnp.ones_like(root))
        step, eps = step.astype(dtype), eps.astype(dtype)
        updates = jax.tree_util.tree_map(lambda m, v: -step * m / (jnp.sqrt(v) + eps), mu, nu)
        return updates, (FormAdamState(count, mu, nu),)

    return optax.GradientTransformation(init, update)


def adam(o) -> optax.GradientTransformation:
    """The spec's Adam form: torch's is optax.adam (p -= lr · m̂ / (sqrt(v̂) + eps))."""
    if o.form == "torch":
        return optax.adam(o.lr, b1=o.beta1, b2=o.beta2, eps=o.eps)
    return form_adam(o)


def _adam_index(opt_state) -> int:
    for j, s in enumerate(opt_state):
        if isinstance(s, (optax.ScaleByAdamState, FormAdamState)):
            return j
    raise TypeError(f"no Adam state in {opt_state!r}")


def _versions() -> dict:
    import importlib.metadata as md

    out = {"jax": jax.__version__}
    for pkg in ("jaxlib", "flax", "optax"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _gpu_devices() -> list:
    try:
        return list(jax.devices("gpu"))
    except RuntimeError:
        return []


def make_train_step(spec: ModelSpec, native: bool, cpu: bool = True, dtype=jnp.float32, net_cls=None):
    """The whole iteration as one pure function: (carry, real[, z, zg]) -> (carry, stats).

    carry = {"G", "D": trainable params, "opt_G", "opt_D": optax states, "bn_G", "bn_D": running
    statistics, "fixed_G", "fixed_D": fixed parameters, "key": PRNG key (native noise)}."""
    r = spec.recipe
    iteration = plan(r)
    net_cls = net_cls or Net  # a data-parallel run's Net (backends/jax_dp.py) for per-replica BatchNorm
    g_net, d_net = net_cls("G", spec.generator, cpu), net_cls("D", spec.discriminator, cpu)
    tx = {"G": adam(r.opt_g), "D": adam(r.opt_d)}
    loss_fn = LOSSES[r.loss]
    logits = r.loss == "bce_logits"

    def draw(key, n):
        shape = (n, *r.noise.shape)
        if r.noise.dist == "uniform":
            return jax.random.uniform(key, shape, dtype, r.noise.low, r.noise.high)
        return jax.random.normal(key, shape, dtype) * r.noise.std + r.noise.mean

    def train_step(carry, real, z=None, zg=()):
        c = dict(carry)
        fixed_g, fixed_d = c["fixed_G"], c["fixed_D"]
        n = real.shape[0]
        if native:
            keys = jax.random.split(c["key"], 2 + iteration.fresh_noise)
            c["key"] = keys[0]
            z = draw(keys[1], n)
            zg = tuple(draw(k, n) for k in keys[2:])

        def gen(p, bn, noise):
            return g_net.apply(p, fixed_g, bn, noise, True)

        def score(p_d, bn_d, x, label):
            out, bn_d = d_net.apply(p_d, fixed_d, bn_d, x, True)
            out = out.reshape(-1)
            prob = jax.nn.sigmoid(out) if logits else out
            return loss_fn(out, label), (bn_d, jnp.mean(prob))

        def update(net, grads):
            upd, c["opt_" + net] = tx[net].update(grads, c["opt_" + net], c[net])
            c[net] = optax.apply_updates(c[net], upd)

        # G makes the fakes (kept differentiable when a G update reuses this forward).
        if iteration.keep_fake_graph:
            fake, g_vjp, c["bn_G"] = jax.vjp(lambda p: gen(p, c["bn_G"], z), c["G"], has_aux=True)
        else:
            fake, c["bn_G"] = gen(c["G"], c["bn_G"], z)
        batches = {REAL: real, FAKE: lax.stop_gradient(fake)}

        d_scores = {}
        for d_update in iteration.d_updates:

            def d_loss(p_d, bn_d, passes=d_update.passes):
                total, aux = 0.0, {}
                for p in passes:  # each pass its own forward: its own BatchNorm batch statistics
                    loss, (bn_d, prob) = score(p_d, bn_d, batches[p.batch], p.label)
                    aux[p.batch] = (loss, prob)
                    total = total + loss
                return total, (bn_d, aux)

            grads, (c["bn_D"], scores) = jax.grad(d_loss, has_aux=True)(c["D"], c["bn_D"])
            d_scores.update(scores)
            update("D", grads)

        g_scores = []
        for g_update in iteration.g_updates:
            if g_update.source == SAME_FAKE:
                (loss_g, (c["bn_D"], prob_g)), d_fake = jax.value_and_grad(
                    lambda f, label=g_update.label: score(c["D"], c["bn_D"], f, label), has_aux=True
                )(fake)
                (grads,) = g_vjp(d_fake)
            else:
                zk = z if g_update.source == FROM_Z else zg[g_update.fresh_index]

                def g_loss(p_g, bn_g, bn_d, zk=zk, label=g_update.label):
                    f, bn_g = gen(p_g, bn_g, zk)
                    loss, (bn_d, prob) = score(c["D"], bn_d, f, label)
                    return loss, (bn_g, bn_d, prob)

                (loss_g, (c["bn_G"], c["bn_D"], prob_g)), grads = jax.value_and_grad(g_loss, has_aux=True)(
                    c["G"], c["bn_G"], c["bn_D"]
                )
            update("G", grads)
            g_scores.append((loss_g, prob_g))

        stats = jnp.stack(stats_row(d_scores, g_scores)).astype(dtype)
        return c, stats

    return train_step, tx, g_net


class JaxBackend(Backend):
    name = "jax"
    modes = ("jit",)
    best_modes = {"cuda": ("jit",), "cpu": ("jit",)}
    # float64 switches on jax_enable_x64, a process-wide setting: run such a backend in a process of its own
    supports_float64 = True

    def __init__(
        self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, seed: int = 0, threads: int | None = None
    ):
        super().__init__(spec, device, mode, seed, threads)
        # XLA sizes its CPU thread pool to the cores this process may use when jax starts, and JAX has
        # no setting for it (XLA_FLAGS' intra_op_parallelism_threads is not honoured reliably): the
        # count is recorded, and a different request is said, not silently ignored
        self.cpu_threads = usable_cores()
        if device == "cpu" and threads and threads != self.cpu_threads:
            warnings.warn(
                f"jax: {threads} CPU threads asked for, but XLA uses the {self.cpu_threads} cores this "
                "process may run on (restrict them with taskset to change it)",
                stacklevel=2,
            )
        self.np_dtype = np.dtype(self.dtype)
        if self.np_dtype == np.float64:
            jax.config.update("jax_enable_x64", True)
        # this process's own first device (with several hosts, device 0 may belong to another process)
        self.dev = jax.local_devices(backend="gpu" if device == "cuda" else "cpu")[0]
        cpu = self.dev.platform == "cpu"
        self._fns = {native: make_train_step(spec, native, cpu, self.np_dtype)[0] for native in (True, False)}
        _, self.tx, self.g_net = make_train_step(spec, True, cpu, self.np_dtype)
        self._compiled: dict = {}
        self.compile_s: float | None = None
        self._carry = None
        self._last = None
        self._gen = jax.jit(lambda p, fixed, bn, z: self.g_net.apply(p, fixed, bn, z, False)[0])
        self.keys = {net: param_keys(spec, net) for net in NETS}
        self.trainable = {net: param_keys(spec, net, trainable_only=True) for net in NETS}

    # --- environment ---------------------------------------------------------------------------
    @classmethod
    def device_available(cls, device: str) -> bool:
        if device == "cpu":
            return True
        return device == "cuda" and bool(_gpu_devices())

    @classmethod
    def build_info(cls) -> dict:
        v = _versions()
        gpus = [
            {"name": getattr(d, "device_kind", str(d)), "compute_capability": getattr(d, "compute_capability", None)}
            for d in _gpu_devices()
        ]
        cuda = None
        try:
            from jax._src.lib import cuda_versions  # private; absent on CPU-only builds

            cuda = str(cuda_versions.cuda_runtime_build_version()) if cuda_versions else None
        except Exception:
            cuda = None
        return {
            "version": f"jax {v['jax']}, jaxlib {v['jaxlib']}",
            "cuda_build": bool(cuda or gpus),
            "cuda": cuda,
            "cudnn": None,
            "gpus": gpus,
            "archs": None,
            "threads": usable_cores(),
        }  # XLA's CPU pool takes every core this process may use

    def info(self) -> dict:
        v = _versions()
        cuda = self.device == "cuda"
        cuda_version = None
        if cuda:
            try:
                from jax._src.lib import cuda_versions  # private; absent on some builds

                cuda_version = str(cuda_versions.cuda_runtime_get_version()) if cuda_versions else None
            except Exception:
                cuda_version = None
        return {
            "framework": "jax",
            "framework_version": f"jax {v['jax']}, flax {v['flax'] or 'not installed'}, optax {v['optax']}",
            "jax_version": v["jax"],
            "jaxlib_version": v["jaxlib"],
            "flax_version": v["flax"],
            "optax_version": v["optax"],
            "device_name": getattr(self.dev, "device_kind", None) if cuda else cpu_model(),
            "cuda": cuda_version if cuda else None,
            "threads": None if cuda else self.cpu_threads,
            "threads_settable": False,
            "mode": self.mode,
            "dtype": self.dtype,
            "precision": self._precision(),
            "compile_s": self.compile_s,
        }

    def _precision(self) -> str:
        """What the arithmetic ran in, for MFU. Dense layers are pinned to full float32; XLA's default
        precision lets cuDNN run float32 convolutions in TF32 on Ampere and newer GPUs, as torch's
        default `cudnn.allow_tf32` does."""
        if self.np_dtype == np.float64:
            return "fp64"
        if self.device == "cuda" and jax.config.jax_default_matmul_precision in (
            None,
            "default",
            "bfloat16",
            "tensorfloat32",
        ):
            try:
                if float(getattr(self.dev, "compute_capability", "0")) >= 8.0:
                    return "tf32"
            except ValueError:
                pass
        return "fp32"

    # --- state ---------------------------------------------------------------------------------
    def _put(self, a, dtype=None):
        return jax.device_put(np.array(a, dtype=dtype or self.np_dtype, copy=True), self.dev)

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        check_state(self.spec, state)
        carry = {}
        for net in NETS:
            trainable = set(self.trainable[net])
            params, fixed, bn = {}, {}, {}
            for key in self.keys[net]:
                target = bn if key.endswith(("running_mean", "running_var")) else params if key in trainable else fixed
                target[key] = self._put(state[key])
            opt = self.tx[net].init(params)
            j = _adam_index(opt)
            opt = list(opt)
            step = int(state[f"opt.{net}.step"])
            opt[j] = opt[j]._replace(
                count=jax.device_put(np.asarray(step, np.int32), self.dev),
                mu={k: self._put(state[f"opt.{k}.m"]) for k in params},
                nu={k: self._put(state[f"opt.{k}.v"]) for k in params},
            )
            carry[net], carry["fixed_" + net], carry["bn_" + net], carry["opt_" + net] = params, fixed, bn, tuple(opt)
        carry["key"] = jax.device_put(jax.random.PRNGKey(self.seed), self.dev)
        self._carry = carry
        self._last = None

    def export_state(self) -> dict[str, np.ndarray]:
        c = jax.device_get(self._carry)
        out: dict[str, np.ndarray] = {}
        for net in NETS:
            merged = {**c[net], **c["fixed_" + net], **c["bn_" + net]}
            for key in self.keys[net]:
                out[key] = np.array(merged[key], np.float32)
        for net in NETS:
            adam_state = c["opt_" + net][_adam_index(c["opt_" + net])]
            for key in self.trainable[net]:
                out[f"opt.{key}.m"] = np.array(adam_state.mu[key], np.float32)
                out[f"opt.{key}.v"] = np.array(adam_state.nu[key], np.float32)
            out[f"opt.{net}.step"] = np.asarray(int(adam_state.count), np.int64)
        return out

    # --- training ------------------------------------------------------------------------------
    def _batch(self, a: np.ndarray):
        """A batch-shaped input (real images, noise) on the step's device(s)."""
        return jax.device_put(np.asarray(a, self.np_dtype), self.dev)

    def _executable(self, native: bool, args):
        sig = (native,) + tuple((a.shape, str(a.dtype)) for a in jax.tree_util.tree_leaves(args[1:]))
        exe = self._compiled.get(sig)
        if exe is None:
            t0 = time.perf_counter()
            exe = jax.jit(self._fns[native], donate_argnums=(0,)).lower(*args).compile()
            self.compile_s = (self.compile_s or 0.0) + (time.perf_counter() - t0)
            self._compiled[sig] = exe
        return exe

    def step(self, real: np.ndarray, noise: StepNoise | None = None):
        if self._carry is None:
            raise RuntimeError("jax: load_state() first")
        x = self._batch(real)
        if noise is None:
            args = (self._carry, x)
        else:
            args = (self._carry, x, self._batch(noise.d), tuple(self._batch(g) for g in noise.g))
        exe = self._executable(noise is None, args)
        self._carry, stats = exe(*args)
        self._last = stats
        return stats

    def placement(self, handle) -> tuple[set[str], set[str]]:
        def kinds(tree) -> set[str]:
            return {
                DEVICE_KIND.get(d.platform, d.platform)
                for leaf in jax.tree_util.tree_leaves(tree)
                for d in leaf.devices()
            }

        return kinds(self._carry), kinds(handle)

    def host_values(self, handle) -> np.ndarray:
        return np.asarray(jax.device_get(handle), np.float64)

    def sync(self) -> None:
        # the statistics come out of the same XLA execution as the new state, and an execution's
        # outputs are ready together: waiting on them alone spares walking the ~80 leaves of the state
        # every step (~80 µs on a 2-core CPU), which the hand-jitted yardstick does not pay either
        if self._last is not None:
            jax.block_until_ready(self._last)
        elif self._carry is not None:
            jax.block_until_ready(self._carry)

    def generate(self, noise: np.ndarray) -> np.ndarray:
        c = self._carry
        z = jax.device_put(np.ascontiguousarray(noise, self.np_dtype), self.dev)
        out = self._gen(c["G"], c["fixed_G"], c["bn_G"], z)
        return np.asarray(jax.device_get(out), np.float32)

    # --- memory --------------------------------------------------------------------------------
    def reset_peak_memory(self) -> None:
        """XLA's allocator has no peak reset: the peak is the process's (one run per process)."""

    def peak_memory(self):
        if self.device == "cuda":
            try:
                stats = self.dev.memory_stats() or {}
            except Exception:
                stats = {}
            if "peak_bytes_in_use" in stats:
                return int(stats["peak_bytes_in_use"]), "jax_peak_bytes_in_use"
        return None, None
