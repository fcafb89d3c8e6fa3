"""The common model spec: architecture, recipe and data pipeline as validated data.

A spec is plain data (frozen dataclasses). Backends turn it into native modules and a training
step; nothing about a particular tutorial lives in a backend. Every field is validated when the
spec is built, and a bad field raises `SpecError` naming the model, the field path and the
allowed values.

Conventions that every backend must honour:
- Layouts are PyTorch's (NCHW activations; see common/state.py for parameter layouts).
- `BatchNorm.momentum` is the fraction of the running statistic *kept* at each update
  (MXNet/Gluon/Paddle/MindSpore style): 0.9 here is torch's momentum=0.1.
- Losses are means over the batch; `Recipe.d_loss` is the sum real + fake, as every tutorial logs it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any


class SpecError(ValueError):
    """A spec field is missing or holds a value outside its allowed set."""

    def __init__(self, model: str, path: str, problem: str, allowed: Any = None):
        self.model, self.path, self.problem, self.allowed = model, path, problem, allowed
        msg = f"spec {model!r}: field {path!r}: {problem}"
        if allowed is not None:
            msg += f" (allowed: {allowed})"
        super().__init__(msg)


def _choice(model: str, path: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise SpecError(model, path, f"got {value!r}", ", ".join(map(repr, allowed)))


def _positive(model: str, path: str, value: Any, *, allow_zero: bool = False, kind=int) -> None:
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise SpecError(model, path, f"got {value!r}", f"{kind.__name__} {bound}")


# ---------------------------------------------------------------------------------------------
# Initialisers

INIT_KINDS = ("normal", "xavier_uniform", "constant", "uniform_fan_in", "kaiming_uniform", "default")
# Frameworks whose default initialisers common/init.py knows how to reproduce.
DEFAULT_INIT_FRAMEWORKS = ("torch", "mindspore", "paddle-fluid")


@dataclass(frozen=True)
class Init:
    """How one parameter is initialised.

    kinds: normal(mean, std); xavier_uniform (Glorot, fans as torch computes them);
    constant(value); uniform_fan_in (U(±1/sqrt(fan_in)), torch's bias default);
    kaiming_uniform(a) (torch's weight default with a=sqrt(5)); default(framework): the named
    framework's own default for this layer type, resolved to one of the above in common/init.py.
    """

    kind: str
    mean: float = 0.0
    std: float = 0.02
    value: float = 0.0
    a: float = 0.0
    framework: str = ""

    def validate(self, model: str, path: str) -> None:
        _choice(model, f"{path}.kind", self.kind, INIT_KINDS)
        if self.kind == "normal":
            _positive(model, f"{path}.std", self.std, kind=float)
        if self.kind == "default":
            _choice(model, f"{path}.framework", self.framework, DEFAULT_INIT_FRAMEWORKS)


def normal(std: float, mean: float = 0.0) -> Init:
    return Init("normal", mean=mean, std=std)


def constant(value: float) -> Init:
    return Init("constant", value=value)


def framework_default(framework: str) -> Init:
    return Init("default", framework=framework)


XAVIER = Init("xavier_uniform")
ZEROS = constant(0.0)
ONES = constant(1.0)

# ---------------------------------------------------------------------------------------------
# Layers. Every layer is one entry of a sequential network; its index is its name in the
# canonical state ("G.3.weight").

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")


@dataclass(frozen=True)
class Dense:
    out_features: int
    bias: bool = True
    weight_init: Init = XAVIER
    bias_init: Init = ZEROS
    op: str = field(default="dense", init=False)


@dataclass(frozen=True)
class Conv2d:
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    bias: bool = True
    weight_init: Init = XAVIER
    bias_init: Init = ZEROS
    op: str = field(default="conv2d", init=False)


@dataclass(frozen=True)
class ConvTranspose2d:
    """Transposed convolution; `output_padding` adds rows/columns on one side of the output,
    which is how Paddle's forced `output_size` (14 from 7 with k5 s2 p2) is expressed."""

    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    output_padding: int = 0
    bias: bool = True
    weight_init: Init = XAVIER
    bias_init: Init = ZEROS
    op: str = field(default="conv_transpose2d", init=False)


@dataclass(frozen=True)
class MaxPool2d:
    kernel: int
    stride: int
    op: str = field(default="max_pool2d", init=False)


@dataclass(frozen=True)
class BatchNorm:
    """BatchNorm over features (dim=1, input (N, C)) or channels (dim=2, input (N, C, H, W)).

    gamma "fixed" keeps γ at 1 and out of the optimiser (MXNet's fix_gamma=True)."""

    dim: int
    momentum: float = 0.9
    eps: float = 1e-5
    gamma: str = "learned"
    gamma_init: Init = ONES
    beta_init: Init = ZEROS
    op: str = field(default="batch_norm", init=False)


@dataclass(frozen=True)
class Act:
    fn: str
    slope: float = 0.0  # leaky_relu only
    op: str = field(default="act", init=False)


@dataclass(frozen=True)
class Reshape:
    """Reshape each sample to `shape` (batch dimension kept)."""

    shape: tuple[int, ...]
    op: str = field(default="reshape", init=False)


@dataclass(frozen=True)
class Flatten:
    op: str = field(default="flatten", init=False)


Layer = Dense | Conv2d | ConvTranspose2d | MaxPool2d | BatchNorm | Act | Reshape | Flatten
LAYER_TYPES: dict[str, type[Layer]] = {  # op name: class (a dataclass field's default is its class attribute)
    cls.op: cls for cls in (Dense, Conv2d, ConvTranspose2d, MaxPool2d, BatchNorm, Act, Reshape, Flatten)
}


@dataclass(frozen=True)
class NetSpec:
    """A sequential network and the shape of one input sample (no batch dimension)."""

    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]


# ---------------------------------------------------------------------------------------------
# Recipe

NOISE_DISTS = ("normal", "uniform")
D_UPDATES = ("summed", "separate_fake_then_real")
D_PASS_ORDERS = ("real_first", "fake_first")
G_INPUTS = ("same_fake", "recompute_same_z", "fresh_noise")
LOSS_FORMS = ("bce_prob", "bce_logits", "bce_logits_on_prob")


@dataclass(frozen=True)
class Noise:
    dist: str
    shape: tuple[int, ...]
    low: float = -1.0  # uniform
    high: float = 1.0
    mean: float = 0.0  # normal
    std: float = 1.0


@dataclass(frozen=True)
class AdamForm:
    """How one framework's Adam turns (lr, β1, β2, ε, step t) into an update. All forms keep
    m ← β1·m + (1-β1)·g and v ← β2·v + (1-β2)·g² and differ in:

    eps: "sqrt_v_hat" — p -= lr/(1-β1ᵗ) · m / (sqrt(v/(1-β2ᵗ)) + ε): bias-corrected moments, ε on
           sqrt(v̂); the same as step size lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) with ε·sqrt(1-β2ᵗ) on sqrt(v);
         "sqrt_v" — p -= lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) · m / (sqrt(v) + ε): the bias correction folded into
           the step size and ε added to the raw sqrt(v). The two differ by ε's scale, sqrt(1-β2ᵗ)
           (3.2e-2 at t = 1), which matters for parameters whose gradient is near ε/sqrt(1-β2).
    one_minus_beta: the precision in which 1-β1 and 1-β2 are formed. "float32": from float32 β
      (1 - 0.999f = 0.00099998713, 1.3e-5 below 0.001); "float64": in double, rounded once.
    beta_power: the precision of β1ᵗ, β2ᵗ and of the step size made from them. "float32": β^t is a
      float32 product updated every step and the step size is formed in float32 (so at t = 1,
      1-β2ᵗ is also 0.00099998713); "float64": Python doubles, rounded once where they meet a tensor.
    source: where the formula was read.
    """

    eps: str
    one_minus_beta: str
    beta_power: str
    source: str


ADAM_EPS = ("sqrt_v_hat", "sqrt_v")
ADAM_PRECISIONS = ("float32", "float64")
# Each tutorial's framework's Adam, as its source computes it.
ADAM_FORMS = {
    "torch": AdamForm(
        "sqrt_v_hat",
        "float64",
        "float64",
        "torch.optim.Adam (_single_tensor_adam): bias_correction1/2 = 1 - beta**step and "
        "step_size = lr/bias_correction1 in Python doubles; denom = sqrt(exp_avg_sq)/sqrt(bias_correction2) + eps; "
        "exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)",
    ),
    "mxnet": AdamForm(
        "sqrt_v",
        "float32",
        "float64",
        "MXNet 1.9.1 mx.optimizer.Adam.update: lr *= sqrt(1-beta2**t)/(1-beta1**t) in Python doubles, "
        "then the fused adam_update kernel (float32 op parameters lr, beta1, beta2, epsilon): "
        "mean = beta1*mean + (1-beta1)*g, var = beta2*var + (1-beta2)*g*g, w -= lr*mean/(sqrt(var)+epsilon)",
    ),
    "mindspore": AdamForm(
        "sqrt_v",
        "float32",
        "float32",
        "MindSpore 2.x nn.Adam: beta1_power = beta1_power*beta1 (float32 Parameters) before each step; "
        "CPU kernel (adam_cpu_kernel.cc / nnacl AdamFp32): new_lr = lr*sqrt(1-beta2_power)/(1-beta1_power) in float, "
        "m += (g-m)*(1-beta1), v += (g*g-v)*(1-beta2), var -= new_lr*m/(sqrt(v)+epsilon)",
    ),
    "paddle-fluid": AdamForm(
        "sqrt_v",
        "float32",
        "float32",
        "PaddlePaddle fluid 1.x adam_op.h (paddle/fluid/operators/adam_op.h, later optimizers/adam_op.h), "
        "AdamFunctor with T = float: lr *= sqrt(1-beta2_pow)/(1-beta1_pow); mom1 = beta1*mom1 + (1-beta1)*g; "
        "mom2 = beta2*mom2 + (1-beta2)*g*g; p -= lr*(mom1/(sqrt(mom2)+epsilon)); beta1_pow/beta2_pow are float "
        "accumulators multiplied by beta after each update. Paddle 2.x later changed the kernel to "
        "epsilon*sqrt(1-beta2_pow) (torch's placement), which Paddle 3.3.1 runs",
    ),
}
for _f in ADAM_FORMS.values():
    assert _f.eps in ADAM_EPS and _f.one_minus_beta in ADAM_PRECISIONS and _f.beta_power in ADAM_PRECISIONS


@dataclass(frozen=True)
class Adam:
    """Adam hyperparameters and the form (a key of ADAM_FORMS) of the tutorial framework's Adam;
    every backend computes that form, so a model trains with its tutorial's update everywhere."""

    lr: float
    beta1: float
    beta2: float = 0.999
    eps: float = 1e-8
    # required: validation refuses None with a SpecError that names the field (a default-less field
    # would make a spec file without it a bare TypeError)
    form: str = field(default=None, kw_only=True)  # type: ignore[assignment]

    @property
    def adam_form(self) -> AdamForm:
        return ADAM_FORMS[self.form]


@dataclass(frozen=True)
class Recipe:
    """What one training iteration does.

    d_update:
      "summed" — one D update whose gradient is that of loss_real + loss_fake (torch's two
        backward calls before one step, Gluon's joint loss, MXNet's kept-and-added gradients,
        MindSpore's summed loss are all this);
      "separate_fake_then_real" — a full D update on the fake batch, then another on the real
        batch (the Paddle book).
    d_pass_order: which batch goes through D first; it fixes the order of D's BatchNorm
      running-statistic updates (each pass has its own batch statistics; never concatenated).
    g_input: what the G step feeds D:
      "same_fake" — the fake made before D's update, re-scored by the updated D (torch, MXNet);
      "recompute_same_z" — G(z) recomputed from the same z after D's update (Gluon, MindSpore);
      "fresh_noise" — new noise for every G update (Paddle).
    loss: "bce_prob" — D ends in a sigmoid and BCE is taken on probabilities;
      "bce_logits" — D outputs logits, BCE-with-logits;
      "bce_logits_on_prob" — D ends in a sigmoid and BCE-with-logits is applied to that
      probability, i.e. the sigmoid is applied twice: the Paddle book's quirk, kept for fidelity.
    """

    noise: Noise
    d_update: str
    d_pass_order: str
    g_updates: int
    g_input: str
    loss: str
    real_label: float
    fake_label: float
    opt_g: Adam
    opt_d: Adam


# ---------------------------------------------------------------------------------------------
# Data pipeline

DATASETS = ("mnist-train", "mnist-all", "lfw-deepfunneled", "celeba-aligned")
RESIZES = ("none", "cv2-bilinear", "pil-short-side-bilinear-center-crop")
CHANNELS = ("keep", "tile-to-3")
# uint8 -> float32 mappings as each tutorial writes them; equal in exact arithmetic, they can
# differ in the last float32 bit, so each is kept as written.
PIXEL_MAPS = ("x/127.5-1", "(x-127.5)/127.5", "x/255*2-1", "x/(255/2)-1", "(x/255-0.5)/0.5")
ORDERS = ("shuffle_each_epoch", "fixed_permutation", "file_order")
LAST_BATCH = ("drop", "pad_wrap", "keep_short")


@dataclass(frozen=True)
class DataSpec:
    """dataset → resize → channel tiling → pixel map → (optional flatten) → batches.

    image_shape is (C, H, W) after resize and tiling; `flatten` feeds D vectors of C*H*W
    (the Paddle book feeds 784-vectors and reshapes inside D)."""

    dataset: str
    image_shape: tuple[int, int, int]
    resize: str
    channels: str
    pixel_map: str
    flatten: bool
    batch_size: int
    order: str
    order_seed: int | None
    last_batch: str

    @property
    def is_mnist(self) -> bool:
        """MNIST digits (of any size): the quality metrics' digit classifier applies."""
        return self.dataset.startswith("mnist")


@dataclass(frozen=True)
class RunLength:
    """The original tutorial's run: epochs, and how often it logs and draws progress images."""

    epochs: int
    log_every: int  # iterations
    image_every: int  # iterations; 0 = once per epoch
    grid_noise: int  # how many fixed-noise samples its progress grid shows
    grid_noise_seed: int | None = None


DESCRIPTIVE = ("title", "source")  # ModelSpec fields that name and cite a model but change no computation


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str  # descriptive (not in spec_hash)
    framework: str  # the tutorial's own framework (the backend `reproduce` defaults to)
    source: str  # the tutorial it reproduces: title and public address (descriptive, not in spec_hash)
    generator: NetSpec
    discriminator: NetSpec
    recipe: Recipe
    data: DataSpec
    run: RunLength
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        validate(self)

    def to_dict(self) -> dict:
        return _to_plain(self)

    def spec_hash(self) -> str:
        """A fingerprint of what training depends on; the descriptive title and source are left out,
        so rewording a citation does not make runs of the same model incomparable."""
        fields = {k: v for k, v in self.to_dict().items() if k not in DESCRIPTIVE}
        blob = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def noise_shape(self) -> tuple[int, ...]:
        return self.recipe.noise.shape


FRAMEWORKS = ("torch", "mxnet", "paddle", "mindspore", "jax")


# ---------------------------------------------------------------------------------------------
# Validation


def validate(spec: ModelSpec) -> None:
    m = spec.name or "<unnamed>"
    if not isinstance(spec.name, str) or not spec.name:
        raise SpecError(m, "name", "must be a non-empty string")
    _choice(m, "framework", spec.framework, FRAMEWORKS)
    r = spec.recipe
    _choice(m, "recipe.noise.dist", r.noise.dist, NOISE_DISTS)
    _shape(m, "recipe.noise.shape", r.noise.shape)
    if r.noise.dist == "uniform" and not r.noise.low < r.noise.high:
        raise SpecError(m, "recipe.noise.low", f"{r.noise.low} is not below high={r.noise.high}")
    if r.noise.dist == "normal":
        _positive(m, "recipe.noise.std", r.noise.std, kind=float)
    _choice(m, "recipe.d_update", r.d_update, D_UPDATES)
    _choice(m, "recipe.d_pass_order", r.d_pass_order, D_PASS_ORDERS)
    if r.d_update == "separate_fake_then_real" and r.d_pass_order != "fake_first":
        raise SpecError(m, "recipe.d_pass_order", "separate_fake_then_real updates on fakes first", "'fake_first'")
    _positive(m, "recipe.g_updates", r.g_updates)
    _choice(m, "recipe.g_input", r.g_input, G_INPUTS)
    if r.g_updates > 1 and r.g_input != "fresh_noise":
        raise SpecError(
            m, "recipe.g_updates", f"{r.g_updates} G updates need g_input='fresh_noise' (got {r.g_input!r})", "1"
        )
    _choice(m, "recipe.loss", r.loss, LOSS_FORMS)
    for lab in ("real_label", "fake_label"):
        v = getattr(r, lab)
        if not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise SpecError(m, f"recipe.{lab}", f"got {v!r}", "a number in [0, 1]")
    for name in ("opt_g", "opt_d"):
        opt = getattr(r, name)
        if not isinstance(opt, Adam):
            raise SpecError(m, f"recipe.{name}", f"got {type(opt).__name__}", "Adam")
        _positive(m, f"recipe.{name}.lr", opt.lr, kind=float)
        _positive(m, f"recipe.{name}.eps", opt.eps, kind=float)
        _choice(m, f"recipe.{name}.form", opt.form, tuple(ADAM_FORMS))
        for b in ("beta1", "beta2"):
            v = getattr(opt, b)
            if not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
                raise SpecError(m, f"recipe.{name}.{b}", f"got {v!r}", "a number in [0, 1)")

    d = spec.data
    _choice(m, "data.dataset", d.dataset, DATASETS)
    _shape(m, "data.image_shape", d.image_shape, rank=3)
    _choice(m, "data.resize", d.resize, RESIZES)
    _choice(m, "data.channels", d.channels, CHANNELS)
    _choice(m, "data.pixel_map", d.pixel_map, PIXEL_MAPS)
    _positive(m, "data.batch_size", d.batch_size)
    _choice(m, "data.order", d.order, ORDERS)
    if d.order == "fixed_permutation" and not isinstance(d.order_seed, int):
        raise SpecError(m, "data.order_seed", f"got {d.order_seed!r}", "an integer seed for fixed_permutation")
    _choice(m, "data.last_batch", d.last_batch, LAST_BATCH)
    if d.channels == "tile-to-3" and d.image_shape[0] != 3:
        raise SpecError(m, "data.image_shape", f"tile-to-3 makes 3 channels, got {d.image_shape[0]}", "(3, H, W)")

    _positive(m, "run.epochs", spec.run.epochs)
    _positive(m, "run.log_every", spec.run.log_every)
    _positive(m, "run.image_every", spec.run.image_every, allow_zero=True)
    _positive(m, "run.grid_noise", spec.run.grid_noise)

    sample = (int(d.image_shape[0] * d.image_shape[1] * d.image_shape[2]),) if d.flatten else tuple(d.image_shape)
    for net_name, net in (("generator", spec.generator), ("discriminator", spec.discriminator)):
        for i, layer in enumerate(net.layers):
            _validate_layer(m, f"{net_name}.layers[{i}]", layer)
    if tuple(spec.generator.input_shape) != tuple(r.noise.shape):
        raise SpecError(
            m, "generator.input_shape", f"{spec.generator.input_shape} differs from recipe.noise.shape {r.noise.shape}"
        )
    if tuple(spec.discriminator.input_shape) != sample:
        raise SpecError(
            m,
            "discriminator.input_shape",
            f"{spec.discriminator.input_shape} differs from the data sample shape {sample}",
        )
    # Shape inference both checks that the layers compose and that G makes what D eats.
    from common.analysis import infer_shapes  # local: analysis imports this module

    g_out = infer_shapes(spec.generator, model=m, name="generator")[-1]
    d_out = infer_shapes(spec.discriminator, model=m, name="discriminator")[-1]
    if tuple(g_out) != sample:
        raise SpecError(m, "generator.layers", f"G produces {g_out}, D expects {sample}")
    if int(_prod(d_out)) != 1:
        raise SpecError(m, "discriminator.layers", f"D must produce one value per sample, got {d_out}")
    ends_in_sigmoid = isinstance(spec.discriminator.layers[-1], Act) and spec.discriminator.layers[-1].fn == "sigmoid"
    if r.loss in ("bce_prob", "bce_logits_on_prob") and not ends_in_sigmoid:
        raise SpecError(m, "recipe.loss", f"{r.loss!r} needs D to end in a sigmoid", "'bce_logits'")
    if r.loss == "bce_logits" and ends_in_sigmoid:
        raise SpecError(
            m,
            "recipe.loss",
            "D ends in a sigmoid; BCE on logits would apply it twice",
            "'bce_prob', 'bce_logits_on_prob'",
        )


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _shape(model: str, path: str, shape: Any, rank: int | None = None) -> None:
    ok = isinstance(shape, tuple) and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape)
    if not ok or not shape or (rank is not None and len(shape) != rank):
        want = f"a tuple of {rank} positive ints" if rank else "a tuple of positive ints"
        raise SpecError(model, path, f"got {shape!r}", want)


def _validate_layer(m: str, path: str, layer: Any) -> None:
    op = getattr(layer, "op", None)
    if op not in LAYER_TYPES or not isinstance(layer, LAYER_TYPES[op]):
        raise SpecError(m, path, f"not a layer: {layer!r}", ", ".join(LAYER_TYPES))
    if isinstance(layer, (Dense,)):
        _positive(m, f"{path}.out_features", layer.out_features)
    if isinstance(layer, (Conv2d, ConvTranspose2d)):
        _positive(m, f"{path}.out_channels", layer.out_channels)
        _positive(m, f"{path}.kernel", layer.kernel)
        _positive(m, f"{path}.stride", layer.stride)
        _positive(m, f"{path}.padding", layer.padding, allow_zero=True)
    if isinstance(layer, ConvTranspose2d):
        _positive(m, f"{path}.output_padding", layer.output_padding, allow_zero=True)
        if layer.output_padding >= layer.stride:
            raise SpecError(m, f"{path}.output_padding", f"{layer.output_padding} must be below stride {layer.stride}")
    if isinstance(layer, (Dense, Conv2d, ConvTranspose2d)):
        if not isinstance(layer.bias, bool):
            raise SpecError(m, f"{path}.bias", f"got {layer.bias!r}", "True, False")
        layer.weight_init.validate(m, f"{path}.weight_init")
        if layer.bias:
            layer.bias_init.validate(m, f"{path}.bias_init")
    if isinstance(layer, MaxPool2d):
        _positive(m, f"{path}.kernel", layer.kernel)
        _positive(m, f"{path}.stride", layer.stride)
    if isinstance(layer, BatchNorm):
        _choice(m, f"{path}.dim", layer.dim, (1, 2))
        if not isinstance(layer.momentum, (int, float)) or not 0.0 <= layer.momentum < 1.0:
            raise SpecError(
                m,
                f"{path}.momentum",
                f"got {layer.momentum!r}",
                "a number in [0, 1): the fraction of the running statistic kept",
            )
        _positive(m, f"{path}.eps", layer.eps, kind=float)
        _choice(m, f"{path}.gamma", layer.gamma, ("learned", "fixed"))
        layer.gamma_init.validate(m, f"{path}.gamma_init")
        layer.beta_init.validate(m, f"{path}.beta_init")
    if isinstance(layer, Act):
        _choice(m, f"{path}.fn", layer.fn, ACTIVATIONS)
        if layer.fn == "leaky_relu" and not (isinstance(layer.slope, (int, float)) and 0 < layer.slope < 1):
            raise SpecError(m, f"{path}.slope", f"got {layer.slope!r}", "a number in (0, 1), always explicit")
    if isinstance(layer, Reshape):
        _shape(m, f"{path}.shape", layer.shape)


# ---------------------------------------------------------------------------------------------
# Plain-data round trip (JSON files, hashing)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [_to_plain(v) for v in obj]
    return obj


_NESTED = {"generator": NetSpec, "discriminator": NetSpec, "recipe": Recipe, "data": DataSpec, "run": RunLength}
_RECIPE_NESTED = {"noise": Noise, "opt_g": Adam, "opt_d": Adam}
_TUPLE_FIELDS = {"input_shape", "shape", "image_shape", "notes"}


def spec_from_dict(d: dict) -> ModelSpec:
    """Build and validate a spec from plain data (e.g. a JSON file); errors name the field."""
    model = d.get("name", "<unnamed>") if isinstance(d, dict) else "<unnamed>"
    if not isinstance(d, dict):
        raise SpecError(model, "<root>", f"expected an object, got {type(d).__name__}")
    kw = _build(model, "", ModelSpec, d, {})
    return ModelSpec(**kw)


def _build(model: str, path: str, cls, d: Any, nested: dict) -> dict:
    if not isinstance(d, dict):
        raise SpecError(model, path.rstrip(".") or "<root>", f"expected an object, got {d!r}")
    known = {f.name for f in fields(cls) if f.init}
    unknown = set(d) - known - {"op"}
    if unknown:
        raise SpecError(model, f"{path}{sorted(unknown)[0]}", "unknown field", ", ".join(sorted(known)))
    required = {
        f.name
        for f in fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = required - set(d)
    if missing:
        raise SpecError(model, f"{path}{sorted(missing)[0]}", "missing")
    out = {}
    for k, v in d.items():
        if k == "op":
            continue
        p = f"{path}{k}"
        if cls is ModelSpec and k in _NESTED:
            sub = _NESTED[k]
            out[k] = sub(**_build(model, p + ".", sub, v, {}))
        elif cls is Recipe and k in _RECIPE_NESTED:
            sub = _RECIPE_NESTED[k]
            out[k] = sub(**_build(model, p + ".", sub, v, {}))
        elif cls is NetSpec and k == "layers":
            if not isinstance(v, list):
                raise SpecError(model, p, "expected a list of layers")
            out[k] = tuple(_layer(model, f"{p}[{i}]", item) for i, item in enumerate(v))
        elif k.endswith("_init"):
            out[k] = Init(**_build(model, p + ".", Init, v, {}))
        elif k in _TUPLE_FIELDS and isinstance(v, list):
            out[k] = tuple(v)
        else:
            out[k] = v
    return out


def _layer(model: str, path: str, d: Any) -> Layer:
    if not isinstance(d, dict) or d.get("op") not in LAYER_TYPES:
        op = d.get("op") if isinstance(d, dict) else d
        raise SpecError(model, f"{path}.op", f"got {op!r}", ", ".join(LAYER_TYPES))
    cls = LAYER_TYPES[d["op"]]
    return cls(**_build(model, path + ".", cls, d, {}))
