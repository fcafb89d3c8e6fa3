"""The PyTorch backend: shapes, recipe semantics (which update changes what), state, goldens."""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backend_contract import (  # noqa: E402
    UpdateLog,
    check_each_update_changes_only_its_own_network,
    check_feeds_by_pre_hooks,
    check_float32_golden,
    check_float64_golden,
    check_no_silent_cpu_fallback,
    check_state_round_trip,
    check_tutorial_loop,
)
from recipe_expectations import FEEDS  # noqa: E402

from backends.pytorch import TorchBackend  # noqa: E402
from benchmarks.trace import run_trace  # noqa: E402
from common.analysis import param_count  # noqa: E402
from common.models import MODELS, get_model  # noqa: E402
from common.parity import float32_comparable_steps, load_golden, parity_inputs  # noqa: E402
from common.state import initial_state, param_keys  # noqa: E402

BATCH = 4


def _backend(name, seed=0):
    spec = get_model(name)
    be = TorchBackend(spec, "cpu", seed=seed)
    be.load_state(initial_state(spec, seed))
    return spec, be


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes_and_parameter_counts(name):
    spec, be = _backend(name)
    z = torch.zeros(BATCH, *spec.noise_shape)
    fake = be.G(z)
    sample = (784,) if spec.data.flatten else spec.data.image_shape
    assert tuple(fake.shape) == (BATCH, *sample)
    assert be.D(fake).numel() == BATCH
    trainable = {n: sum(p.numel() for p in be.nets[n].parameters() if p.requires_grad) for n in ("G", "D")}
    assert trainable == {"G": param_count(spec.generator).trainable, "D": param_count(spec.discriminator).trainable}
    assert be.generate(np.zeros((3, *spec.noise_shape), np.float32)).shape == (3, *sample)


def _snapshot(be):
    return {k: be._tensor(k).detach().clone() for n in ("G", "D") for k in param_keys(be.spec, n)}


@pytest.mark.parametrize("name", list(MODELS))
def test_each_update_changes_only_its_own_network(name):
    spec, be = _backend(name)
    log = UpdateLog(lambda: _snapshot(be), torch.equal)
    for net, opt in be.opts.items():
        opt.register_step_pre_hook(lambda o, a, k, net=net: log.before(net))
        opt.register_step_post_hook(lambda o, a, k, net=net: log.after(net))
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    be.read(be.step(real, noise))
    check_each_update_changes_only_its_own_network(spec, log.updates)
    if spec.name == "mxnet-dcgan64":  # fix_gamma: γ stays exactly 1
        assert torch.all(be._tensor("G.1.weight") == 1) and torch.all(be._tensor("D.3.weight") == 1)


@pytest.mark.parametrize("name, g_forwards, first_d_input", FEEDS)
def test_what_each_recipe_feeds_d_and_g(name, g_forwards, first_d_input):
    spec, be = _backend(name)
    check_feeds_by_pre_hooks(
        spec, be, {"G": [be.G], "D": [be.D]}, lambda t: t.detach().numpy().copy(), g_forwards, first_d_input, BATCH
    )


def test_native_and_parity_feeding_both_train():
    spec, be = _backend("mindspore-mlp-gan")
    real, noise = parity_inputs(spec, 1, 8)[0]
    a = be.read(be.step(real, None))  # noise drawn by torch on the device
    b = be.read(be.step(real, noise))
    assert np.isfinite([a.d_loss, a.g_loss, b.d_loss, b.g_loss]).all()
    st = be.export_state()
    assert int(st["opt.D.step"]) == 2 and int(st["opt.G.step"]) == 2


@pytest.mark.parametrize("name", ["pytorch-celeba-dcgan", "paddle-dcgan28"])
def test_state_round_trip_continues_training_identically(name):
    spec, a = _backend(name)
    check_state_round_trip(a, lambda: TorchBackend(spec, "cpu"), parity_inputs(spec, 3, BATCH))  # moments, step counts


@pytest.mark.parametrize("name", list(MODELS))
def test_matches_golden_trace(name):
    """Held to the float32 golden where float32 is hardware-independent (iteration 0 of a conv GAN,
    all ten of the MLP GAN); the remaining conv iterations depend on the CPU's vector width and
    are held to the float64 golden instead (below, and in every float64-capable backend)."""
    golden = load_golden(name)
    steps = float32_comparable_steps(get_model(name), golden["steps"])
    trace, _, _ = run_trace("torch", name, steps, golden["batch_size"], golden["seed"])
    check_float32_golden(trace, golden, every_iteration=True)  # on every float32-comparable iteration


# The float64 references every float64-capable backend is checked against, re-derived here on
# whatever CPU runs the tests: all ten iterations of the two 28×28 models, the first two (one past
# the first update, where float32 starts to depend on the CPU) of the 64×64 DCGANs; all ten with
# GANBENCH_SLOW=1 (float64 64×64 iterations take ~20 s each on a 2-core CPU).
@pytest.mark.parametrize("name", list(MODELS))
def test_float64_golden_is_what_the_torch_backend_computes(name):
    golden = load_golden(name, "float64")
    small = name in ("paddle-dcgan28", "mindspore-mlp-gan")
    steps = golden["steps"] if small or os.environ.get("GANBENCH_SLOW") else 2
    trace, _, _ = run_trace("torch", name, steps, golden["batch_size"], golden["seed"], dtype="float64")
    assert trace["env"]["precision"] == "fp64"
    check_float64_golden(trace, golden, 1e-9)


def test_float64_runs_eager_only_and_float32_stays_default():
    from backends.base import ModeRefused

    spec = get_model("mindspore-mlp-gan")
    with pytest.raises(ModeRefused, match="float64"):
        TorchBackend.with_dtype("float64")(spec, "cpu", "compile")
    assert TorchBackend.dtype == "float32" and TorchBackend.with_dtype("float32") is TorchBackend
    be = TorchBackend.with_dtype("float64")(spec, "cpu")
    assert be.G[0].weight.dtype == torch.float64
    assert be.export_state()["G.0.weight"].dtype == np.float32  # the canonical layout stays float32


def test_no_silent_cpu_fallback():
    check_no_silent_cpu_fallback(TorchBackend)


@pytest.mark.parametrize("mode", ["eager"])
def test_mlp_gan_matches_the_mindspore_tutorials_loop(mode):
    """Ten float32 iterations of mindspore-mlp-gan with its Adam form ("mindspore") against the
    MindSpore tutorial's own loop (tests/golden/tutorial) within 1e-6."""
    check_tutorial_loop("torch", mode)
