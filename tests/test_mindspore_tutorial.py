"""The MindSpore GAN tutorial's own loop ('GAN for Image Generation', as written) against the backend.

The seed's Generator / Discriminator cells, `nn.BCELoss(reduction='mean')`, `generator_forward` /
`discriminator_forward`, `ms.value_and_grad`, two `nn.Adam(beta1=0.5)` and its `train_step`, run
from the canonical initial state on the parity inputs (the same real batches and latent codes):
the backend's mindspore-mlp-gan iterations must give the same losses, weights, running
statistics and Adam moments. Ten iterations of the loop on the golden inputs are the reference
(tests/golden/tutorial) that every backend's mindspore-mlp-gan must meet within 1e-6."""

import os

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")

import tutorial_trace  # noqa: E402
from mindspore import Tensor, nn, ops  # noqa: E402

import backends.mindspore_nn as msb  # noqa: E402
from benchmarks.trace import run_trace  # noqa: E402
from common.adam import with_adam_form  # noqa: E402
from common.models import get_model  # noqa: E402
from common.parity import parity_inputs  # noqa: E402
from common.state import initial_state  # noqa: E402

msb._configure_runtime("cpu", None)  # device and thread pools before any kernel runs, as the backend sets them

STEPS, BATCH, SEED = 4, 16, 0
img_size = 28
latent_size = 100


# --- the tutorial's cells, verbatim ------------------------------------------------------------
class Generator(nn.Cell):
    def __init__(self, latent_size, auto_prefix=True):
        super(Generator, self).__init__(auto_prefix=auto_prefix)  # noqa: UP008 (the tutorial's code as written)
        self.model = nn.SequentialCell()
        self.model.append(nn.Dense(latent_size, 128))
        self.model.append(nn.ReLU())
        self.model.append(nn.Dense(128, 256))
        self.model.append(nn.BatchNorm1d(256))
        self.model.append(nn.ReLU())
        self.model.append(nn.Dense(256, 512))
        self.model.append(nn.BatchNorm1d(512))
        self.model.append(nn.ReLU())
        self.model.append(nn.Dense(512, 1024))
        self.model.append(nn.BatchNorm1d(1024))
        self.model.append(nn.ReLU())
        self.model.append(nn.Dense(1024, img_size * img_size))
        self.model.append(nn.Tanh())

    def construct(self, x):
        img = self.model(x)
        return ops.reshape(img, (-1, 1, 28, 28))


class Discriminator(nn.Cell):
    def __init__(self, auto_prefix=True):
        super().__init__(auto_prefix=auto_prefix)
        self.model = nn.SequentialCell()
        self.model.append(nn.Dense(img_size * img_size, 512))
        self.model.append(nn.LeakyReLU())
        self.model.append(nn.Dense(512, 256))
        self.model.append(nn.LeakyReLU())
        self.model.append(nn.Dense(256, 1))
        self.model.append(nn.Sigmoid())

    def construct(self, x):
        x_flat = ops.reshape(x, (-1, img_size * img_size))
        return self.model(x_flat)


# tutorial cell index -> canonical layer index (the spec's D starts with a Flatten)
OFFSET = {"G": 0, "D": 1}
ATTR = {
    "weight": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}


def _canonical(net, name):
    """'model.3.gamma' of the tutorial's cell -> 'G.3.weight'."""
    _, idx, attr = name.split(".")
    return f"{net}.{int(idx) + OFFSET[net]}.{ATTR[attr]}"


def _load(cell, net, state):
    for name, p in cell.parameters_and_names():
        p.set_data(Tensor(np.array(state[_canonical(net, name)], np.float32)))


def _read(cell, net):
    return {_canonical(net, name): p.asnumpy().copy() for name, p in cell.parameters_and_names()}


def tutorial_loop(state, inputs):
    net_g = Generator(latent_size)
    net_g.update_parameters_name("generator")
    net_d = Discriminator()
    net_d.update_parameters_name("discriminator")
    _load(net_g, "G", state)
    _load(net_d, "D", state)

    lr = 0.0002
    adversarial_loss = nn.BCELoss(reduction="mean")
    optimizer_d = nn.Adam(net_d.trainable_params(), learning_rate=lr, beta1=0.5, beta2=0.999)
    optimizer_g = nn.Adam(net_g.trainable_params(), learning_rate=lr, beta1=0.5, beta2=0.999)
    optimizer_g.update_parameters_name("optim_g")
    optimizer_d.update_parameters_name("optim_d")

    def generator_forward(test_noises):
        fake_data = net_g(test_noises)
        fake_out = net_d(fake_data)
        loss_g = adversarial_loss(fake_out, ops.ones_like(fake_out))
        return loss_g

    def discriminator_forward(real_data, test_noises):
        fake_data = net_g(test_noises)
        fake_out = net_d(fake_data)
        real_out = net_d(real_data)
        real_loss = adversarial_loss(real_out, ops.ones_like(real_out))
        fake_loss = adversarial_loss(fake_out, ops.zeros_like(fake_out))
        loss_d = real_loss + fake_loss
        return loss_d

    grad_g = ms.value_and_grad(generator_forward, None, net_g.trainable_params())
    grad_d = ms.value_and_grad(discriminator_forward, None, net_d.trainable_params())

    def train_step(real_data, latent_code):
        loss_d, grads_d = grad_d(real_data, latent_code)
        optimizer_d(grads_d)
        loss_g, grads_g = grad_g(latent_code)
        optimizer_g(grads_g)
        return loss_d, loss_g

    net_g.set_train()
    net_d.set_train()
    losses = []
    for real, step_noise in inputs:  # "for (iter, data) in enumerate(mnist_ds):"
        image = Tensor(real)  # already (x - 127.5) / 127.5, shape (N, 1, 28, 28)
        latent_code = Tensor(step_noise.d)
        d_loss, g_loss = train_step(image, latent_code)
        losses.append((float(d_loss.asnumpy()), float(g_loss.asnumpy())))
    weights = {**_read(net_g, "G"), **_read(net_d, "D")}
    moments = {}
    for net, opt, keys in (
        ("G", optimizer_g, [k for k in weights if k.startswith("G.")]),
        ("D", optimizer_d, [k for k in weights if k.startswith("D.")]),
    ):
        trainable = [k for k in keys if not k.endswith(("running_mean", "running_var"))]
        # nn.Adam keeps the trainable params in the cell's parameter order: moment1/2 follow it
        order = [
            _canonical(net, n) for n, p in (net_g if net == "G" else net_d).parameters_and_names() if p.requires_grad
        ]
        assert sorted(order) == sorted(trainable)
        for key, m, v in zip(order, opt.moment1, opt.moment2):
            moments[f"opt.{key}.m"], moments[f"opt.{key}.v"] = m.asnumpy().copy(), v.asnumpy().copy()
    return losses, weights, moments


@pytest.fixture(scope="module")
def tutorial():
    spec = get_model("mindspore-mlp-gan")
    state = initial_state(spec, SEED)
    inputs = parity_inputs(spec, STEPS, BATCH, SEED)
    return spec, state, inputs, tutorial_loop(state, inputs)


def _backend_run(spec, state, inputs, mode):
    be = msb.MindSporeBackend(spec, "cpu", mode)
    be.load_state(state)
    stats = [be.read(be.step(real, noise)) for real, noise in inputs]
    return [(s.d_loss, s.g_loss) for s in stats], be.export_state()


def test_the_tutorials_leaky_relu_default_is_the_specs_slope():
    # the tutorial writes nn.LeakyReLU() and relies on its default; the spec states 0.2
    assert nn.LeakyReLU().alpha == 0.2
    assert [
        l.slope for l in get_model("mindspore-mlp-gan").discriminator.layers if getattr(l, "fn", "") == "leaky_relu"
    ] == [0.2, 0.2]


def test_the_spec_names_the_tutorials_adam():
    spec = get_model("mindspore-mlp-gan")
    assert spec.recipe.opt_g.form == spec.recipe.opt_d.form == "mindspore"
    assert type(msb._adam([ms.Parameter(Tensor(np.zeros(2, np.float32)), name="w")], spec.recipe.opt_g)) is nn.Adam


@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_backend_matches_the_tutorials_loop(tutorial, mode):
    spec, state, inputs, (losses, weights, moments) = tutorial
    got, st = _backend_run(spec, state, inputs, mode)
    np.testing.assert_allclose(np.array(got), np.array(losses), rtol=2e-6, atol=1e-7)
    for key, want in {**weights, **moments}.items():  # weights, BN running statistics, Adam m and v
        np.testing.assert_allclose(st[key], want, rtol=1e-5, atol=1e-7, err_msg=key)
    assert int(st["opt.G.step"]) == int(st["opt.D.step"]) == STEPS


def test_torch_form_stays_within_parity_of_the_tutorials_loop(tutorial):
    """torch's Adam differs from the tutorial's nn.Adam only in where eps enters: the losses of a few
    iterations agree within the parity tolerance, the weights are not identical."""
    spec, state, inputs, (losses, weights, _) = tutorial
    got, st = _backend_run(with_adam_form(spec, "torch"), state, inputs, "pynative")
    rel = np.abs(np.array(got) - np.array(losses)) / np.abs(np.array(losses))
    assert rel.max() < 1e-4, rel
    assert any(not np.array_equal(st[k], weights[k]) for k in weights if k.endswith("weight"))


def test_tutorial_reference_is_the_tutorials_loop_on_the_golden_inputs():
    """tests/golden/tutorial/mindspore-mlp-gan.json holds this loop's ten iterations on the golden
    inputs; GANBENCH_WRITE_TUTORIAL_TRACE=1 rewrites it from the loop first."""
    spec = get_model("mindspore-mlp-gan")
    inputs = parity_inputs(spec)  # the golden trace's inputs: 10 iterations, batch 16, seed 0
    losses, _, _ = tutorial_loop(initial_state(spec, SEED), inputs)
    if os.environ.get("GANBENCH_WRITE_TUTORIAL_TRACE") == "1":
        tutorial_trace.write(losses)
    tutorial_trace.assert_matches([d for d, _ in losses], [g for _, g in losses])


@pytest.mark.parametrize("mode", ["pynative", "graph"])
def test_ten_iterations_match_the_tutorials_loop(mode):
    trace, _, _ = run_trace("mindspore", "mindspore-mlp-gan", mode=mode)
    tutorial_trace.assert_matches(trace["losses"]["d"], trace["losses"]["g"])
