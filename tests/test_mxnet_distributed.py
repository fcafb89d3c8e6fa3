"""MXNet data parallel: Gluon over [cpu(0), cpu(1)] with KVStore 'local', one process; and over two
workers started by MXNet's own launcher (tools/launch.py, `--launcher local`) with KVStore
'dist_sync', the multi-node engine on loopback.

MLP GAN, global batch 16, float64, ten iterations: per-replica BatchNorm (each context normalises
its slice) reproduces the half-batch-BN reference (tests/dp_reference.py) to 1e-9 relative and is
far from the full-batch trace when the two replicas are two contexts of one process, and to 1e-6
when they are two workers summing through the dist KVStore's servers (which sum in float32);
`--sync-bn` on CPU is refused (SyncBatchNorm: float32-only kernel, and the GAN iteration hangs over
CPU contexts) and recorded; the harness leaves one result.
"""

import json

import pytest

pytest.importorskip("mxnet")

from dp_contract import MODEL, check_harness_run, check_per_replica_bn, check_sync_bn_refused, run_command  # noqa: E402


def test_per_replica_bn_reproduces_the_half_batch_bn_reference(tmp_path):
    t = check_per_replica_bn("mxnet", tmp_path, "kvstore-local")
    assert t["env"]["contexts"] == ["cpu(0)", "cpu(1)"]


def test_two_workers_of_mxnets_launcher_reproduce_the_half_batch_bn_reference(tmp_path):
    # MXNet 1.9.1's dist KVStore servers sum in float32 whatever the arrays' type (1/3 + 1/3 pushed
    # as float64 comes back 0.66666669), so the gradients and the losses read through it are
    # float32-rounded: seen 7.4e-8 at most over the ten iterations, 1e-6 allowed
    t = check_per_replica_bn("mxnet", tmp_path, "kvstore-dist_sync", nodes=2, tol=1e-6)
    assert t["env"]["contexts"] == ["cpu(0)"] and "2 workers (MXNet's launcher)" in t["engine"]


def test_sync_bn_on_cpu_is_refused_and_recorded(tmp_path):
    check_sync_bn_refused("mxnet", "imperative", tmp_path)


def test_harness_run_with_two_replicas(tmp_path):
    check_harness_run("mxnet", tmp_path, "imperative", "kvstore-local")


def test_two_nodes_on_loopback_through_mxnets_launcher(tmp_path):
    """The README's two-node recipe with `--launcher local`: one command on node 0 starts both
    workers, a server each and the scheduler; worker 0 alone writes the one result."""
    import subprocess

    from dp_contract import REPO, TIMEOUT

    cmd = run_command("mxnet", 1, 16, "--nodes", "2", "--threads", "1", "--out", str(tmp_path))
    subprocess.run(cmd, cwd=REPO, check=True, timeout=TIMEOUT + 30, capture_output=True)
    found = list(tmp_path.rglob(f"mxnet__{MODEL}__cpu__imperative__b16__r1n2.json"))
    assert len(found) == 1
    r = json.loads(found[0].read_text())
    assert r["status"] == "ok", r["error"]
    assert (r["replicas"], r["nodes"], r["world_size"], r["per_replica_batch"]) == (1, 2, 2, 8)
    assert r["transport"] == "kvstore-dist_sync" and len(r["step_times_s"]) == 2
    assert r["env"]["rank"] == 0


def test_a_second_node_is_told_node_0_starts_it(tmp_path):
    from benchmarks.distributed import run_distributed
    from benchmarks.runner import RunConfig

    res = run_distributed(
        RunConfig(backend="mxnet", model=MODEL, nodes=2, node_rank=1, master_port=29500, out=str(tmp_path))
    )
    assert res["status"] == "failed" and "nothing to run on node 1" in res["error"]["message"]
    assert not list(tmp_path.rglob("*.json"))  # a node other than 0 writes no result


def test_several_hosts_need_a_hostfile(tmp_path):
    from benchmarks.distributed import run_distributed
    from benchmarks.runner import RunConfig

    res = run_distributed(RunConfig(backend="mxnet", model=MODEL, nodes=2, master_addr="10.0.0.1", out=str(tmp_path)))
    assert res["status"] == "failed" and "--hostfile" in res["error"]["message"]


def test_workers_on_one_host_may_not_share_its_gpus(tmp_path):
    from benchmarks.distributed import run_distributed
    from benchmarks.runner import RunConfig

    res = run_distributed(RunConfig(backend="mxnet", model=MODEL, device="cuda", nodes=2, out=str(tmp_path)))
    assert res["status"] == "failed" and "same GPUs" in res["error"]["message"]


def test_a_worker_failing_mid_job_ends_the_job(tmp_path):
    """Worker 1 fails once the job has formed, while worker 0 waits in the KVStore for its gradients:
    the job ends at once (not at --timeout) and the failure is recorded with worker 1's error."""
    import os
    import subprocess
    import time

    from dp_contract import REPO

    from benchmarks.runner import FAIL_HOOK

    cmd = run_command("mxnet", 1, 16, "--nodes", "2", "--threads", "1", "--out", str(tmp_path))
    env = dict(os.environ, **{FAIL_HOOK: f"mxnet:{MODEL}:rank1"})
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=REPO, env=env, timeout=200, capture_output=True)
    assert time.monotonic() - t0 < 120  # --timeout is 300 s
    found = list(tmp_path.rglob(f"mxnet__{MODEL}__cpu__imperative__b16__r1n2.json"))
    assert len(found) == 1
    r = json.loads(found[0].read_text())
    assert r["status"] == "failed" and r["error"]["type"] == "WorkerDied"
    assert "injected failure of rank 1" in r["error"]["traceback"]
