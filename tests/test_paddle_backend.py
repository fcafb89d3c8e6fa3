"""The Paddle backend: shapes, layouts, BatchNorm and Adam conventions, recipe semantics, state."""

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

from backend_contract import (  # noqa: E402
    UpdateLog,
    check_each_update_changes_only_its_own_network,
    check_feeds_by_pre_hooks,
    check_no_silent_cpu_fallback,
    check_state_round_trip,
)
from recipe_expectations import FEEDS  # noqa: E402

from backends.paddle_nn import PaddleBackend, _BatchNorm, _beta_pow, set_form_scalars  # noqa: E402
from common.adam import moment_betas, reference_update, step_scalars  # noqa: E402
from common.analysis import param_count  # noqa: E402
from common.models import MODELS, get_model  # noqa: E402
from common.parity import parity_inputs  # noqa: E402
from common.spec import ADAM_FORMS, Adam, BatchNorm  # noqa: E402
from common.state import initial_state, param_keys  # noqa: E402

BATCH = 4
# Paddle's own dy2static backward builder warns on every trace that PIR values have no `.place`.
pytestmark = pytest.mark.filterwarnings("ignore:Tensor do not have 'place' interface")
MODES = PaddleBackend.modes


def _backend(name, mode="dynamic", seed=0):
    spec = get_model(name)
    be = PaddleBackend(spec, "cpu", mode, seed=seed, threads=2)
    be.load_state(initial_state(spec, seed))
    return spec, be


def _snapshot(be):
    return {k: be._param(k).numpy().copy() for n in ("G", "D") for k in param_keys(be.spec, n)}


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_and_parameter_counts(name):
    spec, be = _backend(name)
    z = paddle.zeros([BATCH, *spec.noise_shape])
    fake = be.G(z)
    sample = (784,) if spec.data.flatten else spec.data.image_shape
    assert tuple(fake.shape) == (BATCH, *sample)
    assert int(be.D(fake).size) == BATCH
    for n, net in (("G", spec.generator), ("D", spec.discriminator)):
        count = param_count(net)
        assert sum(int(p.size) for p in be.params[n]) == count.trainable  # what the optimiser updates
        assert sum(int(p.size) for p in be.nets[n].parameters()) == count.parameters
        assert sum(int(p.size) for p in be.opts[n]._parameter_list) == count.trainable
    buffers = sum(int(b.size) for b in be.nets["G"].buffers())
    assert buffers == param_count(spec.generator).buffers
    assert be.generate(np.zeros((3, *spec.noise_shape), np.float32)).shape == (3, *sample)


def test_info_records_mode_and_threads():
    _, be = _backend("mindspore-mlp-gan", "to_static")
    info = be.info()
    assert info["mode"] == "to_static" and info["threads"] == 2 and info["framework"] == "paddle"
    assert info["framework_version"] == paddle.__version__


def _conv_transpose_reference(x, w, b, stride, pad, out_pad):
    """torch.nn.functional.conv_transpose2d by its definition: every input pixel scatters w."""
    n, c, h, wd = x.shape
    o, k = w.shape[1], w.shape[2]
    full = np.zeros((n, o, (h - 1) * stride + k + out_pad, (wd - 1) * stride + k + out_pad), np.float64)
    for ki in range(k):
        for kj in range(k):
            full[:, :, ki : ki + (h - 1) * stride + 1 : stride, kj : kj + (wd - 1) * stride + 1 : stride] += np.einsum(
                "ncij,co->noij", x, w[:, :, ki, kj]
            )
    ho, wo = (h - 1) * stride - 2 * pad + k + out_pad, (wd - 1) * stride - 2 * pad + k + out_pad
    return full[:, :, pad : pad + ho, pad : pad + wo] + b[None, :, None, None]


def test_canonical_layouts_compute_what_torch_computes():
    """Dense weights are stored transposed in Paddle; transposed-conv kernels keep torch's layout,
    and output_padding gives the tutorial's forced 14×14 and 28×28."""
    spec, be = _backend("paddle-dcgan28")
    st = initial_state(spec, 0)
    rng = np.random.default_rng(1)
    z = rng.uniform(-1, 1, (2, 100)).astype(np.float32)
    dense = be.G[0](paddle.to_tensor(z)).numpy()
    np.testing.assert_allclose(dense, z @ st["G.0.weight"].T + st["G.0.bias"], rtol=1e-5, atol=1e-5)
    assert tuple(be.G[0].weight.shape) == (100, 2048)
    x = rng.standard_normal((2, 128, 7, 7)).astype(np.float32)
    y = be.G[7](paddle.to_tensor(x)).numpy()
    assert y.shape == (2, 128, 14, 14)
    ref = _conv_transpose_reference(x.astype(np.float64), st["G.7.weight"], st["G.7.bias"], 2, 2, 1)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    assert tuple(be.G[9](paddle.to_tensor(y)).shape) == (2, 1, 28, 28)
    assert be.D[2]._negative_slope == pytest.approx(0.02)  # fluid's act='leaky_relu'


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dim, shape", [(1, (6, 5)), (2, (3, 5, 4, 2))])
def test_batchnorm_keeps_torchs_running_statistics(mode, dim, shape):
    """momentum is the kept fraction; running_var takes the UNBIASED batch variance (torch), and
    the forward normalises with the biased one."""
    bn = _BatchNorm(5, BatchNorm(dim, momentum=0.8, eps=1e-5))
    if mode == "to_static":
        bn = paddle.jit.to_static(bn, full_graph=True)
    rng = np.random.default_rng(0)
    rm, rv = rng.standard_normal(5).astype(np.float32), rng.uniform(0.5, 2, 5).astype(np.float32)
    bn.running_mean.set_value(rm)
    bn.running_var.set_value(rv)
    x = rng.standard_normal(shape).astype(np.float32) * 3 + 1
    axes = (0,) if dim == 1 else (0, 2, 3)
    bshape = (1, -1) if dim == 1 else (1, -1, 1, 1)
    for _ in range(2):
        y = bn(paddle.to_tensor(x)).numpy()
        mean, var = x.mean(axes), x.var(axes)
        np.testing.assert_allclose(
            y, (x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-5), rtol=1e-4, atol=1e-5
        )
        rm = 0.8 * rm + 0.2 * mean
        rv = 0.8 * rv + 0.2 * x.var(axes, ddof=1)
        np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-6)
    bn.eval()
    y = bn(paddle.to_tensor(x)).numpy()
    np.testing.assert_allclose(y, (x - rm.reshape(bshape)) / np.sqrt(rv.reshape(bshape) + 1e-5), rtol=1e-4, atol=1e-5)


def test_paddle_adam_places_eps_like_torch():
    """Paddle 3.x's Adam: m / (sqrt(v) + eps·sqrt(1-β2ᵗ)) with lr·sqrt(1-β2ᵗ)/(1-β1ᵗ) == torch's
    m̂ / (sqrt(v̂) + eps). Gradients ~1e-8 make eps dominate, where fluid 1.x's placement differs."""
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(6).astype(np.float32)
    grads = [rng.standard_normal(6) * s for s in (1e-7, 3e-8, 1e-6, 1e-9)]
    p = paddle.create_parameter([6], "float64")
    p.set_value(p0.astype(np.float64))
    opt = paddle.optimizer.Adam(learning_rate=2e-4, beta1=0.5, beta2=0.999, epsilon=1e-8, parameters=[p])
    for g in grads:
        (p * paddle.to_tensor(g)).sum().backward()
        opt.step()
        opt.clear_grad()

    def adam(torch_eps: bool):
        x, m, v = p0.astype(np.float64), np.zeros(6), np.zeros(6)
        for t, g in enumerate(grads, 1):
            m, v = 0.5 * m + 0.5 * g, 0.999 * v + 0.001 * g * g
            if torch_eps:
                x = x - 2e-4 / (1 - 0.5**t) * m / (np.sqrt(v) / np.sqrt(1 - 0.999**t) + 1e-8)
            else:  # fluid 1.x: bias correction folded into lr, eps added to sqrt(v)
                x = x - 2e-4 * np.sqrt(1 - 0.999**t) / (1 - 0.5**t) * m / (np.sqrt(v) + 1e-8)
        return x

    assert np.abs(adam(True) - adam(False)).max() > 1e-5  # the test can tell them apart
    np.testing.assert_allclose(p.numpy(), adam(True), rtol=0, atol=1e-12)


@pytest.mark.parametrize("form", [f for f in ADAM_FORMS if f != "torch"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_other_adam_form_from_the_same_kernel(form, dtype):
    """With `set_form_scalars` before each update the kernel computes each sqrt(v) form
    (common.adam.reference_update; Paddle holds β as float32, which every such form also does)."""
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(64)
    grads = [rng.standard_normal(64) * 10.0 ** rng.integers(-9, 0, 64) for _ in range(5)]
    o = Adam(2e-4, 0.5, 0.999, 1e-8, form=form)
    p = paddle.create_parameter([64], np.dtype(dtype).name)
    p.set_value(p0.astype(dtype))
    b1, b2 = moment_betas(o)
    opt = paddle.optimizer.Adam(learning_rate=o.lr, beta1=b1, beta2=b2, epsilon=o.eps, parameters=[p])
    # the β powers as the backend's load_state sets them (and the kernel then accumulates them)
    opt._create_accumulators(paddle.static.default_main_program().global_block(), [p])
    for which, b in (("beta1_pow", b1), ("beta2_pow", b2)):
        opt._get_accumulator_master(getattr(opt, f"_{which}_acc_str"), p).set_value(_beta_pow(b, 1, np.dtype(dtype)))
    ref, m, v = p0.astype(dtype).astype(np.float64), np.zeros(64), np.zeros(64)
    for t, g in enumerate(grads, 1):
        g = g.astype(dtype)
        (p * paddle.to_tensor(g)).sum().backward()
        set_form_scalars(opt, o, t, np.dtype(dtype))
        opt.step()
        opt.clear_grad()
        ref, m, v = reference_update(o, t, ref, g.astype(np.float64), m, v)
    tol = dict(rtol=1e-13, atol=1e-16) if dtype == np.float64 else dict(rtol=5e-7, atol=1e-7)
    np.testing.assert_allclose(p.numpy(), ref, **tol)


def test_imported_adam_moments_and_step_drive_the_next_update():
    """After importing moments (Dense ones transposed) and a step count, the next D update is
    the spec's Adam form (fluid's) from exactly those moments and that bias-correction exponent."""
    spec = get_model("paddle-dcgan28")
    st = initial_state(spec, 0)
    rng = np.random.default_rng(5)
    for k in list(st):
        if k.startswith("opt.D.") and k.endswith(".m"):
            st[k] = (rng.standard_normal(st[k].shape) * 1e-3).astype(np.float32)
        elif k.startswith("opt.D.") and k.endswith(".v"):
            st[k] = (rng.uniform(0, 1e-6, st[k].shape)).astype(np.float32)
    st["opt.D.step"] = np.asarray(7, np.int64)
    be = PaddleBackend(spec, "cpu", "dynamic", threads=2)
    be.load_state(st)
    seen = {}
    orig = be._update

    def first_update(net):
        if net == "D" and not seen:
            seen["grad"] = {k: be._to_canonical(k, p.grad) for k, p in zip(be.trainable["D"], be.params["D"])}
            seen["before"] = {k: be._to_canonical(k, p) for k, p in zip(be.trainable["D"], be.params["D"])}
            orig(net)
            seen["after"] = {k: be._to_canonical(k, p) for k, p in zip(be.trainable["D"], be.params["D"])}
            seen["state"] = be.export_state()
        else:
            orig(net)

    be._update = first_update
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    be.read(be.step(real, noise))
    o, t = spec.recipe.opt_d, 8
    # fluid's form: 1-β from float32 β (1 - float32(0.999) = 0.000999987), the step size from
    # float32 β powers, ε added to sqrt(v)
    assert o.form == "paddle-fluid"
    b1, b2 = moment_betas(o)
    step, eps = step_scalars(o, t)
    for key in ("D.9.weight", "D.1.weight", "D.10.bias"):  # Dense (transposed), conv, BatchNorm β
        g = seen["grad"][key].astype(np.float64)
        m = b1 * st[f"opt.{key}.m"] + (1 - b1) * g
        v = b2 * st[f"opt.{key}.v"] + (1 - b2) * g * g
        want = seen["before"][key] - step * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(seen["state"][f"opt.{key}.m"], m, rtol=1e-5, atol=1e-9)  # float32 of ~1e-3
        np.testing.assert_allclose(seen["state"][f"opt.{key}.v"], v, rtol=1e-5, atol=1e-13)  # float32 of ~1e-6
        np.testing.assert_allclose(seen["after"][key], want, rtol=0, atol=3e-7)  # updates are ~1e-5
    assert int(seen["state"]["opt.D.step"]) == 8


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(MODELS))
def test_each_update_changes_only_its_own_network(name, mode):
    spec, be = _backend(name, mode)
    log = UpdateLog(lambda: _snapshot(be))
    orig = be._update

    def logged(net):
        grads = {k: p.grad for k, p in zip(be.trainable[net], be.params[net])}
        assert all(g is not None for g in grads.values()), [k for k, g in grads.items() if g is None]
        moving = {k for k, g in grads.items() if np.any(g.numpy() != 0)}
        log.before(net)
        orig(net)
        log.after(net)
        assert moving <= log.updates[-1][1]  # every parameter with a gradient moves (biases and β included)

    be._update = logged
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    be.read(be.step(real, noise))
    check_each_update_changes_only_its_own_network(spec, log.updates, running_statistics_fixed=True)
    log = log.updates
    st = be.export_state()
    n = len(log)
    assert int(st["opt.D.step"]) == sum(u[0] == "D" for u in log) and int(st["opt.G.step"]) == n - int(st["opt.D.step"])
    if spec.name == "mxnet-dcgan64":  # fix_gamma: γ stays exactly 1, β learns
        assert np.all(st["G.1.weight"] == 1) and np.all(st["D.3.weight"] == 1)
        assert np.any(st["opt.G.1.bias.m"] != 0) and np.any(st["opt.D.3.bias.v"] != 0)


@pytest.mark.parametrize("name, g_forwards, first_d_input", FEEDS)
def test_what_each_recipe_feeds_d_and_g(name, g_forwards, first_d_input):
    spec, be = _backend(name)
    check_feeds_by_pre_hooks(
        spec, be, {"G": [be.G], "D": [be.D]}, lambda t: t.numpy().copy(), g_forwards, first_d_input, BATCH
    )


@pytest.mark.parametrize("mode", MODES)
def test_native_and_parity_feeding_both_train(mode):
    spec, be = _backend("paddle-dcgan28", mode)
    real, noise = parity_inputs(spec, 1, 8)[0]
    a = be.read(be.step(real, None))  # noise drawn by paddle
    b = be.read(be.step(real, noise))
    assert np.isfinite([a.d_loss, a.g_loss, b.d_loss, b.g_loss]).all()
    assert len(a.g_losses) == 2 and a.g_loss == a.g_losses[-1]
    st = be.export_state()
    assert int(st["opt.D.step"]) == 4 and int(st["opt.G.step"]) == 4
    if mode == "to_static":  # real graph execution, traced once per input signature and reused:
        assert be.info()["compile_s"] > 0  # G once; D's scorer for the D step (inputs need no
        assert be.G.forward.get_traced_count() == 1  # gradient) and for the G step (they do)
        assert be.scorer.forward.get_traced_count() == 2
    else:
        assert not hasattr(be.G.forward, "get_traced_count") and be.info()["compile_s"] is None


@pytest.mark.parametrize("name", ["pytorch-celeba-dcgan", "paddle-dcgan28"])
def test_state_round_trip_continues_training_identically(name):
    spec, a = _backend(name)
    # optimiser moments, β powers and step counts carried over exactly
    saved, _ = check_state_round_trip(
        a, lambda: PaddleBackend(spec, "cpu", "dynamic", threads=2), parity_inputs(spec, 3, BATCH)
    )
    assert all(v.dtype == (np.int64 if k.endswith(".step") else np.float32) for k, v in saved.items())


def test_generate_uses_running_statistics_and_changes_nothing():
    spec, be = _backend("mindspore-mlp-gan")
    z = parity_inputs(spec, 1, BATCH)[0][1].d
    before = be.export_state()
    a = be.generate(z)
    assert all(np.array_equal(before[k], v) for k, v in be.export_state().items())
    np.testing.assert_array_equal(a, be.generate(z))
    one = be.generate(z[:1])  # inference mode: a sample does not depend on the rest of the batch
    np.testing.assert_allclose(one, a[:1], rtol=1e-5, atol=1e-6)


def test_no_silent_cpu_fallback():
    check_no_silent_cpu_fallback(PaddleBackend)
