"""Checks every backend must pass, called from each backend's own test file (each runs in its
framework's virtualenv, and noxfile's tests-<backend> session collects tests/test_<backend>_*.py):
the file keeps what is its framework's own (hooks, snapshots, modes, measured tolerances) and
hands what it observed to the check here, so every backend is held to the same assertions."""

import math

import numpy as np
import pytest
from recipe_expectations import changed, expected_updates

from backends.base import DeviceMismatch, DeviceRefused
from common.models import get_model
from common.parity import TRACE_KEYS, max_rel_diff, parity_inputs
from common.state import initial_state, param_keys


def check_no_silent_cpu_fallback(backend_cls, model: str = "mindspore-mlp-gan") -> None:
    """A run that says `cuda` must have computed on a GPU: asking for CUDA on this CPU-only machine
    fails before any training, naming the fix; and a backend that claims CUDA while its arrays live
    on the CPU is caught by the check the harness runs after the first step."""
    spec = get_model(model)
    assert not backend_cls.device_available("cuda"), "this check assumes a machine without a GPU"
    with pytest.raises((DeviceMismatch, DeviceRefused), match=r"fix: |refuses cuda: "):
        backend_cls(spec, "cuda")

    be = backend_cls(spec, "cpu")
    be.load_state(initial_state(spec, 0))
    real, noise = parity_inputs(spec, 1, 4)[0]
    handle = be.step(real, noise)
    be.sync()
    assert be.placement(handle) == ({"cpu"}, {"cpu"})
    be.check_placement(handle)  # honest placement passes
    be.device = "cuda"  # the claim a silently falling-back build would make
    with pytest.raises(
        DeviceMismatch,
        match=rf"{backend_cls.name} was asked for cuda but its parameters live "
        r"on cpu and the step's outputs on cpu; installed: .+; fix: ",
    ):
        be.check_placement(handle)


# --- golden parity: what every backend's traces are held to -----------------------------------

TOL = 1e-4  # the parity tolerance: float32 traces against torch's float32 golden


def per_iteration(trace: dict, golden: dict) -> dict[str, list[float]]:
    """Relative difference of D's and G's loss on each iteration the trace ran (the golden's first ones)."""
    n = len(trace["losses"]["d"])
    return {k: max_rel_diff(trace["losses"][k], golden["losses"][k][:n]) for k in TRACE_KEYS}


def worst(trace: dict, golden: dict) -> dict[str, float]:
    """The largest of `per_iteration` for D and for G."""
    return {k: max(v) for k, v in per_iteration(trace, golden).items()}


def check_float32_golden(trace: dict, golden: dict, every_iteration: bool, tol: float = TOL) -> dict:
    """Iteration 0 (forward passes from the shared state, the loss forms, D's first update) within
    `tol` of the float32 golden; with `every_iteration` (a trace float32 round-off cannot make
    chaotic, the MLP GAN's) every iteration the trace ran. Every loss finite. Returns the per-iteration
    differences for the caller to print."""
    per = per_iteration(trace, golden)
    first = {k: v[0] for k, v in per.items()}
    assert max(first.values()) < tol, first
    if every_iteration:
        w = {k: max(v) for k, v in per.items()}
        assert max(w.values()) < tol, w
    assert all(math.isfinite(v) for k in TRACE_KEYS for v in trace["losses"][k])
    return per


def check_float64_golden(trace: dict, golden: dict, tol: float) -> dict:
    """A float64 trace against torch's float64 golden (tests/golden/f64) on every iteration it ran."""
    w = worst(trace, golden)
    assert max(w.values()) < tol, w
    return w


def check_tutorial_loop(backend: str, mode: str) -> None:
    """Ten float32 iterations of mindspore-mlp-gan with its Adam form ("mindspore") against the
    MindSpore tutorial's own loop (tests/golden/tutorial) within 1e-6."""
    import tutorial_trace

    from benchmarks.trace import run_trace

    trace, _, _ = run_trace(backend, "mindspore-mlp-gan", mode=mode)
    tutorial_trace.assert_matches(trace["losses"]["d"], trace["losses"]["g"])


# --- recipe semantics: which update changes what, what G and D are fed -------------------------


class UpdateLog:
    """What each optimiser update changed: a backend's hooks call `before(net)` just before an update
    and `after(net)` just after it; `updates` holds (net, its own keys changed, the other net's)."""

    def __init__(self, snapshot, equal=np.array_equal):
        self.snapshot, self.equal, self.updates, self._before = snapshot, equal, [], None

    def before(self, net: str) -> None:
        self._before = self.snapshot()

    def after(self, net: str) -> None:
        after, other = self.snapshot(), "D" if net == "G" else "G"
        self.updates.append(
            (
                net,
                changed(self._before, after, net + ".", self.equal),
                changed(self._before, after, other + ".", self.equal),
            )
        )


def check_each_update_changes_only_its_own_network(spec, updates: list, running_statistics_fixed: bool = False):
    """The recipe's updates, in order; none moves the other network's weights, and each moves every
    trainable weight of its own (running statistics are not the optimiser's: with
    `running_statistics_fixed`, none moves inside the optimiser call either)."""
    assert [u[0] for u in updates] == expected_updates(spec.name)
    for net, own, other in updates:
        assert not other, f"a {net} update changed {sorted(other)[:3]}"
        assert {k for k in own if k.endswith("weight")} == {
            k for k in param_keys(spec, net, trainable_only=True) if k.endswith("weight")
        }
        if running_statistics_fixed:
            assert not {k for k in own if k.endswith(("running_mean", "running_var"))}


def check_feeds(spec, real, noise, g_inputs: list, d_inputs: list, g_forwards: int, first_d_input: str) -> None:
    """What one iteration fed G and D (numpy copies of each forward's input, in order): the D-step z
    first, then the same z again or a fresh code per G update (recipe_expectations.FEEDS); real and
    fake apart, never one concatenated batch; the same-fake recipe re-scores the very same fake."""
    assert len(g_inputs) == g_forwards
    assert np.array_equal(g_inputs[0], noise.d)
    for k, z in enumerate(g_inputs[1:]):
        assert np.array_equal(z, noise.g[k] if spec.recipe.g_input == "fresh_noise" else noise.d)
    assert len(d_inputs) == 2 + spec.recipe.g_updates
    assert np.array_equal(d_inputs[0], real) == (first_d_input == "real")
    if spec.recipe.g_input == "same_fake":
        assert np.array_equal(d_inputs[2], fake_in_d_step(d_inputs, real))


def check_feeds_by_pre_hooks(
    spec, be, nets: dict, as_numpy, g_forwards: int, first_d_input: str, batch: int = 4
) -> tuple:
    """One parity iteration with a forward pre-hook on every module in `nets` ({"G": [...], "D": [...]};
    torch, Paddle, MindSpore and Gluon share `register_forward_pre_hook(fn(module, inputs))`) recording
    `as_numpy` of each input, held to `check_feeds`. Returns (the inputs recorded, real) for the
    framework's own further checks."""
    calls = {"G": [], "D": []}
    for net, modules in nets.items():
        for m in modules:
            m.register_forward_pre_hook(lambda _, inputs, net=net: calls[net].append(as_numpy(inputs[0])))
    real, noise = parity_inputs(spec, 1, batch)[0]
    be.read(be.step(real, noise))
    check_feeds(spec, real, noise, calls["G"], calls["D"], g_forwards, first_d_input)
    return calls, real


def fake_in_d_step(d_inputs: list, real) -> np.ndarray:
    return next(x for x in d_inputs[:2] if not np.array_equal(x, real))


# --- state ---------------------------------------------------------------------------------------


def check_state_round_trip(a, make_b, inputs) -> tuple:
    """One iteration on `a`, its state exported into a fresh backend `make_b()` (read back exactly), then
    the next iteration on both gives the same losses: weights, running statistics, optimiser moments
    and step counts all carried over. Returns the exported state and `b`."""
    a.read(a.step(*inputs[0]))
    saved = a.export_state()
    b = make_b()
    b.load_state(saved)
    assert all(np.array_equal(saved[k], v) for k, v in b.export_state().items())
    sa, sb = a.read(a.step(*inputs[1])), b.read(b.step(*inputs[1]))
    assert sa == sb
    return saved, b
