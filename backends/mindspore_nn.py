"""MindSpore 2.x adapter: any spec as `nn.SequentialCell`s of native layers, two `nn.Adam`s, and the
recipe's iteration written with `ms.value_and_grad` / `ms.vjp`, run in PyNative or, in "graph"
mode, as ONE `mindspore.jit`-compiled function around the whole training step (compiled on the
first call, reused after; `info()["compile_s"]` is that first call's wall time: compilation plus
one iteration, which the harness's first_step_s also includes).

How the recipe maps onto MindSpore's functional autodiff (nothing here is model-specific):
- D step(s): `value_and_grad` of D's loss w.r.t. D's trainable parameters; for every g_input but
  "same_fake" the fakes are made INSIDE that loss function, G(z) under `stop_gradient` (the
  MindSpore tutorial's `discriminator_forward`; stop_gradient changes no value, it only spares the
  backward through G). "summed" is one loss real + fake (passes in d_pass_order, each its own
  forward so each has its own BatchNorm statistics), "separate_fake_then_real" two full updates.
- G step(s): "recompute_same_z" / "fresh_noise": `value_and_grad` of BCE(D(G(z)), real) w.r.t. G's
  parameters, G(z) recomputed after D's update (the tutorial's `generator_forward`).
  "same_fake": G's forward is taken once with `ms.vjp(G, z, weights=G's params)` before the D
  step; the G step takes D's INPUT gradient at that very fake (value_and_grad, grad_position=0,
  through the updated D) and pulls it back through the stored vjp. So G's BatchNorm running
  statistics move once per iteration, as in torch, and G's forward is not recomputed.
- BatchNorm: native `nn.BatchNorm1d/2d` with momentum and eps set explicitly; MindSpore's momentum
  is the kept fraction (the spec's convention), and its running variance is the UNBIASED batch
  variance like torch's (checked in tests/test_mindspore_backend.py), so the canonical running
  statistics need no conversion. A fixed γ is a Parameter with requires_grad=False.
- Conv2dTranspose: `pad_mode='pad'`, `has_bias` set explicitly. Its `output_padding` argument in
  2.10 appends ZEROS below/right of the output instead of the transposed convolution's real
  values (torch's meaning, checked numerically), so output_padding is expressed as asymmetric
  padding (p, p - op) per axis, plus a one-sided zero pad when op > p (then the bias is added
  after the pad, as torch does).
- Losses: `ops.binary_cross_entropy` (what `nn.BCELoss` calls; it guards its logs with 1e-12
  where torch clamps them at -100); BCE-with-logits is written out as (1 - y)·x + softplus(-x),
  because `ops.binary_cross_entropy_with_logits`'s PyNative backward in 2.10 reuses the batch size
  of its first call (a later batch of another size gets a wrongly scaled gradient).
- Adam: each optimiser computes its spec's form (common/spec.py ADAM_FORMS) with nn.Adam's own
  fused kernel, which computes lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) · m / (sqrt(v) + ε) from float32 beta powers:
  "mindspore" and "paddle-fluid" are that kernel as it is (`nn.Adam`, the tutorial's optimiser);
  "torch" feeds it ε·sqrt(1-β2ᵗ) every step (`_TorchEpsAdam`); "mxnet" (step size from β powers
  in double) keeps float64 beta powers beside the float32 ones, forms the step size from them and
  feeds the kernel that step size with zero beta powers, for which the kernel's own factor
  sqrt(1-0)/(1-0) is exactly 1 (`_MXNetFormAdam`).
- Names: every parameter is named by its canonical key ("G.3.weight", "D.1.running_var"), the
  moments "opt.<key>.m" / "opt.<key>.v", and each optimiser's scalars "opt.G.beta1_power", ...:
  unique across G, D and both optimisers (graph mode requires it; the tutorial renames them too).
- Adam's step count is kept on the host (each iteration makes a known number of updates):
  beta1_power underflows float32 after ~150 steps at β1 = 0.5, so it cannot be read back.

Threads: MindSpore's CPU kernel pool defaults to 25 threads and its dispatch pool to 5, far more
than small machines have. Both are set once per process (MindSpore refuses a second setting, and
must get them before its first kernel): the kernel pool to `threads` or the machine's CPU count,
the dispatch pool (PyNative's op-launch pipeline) to 1 on CPU. info() reports both.

Graph compilation: compiled once per process and input shape (`compile_s`); MindSpore's
cross-process compile cache (MS_COMPILER_CACHE_ENABLE) is keyed by the Python sources, not the
graph, so a second spec compiled from these same sources loads the first one's graph and
crashes: it is not used.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("GLOG_v", "3")  # MindSpore's C++ log level before import: errors only

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from backends.base import DEVICE_KIND, Backend, BackendUnavailable
from common.env import cpu_model, usable_cores
from common.feed import StepNoise
from common.layers import build_layers
from common.recipe import FAKE, FRESH, FROM_Z, REAL, SAME_FAKE, plan
from common.spec import Act, BatchNorm, Conv2d, ConvTranspose2d, Dense, Flatten, MaxPool2d, ModelSpec, Reshape
from common.state import NETS, check_state, param_keys

_RUNTIME: dict = {}  # process-wide settings MindSpore accepts only once


def _configure_runtime(device: str, threads: int | None) -> dict:
    if not _RUNTIME:
        target = "GPU" if device == "cuda" else "CPU"
        try:
            ms.set_device(target)
        except RuntimeError:  # kernels already ran in this process (on the default device, CPU)
            if ms.get_context("device_target") != target:
                raise BackendUnavailable(
                    f"mindspore: the runtime already started on "
                    f"{ms.get_context('device_target')}; {device!r} needs a new process"
                ) from None
        op_threads = int(threads or usable_cores())
        dispatch = 1 if device == "cpu" else 2
        try:
            ms.device_context.cpu.op_tuning.threads_num(op_threads)
        except RuntimeError:  # configured before this module ran: unknown value
            op_threads = None
        try:
            ms.runtime.dispatch_threads_num(dispatch)
        except RuntimeError:
            dispatch = None
        _RUNTIME.update(device=device, threads=op_threads, dispatch_threads=dispatch)
    elif _RUNTIME["device"] != device:
        raise BackendUnavailable(
            f"mindspore: this process already runs on {_RUNTIME['device']!r}; one device per process"
        )
    return _RUNTIME


# --- layers ------------------------------------------------------------------------------------


class _Reshape(nn.Cell):
    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def construct(self, x):
        return ops.reshape(x, (x.shape[0],) + self.shape)


class _ConvTranspose2d(nn.Cell):
    """torch.nn.ConvTranspose2d, output_padding included (see the module docstring)."""

    def __init__(self, c_in: int, layer: ConvTranspose2d):
        super().__init__()
        p, op = layer.padding, layer.output_padding
        self.extra = max(op - p, 0)  # rows/columns beyond the full transposed output: zeros
        bottom = max(p - op, 0)
        inner_bias = layer.bias and self.extra == 0
        self.conv = nn.Conv2dTranspose(
            c_in,
            layer.out_channels,
            layer.kernel,
            layer.stride,
            pad_mode="pad",
            padding=(p, bottom, p, bottom),
            has_bias=inner_bias,
        )
        self.own_bias = layer.bias and not inner_bias
        if self.own_bias:
            self.bias = Parameter(Tensor(np.zeros(layer.out_channels, np.float32)), name="bias")
        # the canonical arrays (the conv's own Parameters when it holds the bias)
        self.canonical = {"weight": self.conv.weight}
        if layer.bias:
            self.canonical["bias"] = self.bias if self.own_bias else self.conv.bias

    def construct(self, x):
        y = self.conv(x)
        if self.extra > 0:
            y = ops.pad(y, (0, self.extra, 0, self.extra))
        if self.own_bias:
            y = y + ops.reshape(self.bias, (1, -1, 1, 1))
        return y


def _act(layer: Act) -> nn.Cell:
    if layer.fn == "relu":
        return nn.ReLU()
    if layer.fn == "leaky_relu":
        return nn.LeakyReLU(alpha=layer.slope)  # always explicit: the default changes in 2.9+
    return nn.Tanh() if layer.fn == "tanh" else nn.Sigmoid()


def _batchnorm(layer: BatchNorm, c: int) -> nn.Cell:
    bn = nn.BatchNorm1d if layer.dim == 1 else nn.BatchNorm2d
    m = bn(c, eps=layer.eps, momentum=layer.momentum)  # MindSpore's momentum: the kept fraction
    if layer.gamma == "fixed":
        m.gamma.requires_grad = False
    return m


_MAKE = {
    Dense: lambda l, c: nn.Dense(c, l.out_features, has_bias=l.bias),
    Conv2d: lambda l, c: nn.Conv2d(
        c, l.out_channels, l.kernel, l.stride, pad_mode="pad", padding=l.padding, has_bias=l.bias
    ),
    ConvTranspose2d: lambda l, c: _ConvTranspose2d(c, l),
    MaxPool2d: lambda l, c: nn.MaxPool2d(l.kernel, l.stride, pad_mode="valid"),
    BatchNorm: _batchnorm,
    Act: lambda l, c: _act(l),
    Reshape: lambda l, c: _Reshape(l.shape),
    Flatten: lambda l, c: nn.Flatten(),
}


def _canonical(layer, m: nn.Cell) -> dict[str, Parameter]:
    """A layer cell's parameters under their canonical names (weight, bias, running_mean, running_var)."""
    if isinstance(layer, (Dense, Conv2d)):
        return {"weight": m.weight, **({"bias": m.bias} if layer.bias else {})}
    if isinstance(layer, ConvTranspose2d):
        return dict(m.canonical)
    if isinstance(layer, BatchNorm):
        return {"weight": m.gamma, "bias": m.beta, "running_mean": m.moving_mean, "running_var": m.moving_variance}
    return {}


def build_net(prefix: str, net_spec) -> tuple[nn.SequentialCell, dict[str, Parameter]]:
    """One cell per spec layer, and the canonical key -> Parameter map (names set to the keys)."""
    cells = build_layers(net_spec, _MAKE)
    params = {
        f"{prefix}.{i}.{name}": p
        for i, (layer, m) in enumerate(zip(net_spec.layers, cells))
        for name, p in _canonical(layer, m).items()
    }
    net = nn.SequentialCell(cells)
    for key, p in params.items():  # after SequentialCell, which prefixes names with the index
        p.name = key
    net.set_train(True)
    return net, params


class _TorchEpsAdam(nn.Adam):
    """nn.Adam's fused kernel fed eps·sqrt(1 - β2^t) at every step: the kernel computes
    lr·sqrt(1-β2^t)/(1-β1^t) · m / (sqrt(v) + eps_t), which with that eps_t is exactly
    torch.optim.Adam's lr/(1-β1^t) · m / (sqrt(v/(1-β2^t)) + eps). Same parameters, moments and
    beta powers as nn.Adam (dense gradients, no weight decay, one learning rate: all the specs use)."""

    @ms.jit
    def construct(self, gradients):
        lr = self.get_lr()
        beta1_power = self.beta1_power * self.beta1
        self.beta1_power = beta1_power
        beta2_power = self.beta2_power * self.beta2
        self.beta2_power = beta2_power
        eps = self.eps * ops.sqrt(1.0 - beta2_power)
        success = True
        for param, m, v, grad in zip(self._parameters, self.moment1, self.moment2, gradients):
            success = ops.depend(
                success, self.opt(param, m, v, beta1_power, beta2_power, lr, self.beta1, self.beta2, eps, grad)
            )
        return success


class _MXNetFormAdam(nn.Adam):
    """nn.Adam's fused kernel computing MXNet's form: p -= S · m / (sqrt(v) + ε) with
    S = lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) formed from float64 β powers (MXNet's Python doubles), rounded once
    to float32. The kernel gets S as its learning rate and zero beta powers, so its own factor
    sqrt(1-0)/(1-0) is exactly 1; the float32 beta powers are still kept for export/reload."""

    def __init__(self, params, **kw):
        super().__init__(params, **kw)
        self.pow1_f64 = Parameter(Tensor(1.0, ms.float64), name="beta1_power_f64", requires_grad=False)
        self.pow2_f64 = Parameter(Tensor(1.0, ms.float64), name="beta2_power_f64", requires_grad=False)
        self.beta1_f64, self.beta2_f64 = Tensor(float(kw["beta1"]), ms.float64), Tensor(float(kw["beta2"]), ms.float64)
        self.lr_f64 = Tensor(float(kw["learning_rate"]), ms.float64)
        self.zero = Tensor(0.0, ms.float32)

    @ms.jit
    def construct(self, gradients):
        self.beta1_power = self.beta1_power * self.beta1
        self.beta2_power = self.beta2_power * self.beta2
        p1 = self.pow1_f64 * self.beta1_f64
        self.pow1_f64 = p1
        p2 = self.pow2_f64 * self.beta2_f64
        self.pow2_f64 = p2
        step = ops.cast(self.lr_f64 * ops.sqrt(1.0 - p2) / (1.0 - p1), ms.float32)
        success = True
        for param, m, v, grad in zip(self._parameters, self.moment1, self.moment2, gradients):
            success = ops.depend(
                success, self.opt(param, m, v, self.zero, self.zero, step, self.beta1, self.beta2, self.eps, grad)
            )
        return success


_ADAMS = {"torch": _TorchEpsAdam, "mxnet": _MXNetFormAdam, "mindspore": nn.Adam, "paddle-fluid": nn.Adam}


def _adam(params, o):
    return _ADAMS[o.form](params, learning_rate=o.lr, beta1=o.beta1, beta2=o.beta2, eps=o.eps)


def _bce_with_logits(x, label: float):
    """torch's binary_cross_entropy_with_logits against a constant label, mean:
    (1 - y)·x + softplus(-x), whose gradient is sigmoid(x) - y. Not ops.binary_cross_entropy_with_logits:
    in MindSpore 2.10 PyNative its backward keeps the batch size of its first call, so after a
    batch of 4 a batch of 8 gets twice the gradient (tests/test_mindspore_backend.py shows it)."""
    return ((1.0 - label) * x + ops.softplus(-x)).mean()


# --- the training iteration ---------------------------------------------------------------------


class _TrainStep(nn.Cell):
    """G, D, both optimisers and the recipe's iteration. Recipe fields are Python constants, so
    graph mode compiles the branches the recipe takes and nothing else."""

    def __init__(self, spec: ModelSpec):
        super().__init__(auto_prefix=False)
        r = spec.recipe
        self.G, g_params = build_net("G", spec.generator)
        self.D, d_params = build_net("D", spec.discriminator)
        self.canonical = {**g_params, **d_params}  # key -> Parameter (a dict: Cell does not register it)
        g_train = [g_params[k] for k in param_keys(spec, "G", trainable_only=True)]
        d_train = [d_params[k] for k in param_keys(spec, "D", trainable_only=True)]
        self.opt_g, self.opt_d = _adam(g_train, r.opt_g), _adam(d_train, r.opt_d)
        for net, opt, keys in (
            ("G", self.opt_g, param_keys(spec, "G", trainable_only=True)),
            ("D", self.opt_d, param_keys(spec, "D", trainable_only=True)),
        ):
            for key, m, v in zip(keys, opt.moment1, opt.moment2):
                m.name, v.name = f"opt.{key}.m", f"opt.{key}.v"
            for attr in ("beta1_power", "beta2_power", "global_step", "learning_rate", "pow1_f64", "pow2_f64"):
                p = getattr(opt, attr, None)
                if isinstance(p, Parameter):
                    p.name = f"opt.{net}.{attr}"
        self.logits = r.loss == "bce_logits"
        self.prob_loss = r.loss == "bce_prob"
        # common.recipe's plan as Python constants, so graph mode unrolls the loops over them
        iteration = plan(r)
        self.keep_fake = iteration.keep_fake_graph
        # per D update: whether it makes the fakes from z (it has a fake pass and G's forward was not
        # kept), and its passes as (is_real, label)
        self.d_plan = tuple(
            (
                any(p.batch == FAKE for p in u.passes) and not self.keep_fake,
                tuple((p.batch == REAL, float(p.label)) for p in u.passes),
            )
            for u in iteration.d_updates
        )
        # where the real and the fake pass's (loss, prob) land in the flat tuple of every pass's results
        order = [p.batch for p in iteration.d_passes]
        self.real_at, self.fake_at = 2 * order.index(REAL), 2 * order.index(FAKE)
        # per G update: (0 the kept fake / 1 G(z) again / 2 a fresh batch, which fresh batch, label)
        sources = (SAME_FAKE, FROM_Z, FRESH)
        self.g_plan = tuple((sources.index(u.source), u.fresh_index, float(u.label)) for u in iteration.g_updates)
        self.fresh_count = iteration.fresh_noise
        self.noise_shape = tuple(r.noise.shape)
        self.uniform = r.noise.dist == "uniform"
        self.nz = (float(r.noise.low), float(r.noise.high), float(r.noise.mean), float(r.noise.std))
        wd, wg = ms.ParameterTuple(d_train), ms.ParameterTuple(g_train)
        self.wg = wg
        self.grad_d = ms.value_and_grad(self.d_loss, None, wd, has_aux=True)
        self.grad_g = ms.value_and_grad(self.g_loss, None, wg, has_aux=True)
        self.grad_fake_input = ms.value_and_grad(self.g_loss_on_fake, 0, None, has_aux=True)

    # losses ------------------------------------------------------------------------------------
    def score(self, x, label):
        """D's loss on x against a constant label, and D's mean probability (no gradient)."""
        out = ops.reshape(self.D(x), (-1,))
        target = ops.full_like(out, label)
        if self.prob_loss:
            loss = ops.binary_cross_entropy(out, target)
        else:
            loss = _bce_with_logits(out, label)
        prob = ops.sigmoid(out) if self.logits else out
        return loss, ops.stop_gradient(prob.mean())

    def d_loss(self, real, fake_or_z, makes_fake, passes):
        """One D update's loss, the sum of its passes' (each its own forward, so its own BatchNorm
        statistics), then every pass's (loss, prob). The fakes are given, or made here from z under
        stop_gradient (the MindSpore tutorial's discriminator_forward)."""
        fake = fake_or_z
        if makes_fake:
            fake = ops.stop_gradient(self.G(fake_or_z))
        out = ()
        for is_real, label in passes:
            loss, prob = self.score(real if is_real else fake, label)
            out = out + (loss, prob)
        total = out[0]
        for i in range(2, len(out), 2):
            total = total + out[i]
        return (total,) + out

    def g_loss(self, z, label):
        return self.score(self.G(z), label)

    def g_loss_on_fake(self, fake, label):
        return self.score(fake, label)

    # one iteration -------------------------------------------------------------------------------
    def iterate(self, real, z, zg):
        """One iteration as common.recipe plans it; zg holds the fresh latent batches, else nothing.
        Returns common.recipe.stats_row's layout: [d, g, D(x), D(G(z)) in the D step, in the last
        G step, every G update's loss]."""
        fake_d = z
        g_vjp = None
        if self.keep_fake:
            fake, g_vjp = ms.vjp(self.G, z, weights=self.wg)  # G's only forward this iteration
            fake_d = ops.stop_gradient(fake)
        d_out = ()
        for makes_fake, passes in self.d_plan:
            out, grads = self.grad_d(real, fake_d, makes_fake, passes)
            self.opt_d(grads)
            d_out = d_out + out[1:]
        l_real, p_real = d_out[self.real_at], d_out[self.real_at + 1]
        l_fake, p_fake = d_out[self.fake_at], d_out[self.fake_at + 1]
        g_losses = ()
        p_g = p_fake
        for source, fresh_index, label in self.g_plan:
            if source == 0:  # D's input gradient at the kept fake, through the updated D
                (loss_g, p_g), d_fake = self.grad_fake_input(fake_d, label)
                _, grads_g = g_vjp(d_fake)
            else:
                zk = z if source == 1 else zg[fresh_index]
                (loss_g, p_g), grads_g = self.grad_g(zk, label)
            self.opt_g(grads_g)
            g_losses = g_losses + (loss_g,)
        return ops.stack((l_real + l_fake, g_losses[-1], p_real, p_fake, p_g) + g_losses)

    def draw(self, n):
        shape = (n,) + self.noise_shape
        if self.uniform:
            return ops.rand(shape) * (self.nz[1] - self.nz[0]) + self.nz[0]
        return ops.randn(shape) * self.nz[3] + self.nz[2]

    def iterate_native(self, real):
        n = real.shape[0]
        z = self.draw(n)
        zg = ()
        for _ in range(self.fresh_count):
            zg = zg + (self.draw(n),)
        return self.iterate(real, z, zg)

    def construct(self, real, z, zg):
        return self.iterate(real, z, zg)


def _float32_power(beta: float, step: int) -> np.ndarray:
    """beta^step as nn.Adam accumulates it (float32 multiplications from 1), so a reloaded state
    continues bit for bit; it underflows to 0 (as in the optimiser) after a few hundred steps."""
    b, p = np.float32(beta), np.float32(1.0)
    for _ in range(step):
        p = np.float32(p * b)
        if p == 0:
            break
    return np.asarray(p, np.float32)


class MindSporeBackend(Backend):
    name = "mindspore"
    modes = ("pynative", "graph")
    # CPU (2-core EPYC, measured): graph mode is 1.2-2.2x PyNative on every model
    best_modes = {"cuda": ("graph",), "cpu": ("graph",)}

    def __init__(
        self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, seed: int = 0, threads: int | None = None
    ):
        super().__init__(spec, device, mode, seed, threads)
        self.runtime = _configure_runtime(device, threads)
        ms.set_seed(seed)  # the noise MindSpore draws itself in native feeding
        self.cell = _TrainStep(spec)
        self.G, self.D = self.cell.G, self.cell.D
        self.params = self.cell.canonical
        self.opts = {"G": self.cell.opt_g, "D": self.cell.opt_d}
        self.trainable = {n: param_keys(spec, n, trainable_only=True) for n in NETS}
        self._updates = {n: self.plan.updates.count(n) for n in NETS}
        self._fresh = self.plan.fresh_noise > 0
        self._steps = {"G": 0, "D": 0}
        if mode == "graph":
            self._parity_fn = ms.jit(self.cell.iterate)
            self._native_fn = ms.jit(self.cell.iterate_native)
        else:
            self._parity_fn, self._native_fn = self.cell.iterate, self.cell.iterate_native
        self.compile_s: float | None = None
        self._compiled: set = set()
        self._last = None

    # --- environment ---------------------------------------------------------------------------
    @classmethod
    def device_available(cls, device: str) -> bool:
        if device == "cpu":
            return True
        if device != "cuda":
            return False
        try:
            return bool(ms.device_context.gpu.is_available()) and ms.device_context.gpu.device_count() > 0
        except Exception:
            return False

    @classmethod
    def build_info(cls) -> dict:
        return {
            "version": ms.__version__,
            "cuda_build": False,
            "cuda": None,
            "cudnn": None,
            "gpus": [],
            "archs": None,
            "threads": usable_cores(),
        }

    def info(self) -> dict:
        cuda = self.device == "cuda"
        name = cpu_model()
        if cuda:
            try:
                name = ms.hal.get_device_name(0, "GPU")
            except Exception:  # the name is informative only
                name = "GPU"
        return {
            "framework": "mindspore",
            "framework_version": ms.__version__,
            "device_name": name,
            "cuda": None,
            "threads": self.runtime.get("threads"),
            "dispatch_threads": self.runtime.get("dispatch_threads"),
            "mode": self.mode,
            "compile_s": self.compile_s,
        }

    # --- state ---------------------------------------------------------------------------------
    def load_state(self, state: dict[str, np.ndarray]) -> None:
        check_state(self.spec, state)
        for key, p in self.params.items():
            p.set_data(Tensor(np.array(state[key], np.float32, copy=True)))
        r = self.spec.recipe
        for net, o in (("G", r.opt_g), ("D", r.opt_d)):
            opt, step = self.opts[net], int(state[f"opt.{net}.step"])
            for key, m, v in zip(self.trainable[net], opt.moment1, opt.moment2):
                m.set_data(Tensor(np.array(state[f"opt.{key}.m"], np.float32, copy=True)))
                v.set_data(Tensor(np.array(state[f"opt.{key}.v"], np.float32, copy=True)))
            # nn.Adam keeps beta^t as a float32 product updated before each step: rebuilt the same way
            opt.beta1_power.set_data(Tensor(_float32_power(o.beta1, step)))
            opt.beta2_power.set_data(Tensor(_float32_power(o.beta2, step)))
            if isinstance(opt, _MXNetFormAdam):
                opt.pow1_f64.set_data(Tensor(float(o.beta1) ** step, ms.float64))
                opt.pow2_f64.set_data(Tensor(float(o.beta2) ** step, ms.float64))
            self._steps[net] = step

    def export_state(self) -> dict[str, np.ndarray]:
        self.sync()
        out: dict[str, np.ndarray] = {}
        for net in NETS:
            for key in param_keys(self.spec, net):
                out[key] = self.params[key].asnumpy().astype(np.float32, copy=True)
        for net in NETS:
            opt = self.opts[net]
            for key, m, v in zip(self.trainable[net], opt.moment1, opt.moment2):
                out[f"opt.{key}.m"] = m.asnumpy().astype(np.float32, copy=True)
                out[f"opt.{key}.v"] = v.asnumpy().astype(np.float32, copy=True)
            out[f"opt.{net}.step"] = np.asarray(self._steps[net], np.int64)
        return out

    # --- training ------------------------------------------------------------------------------
    def step(self, real: np.ndarray, noise: StepNoise | None = None):
        x = Tensor(np.ascontiguousarray(real, np.float32))
        if noise is None:
            fn, args = self._native_fn, (x,)
        else:
            z = Tensor(np.ascontiguousarray(noise.d, np.float32))
            zg = tuple(Tensor(np.ascontiguousarray(a, np.float32)) for a in noise.g) if self._fresh else ()
            fn, args = self._parity_fn, (x, z, zg)
        sig = (noise is None, tuple(x.shape), len(args[-1]) if noise is not None else 0)
        first = self.mode == "graph" and sig not in self._compiled
        t0 = time.perf_counter()
        out = fn(*args)
        if first:
            out.asnumpy()  # the first call compiles: time it to completion
            self.compile_s = (self.compile_s or 0.0) + (time.perf_counter() - t0)
            self._compiled.add(sig)
        for net in NETS:
            self._steps[net] += self._updates[net]
        self._last = out
        return out

    @classmethod
    def refuse_device(cls, device: str) -> str | None:
        from common.builds import MINDSPORE_GPU

        return MINDSPORE_GPU if device == "cuda" else None

    def placement(self, handle) -> tuple[set[str], set[str]]:
        # MindSpore runs a process's kernels on one target; a tensor's `device` names it too
        def kind(t) -> str:
            target = str(getattr(t, "device", None) or ms.get_context("device_target"))
            return DEVICE_KIND.get(target.split(":")[0], target.lower())

        params = {kind(p) for net in (self.G, self.D) for p in net.get_parameters()}
        return params, {kind(handle)}

    def host_values(self, handle) -> np.ndarray:
        return np.asarray(handle.asnumpy(), np.float64)

    def sync(self) -> None:
        if self._last is not None:
            ms.runtime.synchronize()

    def generate(self, noise: np.ndarray) -> np.ndarray:
        self.sync()
        self.G.set_train(False)
        try:
            out = self.G(Tensor(np.ascontiguousarray(noise, np.float32)))
            return out.asnumpy().astype(np.float32)
        finally:
            self.G.set_train(True)

    # --- memory --------------------------------------------------------------------------------
    def reset_peak_memory(self) -> None:
        if self.device == "cuda":
            try:
                ms.runtime.reset_peak_memory_stats()
            except Exception:
                pass

    def peak_memory(self):
        if self.device == "cuda":
            try:
                return int(ms.runtime.max_memory_allocated()), "mindspore_max_memory_allocated"
            except Exception:
                return None, None
        return None, None
