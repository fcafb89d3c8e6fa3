"""The JAX backend against the PyTorch golden traces, in float32 and in float64, and the harness
end to end.

What float32 parity can and cannot show (measured while writing this backend): from the same
canonical state and inputs, JAX's first iteration matches torch's golden to float32 round-off on
every model, and the MLP GAN's ten. Over ten iterations of the convolutional GANs the float32
traces of any two implementations drift apart by 1e-3…1e-1, and so does torch from its own exact
(float64) trajectory: torch float32 vs torch float64 reaches 1.6e-2 on paddle-dcgan28 and 1e-1 on
pytorch-celeba-dcgan, and torch float32 with 1 thread instead of 2 differs from its own golden by
1.3e-2 on paddle-dcgan28 (its max-pool routes the gradient by argmax, and near-ties flip with the
summation order). Adam's first updates are ≈ lr·sign(g), so round-off that flips the sign of a
near-zero gradient is amplified by the training dynamics. The float32 tests therefore hold the
issue's 1e-4 on the first iteration of every model and on all ten for the MLP GAN; the ten-iteration
1e-4 criterion is checked in float64 against torch's float64 trace, where JAX and torch agree to
~1e-13 on every iteration of every model.

The float64 references are tests/golden/f64/<model>.json, made by
`python -m benchmarks trace -b torch --dtype float64 --golden-dir tests/golden/f64` (10 iterations,
batch 16, seed 0, from `initial_state(spec, 0)` and `parity_inputs(spec)`).
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

from backend_contract import check_float32_golden, check_float64_golden, check_tutorial_loop, per_iteration, worst  # noqa: E402

from benchmarks.trace import run_trace  # noqa: E402
from common.models import MODELS  # noqa: E402
from common.parity import load_golden  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NOT_CHAOTIC_F32 = {"mindspore-mlp-gan"}  # float32 round-off stays ~1e-6 over 10 iterations
# float64 iterations checked by default (all ten with GANBENCH_SLOW=1): the 64×64 DCGANs in float64
# on a 2-core CPU cost seconds per iteration, and three iterations already lie far past the
# point where float32 traces separate.
F64_STEPS = {"paddle-dcgan28": 10, "mindspore-mlp-gan": 10}
F64_STEPS_DEFAULT = 3


@pytest.mark.parametrize("name", list(MODELS))
def test_float32_matches_golden_trace(name):
    golden = load_golden(name)
    trace, _, _ = run_trace("jax", name, golden["steps"], golden["batch_size"], golden["seed"])
    assert len(trace["losses"]["d"]) == golden["steps"]
    per = per_iteration(trace, golden)
    print(
        f"jax float32 {name}: first iteration { {k: v[0] for k, v in per.items()} }, "
        f"max over {golden['steps']} iterations { {k: max(v) for k, v in per.items()} }"
    )
    check_float32_golden(trace, golden, every_iteration=name in NOT_CHAOTIC_F32)
    assert trace["env"]["framework"] == "jax" and trace["env"]["compile_s"] > 0


_F64_SCRIPT = r"""
import json, sys
from backends.jax_flax import JaxBackend
from common.models import get_model
from common.parity import parity_inputs
from common.state import initial_state

Float64 = JaxBackend.with_dtype("float64")

out = {}
for name, steps in json.loads(sys.argv[1]).items():
    spec = get_model(name)
    be = Float64(spec, "cpu", seed=0)
    be.load_state(initial_state(spec, 0))
    stats = [be.read(be.step(real, noise)) for real, noise in parity_inputs(spec, steps, 16, 0)]
    out[name] = {"d": [s.d_loss for s in stats], "g": [s.g_loss for s in stats]}
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def float64_traces():
    """Every model's float64 trace, from one child process: jax_enable_x64 is process-wide."""
    slow = bool(os.environ.get("GANBENCH_SLOW"))
    plan = {name: 10 if slow else F64_STEPS.get(name, F64_STEPS_DEFAULT) for name in MODELS}
    proc = subprocess.run(
        [sys.executable, "-c", _F64_SCRIPT, json.dumps(plan)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.mark.parametrize("name", list(MODELS))
def test_float64_matches_torch_float64_on_every_iteration(name, float64_traces):
    """The issue's criterion (1e-4 on every iteration) without float32 round-off in the way."""
    trace = {"losses": float64_traces[name]}
    golden = load_golden(name, "float64")
    print(
        f"jax float64 {name}: max rel diff vs torch float64 over {len(trace['losses']['d'])} iterations "
        f"{worst(trace, golden)}"
    )
    check_float64_golden(trace, golden, 1e-9)


def test_harness_runs_the_jax_backend_end_to_end(tmp_path):
    out = tmp_path / "res"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks",
        "run",
        "--backend",
        "jax",
        "--model",
        "mindspore-mlp-gan",
        "--data",
        "synthetic",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--out",
        str(out),
        "--in-process",
    ]
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    files = list(out.glob("*/jax__mindspore-mlp-gan__cpu__*.json"))  # in the invocation's run set
    assert len(files) == 1, list(out.rglob("*"))
    res = json.loads(files[0].read_text())
    assert res["status"] == "ok", res["error"]
    assert res["backend"] == "jax" and res["mode"] == "jit" and res["env"]["framework"] == "jax"
    assert len(res["step_times_s"]) == 3 and res["images_per_s"] > 0 and res["first_step_s"] > 0
    assert all(math.isfinite(v) for v in res["losses"]["d"] + res["losses"]["g"])
    assert res["samples_png"] and (files[0].parent / res["samples_png"]).exists()


@pytest.mark.parametrize("mode", ["jit"])
def test_mlp_gan_matches_the_mindspore_tutorials_loop(mode):
    """Ten float32 iterations of mindspore-mlp-gan with its Adam form ("mindspore") against the
    MindSpore tutorial's own loop (tests/golden/tutorial) within 1e-6."""
    check_tutorial_loop("jax", mode)
