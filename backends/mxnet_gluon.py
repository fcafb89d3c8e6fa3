"""MXNet 1.9.1 adapter (Gluon): any spec as HybridSequential blocks, the recipe's iteration with
`autograd` and Gluon `Trainer`s, in two execution modes recorded apart:

- "imperative": every operator dispatched from Python as it runs;
- "hybridized": G and D-with-its-loss each `hybridize(static_alloc=True, static_shape=True)`, i.e.
  one cached, statically planned graph per network call (forward and backward). Both modes
  compute bit-identical numbers (tests/test_mxnet_parity.py).

Networks. One Gluon block per spec layer, so `net[i]` holds the canonical `{net}.{i}.*` arrays
(common/state.py). Gluon's layouts are torch's: Dense (out, in) with `flatten=False` (the spec's
own Flatten layer flattens), Conv2D (out, in, kH, kW), Conv2DTranspose (in, out, kH, kW) with
`output_padding`, so import/export is a plain copy. BatchNorm maps weight/bias to gamma/beta and its
momentum is already the kept fraction; a fixed γ (`gamma="fixed"`, MXNet's fix_gamma) is
`BatchNorm(scale=False)`: the op uses γ=1 whatever the array holds, γ has grad_req 'null' and no
Adam state, and it is exported as the ones loaded. Every shape is given up front (in_units /
in_channels), so nothing is deferred.

The iteration (as TorchBackend.step and the MXNet tutorials): G makes the fakes in training mode
(recorded when the G step will back-propagate into them); D's step sees
`fake.detach()`, with real and fake in SEPARATE forward passes; "summed" accumulates the gradients
of loss_real and loss_fake (torch's two backward calls; the Module tutorial's kept-and-added
gradients; the Gluon tutorial's errD.backward() of their sum) before one D update; "separate_fake_then_real" makes two
full D updates. In "same_fake" the G step scores the very fake the D step used and back-propagates
D's loss through the SAME recorded G forward (MXNet keeps that graph across `record()` blocks:
the Module tutorial's D-input-gradient-into-G, done by autograd); "recompute_same_z" /
"fresh_noise" run G again. Losses are batch means and `trainer.step(1)`: torch's gradient scale
(the tutorials' per-sample losses with rescale_grad = 1/batch are the same number). The loss
gradient is written as torch's backward formula ((sigmoid(x) - y)/n, also LogisticRegressionOutput's;
see `_Scorer`). Nothing is copied to the host inside `step`; `read` copies one small array.

Adam: every form (common/spec.py ADAM_FORMS) runs MXNet's fused `adam_update` kernel (`_Adam`),
which computes w -= lr_k · m / (sqrt(v) + ε_k) with 1-β formed in float32. "mxnet" is MXNet's Adam
as the tutorials' Trainer and Module run it (lr_k = lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) in doubles, ε_k = ε);
"mindspore" and "paddle-fluid" pass their float32 step size and ε (common.adam.step_scalars);
"torch" passes torch's: ε_k = ε·sqrt(1-β2ᵗ), and since torch forms 1-β2 in double (0.001 where the
kernel has 1 - 0.999f = 0.00099998713), the kernel's v is κ = 1 - 1.29e-5 times torch's at every
step, which is folded into the scalars (see `_Adam`). Only scalars change: one fused pass per
parameter for every form (an NDArray-op version of torch's update doubled paddle-dcgan28's step time).

BatchNorm running statistics (what MXNet does, observed in 1.9.1 CPU builds, MKLDNN and native
kernels alike, imperative and hybridized): the running mean/var move in the BACKWARD pass of a
training-mode BatchNorm (a training-mode forward alone leaves them untouched), with the BIASED
batch variance. Training losses use batch statistics and are unaffected; the exported
running_mean/running_var (and `generate()`) differ from torch's in three ways, all of them
MXNet's semantics, kept as they are:
  1. running_var accumulates the biased variance (torch: unbiased, n/(n-1) larger);
  2. a forward that is never back-propagated does not update: the fakes made for D's step in
     "recompute_same_z" / "fresh_noise" move G's statistics in torch but not here (G's statistics
     move once per G update here; torch: once more per iteration);
  3. (handled) the order of the two D passes' updates in a "summed" D step: one backward of
     loss_real + loss_fake applies them in an order that even differs between imperative and
     hybridized mode, so the backend back-propagates the passes one after the other into
     accumulating gradients (grad_req 'add', as torch's two backward calls): the statistics land
     in d_pass_order. (The Gluon tutorial's one errD.backward() applies D's statistics
     fake-then-real; its test measures the difference, m(1-m)²·(fake - real).)

Two MXNet 1.9.1 oneDNN defects are worked around (both found by the tests here): a transposed
convolution to one output channel fails in backward (it runs in float64, `_ConvTranspose1`), and
in a hybridized graph BatchNorm1d → act → reshape → Deconvolution fails in backward (`_Reshape`
copies). Neither changes the function computed.
"""

from __future__ import annotations

import math
import os

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from backends.base import DEVICE_KIND, Backend, ModeRefused
from backends.dp import shard
from common.adam import moment_betas, step_scalars
from common.env import cpu_model, usable_cores
from common.feed import StepNoise
from common.layers import build_layers
from common.recipe import FAKE, REAL, stats_row
from common.spec import Act, BatchNorm, Conv2d, ConvTranspose2d, Dense, Flatten, MaxPool2d, ModelSpec, Reshape
from common.state import NETS, check_state, param_keys

_BCE_EPS = 1e-12  # torch's binary_cross_entropy backward: (p - y) / max(p (1 - p), EPSILON)
_BN_NAMES = {"weight": "gamma", "bias": "beta", "running_mean": "running_mean", "running_var": "running_var"}


# --- networks ----------------------------------------------------------------------------------


class _Reshape(nn.HybridBlock):
    """Reshape each sample (0 keeps the batch dimension), then a full-range slice, i.e. a copy.

    The copy is there for MXNet 1.9.1's oneDNN: in a hybridized graph, BatchNorm(N, C) → act →
    reshape → Deconvolution fails in backward ("Check failed: !is_view", ndarray.cc:649) because
    the reshape's backward hands BatchNorm a view of the deconvolution's oneDNN-layout gradient.
    A slice (unlike identity, `*1` or a second reshape) materialises a fresh array, in both
    directions; it costs one copy of the activation."""

    def __init__(self, shape, **kw):
        super().__init__(**kw)
        self._shape = (0, *map(int, shape))

    def hybrid_forward(self, F, x):
        return F.slice_axis(F.reshape(x, shape=self._shape), axis=1, begin=0, end=None)


class _ConvTranspose1(nn.HybridBlock):
    """A transposed convolution to ONE output channel, evaluated in float64 by MXNet's native kernel.

    MXNet 1.9.1's oneDNN Deconvolution (float32 on CPU) fails in its backward pass ("could not
    create a primitive descriptor for a reorder primitive") whenever num_filter is 1 and there is
    more than one input channel (every kernel/stride/padding tried), and building the kernel as
    (in, 2, k, k) with a zero second filter crashes oneDNN as well. oneDNN only takes float32, so
    this layer casts its input and kernel to float64 and back: the same parameters (weight
    (in, 1, k, k) float32, bias (1,)), the same function, more precise, slower per FLOP (the layer
    is a network's small last one)."""

    def __init__(self, layer: ConvTranspose2d, in_channels: int, **kw):
        super().__init__(**kw)
        self._kw = {
            "kernel": (layer.kernel,) * 2,
            "stride": (layer.stride,) * 2,
            "pad": (layer.padding,) * 2,
            "adj": (layer.output_padding,) * 2,
            "num_filter": 1,
            "no_bias": True,
        }
        self._bias = layer.bias
        self._dtype = "float32"  # the network's compute dtype (`cast` switches it)
        with self.name_scope():
            self.weight = self.params.get("weight", shape=(in_channels, 1, layer.kernel, layer.kernel))
            self.bias = self.params.get("bias", shape=(1,), init="zeros") if layer.bias else None

    def cast(self, dtype):
        self._dtype = np.dtype(dtype).name
        super().cast(dtype)

    def hybrid_forward(self, F, x, weight, bias=None):
        y = F.Deconvolution(F.cast(x, "float64"), F.cast(weight, "float64"), **self._kw)
        y = F.cast(y, self._dtype)
        return F.broadcast_add(y, F.reshape(bias, shape=(1, 1, 1, 1))) if self._bias else y


class _LeakyReLU64(nn.HybridBlock):
    """Leaky ReLU computed in float64, for float64 parity references. MXNet 1.9.1's LeakyReLU
    computes its negative branch at float32 precision even on float64 arrays: the output is exactly
    float32(x)·0.2f rounded to float32 (measured: y/x between 0.1999999853 and 0.2000000236, 1.2e-7
    relative), not just a float32-stored slope; ten chaotic iterations amplify that past 1e-4."""

    def __init__(self, slope: float, **kw):
        super().__init__(**kw)
        self._slope = float(slope)

    def hybrid_forward(self, F, x):
        return F.where(x > 0, x, x * self._slope)


def _conv_transpose(layer: ConvTranspose2d, c_in: int, ctx) -> nn.HybridBlock:
    if layer.out_channels == 1 and c_in > 1 and _on_cpu(ctx):
        return _ConvTranspose1(layer, c_in)  # oneDNN's backward fails for one output channel
    kw = dict(output_padding=layer.output_padding, use_bias=layer.bias, in_channels=c_in)
    return nn.Conv2DTranspose(layer.out_channels, layer.kernel, layer.stride, layer.padding, **kw)


def _act(layer: Act, dtype: str) -> nn.HybridBlock:
    if layer.fn == "leaky_relu":
        return _LeakyReLU64(layer.slope) if dtype == "float64" else nn.LeakyReLU(layer.slope)
    return nn.Activation(layer.fn)


def build_net(
    net_spec, prefix: str, ctx=None, dtype: str = "float32", sync_devices: int | None = None
) -> nn.HybridSequential:
    """One Gluon block per spec layer, so `net[i]` holds the canonical `{net}.{i}.*` arrays; every
    BatchNorm a SyncBatchNorm over `sync_devices` contexts when that is given (data parallel)."""

    def batchnorm(l, c):
        # momentum is the kept fraction in both; scale=False is fix_gamma (γ ≡ 1, not trained)
        kw = dict(momentum=l.momentum, epsilon=l.eps, scale=l.gamma == "learned", in_channels=c)
        if sync_devices:
            return gluon.contrib.nn.SyncBatchNorm(num_devices=sync_devices, **kw)
        return nn.BatchNorm(axis=1, **kw)

    make = {
        Dense: lambda l, c: nn.Dense(l.out_features, use_bias=l.bias, flatten=False, in_units=c),
        Conv2d: lambda l, c: nn.Conv2D(l.out_channels, l.kernel, l.stride, l.padding, use_bias=l.bias, in_channels=c),
        ConvTranspose2d: lambda l, c: _conv_transpose(l, c, ctx),
        MaxPool2d: lambda l, c: nn.MaxPool2D(l.kernel, l.stride),
        BatchNorm: batchnorm,
        Act: lambda l, c: _act(l, dtype),
        Reshape: lambda l, c: _Reshape(l.shape),
        Flatten: lambda l, c: nn.Flatten(),
    }
    net = nn.HybridSequential(prefix=prefix)
    with net.name_scope():  # blocks made inside it get the net's parameter-name prefix
        for block in build_layers(net_spec, make):
            net.add(block)
    return net


class _Scorer(nn.HybridBlock):
    """D followed by the recipe's loss against a constant label: (mean loss, mean D probability).

    The loss VALUE is torch's formula (BCE with logs clamped at -100; BCE-with-logits as
    max(x,0) - x·y + log(1+exp(-|x|)), which is also Gluon's SigmoidBinaryCrossEntropyLoss), and its
    GRADIENT is torch's backward formula, written out: (sigmoid(x) - y)/n for BCE-with-logits
    (also what the Module tutorial's LogisticRegressionOutput back-propagates) and
    (p - y)/max(p(1-p), 1e-12)/n for BCE on probabilities. Autograd of the value expression would
    give the same numbers rounded differently (relu'(x) - y - sigmoid(-|x|)·sign(x) for the logits
    form), and these GANs amplify last-bit differences (tests/test_mxnet_parity.py).
    Mechanism: loss = BlockGrad(value) + (S - BlockGrad(S)) with S = mean(out · BlockGrad(c)),
    c the per-sample derivative; its value is exactly `value`, its gradient exactly c/n.

    One block, so the hybridized mode compiles D and its loss into one cached graph."""

    def __init__(self, d: nn.HybridSequential, loss: str, label: float, **kw):
        super().__init__(**kw)
        self.d = d  # a child block (Gluon registers it): its parameters stay D's
        self._loss, self._label = loss, float(label)

    def hybrid_forward(self, F, x):
        out = F.reshape(self.d(x), shape=(-1,))
        y = self._label
        if self._loss == "bce_prob":
            terms = []
            if y != 0.0:
                terms.append(-y * F.maximum(F.log(out), -100.0))
            if y != 1.0:
                terms.append(-(1 - y) * F.maximum(F.log(1 - out), -100.0))
            value = terms[0] if len(terms) == 1 else terms[0] + terms[1]
            grad = (out - y) / F.maximum(out * (1 - out), _BCE_EPS)
            prob = out
        else:  # bce_logits, bce_logits_on_prob: BCE-with-logits of D's output
            value = F.relu(out) - out * y + F.Activation(-F.abs(out), act_type="softrelu")
            grad = F.sigmoid(out) - y
            prob = F.sigmoid(out) if self._loss == "bce_logits" else out
        surrogate = F.mean(out * F.BlockGrad(grad))
        loss = F.BlockGrad(F.mean(value)) + (surrogate - F.BlockGrad(surrogate))
        return loss, F.BlockGrad(F.mean(prob))


# --- Adam ----------------------------------------------------------------------------------------


class _Adam(mx.optimizer.Adam):
    """MXNet's fused `adam_update` kernel computing the Adam form of `opt` (a spec Adam):

        kernel: v ← β2·v + (1-β2)f·g²;  w ← w - lr_k · m / (sqrt(v) + ε_k)

    "mxnet" is mx.optimizer.Adam.update unchanged (lr_k = lr·sqrt(1-β2ᵗ)/(1-β1ᵗ), ε_k = ε); the
    other sqrt(v) forms take (lr_k, ε_k) = common.adam.step_scalars. torch's form,
    w ← w - lr/(1-β1ᵗ) · m / (sqrt(v)/sqrt(1-β2ᵗ) + ε) with v ← β2·v + (1-β2)·g², differs from the
    kernel in ε's place (ε_k = ε·sqrt(1-β2ᵗ)) and in (1-β2)f = 1 - 0.999f = 0.00099998713 where
    torch uses 0.001: as every step adds g² with the same factor, the kernel's v is exactly
    κ = (1-β2)f / (1-β2) times torch's, so lr_k and ε_k are multiplied by sqrt(κ) and the exported /
    imported v divided / multiplied by κ (`v_scale`).

    float64 (parity references): adam_update takes lr, β and ε as float32 op parameters
    (2e-4 becomes 1.99999995e-4), so the update is written with NDArray ops, whose scalars are doubles."""

    def __init__(self, opt, float64: bool = False):
        super().__init__(learning_rate=opt.lr, beta1=opt.beta1, beta2=opt.beta2, epsilon=opt.eps)
        self.opt, self.float64 = opt, float64
        self._scalars = (0, 0.0, 0.0)  # (t, lr_k, ε_k) of the latest update
        kernel = float(np.float32(1) - np.float32(self.beta2))  # what adam_update computes
        wanted = float(np.float32(1.0 - self.beta2))  # torch's value=1-beta2, as a float32 scalar
        self.v_scale = kernel / wanted if opt.form == "torch" and not float64 else 1.0

    def update(self, index, weight, grad, state):
        self._update_count(index)
        lr = self._get_lr(index)
        wd = self._get_wd(index)
        if wd or self.clip_gradient:
            raise NotImplementedError("no recipe uses weight decay or gradient clipping")
        t = self._index_update_count[index]
        coef1, coef2 = 1.0 - self.beta1**t, 1.0 - self.beta2**t
        mean, var = state
        if self.float64:
            g = grad * self.rescale_grad
            if self.opt.form == "torch":
                mean[:] = self.beta1 * mean + (1.0 - self.beta1) * g
                var[:] = self.beta2 * var + (1.0 - self.beta2) * g * g
                weight[:] = weight - (lr / coef1) * mean / (nd.sqrt(var) / math.sqrt(coef2) + self.epsilon)
                return
            b1, b2 = moment_betas(self.opt)
            s, e = step_scalars(self.opt, t)
            mean[:] = b1 * mean + (1.0 - b1) * g
            var[:] = b2 * var + (1.0 - b2) * g * g
            weight[:] = weight - s * mean / (nd.sqrt(var) + e)
            return
        if self.opt.form == "mxnet":
            lr_k, eps = lr * (math.sqrt(coef2) / coef1), self.epsilon  # as mx.optimizer.Adam.update
        elif self.opt.form == "torch":
            root = math.sqrt(self.v_scale)
            lr_k, eps = lr * math.sqrt(coef2) / coef1 * root, self.epsilon * math.sqrt(coef2) * root
        else:
            if self._scalars[0] != t:  # the same for every parameter of one update
                self._scalars = (t, *step_scalars(self.opt, t))
            lr_k, eps = self._scalars[1:]
        nd.adam_update(
            weight,
            grad,
            mean,
            var,
            out=weight,
            lazy_update=self.lazy_update,
            lr=lr_k,
            wd=wd,
            beta1=self.beta1,
            beta2=self.beta2,
            epsilon=eps,
            rescale_grad=self.rescale_grad,
        )


# --- the backend ---------------------------------------------------------------------------------


class MXNetBackend(Backend):
    name = "mxnet"
    modes = ("imperative", "hybridized")
    # CPU (2-core EPYC, measured): the two modes are within 5 % of each other on every model,
    # so the plain one stays the CPU default; on GPUs, where launches dominate, the static graph
    best_modes = {"cuda": ("hybridized",), "cpu": ("imperative",)}
    supports_float64 = True  # parity references: MXNet's native (non-oneDNN) kernels run float64

    def __init__(
        self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, seed: int = 0, threads: int | None = None
    ):
        super().__init__(spec, device, mode, seed, threads)
        self._build([mx.gpu(0) if device == "cuda" else mx.cpu()], threads)

    def _build(
        self, ctxs: list, threads: int | None, sync_devices: int | None = None, kv=None, replicas: int | None = None
    ) -> None:
        """G, D, their scorers and trainers over `ctxs` (one context, or one per data-parallel replica).

        `kv`, the KVStore of a data-parallel run, sums the gradient of every context (and, with
        dist_sync, of every worker's contexts) before each update; `replicas` is how many replicas
        that sum is over, the update's 1/N. Without one, the Trainer updates its one context in place."""
        if threads:
            _set_omp_threads(threads)
        self.ctxs = ctxs
        self.kv = kv
        self.replicas = replicas or len(ctxs)
        self.ctx = ctxs[0]  # generate() and exports read the first context's copy
        if len(ctxs) == 1:
            mx.random.seed(self.seed, ctx=self.ctx)
        else:
            mx.random.seed(self.seed)
        spec = self.spec
        self.nets = {
            "G": build_net(spec.generator, "G_", self.ctx, self.dtype, sync_devices),
            "D": build_net(spec.discriminator, "D_", self.ctx, self.dtype, sync_devices),
        }
        self.G, self.D = self.nets["G"], self.nets["D"]
        for net in self.nets.values():
            net.initialize(mx.init.Normal(0.02), ctx=ctxs)  # placeholders: load_state sets every array
            if self.dtype != "float32":
                net.cast(self.dtype)
        labels = {p.label for p in self.plan.d_passes} | {u.label for u in self.plan.g_updates}
        self._scorers = {lab: _Scorer(self.D, spec.recipe.loss, lab) for lab in labels}
        self._params = {n: {k: self._param(k) for k in param_keys(spec, n)} for n in NETS}
        self._trainable = {n: param_keys(spec, n, trainable_only=True) for n in NETS}
        # one KVStore key per trainable array, G's then D's (MXNet allows one dist KVStore per
        # process, so both nets share it; each Trainer keyed its own store 0, 1, … itself)
        self._kv_key = {k: i for i, k in enumerate(self._trainable["G"] + self._trainable["D"])}
        if kv is not None:
            for k, i in self._kv_key.items():
                kv.init(i, self._params[k.split(".")[0]][k].data(self.ctx))
        # a D update of several passes accumulates their gradients
        summed = any(len(u.passes) > 1 for u in self.plan.d_updates)
        self._d_grads = [self._params["D"][k] for k in self._trainable["D"]] if summed else []
        for p in self._d_grads:
            p.grad_req = "add"
        self._new_trainers()
        if self.mode == "hybridized":
            self.G.hybridize(static_alloc=True, static_shape=True)
            for scorer in self._scorers.values():
                scorer.hybridize(static_alloc=True, static_shape=True)

    # --- environment ---------------------------------------------------------------------------
    @classmethod
    def device_available(cls, device: str) -> bool:
        return device == "cpu" or (device == "cuda" and _num_gpus() > 0)

    @classmethod
    def build_info(cls) -> dict:
        from common.builds import cuda_build, query_driver

        feats = mx.runtime.Features()
        cuda = feats.is_enabled("CUDA")
        driver = query_driver() if cuda and _num_gpus() else None
        gpus = [
            {
                "name": g.name,
                "compute_capability": "{}.{}".format(*g.compute_capability) if g.compute_capability else None,
            }
            for g in (driver.gpus if driver else ())
        ]
        # MXNet cannot list its kernels' architectures; the wheel's were read from its libmxnet.so
        archs = [f"sm_{a}{b}" for a, b in cuda_build("mxnet", 11).sass] if cuda else None
        return {
            "version": mx.__version__,
            "cuda_build": cuda,
            "cuda": None,
            "cudnn": feats.is_enabled("CUDNN"),
            "gpus": gpus,
            "archs": archs,
            "threads": int(os.environ.get("OMP_NUM_THREADS") or usable_cores()),
        }

    def info(self) -> dict:
        cuda = self.device == "cuda"
        feats = mx.runtime.Features()
        return {
            "framework": "mxnet",
            "framework_version": mx.__version__,
            "device_name": _gpu_name() if cuda else cpu_model(),
            "cuda": feats.is_enabled("CUDA") if cuda else None,
            "cudnn": feats.is_enabled("CUDNN") if cuda else None,
            "mkldnn": feats.is_enabled("MKLDNN"),
            "threads": self.threads or int(os.environ.get("OMP_NUM_THREADS") or usable_cores()),
            "mode": self.mode,
            "precision": "fp64" if self.dtype == "float64" else "fp32",
        }

    # --- state ---------------------------------------------------------------------------------
    def _param(self, key: str) -> gluon.Parameter:
        net, i, name = key.split(".")
        block = self.nets[net][int(i)]
        return getattr(block, _BN_NAMES[name] if isinstance(block, nn.BatchNorm) else name)

    def _new_trainers(self) -> None:
        r = self.spec.recipe
        self.trainers = {}
        for n, o in (("G", r.opt_g), ("D", r.opt_d)):
            opt = _Adam(o, float64=self.dtype == "float64")
            # no KVStore of its own: `_allreduce` has the run's KVStore sum the gradients first, then
            # the Trainer updates every context with the same sum, so the replicas stay identical
            # (what a Trainer with update_on_kvstore=False does, for two Trainers over one store)
            self.trainers[n] = gluon.Trainer([self._params[n][k] for k in self._trainable[n]], opt, kvstore=None)

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        check_state(self.spec, state)
        for net in NETS:
            for key, p in self._params[net].items():
                p.set_data(nd.array(np.asarray(state[key]), ctx=self.ctx, dtype=self.dtype))
        self._new_trainers()
        for net in NETS:
            step = int(state[f"opt.{net}.step"])
            if step == 0:
                continue
            tr = self.trainers[net]
            opt = tr._optimizer
            for j, key in enumerate(self._trainable[net]):
                v = (np.asarray(state[f"opt.{key}.v"], np.float64) * opt.v_scale).astype(np.float32)
                for upd, ctx in zip(tr._updaters, self.ctxs):  # one updater per context
                    upd.states[j] = (
                        nd.array(np.asarray(state[f"opt.{key}.m"]), ctx=ctx, dtype=self.dtype),
                        nd.array(v, ctx=ctx, dtype=self.dtype),
                    )
                    upd.states_synced[j] = True
                opt._index_update_count[j] = step
            opt.num_update = step

    def export_state(self) -> dict[str, np.ndarray]:
        # Wait for ALL queued work first: MXNet 1.9.1's oneDNN transposed convolution re-lays out
        # its weight array asynchronously (I/O-swapped blocked format), and an asnumpy() that
        # overlaps that can return the weight permuted (seen in tests/test_mxnet_backend.py).
        nd.waitall()
        out: dict[str, np.ndarray] = {}
        for net in NETS:
            for key, p in self._params[net].items():
                out[key] = p.data(self.ctx).asnumpy().astype(np.float32, copy=True)
        for net in NETS:
            tr = self.trainers[net]
            upd, opt = tr._updaters[0], tr._optimizer
            step = 0
            for j, key in enumerate(self._trainable[net]):
                st = upd.states.get(j)
                if st is not None:
                    step = int(opt._index_update_count.get(j, 0))
                    out[f"opt.{key}.m"] = st[0].asnumpy().astype(np.float32)
                    out[f"opt.{key}.v"] = (st[1].asnumpy().astype(np.float64) / opt.v_scale).astype(np.float32)
                else:
                    shape = self._params[net][key].shape
                    out[f"opt.{key}.m"] = np.zeros(shape, np.float32)
                    out[f"opt.{key}.v"] = np.zeros(shape, np.float32)
            out[f"opt.{net}.step"] = np.asarray(step, np.int64)
        return out

    # --- training ------------------------------------------------------------------------------
    def _to_dev(self, x: np.ndarray) -> nd.NDArray:
        return nd.array(x, ctx=self.ctx, dtype=self.dtype)

    def _per_context(self, arr: np.ndarray | None, n: int) -> list:
        """Context i's slice of a batch-shaped input (rows [i·n, (i+1)·n)), or native noise drawn on it."""
        if arr is not None:
            return [nd.array(shard(arr, i, len(self.ctxs)), ctx=c, dtype=self.dtype) for i, c in enumerate(self.ctxs)]
        nz = self.spec.recipe.noise
        shape = (n, *nz.shape)
        if nz.dist == "uniform":
            return [nd.random.uniform(nz.low, nz.high, shape=shape, ctx=c, dtype=self.dtype) for c in self.ctxs]
        return [nd.random.normal(nz.mean, nz.std, shape=shape, ctx=c, dtype=self.dtype) for c in self.ctxs]

    def step(self, real: np.ndarray, noise: StepNoise | None = None):
        """One iteration; with several contexts each runs its slice of the batch (Gluon's data-parallel
        pattern: one recorded forward per context, `autograd.backward` of the list), and
        `trainer.step(N)` scales the KVStore's sum of their gradients by 1/N, the replicas' average."""
        k = len(self.ctxs)
        n = len(real) // k
        xs = self._per_context(real, n)
        zs = self._per_context(noise.d if noise is not None else None, n)
        tr_d, tr_g = self.trainers["D"], self.trainers["G"]

        if self.plan.keep_fake_graph:  # recorded: a G update back-propagates into this very forward
            with autograd.record():
                fakes = [self.G(z) for z in zs]
        else:  # never back-propagated: a training-mode forward (batch statistics), nothing kept
            with autograd.train_mode():
                fakes = [self.G(z) for z in zs]
        batches = {REAL: xs, FAKE: [f.detach() for f in fakes]}
        d_scores = {}
        for update in self.plan.d_updates:
            # several passes: one backward call each, accumulating into D's gradients (grad_req
            # 'add'), as torch does: MXNet moves a BatchNorm's running statistics in that pass's
            # BACKWARD, and separate calls make that happen in d_pass_order. (One backward of the
            # summed loss visits the two branches in an order that differs between imperative and
            # hybridized mode.) The sum of the gradients is the joint backward's, bit for bit.
            for p in self._d_grads:
                p.zero_grad()
            for p in update.passes:
                with autograd.record():
                    outs = [self._scorers[p.label](x) for x in batches[p.batch]]
                autograd.backward([loss for loss, _ in outs])
                d_scores[p.batch] = [(loss.detach(), prob.detach()) for loss, prob in outs]
            self._allreduce("D")
            tr_d.step(self.replicas)

        g_scores = []
        for update in self.plan.g_updates:
            with autograd.record():
                fs = update.fake(
                    fakes,
                    lambda zz: [self.G(z) for z in zz],
                    zs,
                    lambda j: self._per_context(noise.g[j] if noise is not None else None, n),
                )
                outs = [self._scorers[update.label](f) for f in fs]
            autograd.backward([loss for loss, _ in outs])
            self._allreduce("G")
            tr_g.step(self.replicas)
            g_scores.append([(loss.detach(), prob.detach()) for loss, prob in outs])
        # one row of statistics per context
        return [
            nd.concat(*stats_row({b: v[i] for b, v in d_scores.items()}, [g[i] for g in g_scores]), dim=0)
            for i in range(k)
        ]

    def _allreduce(self, net: str) -> None:
        """Every context's gradient of `net` replaced by their sum over the run's KVStore."""
        if self.kv is None:
            return
        for k in self._trainable[net]:
            i = self._kv_key[k]
            self.kv.pushpull(i, self._params[net][k].list_grad(), priority=-i)

    def placement(self, handle) -> tuple[set[str], set[str]]:
        params = {
            DEVICE_KIND.get(c.device_type, c.device_type)
            for net in self.nets.values()
            for p in net.collect_params().values()
            for c in p.list_ctx()
        }
        used = {h.context for h in handle}
        if len(used) != len(self.ctxs):
            raise ModeRefused(f"mxnet: the step ran on {len(used)} contexts, not {len(self.ctxs)}")
        return params, {DEVICE_KIND.get(c.device_type, c.device_type) for c in used}

    def host_values(self, handle) -> np.ndarray:
        # the contexts' statistics averaged (= the global batch's mean, slices being equal)
        return np.mean([h.asnumpy().astype(np.float64) for h in handle], axis=0)

    def sync(self) -> None:
        nd.waitall()

    def generate(self, noise: np.ndarray) -> np.ndarray:
        # outside autograd.record() Gluon runs in inference mode: BatchNorm uses running statistics
        # and updates nothing.
        with autograd.predict_mode():
            return self.G(self._to_dev(np.ascontiguousarray(noise))).asnumpy().astype(np.float32)

    # --- memory --------------------------------------------------------------------------------
    def peak_memory(self):
        if self.device == "cuda":
            try:
                # MXNet 1.9 exposes no peak counter: the device's used memory when asked (after
                # the timed steps; MXNet's pool keeps what it allocated, so this bounds the peak)
                free, total = mx.context.gpu_memory_info(self.ctx.device_id)
                return int(total - free), "cuda_device_used_after_run"
            except Exception:
                return None, None
        return None, None


def _on_cpu(ctx) -> bool:
    return ctx is None or ctx.device_type == "cpu"


def _num_gpus() -> int:
    try:
        return mx.context.num_gpus()
    except Exception:
        return 0


def _gpu_name() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", "0"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "GPU 0"
    except (OSError, subprocess.SubprocessError):
        return "GPU 0"


def _set_omp_threads(n: int) -> None:
    """Best effort: MXNet reads OMP_NUM_THREADS when it starts; this also sets the calling thread's
    OpenMP pool (MXSetNumOMPThreads) for what runs on it."""
    import ctypes

    os.environ["OMP_NUM_THREADS"] = str(n)
    try:
        mx.base._LIB.MXSetNumOMPThreads(ctypes.c_int(int(n)))
    except Exception:
        pass
