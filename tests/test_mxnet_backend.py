"""The MXNet (Gluon) backend: shapes and parameter counts, recipe semantics (which update changes
what, what each recipe feeds D and G), BatchNorm statistics as MXNet keeps them, state round trips,
inference-mode generation, and the two oneDNN workarounds."""

import dataclasses

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from backend_contract import (  # noqa: E402
    UpdateLog,
    check_each_update_changes_only_its_own_network,
    check_feeds_by_pre_hooks,
    check_no_silent_cpu_fallback,
    check_state_round_trip,
    fake_in_d_step,
)
from mxnet import autograd, nd  # noqa: E402
from recipe_expectations import FEEDS, expected_updates  # noqa: E402

from backends import BackendUnavailable, load_backend  # noqa: E402
from backends.mxnet_gluon import MXNetBackend, _Adam, _ConvTranspose1, _LeakyReLU64  # noqa: E402
from common.adam import reference_update  # noqa: E402
from common.analysis import param_count  # noqa: E402
from common.models import MODELS, get_model  # noqa: E402
from common.parity import parity_inputs  # noqa: E402
from common.spec import ADAM_FORMS, Adam, ConvTranspose2d  # noqa: E402
from common.state import initial_state, param_keys  # noqa: E402

BATCH = 4
MODES = MXNetBackend.modes


def _backend(name, mode="imperative", seed=0, spec=None, **kw):
    spec = spec or get_model(name)
    be = MXNetBackend(spec, "cpu", mode, seed=seed, **kw)
    be.load_state(initial_state(spec, seed))
    return spec, be


def test_registry_and_modes():
    assert load_backend("mxnet") is MXNetBackend
    assert MXNetBackend.modes == ("imperative", "hybridized")
    spec = get_model("mindspore-mlp-gan")
    with pytest.raises(BackendUnavailable):
        MXNetBackend(spec, "cpu", "eager")
    if not MXNetBackend.device_available("cuda"):
        with pytest.raises(BackendUnavailable):
            MXNetBackend(spec, "cuda")
    info = MXNetBackend(spec, "cpu", "hybridized").info()
    assert info["framework"] == "mxnet" and info["framework_version"] == mx.__version__
    assert info["mode"] == "hybridized"


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_and_parameter_counts(name):
    spec, be = _backend(name)
    z = nd.zeros((BATCH, *spec.noise_shape))
    with autograd.train_mode():
        fake = be.G(z)
    sample = (784,) if spec.data.flatten else spec.data.image_shape
    assert tuple(fake.shape) == (BATCH, *sample)
    assert be.D(fake).size == BATCH
    for net, ns in (("G", spec.generator), ("D", spec.discriminator)):
        params = list(be.nets[net].collect_params().values())
        count = param_count(ns)
        trainable = sum(p.data().size for p in params if p.grad_req != "null")
        fixed = sum(p.data().size for p in params if p.grad_req == "null" and p.name.endswith("gamma"))
        buffers = sum(p.data().size for p in params if p.name.endswith(("running_mean", "running_var")))
        assert (trainable, fixed, buffers) == (count.trainable, count.fixed, count.buffers), net
        # the trainers hold exactly the canonical trainable arrays, in canonical order
        assert [p.name for p in be.trainers[net]._params] == [
            be._param(k).name for k in param_keys(spec, net, trainable_only=True)
        ]
    assert be.generate(np.zeros((3, *spec.noise_shape), np.float32)).shape == (3, *sample)


def test_fixed_gamma_is_one_untrained_and_exported_as_ones():
    spec, be = _backend("mxnet-dcgan64")
    fixed = [
        k
        for n in ("G", "D")
        for k in param_keys(spec, n)
        if k.endswith("weight") and k not in param_keys(spec, n, trainable_only=True)
    ]
    assert len(fixed) == 7  # four BatchNorms in G, three in D
    for k in fixed:
        assert be._param(k).grad_req == "null" and be._param(k).name.endswith("gamma")
    # the op uses γ = 1 whatever the array holds: a state with γ = 3 trains identically
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    odd = initial_state(spec, 0)
    for k in fixed:
        odd[k] = np.full_like(odd[k], 3.0)
    _, be3 = _backend("mxnet-dcgan64")
    be3.load_state(odd)
    assert be.read(be.step(real, noise)) == be3.read(be3.step(real, noise))
    out = be.export_state()
    assert all(np.all(out[k] == 1) for k in fixed)
    assert all(f"opt.{k}.m" not in out for k in fixed)


def _snapshot(be):
    nd.waitall()  # see MXNetBackend.export_state: reads must not overlap oneDNN's weight re-layout
    return {k: be._param(k).data().asnumpy().copy() for n in ("G", "D") for k in param_keys(be.spec, n)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(MODELS))
def test_each_update_changes_only_its_own_network(name, mode):
    spec, be = _backend(name, mode)
    log, batch_sizes = UpdateLog(lambda: _snapshot(be)), []
    for net, tr in be.trainers.items():

        def step(batch_size, net=net, orig=tr.step):
            batch_sizes.append(batch_size)
            log.before(net)
            orig(batch_size)
            log.after(net)

        tr.step = step
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    be.read(be.step(real, noise))
    check_each_update_changes_only_its_own_network(spec, log.updates)
    assert set(batch_sizes) == {1}  # losses are batch means: no second 1/batch rescaling
    for net, own, _ in log.updates:
        # every trainable weight and bias of the updated net moves; the fixed γ and running statistics do not
        assert {k for k in own if k.endswith(("weight", "bias"))} == set(param_keys(spec, net, trainable_only=True))
    st = be.export_state()
    n_d, n_g = expected_updates(name).count("D"), expected_updates(name).count("G")
    assert (int(st["opt.D.step"]), int(st["opt.G.step"])) == (n_d, n_g)


@pytest.mark.parametrize("name, g_forwards, first_d_input", FEEDS)
def test_what_each_recipe_feeds_d_and_g(name, g_forwards, first_d_input):
    spec, be = _backend(name)
    calls, real = check_feeds_by_pre_hooks(
        spec,
        be,
        {"G": [be.G], "D": list(be._scorers.values())},
        lambda a: a.asnumpy().copy(),
        g_forwards,
        first_d_input,
        BATCH,
    )
    if spec.recipe.g_input == "recompute_same_z":  # same z, G not yet updated
        np.testing.assert_allclose(calls["D"][2], fake_in_d_step(calls["D"], real), rtol=1e-6, atol=1e-7)


def test_same_fake_g_step_backpropagates_into_the_recorded_forward():
    """G's gradient in the same-fake recipe = D's input gradient pushed through G's one forward:
    check against an explicit autograd.grad(D-loss, fake) followed by fake.backward(grad)."""
    spec, be = _backend("pytorch-celeba-dcgan")
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    grads = {}
    tr = be.trainers["G"]

    def step(batch_size, orig=tr.step):
        grads.update({k: be._param(k).grad().asnumpy().copy() for k in param_keys(spec, "G", trainable_only=True)})
        orig(batch_size)

    tr.step = step
    state0 = initial_state(spec, 0)
    _, ref = _backend("pytorch-celeba-dcgan")
    be.read(be.step(real, noise))
    # reference: D after its update (from the backend's exported state), G as it was
    st = be.export_state()
    ref_state = dict(state0)
    ref_state.update({k: v for k, v in st.items() if k.startswith(("D.", "opt.D"))})
    ref.load_state(ref_state)
    z = nd.array(noise.d)
    with autograd.record():
        fake = ref.G(z)
    fd = fake.detach()
    fd.attach_grad()
    with autograd.record():
        loss, _ = ref._scorers[spec.recipe.real_label](fd)
    loss.backward()
    fake.backward(fd.grad)  # the Module tutorial's generator.backward(diffD)
    for k, g in grads.items():
        np.testing.assert_allclose(g, ref._param(k).grad().asnumpy(), rtol=1e-5, atol=1e-7, err_msg=k)


def _d_bn_batch_stats(be, x, layer):
    """Mean and biased variance at the input of D's BatchNorm `layer` (no statistic moves)."""
    with autograd.train_mode():
        for blk in list(be.D)[:layer]:
            x = blk(x)
    a = x.asnumpy().astype(np.float64)
    axes = (0, 2, 3) if a.ndim == 4 else (0,)
    return a.mean(axis=axes), a.var(axis=axes)


@pytest.mark.parametrize("mode", MODES)
def test_summed_d_step_applies_running_statistics_in_pass_order(mode):
    """MXNet moves BatchNorm statistics in the backward pass. Swapping d_pass_order must leave every
    loss and weight unchanged and move D's statistics by m(1-m)²·(first - second) exactly:
    the backend applies them in d_pass_order (torch's order), the G step's pass coming last."""
    base = get_model("pytorch-celeba-dcgan")
    swapped = dataclasses.replace(base, recipe=dataclasses.replace(base.recipe, d_pass_order="fake_first"))
    real, noise = parity_inputs(base, 1, BATCH)[0]
    _, a = _backend(None, mode, spec=base)
    _, b = _backend(None, mode, spec=swapped)
    sa, sb = a.read(a.step(real, noise)), b.read(b.step(real, noise))
    assert sa == sb
    ea, eb = a.export_state(), b.export_state()
    for k in ea:
        if "running" not in k:
            assert np.array_equal(ea[k], eb[k]), k
    _, probe = _backend(None, spec=base)
    with autograd.train_mode():
        fake = probe.G(nd.array(noise.d))
    m = 0.9
    for i in (3, 6, 9):  # D's BatchNorms
        (mr, vr), (mf, vf) = _d_bn_batch_stats(probe, nd.array(real), i), _d_bn_batch_stats(probe, fake, i)
        # real_first minus fake_first, after the G step's update scaled both by m
        np.testing.assert_allclose(
            ea[f"D.{i}.running_mean"] - eb[f"D.{i}.running_mean"], m * (1 - m) ** 2 * (mf - mr), rtol=2e-3, atol=1e-7
        )
        np.testing.assert_allclose(
            ea[f"D.{i}.running_var"] - eb[f"D.{i}.running_var"], m * (1 - m) ** 2 * (vf - vr), rtol=2e-3, atol=1e-6
        )


def test_g_statistics_move_once_per_back_propagated_forward_with_the_biased_variance():
    """What MXNet does (documented in the module): G's forward that makes D's fakes is never
    back-propagated in recompute_same_z, so G's statistics move once per iteration, in the G
    step, and running_var takes the biased batch variance (torch would move twice, unbiased)."""
    spec, be = _backend("mindspore-mlp-gan")
    real, noise = parity_inputs(spec, 1, 8)[0]
    state0 = initial_state(spec, 0)
    be.read(be.step(real, noise))
    out = be.export_state()
    x = nd.array(noise.d)
    _, probe = _backend("mindspore-mlp-gan")
    with autograd.train_mode():
        for i, blk in enumerate(probe.G):
            if type(blk).__name__ == "BatchNorm":
                a = x.asnumpy().astype(np.float64)
                np.testing.assert_allclose(
                    out[f"G.{i}.running_mean"],
                    0.9 * state0[f"G.{i}.running_mean"] + 0.1 * a.mean(0),
                    rtol=1e-4,
                    atol=1e-6,
                )
                np.testing.assert_allclose(
                    out[f"G.{i}.running_var"], 0.9 * state0[f"G.{i}.running_var"] + 0.1 * a.var(0), rtol=1e-4, atol=1e-6
                )
            x = blk(x)


def test_native_and_parity_feeding_both_train():
    spec, be = _backend("paddle-dcgan28", "hybridized")
    real, noise = parity_inputs(spec, 1, 8)[0]
    a = be.read(be.step(real, None))  # noise drawn by MXNet on the device
    b = be.read(be.step(real, noise))
    assert np.isfinite([a.d_loss, a.g_loss, b.d_loss, b.g_loss, *a.g_losses, *b.g_losses]).all()
    assert len(a.g_losses) == 2
    st = be.export_state()
    assert int(st["opt.D.step"]) == 4 and int(st["opt.G.step"]) == 4


@pytest.mark.parametrize("name", ["pytorch-celeba-dcgan", "paddle-dcgan28"])
def test_state_round_trip_continues_training_identically(name):
    spec, a = _backend(name, "imperative")
    # across modes too: they compute the same numbers
    _, b = check_state_round_trip(a, lambda: MXNetBackend(spec, "cpu", "hybridized"), parity_inputs(spec, 3, BATCH))
    ea, eb = a.export_state(), b.export_state()
    # v is held as κ·v inside the kernel (see _Adam): importing it re-rounds it by at most an ulp,
    # so the next update can differ in the last bit of a weight
    for k in ea:
        np.testing.assert_allclose(ea[k], eb[k], rtol=1e-6, atol=1e-9, err_msg=k)


@pytest.mark.parametrize("mode", MODES)
def test_generate_is_inference_mode_and_changes_nothing(mode):
    spec, be = _backend("gluon-lfw-dcgan", mode)
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    be.read(be.step(real, noise))
    before = be.export_state()
    z = np.random.default_rng(1).standard_normal((5, *spec.noise_shape)).astype(np.float32)
    out = be.generate(z)
    assert all(np.array_equal(before[k], v) for k, v in be.export_state().items())
    # running statistics, not batch statistics: a sample's image does not depend on its batch
    np.testing.assert_allclose(be.generate(z[:1])[0], out[0], rtol=1e-5, atol=1e-6)
    assert out.dtype == np.float32 and np.all(np.abs(out) <= 1)
    shifted = dict(before)
    shifted["G.1.running_mean"] = before["G.1.running_mean"] + 1.0
    be.load_state(shifted)
    assert not np.allclose(be.generate(z), out)


@pytest.mark.parametrize("form", list(ADAM_FORMS))
@pytest.mark.parametrize("float64", [False, True])
def test_every_adam_form(form, float64):
    """Each form's update (numpy, common.adam.reference_update; torch's written out with 1-β2 = 0.001
    in double) from the fused kernel in float32 and from the NDArray ops in float64. Gradients down
    to 1e-9 make ε's place matter."""
    rng = np.random.default_rng(0)
    dt = np.float64 if float64 else np.float32
    w0 = rng.standard_normal(64).astype(dt)
    grads = [(rng.standard_normal(64) * 10.0 ** rng.integers(-9, 0, 64)).astype(dt) for _ in range(5)]
    o = Adam(2e-4, 0.5, 0.999, 1e-8, form=form)
    opt = _Adam(o, float64=float64)
    w = nd.array(w0, dtype=dt)
    state = opt.create_state(0, w)
    ref, m, v = w0.astype(np.float64), np.zeros(64), np.zeros(64)
    for t, g in enumerate(grads, 1):
        opt.update(0, w, nd.array(g, dtype=dt), state)
        g = g.astype(np.float64)
        if form == "torch":
            m = 0.5 * m + 0.5 * g
            v = 0.999 * v + (1 - 0.999) * g * g
            ref = ref - 2e-4 / (1 - 0.5**t) * m / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        else:
            ref, m, v = reference_update(o, t, ref, g, m, v)
    tol = dict(rtol=1e-14, atol=1e-16) if float64 else dict(rtol=2e-7, atol=1e-7)
    np.testing.assert_allclose(w.asnumpy(), ref, **tol, err_msg=form)
    np.testing.assert_allclose(state[0].asnumpy(), m, rtol=1e-6, atol=1e-13, err_msg=form)
    # the torch form keeps v scaled by v_scale inside the kernel's state (export divides it out)
    np.testing.assert_allclose(state[1].asnumpy() / opt.v_scale, v, rtol=2e-6, atol=1e-22, err_msg=form)
    if form == "torch" and not float64:
        assert abs(opt.v_scale - 1 + 1.29e-5) < 1e-7


def test_mxnet_form_is_mx_optimizer_adam():
    """The spec's "mxnet" form is MXNet's own Adam bit for bit (the two MXNet tutorials' optimiser)."""
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(64).astype(np.float32)
    ours = _Adam(Adam(2e-4, 0.5, 0.999, 1e-8, form="mxnet"))
    theirs = mx.optimizer.Adam(learning_rate=2e-4, beta1=0.5)
    ws = [nd.array(w0), nd.array(w0)]
    states = [o.create_state(0, w) for o, w in zip((ours, theirs), ws)]
    for _ in range(5):
        g = nd.array((rng.standard_normal(64) * 10.0 ** rng.integers(-9, 0, 64)).astype(np.float32))
        for o, w, st in zip((ours, theirs), ws, states):
            o.update(0, w, g, st)
    assert np.array_equal(ws[0].asnumpy(), ws[1].asnumpy())


def _np_conv_transpose(x, w, s, p, op):
    n, c, h, wd = x.shape
    k = w.shape[2]
    out = np.zeros((n, w.shape[1], (h - 1) * s + k + op, (wd - 1) * s + k + op))
    for i in range(h):
        for j in range(wd):
            out[:, :, i * s : i * s + k, j * s : j * s + k] += np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
    size = (h - 1) * s - 2 * p + k + op
    return out[:, :, p : p + size, p : p + size]


@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose_to_one_channel_workaround(bias):
    """oneDNN's Deconvolution to one channel fails in backward in MXNet 1.9.1; the float64 block
    computes the same transposed convolution and gradients (numpy reference)."""
    layer = ConvTranspose2d(1, 5, stride=2, padding=2, output_padding=1, bias=bias)
    blk = _ConvTranspose1(layer, 6)
    blk.initialize(mx.init.Normal(0.1))
    if bias:
        blk.bias.set_data(nd.array([0.25]))
    rng = np.random.default_rng(0)
    x_np, dy = rng.standard_normal((3, 6, 7, 7)), rng.standard_normal((3, 1, 14, 14))
    x = nd.array(x_np)
    x.attach_grad()
    with autograd.record():
        y = blk(x)
    y.backward(nd.array(dy))
    w = blk.weight.data().asnumpy().astype(np.float64)
    np.testing.assert_allclose(y.asnumpy(), _np_conv_transpose(x_np, w, 2, 2, 1) + (0.25 if bias else 0), atol=1e-5)
    # the function is linear in x and in w: gradients are the adjoint applied to dy
    gx = np.array(
        [
            (_np_conv_transpose(np.eye(x_np.size)[j].reshape(x_np.shape), w, 2, 2, 1) * dy).sum()
            for j in range(0, x_np.size, 37)
        ]
    )
    np.testing.assert_allclose(x.grad.asnumpy().ravel()[::37], gx, atol=1e-5)
    gw = np.array(
        [
            (_np_conv_transpose(x_np, np.eye(w.size)[j].reshape(w.shape), 2, 2, 1) * dy).sum()
            for j in range(0, w.size, 7)
        ]
    )
    np.testing.assert_allclose(blk.weight.grad().asnumpy().ravel()[::7], gw, rtol=1e-5, atol=1e-4)
    if bias:
        np.testing.assert_allclose(blk.bias.grad().asnumpy(), [dy.sum()], rtol=1e-5)


def test_no_silent_cpu_fallback():
    check_no_silent_cpu_fallback(MXNetBackend)


def test_mxnet_leaky_relu_is_float32_on_float64_arrays():
    """Why float64 runs use `_LeakyReLU64`: MXNet's op returns float32(x)·0.2f rounded to float32
    for x < 0 even on float64 arrays; the block computes x·0.2 in float64."""
    x = -np.random.default_rng(0).uniform(1e-3, 10, 10000)
    y = mx.nd.LeakyReLU(nd.array(x, dtype="float64"), act_type="leaky", slope=0.2).asnumpy()
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, (x.astype(np.float32) * np.float32(0.2)).astype(np.float64))
    assert np.abs(y / x - 0.2).max() > 1e-8
    ours = _LeakyReLU64(0.2)
    ours.initialize()
    np.testing.assert_allclose(ours(nd.array(x, dtype="float64")).asnumpy(), 0.2 * x, rtol=1e-15)
