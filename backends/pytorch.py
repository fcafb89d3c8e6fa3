"""PyTorch adapter: any spec as nn.Sequential modules, and the recipe's iteration in eager mode.

The iteration follows the tutorials' own loops (pytorch/examples dcgan/main.py style): D's
gradients from the real and the fake pass accumulate before one `optimizerD.step()`, the G step
re-scores the same fake (or a recomputed / fresh one, as the recipe says), and nothing is copied
to the host inside the step.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from backends.base import Backend, ModeRefused
from common.adam import beta_powers, moment_betas, torch_scalars
from common.env import cpu_model
from common.feed import StepNoise
from common.layers import build_layers
from common.recipe import FAKE, REAL, stats_row
from common.spec import Act, Adam, BatchNorm, Conv2d, ConvTranspose2d, Dense, Flatten, MaxPool2d, ModelSpec, Reshape
from common.state import NETS, check_state, param_keys


class _Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


def _batchnorm(layer: BatchNorm, c_in: int) -> nn.Module:
    bn = nn.BatchNorm1d if layer.dim == 1 else nn.BatchNorm2d
    # torch's momentum is the weight of the new batch statistic; the spec's is the kept fraction.
    m = bn(c_in, eps=layer.eps, momentum=1.0 - layer.momentum)
    if layer.gamma == "fixed":
        m.weight.requires_grad_(False)
    return m


_MAKE = {
    Dense: lambda l, c: nn.Linear(c, l.out_features, bias=l.bias),
    Conv2d: lambda l, c: nn.Conv2d(c, l.out_channels, l.kernel, l.stride, l.padding, bias=l.bias),
    ConvTranspose2d: lambda l, c: nn.ConvTranspose2d(
        c, l.out_channels, l.kernel, l.stride, l.padding, output_padding=l.output_padding, bias=l.bias
    ),
    MaxPool2d: lambda l, c: nn.MaxPool2d(l.kernel, l.stride),
    BatchNorm: _batchnorm,
    Act: lambda l, c: {
        "relu": lambda: nn.ReLU(inplace=True),
        "leaky_relu": lambda: nn.LeakyReLU(l.slope, inplace=True),
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
    }[l.fn](),
    Reshape: lambda l, c: _Reshape(l.shape),
    Flatten: lambda l, c: nn.Flatten(),
}


class _FormAdam(torch.optim.Adam):
    """torch.optim.Adam's own kernel computing another Adam form: before each update its group's
    lr and eps are set to `common.adam.torch_scalars` (lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) and ε placed as the
    form places it, re-expressed in torch's bias-corrected terms) and its betas are the form's
    `moment_betas`. Equal to the form in real arithmetic; float32 rounding of the scalars aside,
    the same pass over each parameter as torch's form."""

    def __init__(self, params, opt: Adam):
        super().__init__(params, lr=opt.lr, betas=moment_betas(opt), eps=opt.eps)
        self.form = opt
        # a step pre-hook, not an overridden step(): torch wraps every Optimizer subclass's step with
        # the hooks, so an override calling super().step() would run each hook twice
        self.register_step_pre_hook(_FormAdam._set_scalars)

    @staticmethod
    def _set_scalars(optimizer, args, kwargs) -> None:
        for group in optimizer.param_groups:
            st = optimizer.state.get(group["params"][0], {})
            t = int(st["step"]) + 1 if "step" in st else 1  # a host tensor: no device sync
            group["lr"], group["eps"] = torch_scalars(optimizer.form, t)


class _CapturableFormAdam(torch.optim.Adam):
    """A non-torch form inside a CUDA graph: torch's capturable Adam bakes eps into the graph, and a
    form's ε in torch's terms changes every step, so the update is written with foreach ops whose
    step-dependent scalars are device tensors computed from the step count in float64:
    p -= S·m/(sqrt(v)+E) with S = lr·sqrt(1-b2ᵗ)/(1-b1ᵗ) and E = ε or ε·sqrt(1-b2ᵗ). The state
    (step, exp_avg, exp_avg_sq) is torch.optim.Adam's, so load/export are shared."""

    def __init__(self, params, opt: Adam):
        super().__init__(params, lr=opt.lr, betas=moment_betas(opt), eps=opt.eps, capturable=True)
        self.form = opt
        self._pows = None  # float32 β powers on the device, rebuilt from the step count

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._pows = None

    @torch.no_grad()
    def step(self, closure=None):
        o = self.form
        for group in self.param_groups:
            b1, b2 = group["betas"]
            ps = [p for p in group["params"] if p.grad is not None]
            if not ps:
                continue
            for p in ps:
                st = self.state[p]
                if "step" not in st:
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["step"] = torch.zeros((), dtype=torch.float64, device=p.device)
                elif st["step"].dtype != torch.float64 or st["step"].device != p.device:
                    st["step"] = st["step"].to(device=p.device, dtype=torch.float64)  # warm-up, before capture
            grads = [p.grad for p in ps]
            ms = [self.state[p]["exp_avg"] for p in ps]
            vs = [self.state[p]["exp_avg_sq"] for p in ps]
            steps = [self.state[p]["step"] for p in ps]
            torch._foreach_add_(steps, 1.0)
            t = steps[0]
            torch._foreach_lerp_(ms, grads, 1.0 - b1)
            torch._foreach_mul_(vs, b2)
            torch._foreach_addcmul_(vs, grads, grads, 1.0 - b2)
            dt = ps[0].dtype
            if o.adam_form.beta_power == "float32":
                # β^t as a float32 product updated every step, the step size formed in float32
                if self._pows is None:
                    t0 = int(t.item()) - 1  # once, in the eager warm-up before capture
                    self._pows = [
                        torch.tensor(b, dtype=torch.float32, device=t.device)
                        for b in (beta_powers(o, t0) if t0 else (1.0, 1.0))
                    ]
                p1, p2 = self._pows
                p1.mul_(float(np.float32(o.beta1)))
                p2.mul_(float(np.float32(o.beta2)))
                # sqrt in double, rounded to float32: the correctly rounded float sqrt of the kernels
                root = torch.sqrt((1.0 - p2).double()).float()
                neg_s = -(float(np.float32(o.lr)) * root / (1.0 - p1))
            else:
                p1, p2 = torch.pow(float(o.beta1), t), torch.pow(float(o.beta2), t)
                root = torch.sqrt(1.0 - p2)
                neg_s = -o.lr * root / (1.0 - p1)
            neg_s = neg_s.to(dt)
            e = (o.eps * root if o.adam_form.eps == "sqrt_v_hat" else torch.full_like(root, o.eps)).to(dt)
            # one 0-d device tensor per parameter, as torch's own capturable Adam passes its step sizes:
            # the single-tensor overloads read the scalar back to the host, which a capture forbids
            denom = torch._foreach_sqrt(vs)
            torch._foreach_add_(denom, [e] * len(denom))
            upd = torch._foreach_div(ms, denom)
            torch._foreach_mul_(upd, [neg_s] * len(upd))
            torch._foreach_add_(ps, upd)
        return None


def make_adam(params, opt: Adam, capturable: bool = False) -> torch.optim.Optimizer:
    """The optimiser that computes `opt.form`: torch.optim.Adam itself for torch's form."""
    if opt.form == "torch":
        return torch.optim.Adam(params, lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps, capturable=capturable)
    return (_CapturableFormAdam if capturable else _FormAdam)(params, opt)


def build_net(net_spec) -> nn.Sequential:
    """One torch module per spec layer, so `module[i]` holds the canonical `{net}.{i}.*` arrays."""
    return nn.Sequential(*build_layers(net_spec, _MAKE))


class TorchBackend(Backend):
    """Modes: eager — the tutorial loop; compile — torch.compile of G and D (default
    inductor mode); channels_last — NHWC memory format for conv models; bf16 — autocast of every
    forward pass to bfloat16 (losses and optimiser in fp32; parity has its own looser tolerance);
    cuda_graph — the whole iteration captured once in a CUDA graph (capturable Adam) and replayed."""

    name = "torch"
    modes = ("eager", "compile", "channels_last", "bf16", "cuda_graph")
    best_modes = {"cuda": ("cuda_graph", "compile", "eager"), "cpu": ("eager",)}
    supports_float64 = True
    GRAPH_WARMUP = 3  # eager iterations on a side stream before capture (optimiser state, autotuning)

    @classmethod
    def refuse(cls, spec: ModelSpec, mode: str, device: str) -> str | None:
        if mode == "cuda_graph" and device != "cuda":
            return "a CUDA graph captures GPU work: it needs --device cuda"
        if mode == "channels_last" and not any(
            isinstance(layer, (Conv2d, ConvTranspose2d))
            for net in (spec.generator, spec.discriminator)
            for layer in net.layers
        ):
            return "the model has no convolution, so channels_last would measure eager under another name"
        return None

    def __init__(
        self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, seed: int = 0, threads: int | None = None
    ):
        super().__init__(spec, device, mode, seed, threads)
        if threads:
            torch.set_num_threads(threads)
        self.dev = torch.device(device)
        self.tdtype = getattr(torch, self.dtype)
        if self.dtype != "float32" and self.mode != "eager":
            raise ModeRefused(f"torch mode {self.mode!r} runs float32; float64 (parity references) runs eager only")
        if device == "cuda":
            torch.backends.cudnn.benchmark = True  # the autotuner: off would be an unfair default
        self.nets = {
            "G": build_net(spec.generator).to(self.dev, self.tdtype),
            "D": build_net(spec.discriminator).to(self.dev, self.tdtype),
        }
        self.G, self.D = self.nets["G"], self.nets["D"]
        self.G.train()
        self.D.train()
        self._layout = torch.channels_last if mode == "channels_last" else torch.contiguous_format
        if mode == "channels_last":
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        # the callables the iteration uses; self.G/self.D stay the plain modules (state, hooks)
        self.fG, self.fD = (torch.compile(self.G), torch.compile(self.D)) if mode == "compile" else (self.G, self.D)
        self.params = {n: [self._tensor(k) for k in param_keys(spec, n, trainable_only=True)] for n in NETS}
        r = spec.recipe
        capturable = mode == "cuda_graph"
        self.opts = {n: make_adam(self.params[n], o, capturable) for n, o in (("G", r.opt_g), ("D", r.opt_d))}
        # cuda_graph: one captured iteration per input shape (a short last batch gets its own), and how
        # many eager iterations each shape has had
        self._graphs: dict[tuple, tuple] = {}
        self._eager_runs: dict[tuple, int] = {}
        self.gen = torch.Generator(device=self.dev).manual_seed(seed)
        if mode == "cuda_graph":
            torch.cuda.manual_seed(seed)
        self._labels: dict[tuple[int, float], torch.Tensor] = {}
        self._loss = {
            "bce_prob": F.binary_cross_entropy,
            "bce_logits": F.binary_cross_entropy_with_logits,
            # the Paddle book applies BCE-with-logits to D's sigmoid output: kept as written
            "bce_logits_on_prob": F.binary_cross_entropy_with_logits,
        }[r.loss]

    # --- environment ---------------------------------------------------------------------------
    @classmethod
    def device_available(cls, device: str) -> bool:
        return device == "cpu" or (device == "cuda" and torch.cuda.is_available())

    @classmethod
    def build_info(cls) -> dict:
        cuda = torch.cuda.is_available()
        gpus = (
            [
                {
                    "name": torch.cuda.get_device_name(i),
                    "compute_capability": "{}.{}".format(*torch.cuda.get_device_capability(i)),
                }
                for i in range(torch.cuda.device_count())
            ]
            if cuda
            else []
        )
        return {
            "version": torch.__version__,
            "cuda_build": torch.version.cuda is not None,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "gpus": gpus,
            "archs": torch.cuda.get_arch_list() if torch.version.cuda else None,
            "threads": torch.get_num_threads(),
        }

    def info(self) -> dict:
        cuda = self.device == "cuda"
        return {
            "framework": "torch",
            "framework_version": torch.__version__,
            "device_name": torch.cuda.get_device_name(self.dev) if cuda else cpu_model(),
            "cuda": torch.version.cuda if cuda else None,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "threads": torch.get_num_threads(),
            "mode": self.mode,
            "precision": self._precision(),
        }

    def _precision(self) -> str:
        """What the arithmetic ran in, for MFU: cuDNN convolutions use TF32 by default on GPUs."""
        if self.mode == "bf16":
            return "bf16"
        if self.dtype == "float64":
            return "fp64"
        if self.device == "cuda" and torch.backends.cudnn.allow_tf32:
            return "tf32"
        return "fp32"

    # --- state ---------------------------------------------------------------------------------
    def _tensor(self, key: str) -> torch.Tensor:
        net, i, name = key.split(".")
        return getattr(self.nets[net][int(i)], name)

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        check_state(self.spec, state)
        with torch.no_grad():
            for net in NETS:
                for key in param_keys(self.spec, net):
                    self._tensor(key).copy_(torch.from_numpy(np.asarray(state[key])))
        for net in NETS:
            opt = self.opts[net]
            step = int(state[f"opt.{net}.step"])
            sd = opt.state_dict()
            sd["state"] = (
                {}
                if step == 0
                else {
                    j: {
                        "step": torch.tensor(float(step)),
                        "exp_avg": torch.from_numpy(np.array(state[f"opt.{key}.m"])),
                        "exp_avg_sq": torch.from_numpy(np.array(state[f"opt.{key}.v"])),
                    }
                    for j, key in enumerate(param_keys(self.spec, net, trainable_only=True))
                }
            )
            opt.load_state_dict(sd)

    def export_state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for net in NETS:
            for key in param_keys(self.spec, net):
                out[key] = self._tensor(key).detach().cpu().numpy().astype(np.float32, copy=True)
        for net in NETS:
            opt, step = self.opts[net], 0
            for key, p in zip(param_keys(self.spec, net, trainable_only=True), self.params[net]):
                st = opt.state.get(p, {})
                if st:
                    step = int(st["step"])
                    out[f"opt.{key}.m"] = st["exp_avg"].detach().cpu().numpy().astype(np.float32)
                    out[f"opt.{key}.v"] = st["exp_avg_sq"].detach().cpu().numpy().astype(np.float32)
                else:
                    out[f"opt.{key}.m"] = np.zeros(tuple(p.shape), np.float32)
                    out[f"opt.{key}.v"] = np.zeros(tuple(p.shape), np.float32)
            out[f"opt.{net}.step"] = np.asarray(step, np.int64)
        return out

    # --- training ------------------------------------------------------------------------------
    def _label(self, n: int, value: float) -> torch.Tensor:
        key = (n, value)
        if key not in self._labels:
            self._labels[key] = torch.full((n,), value, dtype=self.tdtype, device=self.dev)
        return self._labels[key]

    def _noise(self, n: int) -> torch.Tensor:
        nz = self.spec.recipe.noise
        shape = (n, *nz.shape)
        # a CUDA graph replays the default generator's Philox stream; a private generator it cannot
        gen = None if self.mode == "cuda_graph" else self.gen
        if nz.dist == "uniform":
            return torch.rand(shape, generator=gen, device=self.dev, dtype=self.tdtype) * (nz.high - nz.low) + nz.low
        return torch.randn(shape, generator=gen, device=self.dev, dtype=self.tdtype) * nz.std + nz.mean

    def _to_dev(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x).to(self.dev, self.tdtype, non_blocking=True)
        return t.contiguous(memory_format=self._layout) if t.dim() == 4 else t

    def _autocast(self):
        return torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.mode == "bf16")

    def _score(self, x: torch.Tensor, label: float):
        """D's loss on x against `label`, and D's mean probability (no host copy)."""
        with self._autocast():
            out = self.fD(x)
        out = out.view(-1).to(self.tdtype)  # losses in fp32 (or f64): BCE is not autocast-safe
        loss = self._loss(out, self._label(out.shape[0], label))
        prob = torch.sigmoid(out) if self.spec.recipe.loss == "bce_logits" else out
        return loss, prob.detach().mean()

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self.fG(z)

    def step(self, real: np.ndarray, noise: StepNoise | None = None):
        x = self._to_dev(real)
        n = x.shape[0]
        if noise is not None:
            z, zg = self._to_dev(noise.d), [self._to_dev(g) for g in noise.g]
        elif tuple(x.shape) in self._graphs:
            z, zg = None, None  # the captured graph draws its own noise
        else:
            z, zg = self._noise(n), None
        if self.mode == "cuda_graph":
            return self._graph_step(x, z, zg)
        return self._iteration(x, z, zg)

    def _iteration(self, x: torch.Tensor, z: torch.Tensor, zg: list | None) -> torch.Tensor:
        n = x.shape[0]
        opt_d, opt_g = self.opts["D"], self.opts["G"]
        fake = self._generate(z)
        batches = {REAL: x, FAKE: fake.detach()}
        d_scores = {}
        for update in self.plan.d_updates:
            opt_d.zero_grad(set_to_none=True)
            for p in update.passes:  # one backward per pass: the gradients add up before the step
                loss, prob = self._score(batches[p.batch], p.label)
                loss.backward()
                d_scores[p.batch] = (loss.detach(), prob)
            opt_d.step()
        g_scores = []
        for update in self.plan.g_updates:
            f = update.fake(fake, self._generate, z, lambda k: zg[k] if zg is not None else self._noise(n))
            opt_g.zero_grad(set_to_none=True)
            loss_g, prob_g = self._score(f, update.label)
            loss_g.backward()
            opt_g.step()
            g_scores.append((loss_g.detach(), prob_g))
        return torch.stack(stats_row(d_scores, g_scores))

    def _graph_step(self, x: torch.Tensor, z: torch.Tensor, zg: list | None) -> torch.Tensor:
        """Per input shape: eager on a side stream for its first GRAPH_WARMUP iterations (optimiser state,
        cuDNN autotuning: neither may happen inside a capture), then one capture, then replays.

        Every call is a real training iteration: the capturing call replays right after capture.
        Inputs are copied into static buffers; native noise is drawn inside the graph."""
        key = tuple(x.shape)
        if key not in self._graphs and self._eager_runs.get(key, 0) < self.GRAPH_WARMUP:
            self._eager_runs[key] = self._eager_runs.get(key, 0) + 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self._iteration(x, z, zg)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if key not in self._graphs:
            io = {
                "x": x.clone(),
                "z": z.clone(),
                "zg": [g.clone() for g in zg] if zg is not None else None,
                "native": zg is None,
            }
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                zz = self._noise(x.shape[0]) if io["native"] else io["z"]
                io["out"] = self._iteration(io["x"], zz, io["zg"])
            self._graphs[key] = (graph, io)
        else:
            graph, io = self._graphs[key]
            io["x"].copy_(x, non_blocking=True)
            if not io["native"]:
                io["z"].copy_(z, non_blocking=True)
                for dst, src in zip(io["zg"] or [], zg or []):
                    dst.copy_(src, non_blocking=True)
        graph.replay()
        return io["out"]

    def placement(self, handle) -> tuple[set[str], set[str]]:
        params = {p.device.type for net in self.nets.values() for p in net.parameters()}
        return params, {handle.device.type}

    def host_values(self, handle) -> np.ndarray:
        return handle.detach().cpu().double().numpy()

    def sync(self) -> None:
        if self.device == "cuda":
            torch.cuda.synchronize(self.dev)

    def generate(self, noise: np.ndarray) -> np.ndarray:
        was = self.G.training
        self.G.eval()
        try:
            with torch.no_grad():
                return self.G(self._to_dev(np.ascontiguousarray(noise, np.float32))).float().cpu().numpy()
        finally:
            self.G.train(was)

    # --- memory --------------------------------------------------------------------------------
    def reset_peak_memory(self) -> None:
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats(self.dev)

    def peak_memory(self):
        if self.device == "cuda":
            return int(torch.cuda.max_memory_allocated(self.dev)), "cuda_max_allocated"
        return None, None


def train_classifier(
    net_spec,
    init_state: dict[str, np.ndarray],
    prefix: str,
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int = 6,
    batch: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    progress=None,
) -> dict[str, np.ndarray]:
    """Train a spec network as a classifier (cross-entropy, Adam) on CPU; canonical-layout weights.

    Used once to make the MNIST feature extractor of the quality metrics."""
    torch.manual_seed(seed)
    net = build_net(net_spec)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            i, p = name.split(".", 1)
            if f"{prefix}.{i}.{p}" in init_state:
                t.copy_(torch.from_numpy(init_state[f"{prefix}.{i}.{p}"]))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x, y = torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
    rng = np.random.default_rng(seed)
    net.train()
    for epoch in range(epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        for k in range(0, len(x), batch):
            idx = order[k : k + batch]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        if progress:
            progress(epoch)
    return {f"{prefix}.{name}": t.detach().numpy().copy() for name, t in net.state_dict().items()}
