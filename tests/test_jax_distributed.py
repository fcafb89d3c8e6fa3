"""JAX data parallel (issue 15): one process, a jax.sharding mesh over two CPU host devices.

The child process gets XLA_FLAGS=--xla_force_host_platform_device_count=2 from the launcher (jax
reads it once, at import). MLP GAN, global batch 16, float64, ten iterations:
- `--sync-bn` (BatchNorm statistics reduced over the sharded batch by XLA's partitioner) reproduces
  the single-device float64 trace (tests/golden/f64) to 1e-9 relative;
- per-replica BatchNorm reproduces the half-batch-BN reference (tests/dp_reference.py) to 1e-9;
- each is far (> 1e-4) from the other's reference, so neither test passes by accident.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

from benchmarks.distributed import run_dp_trace  # noqa: E402
from common.parity import load_golden, max_rel_diff  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODEL = "mindspore-mlp-gan"
TOL = 1e-9
TIMEOUT = 300


def _worst(trace: dict, ref: dict) -> float:
    return max(max(max_rel_diff(trace["losses"][k], ref["losses"][k])) for k in ("d", "g"))


def _ghost() -> dict:
    ref = json.loads((REPO / "tests" / "golden" / "dp" / f"{MODEL}__ghost2.json").read_text())
    from common.models import get_model

    assert ref["spec_hash"] == get_model(MODEL).spec_hash()
    return ref


@pytest.fixture(scope="module", params=[False, True], ids=["per_replica", "sync"])
def trace(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("dp") / "trace.json"
    return run_dp_trace("jax", MODEL, 2, out, sync_bn=request.param, timeout=TIMEOUT)


def test_trace_ran_on_a_two_device_mesh(trace):
    assert trace["replicas"] == 2 and trace["dtype"] == "float64" and len(trace["losses"]["d"]) == 10
    assert trace["env"]["mesh_devices"] == ["cpu:0", "cpu:1"]


def test_trace_matches_its_reference(trace):
    if trace["bn_mode"] == "sync":
        assert _worst(trace, load_golden(MODEL, "float64")) < TOL
        assert _worst(trace, _ghost()) > 1e-4
    else:
        assert _worst(trace, _ghost()) < TOL
        assert _worst(trace, load_golden(MODEL, "float64")) > 1e-4


def test_harness_run_with_two_replicas(tmp_path):
    cmd = [sys.executable, "-m", "benchmarks", "run", "-b", "jax", "-m", MODEL, "--device", "cpu", "--replicas", "2",
           "--scaling", "weak", "--data", "synthetic", "--batch-size", "8", "--warmup", "1", "--steps", "2",
           "--no-samples", "--out", str(tmp_path), "--timeout", str(TIMEOUT)]
    subprocess.run(cmd, cwd=REPO, check=True, timeout=TIMEOUT + 30, capture_output=True)
    files = sorted(p for p in tmp_path.glob("*/*.json") if p.name != "manifest.json")  # the run set, not launcher logs
    assert [f.name for f in files] == ["jax__mindspore-mlp-gan__cpu__jit__b8__r2-weak.json"]
    r = json.loads(files[0].read_text())
    assert r["status"] == "ok", r["error"]
    assert (r["replicas"], r["scaling"], r["bn_mode"], r["batch_size"], r["per_replica_batch"]) == \
        (2, "weak", "per_replica", 16, 8)
    assert r["engine"].startswith("jax.sharding") and len(r["step_times_s"]) == 2
