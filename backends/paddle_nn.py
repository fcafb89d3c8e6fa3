"""PaddlePaddle 3.x adapter: any spec as `paddle.nn` layers, the recipe's iteration in two modes.

The Paddle book's DCGAN-28 was written for `paddle.fluid`, which Paddle 3.x no longer ships; the
model and recipe come from the spec (common/models.py: forced 14×14 / 28×28 transposed-conv
outputs as output_padding=1, fluid's leaky slope 0.02, `loss="bce_logits_on_prob"` for the double
sigmoid), and this module implements each layer type, recipe variant and loss form generically.

Modes (recorded separately in results):
- "dynamic": eager dygraph, the iteration exactly as backends/pytorch.py writes it.
- "to_static": G and a "scorer" (D, the loss and D's mean probability) are converted with
  `paddle.jit.to_static(..., full_graph=True)` (AST transcription to one PIR program each, no
  Python fallback). Every forward AND backward of G and D runs as static-graph programs; only the
  recipe's control flow, `loss.backward()` hand-over between the two programs and the Adam updates
  stay in Python. The loss, BCE form and label tensor are inside the scorer program. Both modes
  run the same phi kernels: their losses are bit-identical (tests/test_paddle_parity.py). The
  scorer is traced twice per batch size (D-step inputs need no gradient, the G step's fake does),
  G once; `info()["compile_s"]` sums the wall time of the calls that traced a program (tracing,
  program build, that first run); the harness's `first_step_s` has the whole first step.

Layouts and state (canonical layout = PyTorch's, common/state.py):
- `nn.Linear` stores its weight (in, out): transposed on import/export, Adam moments too.
- `nn.Conv2D` (out, in, kH, kW) and `nn.Conv2DTranspose` (in, out/groups, kH, kW) are torch's
  layouts (checked numerically against torch.nn.functional.conv_transpose2d, output_padding too).
- BatchNorm: Paddle's momentum is the kept fraction (0.9), like the spec. Paddle's batch_norm kernel
  updates `running_var` with the BIASED batch variance; torch (the canonical state) with the
  unbiased one. With `TORCH_RUNNING_VAR = True` (default) each training pass runs the native kernel
  on a copy of running_var and writes back `rv' + (rv' - m·rv)/(n-1)`, which is exactly torch's
  `m·rv + (1-m)·var·n/(n-1)`: exported statistics and `generate()` match torch. False keeps
  Paddle's own (biased) update. The losses do not depend on it (every pass uses batch statistics).
  A fixed γ (MXNet's fix_gamma) keeps requires-grad in autograd but stays out of the optimiser:
  Paddle's batch_norm backward returns NO β gradient when γ needs none (β would never learn).
- Adam: Paddle 3.3.1's adam kernel computes lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) · m / (sqrt(v) + ε·sqrt(1-β2ᵗ))
  from its β-power accumulators, which is torch's form (fluid 1.x, the Paddle book's, added ε to
  sqrt(v): the "paddle-fluid" form; checked in tests/test_paddle_*.py with gradients small enough
  for ε to matter). The torch form runs `paddle.optimizer.Adam` as it is; every other form runs
  the same kernel with its learning rate and ε set before each update so that the kernel's own
  factors turn them into the form's step size S and ε (common.adam.step_scalars):
  lr' = S·(1-β1ᵗ)/sqrt(1-β2ᵗ), ε' = E/sqrt(1-β2ᵗ) with the accumulators' β powers.
  Its moments are the canonical m / v; its β-power accumulators are set on import to β^(step+1)
  as the kernel itself accumulates it (float32 products: a resumed run continues bit for bit) and
  the step count is kept beside them. One float32 detail: the kernel holds β2 as float32, so v
  takes (1 - 0.999f) = 0.000999987·g² where torch takes 0.001·g² (1.3e-5 relative); the β2-power
  carries the same factor into the bias correction, so v̂ is unchanged at t = 1 and negligibly
  different after (in float64, Paddle's 10-iteration traces agree with torch's to ~1e-9).

Threads: Paddle's CPU math library defaults to ONE thread (FLAGS_paddle_num_threads=1); this
backend sets `threads` or else every CPU this process may run on, and reports it.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from backends.base import Backend
from common.adam import moment_betas, step_scalars
from common.env import cpu_model, usable_cores
from common.feed import StepNoise
from common.layers import build_layers
from common.recipe import FAKE, REAL, stats_row
from common.spec import Act, BatchNorm, Conv2d, ConvTranspose2d, Dense, Flatten, MaxPool2d, ModelSpec, Reshape
from common.state import NETS, check_state, param_keys

# torch's running-variance rule (unbiased batch variance), so the exported state is canonical.
TORCH_RUNNING_VAR = True

# Paddle's own dy2static backward builder asks PIR values for `.place` and warns on every trace.
warnings.filterwarnings("ignore", message="Tensor do not have 'place' interface for pir graph mode")


class _Reshape(nn.Layer):
    def __init__(self, shape):
        super().__init__()
        self.shape = [int(s) for s in shape]

    def forward(self, x):
        return x.reshape([-1, *self.shape])


class _BatchNorm(nn.Layer):
    """Paddle's batch_norm kernel, with the spec's momentum (kept fraction) and eps, an optionally
    fixed γ, and (TORCH_RUNNING_VAR) torch's unbiased running variance."""

    def __init__(self, channels: int, layer: BatchNorm):
        super().__init__()
        self.momentum, self.eps = float(layer.momentum), float(layer.eps)
        self.data_format = "NCL" if layer.dim == 1 else "NCHW"
        self.weight = self.create_parameter([channels], default_initializer=nn.initializer.Constant(1.0))
        self.bias = self.create_parameter([channels], is_bias=True, default_initializer=nn.initializer.Constant(0.0))
        # A fixed γ still takes part in autograd: Paddle's batch_norm backward drops β's gradient
        # whenever γ needs none (stop_gradient, or weight=None). The backend keeps a fixed γ out of
        # the optimiser and discards its gradient, so it stays exactly 1.
        self.fixed_gamma = layer.gamma == "fixed"
        self.register_buffer("running_mean", paddle.zeros([channels], paddle.get_default_dtype()))
        self.register_buffer("running_var", paddle.ones([channels], paddle.get_default_dtype()))

    def _batch_norm(self, x, running_var, training: bool):
        return F.batch_norm(
            x,
            self.running_mean,
            running_var,
            self.weight,
            self.bias,
            training=training,
            momentum=self.momentum,
            epsilon=self.eps,
            data_format=self.data_format,
        )

    def forward(self, x):
        if not self.training or not TORCH_RUNNING_VAR:
            return self._batch_norm(x, self.running_var, self.training)
        rv = self.running_var.clone()  # the kernel updates this copy with the biased variance
        y = self._batch_norm(x, rv, True)
        shape = list(x.shape)
        if all(isinstance(s, int) and s > 0 for s in shape):
            count = max(math.prod(shape) // shape[1] - 1, 1)
        else:  # a dynamic dimension in a static program
            count = paddle.clip(paddle.numel(x).astype(x.dtype) / shape[1] - 1.0, min=1.0)
        paddle.assign(rv + (rv - self.momentum * self.running_var) / count, output=self.running_var)
        return y


def _bias(layer) -> bool | None:
    return None if layer.bias else False  # paddle: None = default bias, False = none


_MAKE = {
    Dense: lambda l, c: nn.Linear(c, l.out_features, bias_attr=_bias(l)),
    Conv2d: lambda l, c: nn.Conv2D(c, l.out_channels, l.kernel, l.stride, l.padding, bias_attr=_bias(l)),
    ConvTranspose2d: lambda l, c: nn.Conv2DTranspose(
        c, l.out_channels, l.kernel, l.stride, l.padding, output_padding=l.output_padding, bias_attr=_bias(l)
    ),
    MaxPool2d: lambda l, c: nn.MaxPool2D(l.kernel, l.stride),
    BatchNorm: lambda l, c: _BatchNorm(c, l),
    Act: lambda l, c: {
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(l.slope),
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
    }[l.fn](),
    Reshape: lambda l, c: _Reshape(l.shape),
    Flatten: lambda l, c: nn.Flatten(),
}


def build_net(net_spec) -> nn.Sequential:
    """One paddle layer per spec layer, so `net[i]` holds the canonical `{net}.{i}.*` arrays."""
    return nn.Sequential(*build_layers(net_spec, _MAKE))


class _Scorer(nn.Layer):
    """D's loss on x against a label tensor, and D's mean probability (detached)."""

    def __init__(self, d: nn.Layer, loss: str):
        super().__init__()
        self.D, self.loss = d, loss

    def forward(self, x, label):
        out = self.D(x).reshape([-1])
        if self.loss == "bce_prob":
            loss = F.binary_cross_entropy(out, label)
        else:  # bce_logits; bce_logits_on_prob (the Paddle book): BCE-with-logits on D's sigmoid
            loss = F.binary_cross_entropy_with_logits(out, label)
        prob = F.sigmoid(out) if self.loss == "bce_logits" else out
        return loss, prob.mean().detach()


class _Traced:
    """Calls a to_static layer and adds to `owner.compile_s` the calls that traced a new program."""

    def __init__(self, layer, owner):
        self.layer, self.owner = layer, owner

    def __call__(self, *args):
        fn = self.layer.forward
        before = fn.get_traced_count()
        t0 = time.perf_counter()
        out = self.layer(*args)
        if fn.get_traced_count() != before:
            self.owner.compile_s = (self.owner.compile_s or 0.0) + (time.perf_counter() - t0)
        return out


def _beta_pow(beta: float, t: int, dtype) -> np.ndarray:
    """β^t as Paddle's Adam accumulates it: filled with β, multiplied by β after every update, in
    the parameters' precision; so a resumed run continues bit for bit like an uninterrupted one."""
    b = dtype.type(beta)
    acc = b
    for _ in range(t - 1):
        acc = dtype.type(acc * b)
    return np.array([acc], dtype)


def set_form_scalars(opt, o, t: int, dtype) -> None:
    """Set the learning rate and ε of `opt` (a paddle.optimizer.Adam built with o's hyperparameters,
    about to make update t) so that its kernel computes o's form; torch's form is the kernel's own."""
    if o.form == "torch":
        return
    p1, p2 = (float(_beta_pow(b, t, dtype)[0]) for b in moment_betas(o))
    s, e = step_scalars(o, t)
    root = math.sqrt(1.0 - p2)
    opt.set_lr(s * (1.0 - p1) / root)
    opt._epsilon = e / root  # dygraph passes it to the kernel as a float at every update


class PaddleBackend(Backend):
    name = "paddle"
    modes = ("dynamic", "to_static")
    # CPU (2-core EPYC, measured): dynamic is 0-30 % faster than to_static (the Adam updates
    # and the recipe stay in Python either way, and the CPU kernels are the same); on GPUs, where
    # launches dominate, the static programs
    best_modes = {"cuda": ("to_static",), "cpu": ("dynamic",)}
    supports_float64 = True  # the exported state is float32 either way

    def __init__(
        self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, seed: int = 0, threads: int | None = None
    ):
        super().__init__(spec, device, mode, seed, threads)
        self.n_threads = int(threads or usable_cores())
        paddle.base.core.set_num_threads(self.n_threads)  # MKL / OpenMP threads of the CPU kernels
        self.place = paddle.CUDAPlace(self.gpu_index()) if device == "cuda" else paddle.CPUPlace()
        paddle.set_device(f"gpu:{self.gpu_index()}" if device == "cuda" else "cpu")
        if device == "cuda":  # cuDNN's algorithm search, as torch's cudnn.benchmark in backends/pytorch.py
            paddle.set_flags({"FLAGS_cudnn_exhaustive_search": True})
        paddle.seed(seed)  # native-mode noise
        self.np_dtype = np.dtype(self.dtype)
        default_dtype = paddle.get_default_dtype()
        paddle.set_default_dtype(self.dtype)
        try:
            self.nets = {"G": build_net(spec.generator), "D": build_net(spec.discriminator)}
        finally:
            paddle.set_default_dtype(default_dtype)
        self.G, self.D = self.nets["G"], self.nets["D"]
        self.scorer = _Scorer(self.D, spec.recipe.loss)
        self.G.train()
        self.scorer.train()
        self.compile_s: float | None = None
        if self.mode == "to_static":
            self._g = _Traced(paddle.jit.to_static(self.G, full_graph=True), self)
            self._score = _Traced(paddle.jit.to_static(self.scorer, full_graph=True), self)
        else:
            self._g, self._score = self.G, self.scorer
        self.trainable = {n: param_keys(spec, n, trainable_only=True) for n in NETS}
        self.params = {n: [self._param(k) for k in self.trainable[n]] for n in NETS}
        self.fixed = {n: [m.weight for m in self.nets[n] if isinstance(m, _BatchNorm) and m.fixed_gamma] for n in NETS}
        r = spec.recipe
        self.adam = {"G": r.opt_g, "D": r.opt_d}
        # β as the form forms 1-β (float32 β for all but torch's): a float64 kernel takes β as a double
        self.opts = {
            n: paddle.optimizer.Adam(
                learning_rate=o.lr,
                beta1=moment_betas(o)[0],
                beta2=moment_betas(o)[1],
                epsilon=o.eps,
                parameters=self.params[n],
            )
            for n, o in self.adam.items()
        }
        # Create Adam's accumulators now, so load_state can fill them before the first update.
        block = paddle.static.default_main_program().global_block()
        for n in NETS:
            if getattr(self.opts[n], "helper", None) is None:  # Paddle 2.x creates it on the first update
                from paddle.base.layer_helper import LayerHelper

                self.opts[n].helper = LayerHelper(type(self.opts[n]).__name__)
            self.opts[n]._create_accumulators(block, self.params[n])
        self.steps = {n: 0 for n in NETS}
        self._labels: dict[tuple[int, float], paddle.Tensor] = {}

    # --- environment ---------------------------------------------------------------------------
    def gpu_index(self) -> int:
        """The GPU this process runs on (a data-parallel rank: the one its launcher selected)."""
        return 0

    @classmethod
    def device_available(cls, device: str) -> bool:
        if device == "cpu":
            return True
        return device == "cuda" and paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0

    @classmethod
    def build_info(cls) -> dict:
        cuda = paddle.device.is_compiled_with_cuda()
        n = paddle.device.cuda.device_count() if cuda else 0
        gpus = [
            {
                "name": paddle.device.cuda.get_device_name(i),
                "compute_capability": "{}.{}".format(*paddle.device.cuda.get_device_capability(i)),
            }
            for i in range(n)
        ]
        return {
            "version": paddle.__version__,
            "cuda_build": cuda,
            "cuda": paddle.version.cuda() if cuda else None,
            "cudnn": paddle.version.cudnn() if cuda else None,
            "gpus": gpus,
            "archs": None,
            "threads": usable_cores(),
        }

    def info(self) -> dict:
        cuda = self.device == "cuda"
        return {
            "framework": "paddle",
            "framework_version": paddle.__version__,
            "device_name": paddle.device.cuda.get_device_name(self.gpu_index()) if cuda else cpu_model(),
            "cuda": paddle.version.cuda() if cuda else None,
            "cudnn": paddle.version.cudnn() if cuda else None,
            "threads": self.n_threads,
            "mode": self.mode,
            "to_static": "paddle.jit.to_static(full_graph=True), PIR" if self.mode == "to_static" else None,
            "onednn": _onednn(),
            "dtype": self.dtype,
            "torch_running_var": TORCH_RUNNING_VAR,
            "compile_s": self.compile_s,
        }

    # --- state ---------------------------------------------------------------------------------
    def _param(self, key: str) -> paddle.Tensor:
        net, i, name = key.split(".")
        return getattr(self.nets[net][int(i)], name)

    def _transposed(self, key: str) -> bool:
        net, i, _ = key.split(".")
        layer = (self.spec.generator if net == "G" else self.spec.discriminator).layers[int(i)]
        return isinstance(layer, Dense) and key.endswith(".weight")

    def _to_native(self, key: str, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, self.np_dtype)
        return np.ascontiguousarray(a.T if self._transposed(key) else a)

    def _to_canonical(self, key: str, t: paddle.Tensor) -> np.ndarray:
        a = t.numpy().astype(np.float32)
        return np.ascontiguousarray(a.T if self._transposed(key) else a)

    def _acc(self, net: str, p, which: str):
        opt = self.opts[net]
        return opt._get_accumulator_master(getattr(opt, f"_{which}_acc_str"), p)

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        check_state(self.spec, state)
        for net in NETS:
            for key in param_keys(self.spec, net):
                self._param(key).set_value(self._to_native(key, state[key]))
        for net in NETS:
            step = int(state[f"opt.{net}.step"])
            o = self.adam[net]
            pows = [_beta_pow(b, step + 1, self.np_dtype) for b in moment_betas(o)]
            for key, p in zip(self.trainable[net], self.params[net]):
                self._acc(net, p, "moment1").set_value(self._to_native(key, state[f"opt.{key}.m"]))
                self._acc(net, p, "moment2").set_value(self._to_native(key, state[f"opt.{key}.v"]))
                # the kernel reads β^t for update t = step + 1 from these accumulators
                self._acc(net, p, "beta1_pow").set_value(pows[0])
                self._acc(net, p, "beta2_pow").set_value(pows[1])
            self.steps[net] = step

    def export_state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for net in NETS:
            for key in param_keys(self.spec, net):
                out[key] = self._to_canonical(key, self._param(key))
        for net in NETS:
            for key, p in zip(self.trainable[net], self.params[net]):
                out[f"opt.{key}.m"] = self._to_canonical(key, self._acc(net, p, "moment1"))
                out[f"opt.{key}.v"] = self._to_canonical(key, self._acc(net, p, "moment2"))
            out[f"opt.{net}.step"] = np.asarray(self.steps[net], np.int64)
        return out

    # --- training ------------------------------------------------------------------------------
    def _label(self, n: int, value: float) -> paddle.Tensor:
        key = (n, value)
        if key not in self._labels:
            self._labels[key] = paddle.full([n], value, dtype=self.dtype)
        return self._labels[key]

    def _noise(self, n: int) -> paddle.Tensor:
        nz = self.spec.recipe.noise
        shape = [n, *nz.shape]
        if nz.dist == "uniform":
            return paddle.uniform(shape, self.dtype, min=nz.low, max=nz.high)
        return paddle.randn(shape, self.dtype) * nz.std + nz.mean

    def _to_dev(self, x: np.ndarray) -> paddle.Tensor:
        return paddle.to_tensor(np.ascontiguousarray(x, self.np_dtype), place=self.place)

    def _clear(self, net: str) -> None:
        self.opts[net].clear_grad(set_to_zero=False)
        for p in self.fixed[net]:
            p.clear_gradient(False)

    def _update(self, net: str) -> None:
        set_form_scalars(self.opts[net], self.adam[net], self.steps[net] + 1, self.np_dtype)
        self.opts[net].step()
        self.steps[net] += 1

    def step(self, real: np.ndarray, noise: StepNoise | None = None):
        x = self._to_dev(real)
        n = x.shape[0]
        z = self._to_dev(noise.d) if noise is not None else self._noise(n)
        fake = self._g(z)
        batches = {REAL: x, FAKE: fake.detach()}
        d_scores = {}
        for update in self.plan.d_updates:
            self._clear("D")
            for p in update.passes:  # one backward per pass: the gradients add up before the step
                loss, prob = self._score(batches[p.batch], self._label(n, p.label))
                loss.backward()
                d_scores[p.batch] = (loss.detach(), prob)
            self._update("D")
        g_scores = []
        for update in self.plan.g_updates:
            f = update.fake(
                fake, self._g, z, lambda k: self._to_dev(noise.g[k]) if noise is not None else self._noise(n)
            )
            self._clear("G")
            loss_g, prob_g = self._score(f, self._label(n, update.label))
            loss_g.backward()
            self._update("G")
            g_scores.append((loss_g.detach(), prob_g))
        return paddle.stack([v.reshape([]) for v in stats_row(d_scores, g_scores)])

    def placement(self, handle) -> tuple[set[str], set[str]]:
        def kind(t) -> str:
            return "cuda" if t.place.is_gpu_place() else "cpu" if t.place.is_cpu_place() else str(t.place)

        return {kind(p) for net in self.nets.values() for p in net.parameters()}, {kind(handle)}

    def host_values(self, handle) -> np.ndarray:
        return handle.numpy().astype(np.float64)

    def sync(self) -> None:
        if self.device == "cuda":
            paddle.device.synchronize()

    def generate(self, noise: np.ndarray) -> np.ndarray:
        self.G.eval()
        try:
            with paddle.no_grad():
                return self._g(self._to_dev(noise)).numpy().astype(np.float32)
        finally:
            self.G.train()

    # --- memory --------------------------------------------------------------------------------
    def reset_peak_memory(self) -> None:
        if self.device == "cuda":
            paddle.device.cuda.reset_max_memory_allocated()

    def peak_memory(self):
        if self.device == "cuda":
            return int(paddle.device.cuda.max_memory_allocated()), "cuda_max_allocated"
        return None, None


def _onednn() -> bool | None:
    # the flag is FLAGS_use_onednn in Paddle 3 and FLAGS_use_mkldnn in 2.x
    for flag in ("FLAGS_use_onednn", "FLAGS_use_mkldnn"):
        try:
            return bool(paddle.get_flags([flag])[flag])
        except ValueError:
            continue
    return None
