"""PyTorch data parallel: DistributedDataParallel under torchrun, Gloo on this CPU.

Two replicas on loopback, the MLP GAN (its G has three BatchNorm1d), batch 16, float64:
- per-replica BatchNorm (DDP's default) must reproduce, iteration for iteration, the single-device
  run whose BatchNorm normalises each half-batch alone (tests/dp_reference.py) to 1e-9 relative —
  and must *not* match the full-batch single-device trace (which shows the reference discriminates);
- `--sync-bn` on CPU is refused (torch's SyncBatchNorm has GPU kernels only) and the refusal is a
  result like any failure;
- `python -m benchmarks run --replicas 2` leaves one result, from rank 0, with the DP keys.
Every launch is bounded by a timeout; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from dp_contract import (  # noqa: E402
    MODEL,
    TIMEOUT,
    TOL,
    check_sync_bn_refused,
    check_two_nodes_on_loopback,
    harness_run,
    load_ghost,
    worst,
)

from benchmarks.distributed import run_dp_trace  # noqa: E402
from common.parity import load_golden  # noqa: E402


@pytest.fixture(scope="module")
def per_replica_trace(tmp_path_factory):
    return run_dp_trace("torch", MODEL, 2, tmp_path_factory.mktemp("dp") / "trace.json", timeout=TIMEOUT)


def test_ddp_per_replica_bn_reproduces_the_half_batch_bn_reference(per_replica_trace):
    t = per_replica_trace
    assert (t["replicas"], t["bn_mode"], t["transport"], t["dtype"]) == (2, "per_replica", "gloo", "float64")
    assert len(t["losses"]["d"]) == 10
    assert worst(t, load_ghost(MODEL, 2)) < TOL


def test_per_replica_bn_is_not_full_batch_bn(per_replica_trace):
    # the full-batch single-device trace is 4.5e-3 away: a DP run that silently used one process's
    # whole batch, or synchronised statistics, would fail the test above
    assert worst(per_replica_trace, load_golden(MODEL, "float64")) > 1e-4


def test_sync_bn_on_cpu_is_refused_and_recorded(tmp_path):
    check_sync_bn_refused("torch", "eager", tmp_path, threads=1)


def test_harness_run_with_two_replicas_writes_one_result(tmp_path):
    # one result in the run set (not the launchers' logs), ok, two timed steps
    r = harness_run("torch", tmp_path, "torch__mindspore-mlp-gan__cpu__eager__b16__r2.json", "--threads", "2")
    assert (r["replicas"], r["nodes"], r["world_size"], r["scaling"], r["bn_mode"]) == (
        2,
        1,
        2,
        "strong",
        "per_replica",
    )
    assert (r["engine"], r["transport"]) == ("torch.distributed DistributedDataParallel via torchrun", "gloo")
    assert (r["batch_size"], r["per_replica_batch"]) == (16, 8)
    # slowest rank per step: never faster than rank 0's own clock
    assert all(m >= r0 for m, r0 in zip(r["step_times_s"], r["step_times_rank0_s"]))
    assert len(r["losses"]["d"]) == 3
    # DDP's own account of the all-reduce time of each network's backward
    assert r["comm_s"]["G"]["avg_backward_comm_s"] > 0 and r["comm_s"]["D"]["avg_backward_comm_s"] > 0


def test_two_nodes_on_loopback(tmp_path):
    check_two_nodes_on_loopback("torch", tmp_path, "eager", "gloo")
