"""MXNet data parallel: Gluon over [cpu(0), cpu(1)] with KVStore 'local', one process.

MLP GAN, global batch 16, float64, ten iterations: per-replica BatchNorm (each context normalises
its slice) reproduces the half-batch-BN reference (tests/dp_reference.py) to 1e-9 relative and is
far from the full-batch trace; `--sync-bn` on CPU is refused (SyncBatchNorm: float32-only kernel,
and the GAN iteration hangs over CPU contexts) and recorded; the harness leaves one result.
"""

import pytest

pytest.importorskip("mxnet")

from dp_contract import check_harness_run, check_per_replica_bn, check_sync_bn_refused  # noqa: E402


def test_per_replica_bn_reproduces_the_half_batch_bn_reference(tmp_path):
    t = check_per_replica_bn("mxnet", tmp_path, "kvstore-local")
    assert t["env"]["contexts"] == ["cpu(0)", "cpu(1)"]


def test_sync_bn_on_cpu_is_refused_and_recorded(tmp_path):
    check_sync_bn_refused("mxnet", "imperative", tmp_path)


def test_harness_run_with_two_replicas(tmp_path):
    check_harness_run("mxnet", tmp_path, "imperative", "kvstore-local")
