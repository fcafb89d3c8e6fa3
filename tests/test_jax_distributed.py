"""JAX data parallel: one process, a jax.sharding mesh over two CPU host devices.

The child process gets XLA_FLAGS=--xla_force_host_platform_device_count=2 from the launcher (jax
reads it once, at import). MLP GAN, global batch 16, float64, ten iterations:
- `--sync-bn` (BatchNorm statistics reduced over the sharded batch by XLA's partitioner) reproduces
  the single-device float64 trace (tests/golden/f64) to 1e-9 relative;
- per-replica BatchNorm reproduces the half-batch-BN reference (tests/dp_reference.py) to 1e-9;
- each is far (> 1e-4) from the other's reference, so neither test passes by accident.
"""

import pytest

pytest.importorskip("jax")

from dp_contract import MODEL, TIMEOUT, TOL, check_two_nodes_on_loopback, harness_run, load_ghost, worst  # noqa: E402

from benchmarks.distributed import run_dp_trace  # noqa: E402
from common.parity import load_golden  # noqa: E402


@pytest.fixture(scope="module", params=[False, True], ids=["per_replica", "sync"])
def trace(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("dp") / "trace.json"
    return run_dp_trace("jax", MODEL, 2, out, sync_bn=request.param, timeout=TIMEOUT)


def test_trace_ran_on_a_two_device_mesh(trace):
    assert trace["replicas"] == 2 and trace["dtype"] == "float64" and len(trace["losses"]["d"]) == 10
    assert trace["env"]["mesh_devices"] == ["cpu:0", "cpu:1"]


def test_trace_matches_its_reference(trace):
    if trace["bn_mode"] == "sync":
        assert worst(trace, load_golden(MODEL, "float64")) < TOL
        assert worst(trace, load_ghost(MODEL, 2)) > 1e-4
    else:
        assert worst(trace, load_ghost(MODEL, 2)) < TOL
        assert worst(trace, load_golden(MODEL, "float64")) > 1e-4


def test_harness_run_with_two_replicas(tmp_path):
    r = harness_run("jax", tmp_path, "jax__mindspore-mlp-gan__cpu__jit__b8__r2-weak.json", "--scaling", "weak", batch=8)
    assert (r["replicas"], r["scaling"], r["bn_mode"], r["batch_size"], r["per_replica_batch"]) == (
        2,
        "weak",
        "per_replica",
        16,
        8,
    )
    assert r["engine"].startswith("jax.sharding")


def test_two_nodes_on_loopback(tmp_path):
    """Two processes joined by jax.distributed, one CPU device each: one mesh across 'hosts', Gloo between them."""
    check_two_nodes_on_loopback("jax", tmp_path, "jit", "gloo")
