"""Data-parallel runs: started by each framework's own launcher, one result from rank 0.

`run_distributed(cfg)` is what `python -m benchmarks run --replicas N` does for one
(backend, model, device, mode): it starts the framework's engine the framework's way —

- torch: `torchrun --nproc-per-node N [--nnodes M --node-rank R] --master-addr A --master-port P
  -m benchmarks.distributed worker CONFIG` (one process per replica, Gloo on CPU, NCCL on CUDA);
- jax, mxnet: one process driving every replica (a device mesh; a list of contexts with a KVStore);
  on CPU, JAX's N host devices come from XLA_FLAGS=--xla_force_host_platform_device_count=N, set
  here before the child imports jax;
- mxnet over several nodes: MXNet's own launcher (backends/mxnet_launch.py), started once, on
  node 0: `--launcher local` puts every node's worker on this host (the loopback exercise),
  `--launcher ssh -H HOSTFILE` one on each host; the dist KVStore's scheduler and servers with them;
- a framework whose engine cannot run the configuration: one process that asks its adapter, which
  refuses with the reason (recorded like any refusal);

then waits (bounded) and returns rank 0's result. Each rank runs `worker`: the canonical initial
state, the run's global batch and noise from common/feed.py (every rank builds the same ones and
trains on its slice), the timing core of benchmarks/timing.py, each step's time maxed over ranks.

`run_dp_trace` is the data-parallel twin of `python -m benchmarks trace`: the parity inputs of
common/parity.py on N replicas, losses averaged over replicas, written to a JSON file.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def dp_fields(cfg, dp, engine=None, transport=None) -> dict:
    """The result keys a data-parallel run adds (README, result files)."""
    return {
        "replicas": dp.replicas,
        "nodes": dp.nodes,
        "world_size": dp.world,
        "scaling": dp.scaling,
        "bn_mode": dp.bn_mode,
        "engine": engine,
        "transport": transport,
        "per_replica_batch": None,
        "comm_s": None,
    }


def dp_suffix(cfg) -> str:
    s = f"r{cfg.replicas}" + (f"n{cfg.nodes}" if cfg.nodes > 1 else "")
    return s + ("-weak" if cfg.scaling == "weak" else "") + ("-syncbn" if cfg.sync_bn else "")


def dp_result_path(cfg, mode: str) -> Path:
    return Path(cfg.out) / f"{cfg.key(mode)}__{dp_suffix(cfg)}.json"


def setup_of(cfg, rank: int = 0):
    from backends.dp import DPSetup

    return DPSetup(
        replicas=cfg.replicas,
        nodes=cfg.nodes,
        scaling=cfg.scaling,
        sync_bn=cfg.sync_bn,
        rank=rank,
        master_addr=cfg.master_addr,
        master_port=cfg.master_port,
        node_rank=cfg.node_rank,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launcher_of(backend: str) -> str:
    from backends import REGISTRY

    return REGISTRY[backend].launcher if backend in REGISTRY else "refuse"


def _log_dir(out: str, launcher: str) -> Path:
    from common.results import LAUNCHER_LOGS

    return Path(out) / LAUNCHER_LOGS / launcher


def launch_command(payload: dict, launcher: str) -> tuple[list[str], dict]:
    """The engine's own launcher command and environment for one data-parallel job."""
    cfg = payload["cfg"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    arg = json.dumps(payload)
    worker = ["-m", "benchmarks.distributed", "worker", arg]
    if launcher == "torchrun":
        per = max(1, (cfg.get("threads") or len(os.sched_getaffinity(0))) // cfg["replicas"])
        env["OMP_NUM_THREADS"] = str(per)
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            str(cfg["replicas"]),
            "--nnodes",
            str(cfg["nodes"]),
            "--node-rank",
            str(cfg["node_rank"]),
            "--master-addr",
            cfg["master_addr"],
            "--master-port",
            str(cfg["master_port"]),
            *worker,
        ]
        return cmd, env
    if launcher == "paddle_launch":
        env["OMP_NUM_THREADS"] = str(max(1, (cfg.get("threads") or len(os.sched_getaffinity(0))) // cfg["replicas"]))
        log_dir = Path(payload.get("log_dir") or _log_dir(cfg["out"], "paddle"))
        cmd = [
            sys.executable,
            "-m",
            "paddle.distributed.launch",
            "--nproc_per_node",
            str(cfg["replicas"]),
            "--nnodes",
            str(cfg["nodes"]),
            "--rank",
            str(cfg["node_rank"]),
            "--master",
            f"{cfg['master_addr']}:{cfg['master_port']}",
            "--log_dir",
            str(log_dir),
            # every node must name the same job: the launcher's rendezvous is keyed by it
            "--job_id",
            f"ganbench-{cfg['master_port']}" if cfg["nodes"] > 1 else f"ganbench-{cfg['run_id'][:8]}",
        ]
        if cfg["nodes"] == 1:
            cmd += ["--host", "127.0.0.1"]
        return cmd + [str(ROOT / "benchmarks" / "distributed.py"), "worker", arg], env
    if launcher == "msrun":
        env["OMP_NUM_THREADS"] = str(max(1, (cfg.get("threads") or len(os.sched_getaffinity(0))) // cfg["replicas"]))
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # msrun runs `python`
        log_dir = _log_dir(cfg["out"], "msrun")
        cmd = [
            sys.executable,
            "-m",
            "mindspore.parallel.cluster.run",
            f"--worker_num={cfg['replicas'] * cfg['nodes']}",
            f"--local_worker_num={cfg['replicas']}",
            f"--master_addr={cfg['master_addr']}",
            f"--master_port={cfg['master_port']}",
            f"--node_rank={cfg['node_rank']}",
            f"--log_dir={log_dir}",
            "--join=True",
        ]
        return cmd + [str(ROOT / "benchmarks" / "distributed.py"), "worker", arg], env
    if launcher == "mxnet_launch" and cfg["nodes"] > 1:
        # dmlc_tracker joins the command into one shell line (and over ssh wraps it in single
        # quotes), so the payload travels as base64, which needs no quoting
        coded = base64.urlsafe_b64encode(arg.encode()).decode()
        how = ["--launcher", "local"]  # every node's worker on this host
        if cfg.get("hostfile"):
            how = ["--launcher", "ssh", "-H", str(Path(cfg["hostfile"]).resolve())]
        nodes = str(cfg["nodes"])
        cmd = [sys.executable, "-m", "backends.mxnet_launch", "-n", nodes, "-s", nodes, *how]
        return cmd + [shlex.quote(w) for w in (sys.executable, *worker[:-1], coded)], env
    if launcher in ("single", "mxnet_launch"):
        if payload["backend"] == "jax" and cfg["device"] == "cpu":
            # must be set before jax is imported: the child's N host devices are the replicas
            flags = env.get("XLA_FLAGS", "")
            env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={cfg['replicas']}".strip()
        return [sys.executable, *worker], env
    return [sys.executable, *worker], env


def _stop_session(proc: subprocess.Popen) -> None:
    """SIGTERM to the launcher and every rank (they run in a session of their own, out of reach of a
    terminal's Ctrl-C), then SIGKILL to whatever of that session is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _launch(payload: dict, timeout: float | None) -> tuple[int | None, str, str]:
    """Run the job; (exit code or None on timeout, why, output tail)."""
    launcher = launcher_of(payload["backend"])
    cmd, env = launch_command(payload, launcher)
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        code = proc.returncode
        why = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
    except subprocess.TimeoutExpired:
        # the launcher and every rank it started are in the session we created for it
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        code, why = None, f"timed out after {timeout:.0f} s"
    except BaseException:  # Ctrl-C or termination of this process: the job's own session goes too
        _stop_session(proc)
        raise
    text = out.decode(errors="replace")
    # paddle launch and msrun send their ranks' output to files: each rank's tail joins the launcher's
    where = {"paddle_launch": ("paddle", "workerlog.*"), "msrun": ("msrun", "worker_*.log")}.get(launcher)
    logs = _log_dir(payload["cfg"]["out"], where[0]) if where else None
    if logs is not None and logs.is_dir():
        text += "".join(
            f"\n--- {p.name} ---\n" + p.read_text(errors="replace")[-3000:] for p in sorted(logs.glob(where[1]))
        )
    tail = text[-6000:]
    sys.stderr.write(tail[-3000:])
    return code, why, tail


def launch_problem(cfg) -> str | None:
    """Why the engine's launcher cannot start this multi-node configuration, or None."""
    if cfg.nodes == 1:
        return None
    if launcher_of(cfg.backend) == "mxnet_launch":  # one launch on node 0 starts every node's worker
        if cfg.node_rank > 0:
            return (
                f"MXNet's launcher starts every node's worker from node 0 (over ssh, --hostfile): "
                f"there is nothing to run on node {cfg.node_rank}"
            )
        if not cfg.hostfile and cfg.master_addr not in ("127.0.0.1", "localhost"):
            return "mxnet over several hosts needs --hostfile (the hosts MXNet's launcher reaches over ssh)"
        if not cfg.hostfile and cfg.device == "cuda":  # each worker drives gpu(0) … gpu(N-1)
            return (
                "mxnet --nodes M without --hostfile puts every worker on this host, where they would "
                "all drive the same GPUs: use --replicas (one worker over this host's GPUs)"
            )
        return None
    if not cfg.master_port:  # every host must name the same rendezvous
        return (
            "--nodes > 1 needs --master-addr and --master-port (node 0's address and a free port "
            "there), the same on every host"
        )
    return None


def run_distributed(cfg, timeout: float | None = None) -> dict:
    """One data-parallel benchmark run; the result rank 0 wrote, or a failed one saying why none came."""
    from benchmarks.plan import run_mode
    from benchmarks.runner import _base_result
    from common.env import now_iso
    from common.results import read_json, write_json_atomic

    problem = launch_problem(cfg)
    if problem:
        res = _base_result(cfg)
        res.update(dp_fields(cfg, setup_of(cfg)), mode=run_mode(cfg.backend, cfg.mode), finished_at=now_iso())
        res["error"] = {"type": "ValueError", "message": problem, "traceback": ""}
        if cfg.node_rank == 0:
            write_json_atomic(dp_result_path(cfg, res["mode"]), res)
        return res
    if not cfg.master_port:
        cfg = dataclasses.replace(cfg, master_port=free_port())
    mode = run_mode(cfg.backend, cfg.mode)
    payload = {"kind": "run", "backend": cfg.backend, "cfg": dataclasses.asdict(cfg)}
    code, why, tail = _launch(payload, timeout)
    path = dp_result_path(cfg, mode)
    if cfg.node_rank == 0 and path.exists():
        found = read_json(path)
        if found.get("run_id") == cfg.run_id:
            return found
    res = _base_result(cfg)
    res.update(dp_fields(cfg, setup_of(cfg)))
    res["mode"] = mode
    res["error"] = {
        "type": "WorkerDied",
        "message": f"the data-parallel job ended without a result ({why})",
        "traceback": tail[-4000:],
    }
    if cfg.node_rank > 0:  # not an error when the job ended well: node 0 writes the one result
        res["error"] = {
            "type": "OtherNode" if code == 0 else "WorkerDied",
            "message": f"node {cfg.node_rank} ran its replicas ({why}); node 0 writes the result",
            "traceback": tail[-4000:],
        }
    res["finished_at"] = now_iso()
    if cfg.node_rank == 0:
        write_json_atomic(path, res)
    return res


def run_dp_trace(
    backend: str,
    model: str,
    replicas: int,
    out: Path,
    sync_bn: bool = False,
    dtype: str = "float64",
    steps: int = 10,
    batch: int = 16,
    seed: int = 0,
    device: str = "cpu",
    timeout: float = 600,
    threads: int | None = None,
    nodes: int = 1,
) -> dict:
    """Parity trace on `replicas` replicas (strong scaling: `batch` is the global batch); returns the
    trace JSON (also written to `out`) or raises with the launcher's output."""
    from benchmarks.runner import RunConfig

    cfg = RunConfig(
        backend=backend,
        model=model,
        device=device,
        seed=seed,
        batch_size=batch,
        threads=threads,
        replicas=replicas,
        nodes=nodes,
        sync_bn=sync_bn,
        master_port=free_port(),
        out=str(Path(out).parent),
    )
    payload = {
        "kind": "trace",
        "backend": backend,
        "cfg": dataclasses.asdict(cfg),
        "dtype": dtype,
        "steps": steps,
        "trace_out": str(out),
    }
    code, why, tail = _launch(payload, timeout)
    if not Path(out).exists():
        raise RuntimeError(f"data-parallel trace of {backend} {model} wrote nothing ({why}):\n{tail}")
    return json.loads(Path(out).read_text())


# --- inside the job ------------------------------------------------------------------------------


def _rank() -> int:
    # torchrun and msrun set RANK; paddle.distributed.launch sets PADDLE_TRAINER_ID
    for var in ("RANK", "PADDLE_TRAINER_ID", "RANK_ID"):  # msrun sets RANK_ID
        if os.environ.get(var):
            return int(os.environ[var])
    return 0


def worker(payload: dict) -> int:
    from backends.dp import load_dp_backend
    from benchmarks.runner import RunConfig

    cfg = RunConfig(**payload["cfg"])
    try:
        joined = load_dp_backend(cfg.backend).join(cfg.device)
    except Exception:  # an adapter that does not import: the run below records why
        joined = None
    rank = _rank() if joined is None else joined
    try:
        if payload["kind"] == "trace":
            code = _trace_worker(cfg, payload, rank)
        else:
            code = _run_worker(cfg, rank)
    except BaseException:
        if joined is None:
            raise
        traceback.print_exc()
        code = 1
    if code and joined is not None:
        # A worker of a joined job (MXNet's dist KVStore) that failed must not leave through the
        # engine's shutdown, which waits for every worker while the others wait for its gradients:
        # it exits at once, and MXNet's launcher (backends/mxnet_launch.py) ends the job.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _make_backend(cfg, rank: int, dtype: str = "float32"):
    from backends.dp import load_dp_backend
    from benchmarks.plan import resolve_batch
    from common.models import get_model
    from common.state import initial_state

    spec = get_model(cfg.model)
    dp = setup_of(cfg, rank)
    dp.check(resolve_batch(spec, cfg.batch_size))
    cls = load_dp_backend(cfg.backend).with_dtype(dtype)
    # one process per replica shares the cores; one process driving every replica keeps them all
    threads = cfg.threads and max(1, cfg.threads // (cfg.replicas if cls.launcher != "single" else 1))
    backend = cls(spec, cfg.device, cfg.mode, seed=cfg.seed, threads=threads, dp=dp)
    backend.load_state(initial_state(spec, cfg.seed))
    return spec, dp, backend


def _trace_worker(cfg, payload: dict, rank: int) -> int:
    from common.models import get_model
    from common.parity import parity_inputs
    from common.results import write_json_atomic

    spec, dp, backend = _make_backend(cfg, rank, payload["dtype"])
    inputs = parity_inputs(spec, payload["steps"], cfg.batch_size, cfg.seed)
    stats = [backend.read(backend.step(real, noise)) for real, noise in inputs]
    if dp.rank == 0:
        losses = {k: [s.as_dict()[k] for s in stats] for k in ("d", "g", "d_x", "d_g_z1", "d_g_z2", "g_all")}
        write_json_atomic(
            Path(payload["trace_out"]),
            {
                "schema": "ganbench-dp-trace",
                "backend": cfg.backend,
                "model": cfg.model,
                "replicas": dp.replicas,
                "nodes": dp.nodes,
                "bn_mode": dp.bn_mode,
                "scaling": dp.scaling,
                "dtype": payload["dtype"],
                "batch_size": cfg.batch_size,
                "steps": payload["steps"],
                "spec_hash": get_model(cfg.model).spec_hash(),
                "engine": backend.engine,
                "transport": backend.transport,
                "losses": losses,
                "env": backend.info(),
            },
        )
    backend.close()
    return 0


def _maybe_fail_rank(cfg, rank: int) -> None:
    """Test hook: GANBENCH_FAIL_AT="backend:model:rankR" fails rank R alone, once the job has formed."""
    from benchmarks.runner import FAIL_HOOK

    if os.environ.get(FAIL_HOOK) == f"{cfg.backend}:{cfg.model}:rank{rank}":
        raise RuntimeError(f"injected failure of rank {rank} ({FAIL_HOOK})")


def _writes_result(cfg, rank: int) -> bool:
    """Global rank 0 writes; it lives on node 0 (one-process engines have rank 0 on every node)."""
    return rank == 0 and cfg.node_rank == 0


def _run_worker(cfg, rank: int) -> int:
    from benchmarks.memory import peak_rss_bytes, reset_peak_rss
    from benchmarks.plan import resolve_batch, run_mode
    from benchmarks.runner import _base_result, _error, open_source
    from benchmarks.timing import Stepper, time_steps
    from common.analysis import iteration_flops, param_count
    from common.env import now_iso
    from common.feed import Feed, fixed_noise
    from common.grid import save_grid
    from common.models import get_model
    from common.results import write_json_atomic
    from common.throughput import throughput_stats

    dp = setup_of(cfg, rank)
    res = _base_result(cfg)
    res.update(dp_fields(cfg, dp))
    mode = run_mode(cfg.backend, cfg.mode)
    res["mode"] = mode
    backend = None
    try:
        spec = get_model(cfg.model)
        tutorial = resolve_batch(spec, cfg.batch_size)
        dp.check(tutorial)
        batch = dp.global_batch(tutorial)
        g, d = param_count(spec.generator), param_count(spec.discriminator)
        res.update(
            spec_hash=spec.spec_hash(),
            batch_size=batch,
            per_replica_batch=batch // dp.world,
            flops_per_iteration=iteration_flops(spec, batch),
            params={"G": g.trainable, "D": d.trainable, "G_fixed": g.fixed, "D_fixed": d.fixed},
        )
        source = open_source(
            spec,
            cfg.data,
            cfg.data_dir,
            cfg.cache_dir,
            cfg.download,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
        res.update(data_source=source.kind, data_detail=source.description)
        reset_peak_rss()
        t0 = time.perf_counter()
        spec, dp, backend = _make_backend(cfg, rank)
        _maybe_fail_rank(cfg, rank)
        backend.sync()
        res["setup_s"] = time.perf_counter() - t0
        res["env"].update(backend.info())
        res.update(engine=backend.engine, transport=backend.transport)
        feed = Feed(spec, source, cfg.seed, batch)
        backend.barrier()  # every rank starts the clock together
        timing = time_steps(Stepper(backend, feed), cfg.warmup, cfg.steps, after_first=backend.check_placement)
        # the step of a data-parallel run lasts as long as its slowest replica
        steps_max = backend.max_over_ranks(timing.step_times_s) if timing.step_times_s else []
        warm_max = backend.max_over_ranks(timing.warmup_s) if timing.warmup_s else []
        stats = [backend.read(h) for h in timing.handles]
        res["env"].update(backend.info())
        res["compile_s"] = res["env"].get("compile_s")
        comm = backend.comm_s()
        losses_d, losses_g = [s.d_loss for s in stats], [s.g_loss for s in stats]
        dev_peak, kind = backend.peak_memory()
        if dev_peak is None:
            dev_peak, kind = peak_rss_bytes(), "process_peak_rss"
        tp = throughput_stats(steps_max, batch)
        res.update(
            status="ok",
            images_per_s=tp["median"] if tp else None,
            throughput=tp,
            step_times_s=steps_max,
            step_times_rank0_s=timing.step_times_s,
            warmup_times_s=warm_max,
            first_step_s=warm_max[0] if warm_max else (steps_max or [None])[0],
            comm_s=comm,
            losses={"d": losses_d, "g": losses_g, "g_all": [list(s.g_losses) for s in stats]},
            d_x=[s.d_x for s in stats],
            d_g_z=[s.d_g_z1 for s in stats],
            d_g_z2=[s.d_g_z2 for s in stats],
            diverged=not bool(np.all(np.isfinite(losses_d + losses_g))),
            peak_memory_bytes=int(dev_peak),
            memory_kind=kind,
        )
        if cfg.samples:
            # every process generates: where one program spans several hosts (JAX), all must run it
            images = backend.generate(fixed_noise(spec, seed=cfg.seed))
            if _writes_result(cfg, rank):
                rel = Path("samples") / f"{cfg.key(mode)}__{dp_suffix(cfg)}.png"
                save_grid(Path(cfg.out) / rel, images, spec.data.image_shape)
                res["samples_png"] = rel.as_posix()
    except Exception as exc:  # recorded, not raised (a refusal included)
        res["status"], res["error"] = "failed", _error(exc)
    res["finished_at"] = now_iso()
    if _writes_result(cfg, rank):
        write_json_atomic(dp_result_path(cfg, mode), res)
    elif res["status"] != "ok":  # no file of its own: its launcher's output is the only place this error shows
        print(f"node {cfg.node_rank} rank {rank} failed:\n{res['error']['traceback']}", file=sys.stderr)
    if backend is not None:
        backend.close()
    return 0 if res["status"] == "ok" else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "worker":
        arg = argv[1]  # JSON, or base64 JSON where a launcher's shell line carries it
        return worker(json.loads(arg if arg.startswith("{") else base64.urlsafe_b64decode(arg)))
    print("usage: python -m benchmarks.distributed worker PAYLOAD_JSON (started by run_distributed)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
