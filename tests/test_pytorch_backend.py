"""The PyTorch backend: shapes, recipe semantics (which update changes what), state, goldens."""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backends.pytorch import TorchBackend  # noqa: E402
from benchmarks.trace import run_trace  # noqa: E402
import tutorial_trace  # noqa: E402
from common.analysis import param_count  # noqa: E402
from common.models import MODELS, get_model  # noqa: E402
from common.parity import float32_comparable_steps, load_golden, max_rel_diff, parity_inputs  # noqa: E402
from common.state import initial_state, param_keys  # noqa: E402
from recipe_expectations import FEEDS, changed, expected_updates  # noqa: E402

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
    log = []
    for net, opt in be.opts.items():
        holder = {}
        opt.register_step_pre_hook(lambda o, a, k, h=holder: h.__setitem__("before", _snapshot(be)))

        def post(o, a, k, net=net, h=holder):
            after = _snapshot(be)
            other = "D" if net == "G" else "G"
            log.append((net, changed(h["before"], after, net + ".", torch.equal),
                        changed(h["before"], after, other + ".", torch.equal)))
        opt.register_step_post_hook(post)
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    be.read(be.step(real, noise))
    assert [u[0] for u in log] == expected_updates(name)
    for net, own, other in log:
        assert not other, f"a {net} update changed {sorted(other)[:3]}"
        # every trainable weight of the updated net moves; running statistics are not the optimiser's
        assert {k for k in own if k.endswith("weight")} == \
            {k for k in param_keys(spec, net, trainable_only=True) if k.endswith("weight")}
    if spec.name == "mxnet-dcgan64":  # fix_gamma: γ stays exactly 1
        assert torch.all(be._tensor("G.1.weight") == 1) and torch.all(be._tensor("D.3.weight") == 1)


@pytest.mark.parametrize("name, g_forwards, first_d_input", FEEDS)
def test_what_each_recipe_feeds_d_and_g(name, g_forwards, first_d_input):
    spec, be = _backend(name)
    calls = {"G": 0, "D": []}
    be.G.register_forward_hook(lambda m, i, o: calls.__setitem__("G", calls["G"] + 1))
    be.D.register_forward_pre_hook(lambda m, i: calls["D"].append(i[0].detach().clone()))
    real, noise = parity_inputs(spec, 1, BATCH)[0]
    be.step(real, noise)
    assert calls["G"] == g_forwards
    assert len(calls["D"]) == 2 + spec.recipe.g_updates  # real and fake apart: never one concatenated batch
    is_real = torch.equal(calls["D"][0], torch.from_numpy(real))
    assert is_real == (first_d_input == "real")
    if spec.recipe.g_input == "same_fake":
        fake_in_d_step = next(x for x in calls["D"][:2] if not torch.equal(x, torch.from_numpy(real)))
        assert torch.equal(calls["D"][2], fake_in_d_step)  # the G step re-scores the very same fake


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
    inputs = parity_inputs(spec, 3, BATCH)
    a.read(a.step(*inputs[0]))
    saved = a.export_state()
    b = TorchBackend(spec, "cpu")
    b.load_state(saved)
    assert all(np.array_equal(saved[k], v) for k, v in b.export_state().items())
    sa, sb = a.read(a.step(*inputs[1])), b.read(b.step(*inputs[1]))
    assert sa == sb  # optimiser moments and step counts carried over exactly


@pytest.mark.parametrize("name", list(MODELS))
def test_matches_golden_trace(name):
    """Held to the float32 golden where float32 is hardware-independent (iteration 0 of a conv GAN,
    all ten of the MLP GAN); the remaining conv iterations depend on the CPU's vector width and
    are held to the float64 golden instead (below, and in every float64-capable backend)."""
    golden = load_golden(name)
    steps = float32_comparable_steps(get_model(name), golden["steps"])
    trace, _, _ = run_trace("torch", name, steps, golden["batch_size"], golden["seed"])
    worst = {k: max(max_rel_diff(trace["losses"][k], golden["losses"][k][:steps])) for k in ("d", "g")}
    assert max(worst.values()) < 1e-4, worst  # the parity tolerance every backend is held to


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
    worst = {k: max(max_rel_diff(trace["losses"][k], golden["losses"][k][:steps])) for k in ("d", "g")}
    assert max(worst.values()) < 1e-9, worst


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
    from backend_contract import check_no_silent_cpu_fallback

    check_no_silent_cpu_fallback(TorchBackend)


@pytest.mark.parametrize("mode", ["eager"])
def test_mlp_gan_matches_the_mindspore_tutorials_loop(mode):
    """Ten float32 iterations of mindspore-mlp-gan with its Adam form ("mindspore") against the
    MindSpore tutorial's own loop (tests/golden/tutorial) within 1e-6."""
    trace, _, _ = run_trace("torch", "mindspore-mlp-gan", mode=mode)
    tutorial_trace.assert_matches(trace["losses"]["d"], trace["losses"]["g"])
