"""The two MXNet tutorials' own loops, as the seeds write them, against the MXNet backend.

- seed 002 (`mxnet-dcgan64`): the Module-API DCGAN — its mx.sym generator and discriminator,
  Modules bound at the parity batch (16), the training loop's forward / backward / gradient copy
  and add / update and the D-input-gradient G update, verbatim but for the data (parity inputs
  instead of MNIST and RandIter) and the context (CPU);
- seed 004 (`gluon-lfw-dcgan`): the Gluon DCGAN — its nn.Sequential nets,
  SigmoidBinaryCrossEntropyLoss, the two autograd.record() blocks and trainer.step(batch).

Both start from the canonical initial state and see the same real batches and noise as the
backend, which runs the spec's Adam form, "mxnet": MXNet's own Adam, the tutorials' optimiser.
The Module tutorial and the backend agree iteration after iteration, then on every weight,
BatchNorm statistic and Adam moment (to ~1e-7). The Gluon tutorial agrees on the first
iteration; its autograd-rounded loss gradient then lets the two drift apart slowly (measured and
bounded below), and its one backward of errD_real + errD_fake applies D's BatchNorm statistics
in the other order (checked to the formula).
"""

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")
from mxnet import autograd, gluon, nd  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from backends.mxnet_gluon import MXNetBackend  # noqa: E402
from common.models import get_model  # noqa: E402
from common.parity import parity_inputs  # noqa: E402
from common.state import initial_state  # noqa: E402

STEPS, BATCH, SEED = 3, 16, 0


def _bce(p, y):
    """BCE of probabilities, in float64 (the Module tutorial only exposes D's sigmoid output)."""
    p = np.asarray(p, np.float64).ravel()
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log1p(-p))))


def _backend_run(model, state, inputs):
    be = MXNetBackend(get_model(model), "cpu", "imperative")
    be.load_state(state)
    stats = [be.read(be.step(real, noise)) for real, noise in inputs]
    return be, stats


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-6)))


# --- seed 002: the Module-API DCGAN -------------------------------------------------------------


def _module_symbols():
    """The seed's symbols, verbatim."""
    no_bias = True
    fix_gamma = True
    epsilon = 1e-5 + 1e-12

    rand = mx.sym.Variable("rand")

    g1 = mx.sym.Deconvolution(rand, name="g1", kernel=(4, 4), num_filter=1024, no_bias=no_bias)
    gbn1 = mx.sym.BatchNorm(g1, name="gbn1", fix_gamma=fix_gamma, eps=epsilon)
    gact1 = mx.sym.Activation(gbn1, name="gact1", act_type="relu")

    g2 = mx.sym.Deconvolution(
        gact1, name="g2", kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=512, no_bias=no_bias
    )
    gbn2 = mx.sym.BatchNorm(g2, name="gbn2", fix_gamma=fix_gamma, eps=epsilon)
    gact2 = mx.sym.Activation(gbn2, name="gact2", act_type="relu")

    g3 = mx.sym.Deconvolution(
        gact2, name="g3", kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=256, no_bias=no_bias
    )
    gbn3 = mx.sym.BatchNorm(g3, name="gbn3", fix_gamma=fix_gamma, eps=epsilon)
    gact3 = mx.sym.Activation(gbn3, name="gact3", act_type="relu")

    g4 = mx.sym.Deconvolution(
        gact3, name="g4", kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=128, no_bias=no_bias
    )
    gbn4 = mx.sym.BatchNorm(g4, name="gbn4", fix_gamma=fix_gamma, eps=epsilon)
    gact4 = mx.sym.Activation(gbn4, name="gact4", act_type="relu")

    g5 = mx.sym.Deconvolution(gact4, name="g5", kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=3, no_bias=no_bias)
    generatorSymbol = mx.sym.Activation(g5, name="gact5", act_type="tanh")

    data = mx.sym.Variable("data")

    d1 = mx.sym.Convolution(data, name="d1", kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=128, no_bias=no_bias)
    dact1 = mx.sym.LeakyReLU(d1, name="dact1", act_type="leaky", slope=0.2)

    d2 = mx.sym.Convolution(dact1, name="d2", kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=256, no_bias=no_bias)
    dbn2 = mx.sym.BatchNorm(d2, name="dbn2", fix_gamma=fix_gamma, eps=epsilon)
    dact2 = mx.sym.LeakyReLU(dbn2, name="dact2", act_type="leaky", slope=0.2)

    d3 = mx.sym.Convolution(dact2, name="d3", kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=512, no_bias=no_bias)
    dbn3 = mx.sym.BatchNorm(d3, name="dbn3", fix_gamma=fix_gamma, eps=epsilon)
    dact3 = mx.sym.LeakyReLU(dbn3, name="dact3", act_type="leaky", slope=0.2)

    d4 = mx.sym.Convolution(
        dact3, name="d4", kernel=(4, 4), stride=(2, 2), pad=(1, 1), num_filter=1024, no_bias=no_bias
    )
    dbn4 = mx.sym.BatchNorm(d4, name="dbn4", fix_gamma=fix_gamma, eps=epsilon)
    dact4 = mx.sym.LeakyReLU(dbn4, name="dact4", act_type="leaky", slope=0.2)

    d5 = mx.sym.Convolution(dact4, name="d5", kernel=(4, 4), num_filter=1, no_bias=no_bias)
    d5 = mx.sym.Flatten(d5)

    label = mx.sym.Variable("label")
    discriminatorSymbol = mx.sym.LogisticRegressionOutput(data=d5, label=label, name="dloss")
    return generatorSymbol, discriminatorSymbol


# symbol name of each canonical layer index (the spec lists the tutorial's layers in order)
MODULE_NAMES = {
    "G": {0: "g1", 1: "gbn1", 3: "g2", 4: "gbn2", 6: "g3", 7: "gbn3", 9: "g4", 10: "gbn4", 12: "g5"},
    "D": {0: "d1", 2: "d2", 3: "dbn2", 5: "d3", 6: "dbn3", 8: "d4", 9: "dbn4", 11: "d5"},
}
_SYM_SUFFIX = {"weight": "weight", "running_mean": "moving_mean", "running_var": "moving_var"}


def _module_key(net, key):
    """canonical key -> (is_aux, symbol parameter name)."""
    _, i, name = key.split(".")
    base = MODULE_NAMES[net][int(i)]
    if base.startswith(("gbn", "dbn")):
        sym = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_var"}[name]
        return name.startswith("running"), f"{base}_{sym}"
    return False, f"{base}_{_SYM_SUFFIX[name]}"


def _module_params(state, net):
    arg, aux = {}, {}
    for key, arr in state.items():
        if key.startswith(f"{net}."):
            is_aux, sym = _module_key(net, key)
            (aux if is_aux else arg)[sym] = nd.array(arr)
    return arg, aux


def module_tutorial_loop(state, inputs, batch_size=BATCH):
    generatorSymbol, discriminatorSymbol = _module_symbols()
    Z = 100
    # Hyperperameters
    sigma = 0.02
    lr = 0.0002
    beta1 = 0.5
    ctx = mx.cpu()

    # =============Generator Module=============
    generator = mx.mod.Module(symbol=generatorSymbol, data_names=("rand",), label_names=None, context=ctx)
    generator.bind(data_shapes=[("rand", (batch_size, Z, 1, 1))])  # rand_iter.provide_data
    generator.init_params(initializer=mx.init.Normal(sigma))
    generator.init_optimizer(
        optimizer="adam",
        optimizer_params={
            "learning_rate": lr,
            "beta1": beta1,
        },
    )
    # =============Discriminator Module=============
    discriminator = mx.mod.Module(symbol=discriminatorSymbol, data_names=("data",), label_names=("label",), context=ctx)
    discriminator.bind(
        data_shapes=[("data", (batch_size, 3, 64, 64))],  # image_iter.provide_data
        label_shapes=[("label", (batch_size,))],
        inputs_need_grad=True,
    )
    discriminator.init_params(initializer=mx.init.Normal(sigma))
    discriminator.init_optimizer(
        optimizer="adam",
        optimizer_params={
            "learning_rate": lr,
            "beta1": beta1,
        },
    )
    # the canonical initial state replaces the Normal(sigma) draw
    generator.set_params(*_module_params(state, "G"))
    discriminator.set_params(*_module_params(state, "D"))

    logs = []
    for real, step_noise in inputs:  # "for i, batch in enumerate(image_iter):"
        batch = mx.io.DataBatch([nd.array(real, ctx=ctx)], [])
        rbatch = mx.io.DataBatch([nd.array(step_noise.d, ctx=ctx)], [])  # rand_iter.next(), supplied
        # --- the seed's loop body ---
        generator.forward(rbatch, is_train=True)
        outG = generator.get_outputs()

        label = mx.nd.zeros((batch_size,), ctx=ctx)
        discriminator.forward(mx.io.DataBatch(outG, [label]), is_train=True)
        p_fake = discriminator.get_outputs()[0].asnumpy().copy()  # (logged here)
        discriminator.backward()
        gradD = [[grad.copyto(grad.context) for grad in grads] for grads in discriminator._exec_group.grad_arrays]

        label[:] = 1
        batch.label = [label]
        discriminator.forward(batch, is_train=True)
        p_real = discriminator.get_outputs()[0].asnumpy().copy()
        discriminator.backward()
        for gradsr, gradsf in zip(discriminator._exec_group.grad_arrays, gradD):
            for gradr, gradf in zip(gradsr, gradsf):
                gradr += gradf
        discriminator.update()

        discriminator.forward(mx.io.DataBatch(outG, [label]), is_train=True)
        p_g = discriminator.get_outputs()[0].asnumpy().copy()
        discriminator.backward()
        diffD = discriminator.get_input_grads()
        generator.backward(diffD)
        generator.update()
        # --- end of the seed's loop body ---
        logs.append((_bce(p_real, 1) + _bce(p_fake, 0), _bce(p_g, 1), p_real.mean(), p_fake.mean(), p_g.mean()))
    return logs, generator, discriminator


def test_backend_matches_the_module_api_tutorial(capsys):
    """Iteration after iteration, and then every weight, BatchNorm statistic and Adam moment.

    The backend back-propagates torch's BCE-with-logits gradient (sigmoid(x) - y)/n, which is
    exactly LogisticRegressionOutput's (sigmoid(x) - y) with Module's rescale_grad = 1/batch; the
    Module executor's oneDNN subgraph fusion (on by default) does not change a bit that matters."""
    spec = get_model("mxnet-dcgan64")
    state = initial_state(spec, SEED)
    inputs = parity_inputs(spec, STEPS, BATCH, SEED)
    expected, gen, disc = module_tutorial_loop(state, inputs)
    be, got = _backend_run("mxnet-dcgan64", state, inputs)
    got = [(s.d_loss, s.g_loss, s.d_x, s.d_g_z1, s.d_g_z2) for s in got]
    with capsys.disabled():
        print(
            f"\n[mxnet] Module tutorial vs backend over {STEPS} iterations: max rel diff of D/G loss "
            f"{_rel(np.array(got)[:, :2], np.array(expected)[:, :2]):.1e}"
        )
    # the tutorial's losses are BCE of D's float32 probabilities (in float64), the backend's are
    # BCE-with-logits of the same logits
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.array(got)[0, :2], np.array(expected)[0, :2], rtol=1e-6)  # D and G loss

    out = be.export_state()
    for net, mod in (("G", gen), ("D", disc)):
        arg, aux = mod.get_params()
        names = mod._exec_group.param_names  # the Module updater's state index
        states = mod._updater.states
        for key in (k for k in out if k.startswith(f"{net}.")):
            is_aux, sym = _module_key(net, key)
            ref = (aux if is_aux else arg)[sym].asnumpy()
            if sym.endswith("gamma"):  # fix_gamma: both keep γ at exactly 1
                assert np.all(ref == 1) and np.all(out[key] == 1), key
                continue
            np.testing.assert_allclose(out[key], ref, rtol=1e-5, atol=1e-7, err_msg=key)
            if not is_aux:  # Adam's moments (the Module's updater applied rescale_grad = 1/batch)
                m, v = (a.asnumpy() for a in states[names.index(sym)])
                np.testing.assert_allclose(
                    out[f"opt.{key}.m"], m, rtol=1e-5, atol=1e-9 + 1e-5 * np.abs(m).max(), err_msg=key
                )
                np.testing.assert_allclose(out[f"opt.{key}.v"], v, rtol=1e-5, atol=1e-5 * np.abs(v).max(), err_msg=key)
    assert int(out["opt.D.step"]) == STEPS and int(out["opt.G.step"]) == STEPS


# --- seed 004: the Gluon DCGAN ------------------------------------------------------------------


def _gluon_nets():
    """The seed's nets, verbatim (ctx and the name scopes as written)."""
    nc = 3
    ngf = 64
    netG = nn.Sequential()
    with netG.name_scope():
        netG.add(nn.Conv2DTranspose(ngf * 8, 4, 1, 0, use_bias=False))
        netG.add(nn.BatchNorm())
        netG.add(nn.Activation("relu"))
        netG.add(nn.Conv2DTranspose(ngf * 4, 4, 2, 1, use_bias=False))
        netG.add(nn.BatchNorm())
        netG.add(nn.Activation("relu"))
        netG.add(nn.Conv2DTranspose(ngf * 2, 4, 2, 1, use_bias=False))
        netG.add(nn.BatchNorm())
        netG.add(nn.Activation("relu"))
        netG.add(nn.Conv2DTranspose(ngf, 4, 2, 1, use_bias=False))
        netG.add(nn.BatchNorm())
        netG.add(nn.Activation("relu"))
        netG.add(nn.Conv2DTranspose(nc, 4, 2, 1, use_bias=False))
        netG.add(nn.Activation("tanh"))
    ndf = 64
    netD = nn.Sequential()
    with netD.name_scope():
        netD.add(nn.Conv2D(ndf, 4, 2, 1, use_bias=False))
        netD.add(nn.LeakyReLU(0.2))
        netD.add(nn.Conv2D(ndf * 2, 4, 2, 1, use_bias=False))
        netD.add(nn.BatchNorm())
        netD.add(nn.LeakyReLU(0.2))
        netD.add(nn.Conv2D(ndf * 4, 4, 2, 1, use_bias=False))
        netD.add(nn.BatchNorm())
        netD.add(nn.LeakyReLU(0.2))
        netD.add(nn.Conv2D(ndf * 8, 4, 2, 1, use_bias=False))
        netD.add(nn.BatchNorm())
        netD.add(nn.LeakyReLU(0.2))
        netD.add(nn.Conv2D(1, 4, 1, 0, use_bias=False))
    return netG, netD


_GLUON_ATTR = {"weight": "weight", "bias": "bias", "running_mean": "running_mean", "running_var": "running_var"}
_GLUON_BN = {"weight": "gamma", "bias": "beta", "running_mean": "running_mean", "running_var": "running_var"}


def _gluon_param(net, key):
    _, i, name = key.split(".")
    block = net[int(i)]
    return getattr(block, (_GLUON_BN if isinstance(block, nn.BatchNorm) else _GLUON_ATTR)[name])


def gluon_tutorial_loop(state, inputs, batch_size=BATCH, snapshot=None):
    ctx = mx.cpu()
    latent_z_size = 100
    lr = 0.0002
    beta1 = 0.5
    netG, netD = _gluon_nets()
    loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    netG.initialize(mx.init.Normal(0.02), ctx=ctx)
    netD.initialize(mx.init.Normal(0.02), ctx=ctx)
    # deferred shapes: one inference-mode pass (no statistics move), then the canonical state
    netD(netG(nd.zeros((1, latent_z_size, 1, 1), ctx=ctx)))
    for net, tag in ((netG, "G"), (netD, "D")):
        for key, arr in state.items():
            if key.startswith(f"{tag}."):
                _gluon_param(net, key).set_data(nd.array(arr, ctx=ctx))
    trainerG = gluon.Trainer(netG.collect_params(), "adam", {"learning_rate": lr, "beta1": beta1})
    trainerD = gluon.Trainer(netD.collect_params(), "adam", {"learning_rate": lr, "beta1": beta1})

    real_label = nd.ones((batch_size,), ctx=ctx)
    fake_label = nd.zeros((batch_size,), ctx=ctx)

    def facc(label, pred):
        pred = pred.ravel()
        label = label.ravel()
        return ((pred > 0.5) == label).mean()

    metric = mx.metric.CustomMetric(facc)

    logs = []
    for real, step_noise in inputs:  # "for batch in train_data:"
        batch = mx.io.DataBatch([nd.array(real, ctx=ctx)], [])
        # --- the seed's loop body ---
        data = batch.data[0].as_in_context(ctx)
        latent_z = nd.array(step_noise.d, ctx=ctx)  # mx.nd.random_normal(0, 1, ...), supplied

        with autograd.record():
            # train with real image
            output = netD(data).reshape((-1, 1))
            errD_real = loss(output, real_label)
            metric.update(
                [
                    real_label,
                ],
                [
                    output,
                ],
            )
            d_x = nd.sigmoid(output).mean().asscalar()  # (logged here)

            # train with fake image
            fake = netG(latent_z)
            output = netD(fake.detach()).reshape((-1, 1))
            errD_fake = loss(output, fake_label)
            errD = errD_real + errD_fake
            errD.backward()
            metric.update(
                [
                    fake_label,
                ],
                [
                    output,
                ],
            )
            d_g_z1 = nd.sigmoid(output).mean().asscalar()

        trainerD.step(batch.data[0].shape[0])

        with autograd.record():
            fake = netG(latent_z)
            output = netD(fake).reshape((-1, 1))
            errG = loss(output, real_label)
            errG.backward()
            d_g_z2 = nd.sigmoid(output).mean().asscalar()

        trainerG.step(batch.data[0].shape[0])
        # --- end of the seed's loop body (logging every 10 batches left out) ---
        logs.append((nd.mean(errD).asscalar(), nd.mean(errG).asscalar(), d_x, d_g_z1, d_g_z2))
        if snapshot is not None:
            snapshot.append(
                {
                    f"{tag}|{key}": _gluon_param(net, key).data().asnumpy().copy()
                    for net, tag in ((netG, "G"), (netD, "D"))
                    for key in state
                    if key.startswith(f"{tag}.")
                }
            )
    return logs, netG, netD


def test_backend_matches_the_gluon_tutorial(capsys):
    """The first iteration agrees (losses and every updated array); later ones drift apart.

    The tutorial's SigmoidBinaryCrossEntropyLoss is back-propagated by autograd, which rounds the
    logits' gradient differently from the backend's torch-formula gradient (sigmoid(x) - y)/n (the
    same number in exact arithmetic); Adam's first update is lr·g/(|g| + ε') with ε' = 3e-7 for MXNet's
    Adam at step 1, ±lr for nearly every weight, so only weights whose gradient is near ε' move
    by visibly different amounts. After the first iteration the two must agree on every weight but
    a handful, and those by a fraction of lr; later iterations drift apart slowly."""
    spec = get_model("gluon-lfw-dcgan")
    state = initial_state(spec, SEED)
    inputs = parity_inputs(spec, STEPS, BATCH, SEED)
    snaps = []
    expected, netG, netD = gluon_tutorial_loop(state, inputs, snapshot=snaps)
    be = MXNetBackend(spec, "cpu", "imperative")
    be.load_state(state)
    got = [be.read(be.step(*inputs[0]))]
    after_first = be.export_state()
    got += [be.read(be.step(real, noise)) for real, noise in inputs[1:]]
    got = np.array([(s.d_loss, s.g_loss, s.d_x, s.d_g_z1, s.d_g_z2) for s in got])
    expected = np.array(expected)
    drift = _rel(got[:, :2], expected[:, :2])
    lr = spec.recipe.opt_d.lr
    differing, total, worst = 0, 0, 0.0
    for tagkey, ref in snaps[0].items():
        tag, key = tagkey.split("|")
        diff = np.abs(after_first[key] - ref)
        if "running" in key:
            continue  # checked below
        total += diff.size
        differing += int((diff > 1e-6).sum())
        worst = max(worst, float(diff.max()))
    with capsys.disabled():
        print(
            f"\n[mxnet] Gluon tutorial vs backend: iteration 0 losses rel diff "
            f"{_rel(got[0, :2], expected[0, :2]):.1e}; "
            f"after it {differing} of {total} weights differ by > 1e-6 (at most {worst:.1e}, lr = {lr}); "
            f"D/G losses over {STEPS} iterations drift to {drift:.1e}"
        )
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got[0, :2], expected[0, :2], rtol=1e-6)  # D and G loss
    assert differing <= 1e-4 * total and worst < lr / 4
    assert drift < 0.05

    # running statistics after the first iteration: G's agree; D's show the order of the two
    # passes' updates. The tutorial back-propagates errD_real + errD_fake once, and that backward
    # applies (imperatively) the fake pass's statistics first, then the real pass's. The backend
    # applies them in the spec's d_pass_order (real first). The difference after the D step is
    # (1-m)²·(fake stat - real stat); this also checks that MXNet keeps the biased batch variance.
    m = 0.9
    for tagkey, ref in snaps[0].items():
        tag, key = tagkey.split("|")
        if "running" not in key:
            continue
        if tag == "G":
            np.testing.assert_allclose(after_first[key], ref, rtol=1e-5, atol=1e-7, err_msg=key)
        else:
            i = int(key.split(".")[1])
            # recompute the two batch statistics from the initial D (inference needs none)
            gap = _d_batch_stat_gap(state, inputs[0], spec, i, key.endswith("mean"))
            # ... and the G step's pass then keeps a fraction m of either
            np.testing.assert_allclose(
                after_first[key] - ref, m * (1 - m) ** 2 * -gap, rtol=1e-3, atol=1e-6 * np.abs(ref).max(), err_msg=key
            )


def _d_batch_stat_gap(state, inp, spec, layer, mean):
    """(real - fake) batch mean / biased variance at the input of D's BatchNorm `layer` in the
    first iteration, where the G step's pass comes after both (D updated in between)."""
    real, noise = inp
    be = MXNetBackend(spec, "cpu", "imperative")
    be.load_state(state)
    with autograd.train_mode():
        fake = be.G(nd.array(noise.d))
        stats = []
        for x in (nd.array(real), fake):
            for blk in list(be.D)[:layer]:
                x = blk(x)
            a = x.asnumpy().astype(np.float64)
            stats.append(a.mean(axis=(0, 2, 3)) if mean else a.var(axis=(0, 2, 3)))
    return stats[0] - stats[1]
