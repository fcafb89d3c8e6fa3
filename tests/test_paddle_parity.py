"""Paddle against the PyTorch golden traces, and to_static against dynamic.

What float32 parity can and cannot show. From the same canonical state and inputs, Paddle's first
iteration matches torch's to float32 round-off (~1e-7). Over 10 iterations of the convolutional
GANs the traces drift apart by 1e-3…1e-1, and so does torch itself against its own golden when only
its convolution algorithm changes (`torch.backends.mkldnn.enabled = False`: 0.15 on
pytorch-celeba-dcgan, 0.12 on mxnet-dcgan64, 0.01 on paddle-dcgan28): Adam's early updates are
≈ lr·sign(g), so round-off flips the sign of near-zero gradients and the training dynamics amplify
it ~1e7-fold in 10 iterations. The float32 tests therefore hold the issue's 1e-4 on every
iteration that round-off cannot have reached through Adam (the first one: every forward pass, loss
form and D's first update), and on all 10 iterations for the MLP GAN, whose float32 trace is not
chaotic. The 10-iteration 1e-4 criterion is checked in float64 against torch's float64 traces
(tests/golden/f64/<model>.json, made by TorchBackend in float64 from the same state and inputs):
there Paddle agrees with torch to ~1e-8 on every iteration.
"""

import os

import pytest

paddle = pytest.importorskip("paddle")

from backend_contract import check_float32_golden, check_float64_golden, check_tutorial_loop, worst  # noqa: E402

from backends.paddle_nn import PaddleBackend  # noqa: E402
from benchmarks.trace import run_trace  # noqa: E402
from common.models import MODELS, get_model  # noqa: E402
from common.parity import load_golden, max_rel_diff, parity_inputs  # noqa: E402
from common.state import initial_state  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Tensor do not have 'place' interface")  # Paddle's own
NOT_CHAOTIC_F32 = {"mindspore-mlp-gan"}  # float32 round-off stays at ~1e-6 over 10 iterations
_traces: dict = {}


def _trace(name: str, mode: str) -> dict:
    """One float32 trace per model and mode, shared by the golden and the static-vs-dynamic tests."""
    if (name, mode) not in _traces:
        g = load_golden(name)
        _traces[name, mode] = run_trace("paddle", name, g["steps"], g["batch_size"], g["seed"], mode=mode)[0]
    return _traces[name, mode]


@pytest.mark.parametrize("mode", PaddleBackend.modes)
@pytest.mark.parametrize("name", list(MODELS))
def test_matches_golden_trace(name, mode):
    golden, trace = load_golden(name), _trace(name, mode)
    assert trace["mode"] == mode and trace["env"]["mode"] == mode
    assert len(trace["losses"]["d"]) == golden["steps"]
    print(f"paddle {mode} {name}: max rel diff over {golden['steps']} iterations {worst(trace, golden)}")
    check_float32_golden(trace, golden, every_iteration=name in NOT_CHAOTIC_F32)


@pytest.mark.parametrize("name", list(MODELS))
def test_to_static_gives_the_dynamic_losses(name):
    """Same state and inputs, both modes: the same losses on every iteration."""
    dyn, st = _trace(name, "dynamic"), _trace(name, "to_static")
    for k in ("d", "g", "d_x", "d_g_z1", "d_g_z2"):
        diff = max(max_rel_diff(st["losses"][k], dyn["losses"][k]))
        assert diff < 1e-5, (k, diff)
    assert st["env"]["compile_s"] > 0 and dyn["env"]["compile_s"] is None


_Float64 = PaddleBackend.with_dtype("float64")


# float64 convolutions are slow on CPU: by default the MLP GAN and the Paddle book's DCGAN run here,
# the three 64×64 DCGANs with GANBENCH_SLOW=1 (measured: all five agree to <1e-8 in both modes).
F64_DEFAULT = {("mindspore-mlp-gan", "dynamic"), ("mindspore-mlp-gan", "to_static"), ("paddle-dcgan28", "to_static")}


@pytest.mark.parametrize("mode", PaddleBackend.modes)
@pytest.mark.parametrize("name", list(MODELS))
def test_float64_matches_torch_float64_on_every_iteration(name, mode):
    """The issue's criterion (10 iterations, 1e-4) without float32 round-off in the way."""
    if (name, mode) not in F64_DEFAULT and not os.environ.get("GANBENCH_SLOW"):
        pytest.skip("float64 64×64 DCGAN traces take minutes on CPU; GANBENCH_SLOW=1 runs them")
    golden = load_golden(name, "float64")
    spec = get_model(name)
    be = _Float64(spec, "cpu", mode, seed=golden["seed"], threads=2)
    be.load_state(initial_state(spec, golden["seed"]))
    stats = [
        be.read(be.step(real, noise))
        for real, noise in parity_inputs(spec, golden["steps"], golden["batch_size"], golden["seed"])
    ]
    trace = {"losses": {"d": [s.d_loss for s in stats], "g": [s.g_loss for s in stats]}}
    print(f"paddle float64 {mode} {name}: max rel diff vs torch float64 {worst(trace, golden)}")
    check_float64_golden(trace, golden, 1e-6)


@pytest.mark.parametrize("mode", PaddleBackend.modes)
def test_mlp_gan_matches_the_mindspore_tutorials_loop(mode):
    """Ten float32 iterations of mindspore-mlp-gan with its Adam form ("mindspore") against the
    MindSpore tutorial's own loop (tests/golden/tutorial) within 1e-6."""
    check_tutorial_loop("paddle", mode)
