"""The MindSpore backend: shapes, layer conventions, recipe semantics (which update changes what,
what G and D are fed, BatchNorm statistics moving once per forward), state, and the goldens."""

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")

from backend_contract import (  # noqa: E402
    UpdateLog,
    check_each_update_changes_only_its_own_network,
    check_feeds_by_pre_hooks,
    check_float32_golden,
    check_no_silent_cpu_fallback,
    check_state_round_trip,
    fake_in_d_step,
    worst,
)
from mindspore import Tensor, nn, ops  # noqa: E402
from recipe_expectations import FEEDS, expected_updates  # noqa: E402

import backends.mindspore_nn as msb  # noqa: E402
from backends.mindspore_nn import MindSporeBackend  # noqa: E402
from benchmarks.trace import run_trace  # noqa: E402
from common.adam import with_adam_form  # noqa: E402
from common.analysis import param_count  # noqa: E402
from common.models import MODELS, get_model  # noqa: E402
from common.parity import load_golden, parity_inputs  # noqa: E402
from common.spec import ConvTranspose2d  # noqa: E402
from common.state import initial_state, param_keys  # noqa: E402

msb._configure_runtime("cpu", None)  # device and thread pools before any kernel runs

BATCH = 4
DCGANS = [m for m in MODELS if m != "mindspore-mlp-gan"]


def _backend(name, mode="pynative", seed=0):
    spec = get_model(name)
    be = MindSporeBackend(spec, "cpu", mode, seed=seed)
    be.load_state(initial_state(spec, seed))
    return spec, be


def _sample(spec):
    return (784,) if spec.data.flatten else tuple(spec.data.image_shape)


# --- model structure ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_parameter_counts_and_unique_names(name):
    spec, be = _backend(name)
    fake = be.G(Tensor(np.zeros((BATCH, *spec.noise_shape), np.float32)))
    assert tuple(fake.shape) == (BATCH, *_sample(spec))
    assert be.D(fake).size == BATCH
    for net, ns in (("G", spec.generator), ("D", spec.discriminator)):
        cell = be.G if net == "G" else be.D
        pc = param_count(ns)
        assert sum(p.size for p in cell.trainable_params()) == pc.trainable
        assert sum(p.size for p in cell.get_parameters()) == pc.parameters + pc.buffers
        assert [p.name for p in cell.trainable_params()] == param_keys(spec, net, trainable_only=True)
    names = [p.name for p in be.cell.get_parameters()]  # G, D and both optimisers
    assert len(names) == len(set(names))
    assert {"opt.G.beta1_power", "opt.D.beta1_power"} <= set(names)
    assert be.generate(np.zeros((3, *spec.noise_shape), np.float32)).shape == (3, *_sample(spec))


# --- layer conventions the backend relies on ---------------------------------------------------


def _conv_transpose_ref(x, w, s, p, op):
    """torch.nn.functional.conv_transpose2d by definition: scatter every input pixel's kernel
    contribution, crop p on top/left and p - op on bottom/right."""
    n, _, h, wd = x.shape
    co, k = w.shape[1], w.shape[2]
    full = np.zeros((n, co, (h - 1) * s + k + op, (wd - 1) * s + k + op))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * s : i * s + k, j * s : j * s + k] += np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
    ho, wo = (h - 1) * s - 2 * p + k + op, (wd - 1) * s - 2 * p + k + op
    return full[:, :, p : p + ho, p : p + wo]


@pytest.mark.parametrize(
    "cin, cout, k, s, p, op, hw, bias",
    [
        (3, 2, 5, 2, 2, 1, 7, True),  # paddle-dcgan28: 7 -> 14
        (2, 3, 4, 2, 1, 0, 4, False),  # the DCGANs' k4 s2 p1
        (3, 2, 4, 2, 0, 1, 3, True),  # output_padding beyond the padding: a zero row + bias
    ],
)
def test_conv_transpose_is_torchs_forward_and_backward(cin, cout, k, s, p, op, hw, bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, cin, hw, hw)).astype(np.float32)
    w = rng.standard_normal((cin, cout, k, k)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    m = msb._ConvTranspose2d(cin, ConvTranspose2d(cout, k, s, p, op, bias=bias))
    m.canonical["weight"].set_data(Tensor(w))
    if bias:
        m.canonical["bias"].set_data(Tensor(b))
    ref = _conv_transpose_ref(x, w, s, p, op) + (b[None, :, None, None] if bias else 0)
    y = m(Tensor(x)).asnumpy()
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=2e-5)
    # gradients of sum(y * c): the reference's are its adjoint, computed by finite structure
    c = rng.standard_normal(y.shape).astype(np.float32)
    gx, (gw,) = ms.grad(lambda t: (m(t) * Tensor(c)).sum(), 0, [m.canonical["weight"]])(Tensor(x))
    cfull = np.zeros((2, cout, (hw - 1) * s + k + op, (hw - 1) * s + k + op))
    cfull[:, :, p : p + y.shape[2], p : p + y.shape[3]] = c
    ref_gw, ref_gx = np.zeros(w.shape), np.zeros(x.shape)
    for i in range(hw):
        for j in range(hw):
            patch = cfull[:, :, i * s : i * s + k, j * s : j * s + k]
            ref_gw += np.einsum("nc,nokl->cokl", x[:, :, i, j], patch)
            ref_gx[:, :, i, j] = np.einsum("cokl,nokl->nc", w, patch)
    np.testing.assert_allclose(gw.asnumpy(), ref_gw, atol=5e-5)
    np.testing.assert_allclose(gx.asnumpy(), ref_gx, atol=5e-5)


def test_native_output_padding_is_not_torchs():
    """Why the backend pads asymmetrically: MindSpore 2.10's output_padding appends zeros."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 7, 7)).astype(np.float32)
    w = rng.standard_normal((2, 1, 5, 5)).astype(np.float32)
    native = nn.Conv2dTranspose(2, 1, 5, 2, pad_mode="pad", padding=2, output_padding=1, has_bias=False)
    native.weight.set_data(Tensor(w))
    y = native(Tensor(x)).asnumpy()
    ref = _conv_transpose_ref(x, w, 2, 2, 1)
    assert y.shape == ref.shape
    assert np.abs(ref[..., -1, :]).max() > 0.1 and np.abs(y[..., -1, :]).max() == 0


def test_batchnorm_momentum_is_the_kept_fraction_and_running_var_unbiased():
    x = np.random.default_rng(3).standard_normal((8, 5)).astype(np.float32) * 3 + 1
    bn = nn.BatchNorm1d(5, eps=1e-5, momentum=0.9)
    bn.set_train(True)
    y = bn(Tensor(x)).asnumpy()
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), atol=1e-5)  # biased to normalise
    np.testing.assert_allclose(bn.moving_mean.asnumpy(), 0.1 * x.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bn.moving_variance.asnumpy(), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-5)  # torch's


# --- recipe semantics --------------------------------------------------------------------------


def _snapshot(be):
    return {k: p.asnumpy().copy() for k, p in be.params.items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_each_update_changes_only_its_own_network(name):
    spec, be = _backend(name)
    log = UpdateLog(lambda: _snapshot(be))
    for net, opt in be.opts.items():
        opt.register_forward_pre_hook(lambda c, i, net=net: log.before(net))
        opt.register_forward_hook(lambda c, i, o, net=net: log.after(net))
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    be.read(be.step(real, noise))
    # the other net's weights do not move; its running statistics may (its forward ran in training
    # mode), but never inside the optimiser call
    check_each_update_changes_only_its_own_network(spec, log.updates, running_statistics_fixed=True)
    st = be.export_state()
    assert int(st["opt.D.step"]) == expected_updates(name).count("D")
    assert int(st["opt.G.step"]) == spec.recipe.g_updates
    if spec.name == "mxnet-dcgan64":  # fix_gamma: γ stays exactly 1
        assert np.all(st["G.1.weight"] == 1) and np.all(st["D.3.weight"] == 1)


@pytest.mark.parametrize("name, g_forwards, first_d_input", FEEDS)
def test_what_each_recipe_feeds_d_and_g(name, g_forwards, first_d_input):
    spec, be = _backend(name)
    calls, real = check_feeds_by_pre_hooks(
        spec, be, {"G": [be.G], "D": [be.D]}, lambda t: t.asnumpy().copy(), g_forwards, first_d_input, BATCH
    )
    d_fake = fake_in_d_step(calls["D"], real)
    if spec.recipe.g_input == "fresh_noise":
        assert not np.array_equal(calls["D"][2], d_fake)
    else:  # the same fake re-scored, or G(z) recomputed with G unchanged: the same values
        assert np.array_equal(calls["D"][2], d_fake)


@pytest.mark.parametrize("name", ["pytorch-celeba-dcgan", "mindspore-mlp-gan"])
def test_generator_batchnorm_statistics_move_once_per_forward(name):
    """same_fake: G's forward runs once (kept by ms.vjp), so its running statistics move once, as
    in torch; recompute_same_z: twice. Reference: plain training-mode G forwards from the same state."""
    spec, be = _backend(name)
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    be.read(be.step(real, noise))
    _, ref = _backend(name)
    for _ in range(1 if spec.recipe.g_input == "same_fake" else 2):
        ref.G(Tensor(noise.d))
    stats = [k for k in param_keys(spec, "G") if k.endswith(("running_mean", "running_var"))]
    assert stats
    for k in stats:
        np.testing.assert_allclose(be.params[k].asnumpy(), ref.params[k].asnumpy(), rtol=1e-6, atol=1e-7, err_msg=k)


# --- state, feeding, inference -----------------------------------------------------------------


@pytest.mark.parametrize("name, mode", [("paddle-dcgan28", "pynative"), ("mindspore-mlp-gan", "graph")])
def test_state_round_trip_continues_training_identically(name, mode):
    spec, a = _backend(name, mode)
    saved, b = check_state_round_trip(a, lambda: MindSporeBackend(spec, "cpu", mode), parity_inputs(spec, 2, BATCH))
    assert int(saved["opt.D.step"]) >= 1
    ea, eb = a.export_state(), b.export_state()
    assert all(np.array_equal(ea[k], eb[k]) for k in ea)


@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_native_feeding_draws_new_noise_each_iteration(mode):
    spec, be = _backend("mindspore-mlp-gan", mode)
    real, _ = parity_inputs(spec, 1, 8)[0]
    s = [be.read(be.step(real, None)) for _ in range(3)]
    assert np.isfinite([[x.d_loss, x.g_loss] for x in s]).all()
    assert len({x.d_g_z1 for x in s}) == 3  # new latent codes (and updated nets) every iteration
    st = be.export_state()
    assert int(st["opt.D.step"]) == 3 and int(st["opt.G.step"]) == 3
    info = be.info()
    assert info["mode"] == mode and info["threads"] == msb._RUNTIME["threads"] and info["framework"] == "mindspore"
    assert (info["compile_s"] is not None) == (mode == "graph")


def test_generate_uses_running_statistics_and_changes_nothing():
    spec, be = _backend("mindspore-mlp-gan")
    before = be.export_state()
    z = np.random.default_rng(4).standard_normal((5, *spec.noise_shape)).astype(np.float32)
    one = be.generate(z[:1])  # batch statistics of one sample would be degenerate; running ones are not
    five = be.generate(z)
    np.testing.assert_allclose(one[0], five[0], rtol=1e-5, atol=1e-6)
    after = be.export_state()
    assert all(np.array_equal(before[k], after[k]) for k in before)


# --- parity with the PyTorch golden traces -----------------------------------------------------


@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_mlp_gan_matches_golden_trace(mode):
    golden = load_golden("mindspore-mlp-gan")
    trace, _, _ = run_trace(
        "mindspore", "mindspore-mlp-gan", golden["steps"], golden["batch_size"], golden["seed"], mode=mode
    )
    assert len(trace["losses"]["d"]) == golden["steps"]
    check_float32_golden(trace, golden, every_iteration=True)


@pytest.mark.parametrize("mode", ["pynative", "graph"])
@pytest.mark.parametrize("name", DCGANS)
def test_dcgan_first_iteration_matches_golden_trace(name, mode):
    """The DCGAN traces are chaotic after the first iteration: a one-ulp change of a single
    weight, or torch itself with oneDNN disabled, moves torch's own trace by ~1e-3 at iteration 1
    and 1e-2 by iteration 5 (Adam's first steps are ±lr for every parameter whose gradient is
    near zero, and paddle-dcgan28's second max-pool holds a 1-ulp near-tie). What is
    well-conditioned — iteration 0: D's loss at the initial state, and G's loss after one D
    update — must agree within 1e-4."""
    golden = load_golden(name)
    trace, _, _ = run_trace("mindspore", name, 1, golden["batch_size"], golden["seed"], mode=mode)
    check_float32_golden(trace, golden, every_iteration=False)  # G within the parity tolerance, and D
    w = worst(trace, golden)
    assert w["d"] < 1e-5, w  # within a tenth of it


# --- recipe branches none of the five models takes ---------------------------------------------

# torch's losses (backends/pytorch.py, torch 2.13 CPU) for mindspore-mlp-gan with its recipe
# changed as named and torch's Adam form, from initial_state(spec, 0) on parity_inputs(spec, 2, 8):
# [(d, [g, ...]), ...]
VARIANTS = {
    "sep_same": (
        dict(d_update="separate_fake_then_real", d_pass_order="fake_first", g_input="same_fake"),
        [(1.3922208547592163, [0.7756532430648804]), (1.373259425163269, [0.7497991919517517])],
    ),
    "fresh3": (
        dict(g_input="fresh_noise", g_updates=3, loss="bce_logits_on_prob"),
        [
            (1.4455314874649048, [0.483562171459198, 0.4714040756225586, 0.4577879011631012]),
            (1.4949471950531006, [0.4539264440536499, 0.44217076897621155, 0.4311145842075348]),
        ],
    ),
    "realfirst_same": (
        dict(d_pass_order="real_first", g_input="same_fake", real_label=0.9),
        [(1.3771523237228394, [0.7350448369979858]), (1.3959342241287231, [0.7112590670585632])],
    ),
}


@pytest.mark.parametrize(
    "variant, mode",
    [
        ("sep_same", "pynative"),
        ("fresh3", "pynative"),
        ("realfirst_same", "pynative"),
        ("sep_same", "graph"),
        ("fresh3", "graph"),
    ],
)
def test_other_recipe_variants_match_torch(variant, mode):
    import dataclasses

    base = with_adam_form(get_model("mindspore-mlp-gan"), "torch")
    changes, expected = VARIANTS[variant]
    spec = dataclasses.replace(base, name=f"variant-{variant}", recipe=dataclasses.replace(base.recipe, **changes))
    be = MindSporeBackend(spec, "cpu", mode)
    be.load_state(initial_state(spec, 0))
    got = [be.read(be.step(real, noise)) for real, noise in parity_inputs(spec, 2, 8)]
    for s, (d, g_all) in zip(got, expected):
        assert len(s.g_losses) == len(g_all)
        np.testing.assert_allclose([s.d_loss, *s.g_losses], [d, *g_all], rtol=1e-5)
    st = be.export_state()
    assert int(st["opt.G.step"]) == 2 * spec.recipe.g_updates
    assert int(st["opt.D.step"]) == 2 * (2 if spec.recipe.d_update == "separate_fake_then_real" else 1)


def test_bce_with_logits_gradient_follows_the_batch_size():
    """MindSpore 2.10's ops.binary_cross_entropy_with_logits backward (PyNative) keeps the batch
    size of its first call; the backend's own form does not. The second assertion documents the
    framework bug the backend works around (if it fails, the bug is fixed and the workaround can go)."""

    def grad(fn, n):
        x = Tensor(np.linspace(-1, 1, n).astype(np.float32))
        return ms.grad(lambda t: fn(t))(x).asnumpy()

    ours = lambda t: msb._bce_with_logits(t, 1.0)  # noqa: E731
    native = lambda t: ops.binary_cross_entropy_with_logits(t, ops.ones_like(t))  # noqa: E731
    for n in (4, 8):
        x = np.linspace(-1, 1, n)
        np.testing.assert_allclose(grad(ours, n), (1 / (1 + np.exp(-x)) - 1) / n, rtol=1e-5)
    grad(native, 4)
    x = np.linspace(-1, 1, 8)
    assert not np.allclose(grad(native, 8), (1 / (1 + np.exp(-x)) - 1) / 8, rtol=1e-3)


def test_no_silent_cpu_fallback():
    check_no_silent_cpu_fallback(MindSporeBackend)
