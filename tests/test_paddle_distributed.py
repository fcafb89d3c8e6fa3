"""Paddle data parallel: paddle.DataParallel in two processes started by
`python -m paddle.distributed.launch` (Gloo on this CPU, loopback).

MLP GAN, global batch 16, float64, ten iterations: per-replica BatchNorm reproduces the
half-batch-BN reference (tests/dp_reference.py) to 1e-9 relative and is far from the full-batch
trace; `--sync-bn` on CPU is refused (no CPU sync_batch_norm kernel in Paddle 3.3.1) and recorded;
the harness leaves one result; two 'hosts' on loopback (--nodes 2) join through the launcher's --master.
"""

import pytest

pytest.importorskip("paddle")

from dp_contract import check_harness_run, check_per_replica_bn, check_sync_bn_refused, check_two_nodes_on_loopback  # noqa: E402


def test_per_replica_bn_reproduces_the_half_batch_bn_reference(tmp_path):
    t = check_per_replica_bn("paddle", tmp_path, "gloo")
    assert t["env"]["world_size"] == 2


def test_sync_bn_on_cpu_is_refused_and_recorded(tmp_path):
    check_sync_bn_refused("paddle", "dynamic", tmp_path)


def test_harness_run_with_two_replicas(tmp_path):
    check_harness_run("paddle", tmp_path, "dynamic", "gloo")


def test_two_nodes_on_loopback(tmp_path):
    check_two_nodes_on_loopback("paddle", tmp_path, "dynamic", "gloo")
