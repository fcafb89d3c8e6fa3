"""The JAX backend: layers against a numpy reference, losses and Adam against torch's formulas,
shapes and parameter counts of every model, the canonical state round trip, and the recipe's
semantics (how many updates, which network each changes, which forward passes move BatchNorm's
running statistics and in what order), all checked against independent numpy computations."""

import copy
import dataclasses

import numpy as np
import pytest

jax = pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402

from backends import BackendUnavailable, load_backend  # noqa: E402
from backends.jax_flax import (  # noqa: E402
    JaxBackend,
    Net,
    adam,
    bce_logits,
    bce_prob,
    conv2d,
    conv_transpose2d,
    form_adam,
)
from common.adam import reference_update  # noqa: E402
from common.analysis import infer_shapes, param_count  # noqa: E402
from common.models import MODELS, get_model  # noqa: E402
from common.parity import parity_inputs  # noqa: E402
from common.spec import ADAM_FORMS, Act, Adam, BatchNorm, Conv2d, ConvTranspose2d, Dense, Flatten, MaxPool2d, Reshape  # noqa: E402
from common.state import initial_state, param_keys, state_shapes  # noqa: E402

# --- numpy reference (float64, written from the operators' definitions) ------------------------


def np_conv2d(x, w, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    k = w.shape[2]
    win = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]  # N C Ho Wo k k
    return np.einsum("nchwij,ocij->nohw", win, w)


def np_conv_transpose2d(x, w, stride, pad, out_pad=0):
    """y[h*s - p + i] += x[h] * w[i]: every input pixel scatters a kernel-sized patch."""
    n, _, h, wd = x.shape
    k = w.shape[2]
    full = np.zeros((n, w.shape[1], (h - 1) * stride + k + out_pad, (wd - 1) * stride + k + out_pad))
    for i in range(k):
        for j in range(k):
            patch = np.einsum("nchw,co->nohw", x, w[:, :, i, j])
            full[:, :, i : i + stride * h : stride, j : j + stride * wd : stride] += patch
    ho, wo = (h - 1) * stride - 2 * pad + k + out_pad, (wd - 1) * stride - 2 * pad + k + out_pad
    return full[:, :, pad : pad + ho, pad : pad + wo]


def np_forward(net_spec, prefix, state, x, train=True, bn_log=None):
    """Forward pass; in training mode every BatchNorm appends (key, batch mean, unbiased var)."""
    h = np.asarray(x, np.float64)
    for i, layer in enumerate(net_spec.layers):
        p = lambda name: np.asarray(state[f"{prefix}.{i}.{name}"], np.float64)  # noqa: E731
        if isinstance(layer, Dense):
            h = h @ p("weight").T + (p("bias") if layer.bias else 0)
        elif isinstance(layer, Conv2d):
            h = np_conv2d(h, p("weight"), layer.stride, layer.padding)
            h = h + p("bias")[None, :, None, None] if layer.bias else h
        elif isinstance(layer, ConvTranspose2d):
            h = np_conv_transpose2d(h, p("weight"), layer.stride, layer.padding, layer.output_padding)
            h = h + p("bias")[None, :, None, None] if layer.bias else h
        elif isinstance(layer, MaxPool2d):
            win = sliding_window_view(h, (layer.kernel,) * 2, axis=(2, 3))
            h = win[:, :, :: layer.stride, :: layer.stride].max((4, 5))
        elif isinstance(layer, BatchNorm):
            axes = (0,) if h.ndim == 2 else (0, 2, 3)
            shape = (1, -1) + (1,) * (h.ndim - 2)
            if train:
                mean, var = h.mean(axes), h.var(axes)
                count = h.size // h.shape[1]
                if bn_log is not None:
                    bn_log.append((f"{prefix}.{i}", mean, var * count / (count - 1)))
            else:
                mean, var = p("running_mean"), p("running_var")
            h = (h - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + layer.eps) * p("weight").reshape(shape) + p(
                "bias"
            ).reshape(shape)
        elif isinstance(layer, Act):
            h = {
                "relu": lambda v: np.maximum(v, 0),
                "leaky_relu": lambda v: np.where(v > 0, v, v * layer.slope),
                "tanh": np.tanh,
                "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            }[layer.fn](h)
        elif isinstance(layer, Reshape):
            h = h.reshape(len(h), *layer.shape)
        elif isinstance(layer, Flatten):
            h = h.reshape(len(h), -1)
    return h


# --- layers ------------------------------------------------------------------------------------

# every (kernel, stride, padding, output_padding) the five specs use, with their input sizes
CONVT_CASES = [(4, 1, 0, 0, 1), (4, 2, 1, 0, 4), (4, 2, 1, 0, 8), (5, 2, 2, 1, 7), (5, 2, 2, 1, 14)]
CONV_CASES = [(4, 2, 1, 64), (4, 2, 1, 8), (4, 1, 0, 4), (5, 1, 0, 28), (5, 1, 0, 12)]


@pytest.mark.parametrize("cpu", [True, False], ids=["cpu-path", "xla-path"])
@pytest.mark.parametrize("k,s,p,op,h", CONVT_CASES)
def test_conv_transpose_matches_numpy_definition(k, s, p, op, h, cpu):
    rng = np.random.default_rng(k * 100 + h)
    x = rng.standard_normal((2, 3, h, h)).astype(np.float32)
    w = rng.standard_normal((3, 5, k, k)).astype(np.float32)
    got = np.asarray(conv_transpose2d(jnp.asarray(x), jnp.asarray(w), s, p, op, cpu))
    want = np_conv_transpose2d(x.astype(np.float64), w.astype(np.float64), s, p, op)
    assert got.shape == want.shape == (2, 5, (h - 1) * s - 2 * p + k + op, (h - 1) * s - 2 * p + k + op)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cpu", [True, False], ids=["cpu-path", "xla-path"])
@pytest.mark.parametrize("k,s,p,h", CONV_CASES)
def test_conv_matches_numpy_definition(k, s, p, h, cpu):
    rng = np.random.default_rng(k * 100 + h)
    x = rng.standard_normal((2, 3, h, h)).astype(np.float32)
    w = rng.standard_normal((4, 3, k, k)).astype(np.float32)
    got = np.asarray(conv2d(jnp.asarray(x), jnp.asarray(w), s, p, cpu))
    np.testing.assert_allclose(got, np_conv2d(x.astype(np.float64), w.astype(np.float64), s, p), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,case", [("convT", c) for c in CONVT_CASES] + [("conv", c) for c in CONV_CASES])
def test_cpu_kernel_gradients_equal_autodiff(kind, case):
    """The CPU path's hand-written kernel gradient (im2col matmul) and input gradient equal XLA's
    autodiff of the plain convolution."""
    rng = np.random.default_rng(7)
    if kind == "convT":
        k, s, p, op, h = case
        fn = lambda x, w, cpu: conv_transpose2d(x, w, s, p, op, cpu)  # noqa: E731
        w = jnp.asarray(rng.standard_normal((3, 5, k, k)), jnp.float32)
    else:
        k, s, p, h = case
        fn = lambda x, w, cpu: conv2d(x, w, s, p, cpu)  # noqa: E731
        w = jnp.asarray(rng.standard_normal((5, 3, k, k)), jnp.float32)
    x = jnp.asarray(rng.standard_normal((2, 3, h, h)), jnp.float32)
    up = jnp.asarray(rng.standard_normal(fn(x, w, False).shape), jnp.float32)
    grads = [jax.grad(lambda x, w: jnp.sum(fn(x, w, cpu) * up), argnums=(0, 1))(x, w) for cpu in (True, False)]
    for a, b in zip(*grads):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4 * float(jnp.abs(b).max()))


def test_bce_on_probabilities_clamps_like_torch():
    p = jnp.asarray([0.0, 0.25, 0.5, 1.0], jnp.float32)
    for y in (0.0, 1.0):
        want = -np.mean(
            [
                y * max(np.log(v) if v > 0 else -np.inf, -100.0)
                + (1 - y) * max(np.log1p(-v) if v < 1 else -np.inf, -100.0)
                for v in np.asarray(p, float)
            ]
        )
        assert float(bce_prob(p, y)) == pytest.approx(want, rel=1e-6)
        # torch's backward: (p - y) / max(p (1 - p), 1e-12) / n — finite even at p = 0 or 1
        g = np.asarray(jax.grad(lambda q: bce_prob(q, y))(p), np.float64)
        pn = np.asarray(p, np.float64)
        np.testing.assert_allclose(g, (pn - y) / np.maximum(pn * (1 - pn), 1e-12) / 4, rtol=1e-6)


def test_bce_with_logits_is_stable_and_exact():
    x = jnp.asarray([-200.0, -3.0, 0.0, 2.5, 200.0], jnp.float32)
    xn = np.asarray(x, np.float64)
    for y in (0.0, 1.0):
        want = np.mean(np.maximum(xn, 0) - xn * y + np.log1p(np.exp(-np.abs(xn))))
        assert float(bce_logits(x, y)) == pytest.approx(want, rel=1e-6)
        g = np.asarray(jax.grad(lambda v: bce_logits(v, y))(x), np.float64)
        np.testing.assert_allclose(g, (1 / (1 + np.exp(-xn)) - y) / 5, rtol=1e-5, atol=1e-12)


def test_adam_is_torch_adam():
    """torch.optim.Adam: bias-corrected moments, eps added to sqrt(v_hat). A large eps and small
    gradients make the placement of eps visible (MXNet/Paddle add it to sqrt(v) instead)."""
    from common.spec import Adam

    o = Adam(lr=0.01, beta1=0.5, beta2=0.9, eps=1e-3, form="torch")
    tx = adam(o)
    p = {"w": jnp.asarray([0.5, -0.2, 0.1], jnp.float32)}
    state = tx.init(p)
    grads = [np.array([1e-3, -2e-3, 5e-4]), np.array([-1e-3, 3e-3, 2e-4]), np.array([2e-3, 1e-3, -4e-4])]
    pn, m, v = np.array([0.5, -0.2, 0.1]), np.zeros(3), np.zeros(3)
    alt = pn.copy()
    for t, g in enumerate(grads, 1):
        upd, state = tx.update({"w": jnp.asarray(g, jnp.float32)}, state, p)
        p = {"w": p["w"] + upd["w"]}
        m = o.beta1 * m + (1 - o.beta1) * g
        v = o.beta2 * v + (1 - o.beta2) * g * g
        bc1, bc2 = 1 - o.beta1**t, 1 - o.beta2**t
        pn = pn - o.lr / bc1 * m / (np.sqrt(v) / np.sqrt(bc2) + o.eps)  # torch's formula
        alt = alt - o.lr * np.sqrt(bc2) / bc1 * m / (np.sqrt(v) + o.eps)  # the other convention
    np.testing.assert_allclose(np.asarray(p["w"]), pn, rtol=1e-6, atol=1e-8)
    assert np.abs(alt - pn).max() > 1e-4  # the test can tell the two conventions apart
    adam_state = state[0]
    np.testing.assert_allclose(np.asarray(adam_state.mu["w"]), m, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(adam_state.nu["w"]), v, rtol=1e-5)
    assert int(adam_state.count) == 3


# --- every model: shapes, parameter counts, state ----------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_and_parameter_counts(name):
    spec = get_model(name)
    be = JaxBackend(spec, "cpu")
    be.load_state(initial_state(spec, 0))
    c = be._carry
    for net, net_spec in (("G", spec.generator), ("D", spec.discriminator)):
        model = Net(net, net_spec)
        x = jax.ShapeDtypeStruct((3, *net_spec.input_shape), jnp.float32)
        for train in (True, False):
            out = jax.eval_shape(lambda x: model.apply(c[net], c["fixed_" + net], c["bn_" + net], x, train)[0], x)
            assert out.shape == (3, *infer_shapes(net_spec)[-1])
        want = param_count(net_spec)
        size = lambda d: sum(int(np.prod(a.shape)) for a in d.values())  # noqa: E731
        assert size(c[net]) == want.trainable
        assert size(c["fixed_" + net]) == want.fixed
        assert size(c["bn_" + net]) == want.buffers
    assert be.generate(np.zeros((2, *spec.noise_shape), np.float32)).shape == (2, *infer_shapes(spec.generator)[-1])


@pytest.mark.parametrize("name", list(MODELS))
def test_canonical_state_round_trip_is_exact(name):
    spec = get_model(name)
    rng = np.random.default_rng(3)
    state = initial_state(spec, 1)
    for key, shape in state_shapes(spec).items():
        if key.endswith(".step"):
            state[key] = np.asarray(7 if key.startswith("opt.G") else 4, np.int64)
        elif key.startswith("opt.") or "running" in key:
            state[key] = rng.random(shape, dtype=np.float32)
    be = JaxBackend(spec, "cpu")
    be.load_state(state)
    out = be.export_state()
    assert set(out) == set(state)
    for key, value in state.items():
        assert out[key].dtype == value.dtype and out[key].shape == value.shape, key
        np.testing.assert_array_equal(out[key], value, err_msg=key)
    with pytest.raises(ValueError, match="missing"):
        be.load_state({k: v for k, v in state.items() if not k.endswith("running_var")})


def test_registry_info_and_devices():
    assert load_backend("jax") is JaxBackend
    be = JaxBackend(get_model("mindspore-mlp-gan"), "cpu")
    info = be.info()
    assert info["framework"] == "jax" and jax.__version__ in info["framework_version"]
    assert "optax" in info["framework_version"] and info["mode"] == "jit" and info["dtype"] == "float32"
    assert JaxBackend.device_available("cpu")
    assert JaxBackend.device_available("cuda") == (jax.default_backend() == "gpu")
    if not JaxBackend.device_available("cuda"):
        with pytest.raises(BackendUnavailable, match="cuda"):
            JaxBackend(get_model("mindspore-mlp-gan"), "cuda")
    assert be.peak_memory() == (None, None)


def test_cpu_threads_are_recorded_and_an_unmet_request_is_said():
    import os

    cores = len(os.sched_getaffinity(0))
    spec = get_model("mindspore-mlp-gan")
    assert JaxBackend(spec, "cpu", threads=cores).info()["threads"] == cores
    with pytest.warns(UserWarning, match=f"XLA uses the {cores} cores"):
        be = JaxBackend(spec, "cpu", threads=cores + 1)
    assert be.info()["threads"] == cores and be.info()["threads_settable"] is False


@pytest.mark.parametrize("name", ["paddle-dcgan28", "mxnet-dcgan64"])
def test_generate_uses_running_statistics_and_changes_nothing(name):
    spec = get_model(name)
    rng = np.random.default_rng(5)
    state = initial_state(spec, 0)
    for key in state:
        if key.endswith("running_mean"):
            state[key] = rng.normal(0, 0.5, state[key].shape).astype(np.float32)
        elif key.endswith("running_var"):
            state[key] = rng.uniform(0.5, 2.0, state[key].shape).astype(np.float32)
    be = JaxBackend(spec, "cpu")
    be.load_state(state)
    z = rng.standard_normal((2, *spec.noise_shape)).astype(np.float32)
    out = be.generate(z)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np_forward(spec.generator, "G", state, z, train=False), rtol=1e-4, atol=1e-5)
    after = be.export_state()
    for key in state:
        np.testing.assert_array_equal(after[key], state[key], err_msg=key)


# --- recipe semantics --------------------------------------------------------------------------


def _with_lrs(spec, lr_g=None, lr_d=None):
    """A copy of `spec` with other learning rates. Specs reject a learning rate of 0, which is
    exactly what these tests need (an optimiser that counts its steps but moves nothing), so the
    recipe is swapped on a shallow copy without re-validation."""
    r = spec.recipe
    r = dataclasses.replace(
        r,
        opt_g=dataclasses.replace(r.opt_g, lr=lr_g) if lr_g is not None else r.opt_g,
        opt_d=dataclasses.replace(r.opt_d, lr=lr_d) if lr_d is not None else r.opt_d,
    )
    out = copy.copy(spec)
    object.__setattr__(out, "recipe", r)
    return out


def _expected_running_stats(spec, state0, d_after, real, noise):
    """Replay, in numpy, every training-mode forward pass of one iteration in the recipe's order
    (G's parameters are constant: its learning rate is 0) and apply torch's running-statistic
    update to each; D's passes in the D step see D's initial parameters (one summed update, or a
    learning rate of 0), its passes in the G steps the parameters after the D step."""
    r = spec.recipe
    running = {k: np.asarray(v, np.float64) for k, v in state0.items() if "running" in k}
    momentum = {
        f"{net}.{i}": layer.momentum
        for net, ns in (("G", spec.generator), ("D", spec.discriminator))
        for i, layer in enumerate(ns.layers)
        if isinstance(layer, BatchNorm)
    }

    def forward(net, params, x):
        log = []
        out = np_forward(spec.generator if net == "G" else spec.discriminator, net, params, x, bn_log=log)
        for key, mean, var in log:
            m = momentum[key]
            running[key + ".running_mean"] = m * running[key + ".running_mean"] + (1 - m) * mean
            running[key + ".running_var"] = m * running[key + ".running_var"] + (1 - m) * var
        return out

    fake = forward("G", state0, noise.d)
    passes = [real, fake] if r.d_pass_order == "real_first" else [fake, real]
    for x in passes:
        forward("D", state0, x)
    for k in range(r.g_updates):
        f = (
            fake
            if r.g_input == "same_fake"
            else forward("G", state0, noise.d if r.g_input == "recompute_same_z" else noise.g[k])
        )
        forward("D", d_after, f)
    return running


RECIPE_CASES = [(name, "lr_g=0") for name in MODELS] + [("paddle-dcgan28", "lr_g=lr_d=0")]


@pytest.mark.parametrize("name,lrs", RECIPE_CASES)
def test_recipe_updates_and_batchnorm_passes(name, lrs):
    base = get_model(name)
    spec = _with_lrs(base, lr_g=0.0, lr_d=0.0 if lrs == "lr_g=lr_d=0" else None)
    r = spec.recipe
    state0 = initial_state(spec, 0)
    be = JaxBackend(spec, "cpu")
    be.load_state(state0)
    real, noise = parity_inputs(spec, steps=1, batch=4)[0]
    stats = be.read(be.step(real, noise))
    after = be.export_state()

    # Adam updates per iteration, read from the optimisers' step counts
    d_updates = 2 if r.d_update == "separate_fake_then_real" else 1
    assert int(after["opt.D.step"]) == d_updates and int(after["opt.G.step"]) == r.g_updates
    if name == "paddle-dcgan28":
        assert (int(after["opt.D.step"]), int(after["opt.G.step"])) == (2, 2)
    else:
        assert (int(after["opt.D.step"]), int(after["opt.G.step"])) == (1, 1)
    assert len(stats.g_losses) == r.g_updates and all(np.isfinite(stats.g_losses))

    # with G's learning rate at 0, nothing but G's own update could move G: the D updates move no
    # G parameter (fixed γ included), while G's gradients did reach its optimiser
    for key in param_keys(spec, "G"):
        if "running" not in key:
            np.testing.assert_array_equal(after[key], state0[key], err_msg=key)
    assert any(np.abs(after[f"opt.{k}.m"]).max() > 0 for k in param_keys(spec, "G", trainable_only=True))
    for key in param_keys(spec, "D", trainable_only=True):
        moved = not np.array_equal(after[key], state0[key])
        assert moved == (r.opt_d.lr > 0), key

    # every training-mode forward pass moved BatchNorm's running statistics, in the recipe's order
    if r.d_update == "separate_fake_then_real" and r.opt_d.lr > 0:
        check = [k for k in after if k.startswith("G.") and "running" in k]  # D's second pass needs lr_d = 0
    else:
        check = [k for k in after if "running" in k]
    want = _expected_running_stats(spec, state0, after, real, noise)
    assert check
    for key in check:
        np.testing.assert_allclose(after[key], want[key], rtol=2e-4, atol=2e-5, err_msg=key)


def test_native_noise_is_threaded_and_deterministic():
    """Native mode draws its noise from a key in the carried state, seeded by load_state: the same
    seed replays the same iterations, another seed draws other noise, each iteration new noise;
    one compiled executable serves them all."""
    spec = get_model("mindspore-mlp-gan")
    real = parity_inputs(spec, steps=1, batch=8)[0][0]
    be = JaxBackend(spec, "cpu", seed=0)
    runs = []
    for seed in (0, 0, 1):
        be.seed = seed
        be.load_state(initial_state(spec, 0))
        runs.append([be.read(be.step(real)) for _ in range(2)])
    be.sync()
    assert runs[0] == runs[1]
    assert runs[0][0].d_g_z1 != runs[2][0].d_g_z1
    assert be.compile_s is not None and be.compile_s > 0 and len(be._compiled) == 1


def test_no_silent_cpu_fallback():
    from backend_contract import check_no_silent_cpu_fallback

    check_no_silent_cpu_fallback(JaxBackend)


@pytest.mark.parametrize("form", [f for f in ADAM_FORMS if f != "torch"])
def test_form_adam_computes_each_form(form):
    """`form_adam` against common.adam.reference_update, gradients down to 1e-9 so that ε's place
    matters; β powers carried as float32 products, also after a reload at step 3."""
    o = Adam(2e-4, 0.5, 0.999, 1e-8, form=form)
    tx = form_adam(o)
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(64).astype(np.float32)
    params = {"w": jnp.asarray(p0)}
    st = tx.init(params)
    ref, m, v = p0.astype(np.float64), np.zeros(64), np.zeros(64)
    update = jax.jit(tx.update)
    for t in range(1, 7):
        g = (rng.standard_normal(64) * 10.0 ** rng.integers(-9, 0, 64)).astype(np.float32)
        if t == 4:  # what load_state does after 3 updates: the count is all the state carries
            st = (st[0]._replace(count=jnp.asarray(3, jnp.int32)),)
        u, st = update({"w": jnp.asarray(g)}, st, params)
        params = {"w": params["w"] + u["w"]}
        ref, m, v = reference_update(o, t, ref, g.astype(np.float64), m, v)
    np.testing.assert_allclose(np.asarray(params["w"]), ref, rtol=2e-7, atol=1e-7)
    assert int(st[0].count) == 6
