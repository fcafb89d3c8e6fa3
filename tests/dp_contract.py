"""What every framework's data-parallel tests check, called from each tests/test_<backend>_distributed.py
(each runs in its framework's virtualenv): the MLP GAN on two replicas, loopback only, bounded."""

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.distributed import run_distributed, run_dp_trace
from benchmarks.runner import RunConfig
from common.parity import max_rel_diff

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DP = REPO / "tests" / "golden" / "dp"
MODEL = "mindspore-mlp-gan"
TOL = 1e-9  # float64: only the order of the gradient reduction differs
TIMEOUT = 300


def load_ghost(model: str, parts: int) -> dict:
    """The reference a per-replica-BN run must reproduce (tests/dp_reference.py writes it, with torch)."""
    from common.models import get_model

    ref = json.loads((GOLDEN_DP / f"{model}__ghost{parts}.json").read_text())
    assert ref["spec_hash"] == get_model(model).spec_hash(), "regenerate with python -m tests.dp_reference"
    return ref


def worst(trace: dict, ref: dict) -> float:
    return max(max(max_rel_diff(trace["losses"][k], ref["losses"][k])) for k in ("d", "g"))


def check_per_replica_bn(
    backend: str,
    tmp_path: Path,
    transport: str,
    dtype: str = "float64",
    tol: float = TOL,
    far: float = 1e-4,
    nodes: int = 1,
) -> dict:
    """Per-replica BatchNorm on two replicas (two per node, or one on each of two nodes), ten
    iterations of `dtype`: within `tol` of the half-batch-BN reference, and more than `far` from the
    full-batch float64 trace, so it cannot pass by accident (a run that used one process's whole
    batch, or synchronised statistics, would). Returns the trace for the engine's own checks."""
    from common.parity import load_golden

    replicas = 2 // nodes
    t = run_dp_trace(backend, MODEL, replicas, tmp_path / "trace.json", dtype=dtype, timeout=TIMEOUT, nodes=nodes)
    got = (t["replicas"], t["nodes"], t["bn_mode"], t["transport"], t["dtype"])
    assert got == (replicas, nodes, "per_replica", transport, dtype)
    assert len(t["losses"]["d"]) == 10
    assert worst(t, load_ghost(MODEL, 2)) < tol
    assert worst(t, load_golden(MODEL, "float64")) > far
    return t


def check_sync_bn_refused(backend: str, mode: str, tmp_path: Path, **cfg) -> dict:
    """--sync-bn on CPU: refused with the engine's reason, and the refusal written as a result."""
    res = run_distributed(
        RunConfig(
            backend=backend,
            model=MODEL,
            device="cpu",
            data="synthetic",
            batch_size=16,
            warmup=1,
            steps=1,
            out=str(tmp_path),
            samples=False,
            replicas=2,
            sync_bn=True,
            **cfg,
        ),
        timeout=TIMEOUT,
    )
    assert res["status"] == "failed" and res["error"]["type"] == "ModeRefused", res["error"]
    assert "SyncBatchNorm" in res["error"]["message"] and (res["replicas"], res["bn_mode"]) == (2, "sync")
    saved = json.loads((tmp_path / f"{backend}__{MODEL}__cpu__{mode}__b16__r2-syncbn.json").read_text())
    assert saved["run_id"] == res["run_id"]
    return res


def run_command(backend: str, replicas: int, batch: int, *extra: str) -> list[str]:
    """`python -m benchmarks run` of the MLP GAN on this CPU: synthetic data, one warm-up and two timed
    iterations, no sample grid, bounded."""
    run = f"-m benchmarks run -m {MODEL} --device cpu --data synthetic --warmup 1 --steps 2 --no-samples".split()
    run += f"-b {backend} --replicas {replicas} --batch-size {batch} --timeout {TIMEOUT}".split()
    return [sys.executable, *run, *extra]


def harness_run(backend: str, tmp_path: Path, name: str, *extra: str, batch: int = 16) -> dict:
    """`python -m benchmarks run … --replicas 2`: one result, named `name`, in the invocation's run set
    (the launchers' logs beside it are not results)."""
    cmd = run_command(backend, 2, batch, "--out", str(tmp_path), *extra)
    subprocess.run(cmd, cwd=REPO, check=True, timeout=TIMEOUT + 30, capture_output=True)
    files = sorted(p for p in tmp_path.glob("*/*.json") if p.name != "manifest.json")
    assert [f.name for f in files] == [name]
    r = json.loads(files[0].read_text())
    assert r["status"] == "ok", r["error"]
    assert len(r["step_times_s"]) == 2
    return r


def check_harness_run(backend: str, tmp_path: Path, mode: str, transport: str) -> dict:
    """`benchmarks run --replicas 2` at global batch 16 (strong scaling): one result, per-replica
    BatchNorm over 8 samples a replica, through `transport`, with the losses of warmup and steps."""
    r = harness_run(backend, tmp_path, f"{backend}__{MODEL}__cpu__{mode}__b16__r2.json")
    assert (r["replicas"], r["bn_mode"], r["transport"], r["per_replica_batch"]) == (2, "per_replica", transport, 8)
    assert len(r["losses"]["d"]) == 3
    return r


def check_two_nodes_on_loopback(backend: str, tmp_path: Path, mode: str, transport: str) -> dict:
    """The multi-node recipe (README) as two 'hosts' on 127.0.0.1: the same command with --nodes 2 and
    --node-rank 0/1, one replica each; the engine's own rendezvous joins them, node 0 alone writes."""
    from benchmarks.distributed import free_port

    port = free_port()
    base = run_command(backend, 1, 16, "--nodes", "2", "--master-addr", "127.0.0.1", "--master-port", str(port))
    base += ["--threads", "1"]
    procs = [
        subprocess.Popen(
            base + ["--node-rank", str(r), "--out", str(tmp_path / f"node{r}")],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in (0, 1)
    ]
    errors = [p.communicate(timeout=TIMEOUT + 30)[1] for p in procs]
    assert not list((tmp_path / "node1").rglob(f"{backend}__*.json"))  # only node 0 writes a result
    found = list((tmp_path / "node0").rglob(f"{backend}__{MODEL}__cpu__{mode}__b16__r1n2.json"))
    assert len(found) == 1, errors[0][-3000:]
    r = json.loads(found[0].read_text())
    assert r["status"] == "ok", (r["error"], errors[1][-3000:])
    assert (r["replicas"], r["nodes"], r["world_size"], r["per_replica_batch"]) == (1, 2, 2, 8)
    assert r["transport"] == transport and len(r["step_times_s"]) == 2
    return r
