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

The float64 references are tests/golden/f64/<model>.json when present, else the values below,
made by TorchBackend run in float64 (modules `.double()`, inputs and labels float64) from
`initial_state(spec, 0)` and `parity_inputs(spec)` (10 iterations, batch 16, seed 0).
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

from benchmarks.trace import run_trace  # noqa: E402
from common.models import MODELS, get_model  # noqa: E402
from common.parity import compare, max_rel_diff  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
GOLDEN_F64 = GOLDEN / "f64"
TOL = 1e-4  # the parity tolerance
NOT_CHAOTIC_F32 = {"mindspore-mlp-gan"}  # float32 round-off stays ~1e-6 over 10 iterations
# float64 iterations checked by default (all ten with GANBENCH_SLOW=1): the 64×64 DCGANs in float64
# on a 2-core CPU cost seconds per iteration, and three iterations already lie far past the
# point where float32 traces separate.
F64_STEPS = {"paddle-dcgan28": 10, "mindspore-mlp-gan": 10}
F64_STEPS_DEFAULT = 3

TORCH_FLOAT64 = {
    "paddle-dcgan28": {
        "spec_hash": "b0748172da1850f3ecaa2307cda55d0607b4150ba9c20d76b04b3639b1d3412c",
        "d": [
            1.470496558615301, 1.4533518887381087, 1.4500713968257481, 1.4554490571665735,
            1.4163928825584047, 1.396153472265947, 1.3973451856777388, 1.3989963686688367,
            1.3700252026356063, 1.3883725687156119,
        ],
        "g": [
            0.49518982589098587, 0.4938622479694534, 0.5044510596901056, 0.501814715138549,
            0.5076004415789737, 0.512447051408557, 0.5169723048747393, 0.5127387235242438,
            0.5274687375360284, 0.5319526720838255,
        ],
    },
    "mindspore-mlp-gan": {
        "spec_hash": "e0393c0457a7d3e24c0b24823fe306c0a940666c3834013cdcbd988b00097ccc",
        "d": [
            1.364822949854471, 1.4003574277076916, 1.442327313376372, 1.4504035199212117,
            1.4600948100920568, 1.458664112666539, 1.4617075668263841, 1.4404775303994666,
            1.4025356995031566, 1.365322988613142,
        ],
        "g": [
            0.7425427926061554, 0.7051096899734034, 0.6721023783044999, 0.6499209805934208,
            0.6376561465910404, 0.6389737905407283, 0.6497491225925542, 0.673375016131359,
            0.7009715666841945, 0.7345856632687389,
        ],
    },
    "mxnet-dcgan64": {
        "spec_hash": "bbbbb0f814975c1f329bdd01b0475201a38a74fd67eeb41637d8278d64590934",
        "d": [
            1.8312812474132623, 1.222119807207493, 1.9301362366731551, 3.9785412135600438,
            0.4071477918260955, 0.7213833534981807, 2.29489504972066, 3.1839914427123146,
            0.92356274927118, 1.6612609329088361,
        ],
        "g": [
            14.72595148492846, 19.26295391696327, 7.902519206615844, 20.873227352655466,
            14.765052909189174, 13.60573731811751, 26.74122383523017, 15.343928671146571,
            18.528844266486313, 20.263020343883078,
        ],
    },
    "gluon-lfw-dcgan": {
        "spec_hash": "8bb281455f8201f0e2c2abdda7ab6390931ac1fcf6be2584a78af054c08e13b7",
        "d": [
            1.0864468540344177, 1.1043970755240342, 1.0510548054308753, 1.1853296965538518,
            0.4187850181152206, 0.2841810305651593, 0.6551684536555593, 1.1296169368329871,
            0.4026156385459912, 0.35519077294156565,
        ],
        "g": [
            9.057285747993145, 4.104053432925796, 6.284766888017558, 7.022810570849565,
            7.221675679836158, 7.429868889639883, 5.632711596330134, 8.078358217173454,
            7.248272802878079, 8.122575411004977,
        ],
    },
    "pytorch-celeba-dcgan": {
        "spec_hash": "71656f2487e79defb0a48f73bde26649bf5d1794cfc204cd213989eb890508dc",
        "d": [
            1.3792730269480593, 1.3088467000215034, 1.1581912306094106, 0.8953508752283728,
            0.40013775972581106, 0.5950737617492984, 0.4353100379585946, 0.6759369320896134,
            0.640751700187368, 0.2882926056617962,
        ],
        "g": [
            8.69823487820143, 3.910672485412834, 5.786736608152312, 6.262856693005551,
            6.395126883616358, 7.358626695368589, 6.528787913456867, 6.418735372028603,
            8.143920655799871, 6.7880774544968165,
        ],
    },
}


def _golden(name: str) -> dict:
    g = json.loads((GOLDEN / f"{name}.json").read_text())
    assert g["spec_hash"] == get_model(name).spec_hash(), "spec changed: regenerate tests/golden (README)"
    return g


def _golden_f64(name: str) -> dict:
    path = GOLDEN_F64 / f"{name}.json"
    if path.exists():
        g = json.loads(path.read_text())
        ref = {"spec_hash": g["spec_hash"], "d": g["losses"]["d"], "g": g["losses"]["g"]}
    else:
        ref = TORCH_FLOAT64[name]
    if ref["spec_hash"] != get_model(name).spec_hash():
        pytest.skip(f"{name}: spec changed since the float64 reference was made")
    return ref


@pytest.mark.parametrize("name", list(MODELS))
def test_float32_matches_golden_trace(name):
    golden = _golden(name)
    trace, _, _ = run_trace("jax", name, golden["steps"], golden["batch_size"], golden["seed"])
    worst = compare(trace, golden)
    first = {k: max_rel_diff(trace["losses"][k][:1], golden["losses"][k][:1])[0] for k in ("d", "g")}
    print(f"jax float32 {name}: first iteration {first}, max over {golden['steps']} iterations {worst}")
    assert all(math.isfinite(v) for k in ("d", "g") for v in trace["losses"][k])
    assert max(first.values()) < TOL, first
    if name in NOT_CHAOTIC_F32:
        assert max(worst.values()) < TOL, worst
    assert trace["env"]["framework"] == "jax" and trace["env"]["compile_s"] > 0


_F64_SCRIPT = r"""
import json, sys
from backends.jax_flax import JaxBackend
from common.models import get_model
from common.parity import parity_inputs
from common.state import initial_state

class Float64(JaxBackend):
    dtype = "float64"

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
    proc = subprocess.run([sys.executable, "-c", _F64_SCRIPT, json.dumps(plan)], cwd=REPO, capture_output=True,
                          text=True, timeout=1800, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


@pytest.mark.parametrize("name", list(MODELS))
def test_float64_matches_torch_float64_on_every_iteration(name, float64_traces):
    """The issue's criterion (1e-4 on every iteration) without float32 round-off in the way."""
    ref = _golden_f64(name)
    got = float64_traces[name]
    n = len(got["d"])
    worst = {k: max(max_rel_diff(got[k], ref[k][:n])) for k in ("d", "g")}
    print(f"jax float64 {name}: max rel diff vs torch float64 over {n} iterations {worst}")
    assert max(worst.values()) < 1e-9, worst


def test_harness_runs_the_jax_backend_end_to_end(tmp_path):
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "benchmarks", "run", "--backend", "jax", "--model", "mindspore-mlp-gan",
           "--data", "synthetic", "--steps", "3", "--warmup", "1", "--out", str(out), "--in-process"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-4000:]
    files = list(out.glob("jax__mindspore-mlp-gan__cpu__*.json"))
    assert len(files) == 1, list(out.iterdir())
    res = json.loads(files[0].read_text())
    assert res["status"] == "ok", res["error"]
    assert res["backend"] == "jax" and res["mode"] == "jit" and res["env"]["framework"] == "jax"
    assert len(res["step_times_s"]) == 3 and res["images_per_s"] > 0 and res["first_step_s"] > 0
    assert all(math.isfinite(v) for v in res["losses"]["d"] + res["losses"]["g"])
    assert res["samples_png"] and (out / res["samples_png"]).exists()
