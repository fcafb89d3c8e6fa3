"""MXNet data parallel: Gluon over [cpu(0), cpu(1)] with KVStore 'local', one process.

MLP GAN, global batch 16, float64, ten iterations: per-replica BatchNorm (each context normalises
its slice) reproduces the half-batch-BN reference (tests/dp_reference.py) to 1e-9 relative and is
far from the full-batch trace; `--sync-bn` on CPU is refused (SyncBatchNorm: float32-only kernel,
and the GAN iteration hangs over CPU contexts) and recorded; the harness leaves one result.
"""
import pytest

pytest.importorskip("mxnet")

from benchmarks.distributed import run_dp_trace  # noqa: E402
from common.parity import load_golden  # noqa: E402
from dp_contract import MODEL, TIMEOUT, load_ghost, TOL, check_sync_bn_refused, harness_run, worst  # noqa: E402


def test_per_replica_bn_reproduces_the_half_batch_bn_reference(tmp_path):
    t = run_dp_trace("mxnet", MODEL, 2, tmp_path / "trace.json", timeout=TIMEOUT)
    assert t["env"]["contexts"] == ["cpu(0)", "cpu(1)"] and t["transport"] == "kvstore-local"
    assert t["dtype"] == "float64" and len(t["losses"]["d"]) == 10
    assert worst(t, load_ghost(MODEL, 2)) < TOL
    assert worst(t, load_golden(MODEL, "float64")) > 1e-4


def test_sync_bn_on_cpu_is_refused_and_recorded(tmp_path):
    check_sync_bn_refused("mxnet", "imperative", tmp_path)


def test_harness_run_with_two_replicas(tmp_path):
    r = harness_run("mxnet", tmp_path, "mxnet__mindspore-mlp-gan__cpu__imperative__b16__r2.json")
    assert (r["replicas"], r["bn_mode"], r["transport"], r["per_replica_batch"]) == (2, "per_replica", "kvstore-local", 8)
    assert len(r["losses"]["d"]) == 3
