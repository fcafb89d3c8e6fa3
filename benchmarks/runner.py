"""One benchmark run (backend × model × device × mode) from config to result file.

`run_one` never raises: whatever goes wrong is recorded in the result with status "failed" and
its error, so the next run starts. `run_isolated` runs it in a child process, so even a framework
that kills its process (a segfault, an abort) leaves a failed result behind instead of ending the
whole benchmark, and each run's memory high-water mark is its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.memory import peak_rss_bytes, reset_peak_rss
from benchmarks.plan import resolve_batch, resolve_mode, run_mode
from benchmarks.timing import Stepper, SystemSampler, time_steps
from common.adam import adam_form_of, with_adam_form
from common.analysis import iteration_flops, param_count
from common.env import machine_env, now_iso
from common.feed import Feed, fixed_noise
from common.grid import save_grid
from common.models import get_model
from common.results import RESULT_SCHEMA, SCHEMA_VERSION, read_json, run_key, write_json_atomic
from common.state import initial_state
from common.throughput import throughput_stats

# Set by the worker when its parent stops it (Ctrl-C): the run then records nothing, even where a
# framework turned the interrupt into an ordinary exception that run_one would record as a failure.
STOPPING = threading.Event()
# What is neither progress nor a result goes through this logger: `-q` keeps warnings and errors,
# `-v` adds debug messages; a worker logs at its supervisor's level (LOG_LEVEL in its environment).
log = logging.getLogger("ganbench")
LOG_LEVEL = "GANBENCH_LOG_LEVEL"


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname}: {text}"


def setup_logging(level: int | None = None) -> None:
    """Messages to stderr, plain at INFO, prefixed from WARNING up; `level` None: LOG_LEVEL or INFO."""
    if level is None:
        level = int(os.environ.get(LOG_LEVEL) or logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Format("%(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


# signals that end a command the way Ctrl-C does (benchmarks.cli installs the handlers)
TERMINATION = (signal.SIGTERM, signal.SIGHUP)
SUPERVISOR = "GANBENCH_SUPERVISOR_PID"  # set for a worker: the process that started it
PROGRESS = "GANBENCH_PROGRESS"  # set for a worker: "1" where its supervisor writes to a terminal
WORKER = "benchmarks.worker"  # `python -m benchmarks.worker CONFIG_JSON`: the child of run_isolated


def _progress_wanted() -> str:
    """ "1" where progress bars belong: stderr is a terminal, or the supervisor said its is."""
    return os.environ.get(PROGRESS) or ("1" if sys.stderr.isatty() else "0")


FAIL_HOOK = "GANBENCH_FAIL_AT"  # test hook: "backend:model" raises, "backend:model:crash" kills the process


@dataclass
class RunConfig:
    backend: str
    model: str
    device: str = "cpu"
    mode: str | None = None
    warmup: int = 3
    steps: int = 10
    data: str = "auto"
    data_dir: str | None = None
    cache_dir: str | None = None
    download: bool = True
    seed: int = 0
    out: str = "results"
    batch_size: int | None = None
    threads: int | None = None
    samples: bool = True
    # --min-time / --target-ci / --max-time / --max-steps: extend the measured steps (timing.time_steps)
    min_time: float | None = None
    target_ci: float | None = None
    max_time: float | None = None
    max_steps: int | None = None
    adam_form: str | None = None  # None: the spec's own form (common/spec.py ADAM_FORMS)
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    # A private file the worker also writes its result to, so that the parent reads its own
    # worker's result and never whatever another writer left under the shared name.
    handback: str | None = None
    # data parallel (benchmarks/distributed.py): replicas per node, nodes, strong/weak scaling,
    # synchronised BatchNorm, and the engine's rendezvous for several nodes
    replicas: int = 1
    nodes: int = 1
    scaling: str = "strong"
    sync_bn: bool = False
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 0
    hostfile: str | None = None  # MXNet's launcher over ssh: the hosts it starts workers on

    @property
    def distributed(self) -> bool:
        return self.replicas > 1 or self.nodes > 1 or self.sync_bn or self.scaling != "strong"

    def key(self, mode: str | None = None) -> str:
        return run_key(self.backend, self.model, self.device, mode or self.mode or "default", self.batch_suffix())

    def batch_suffix(self) -> int | None:
        """The batch for the file name: only one that differs from the tutorial's (see run_key)."""
        if self.batch_size is None:
            return None
        try:
            tutorial = get_model(self.model).data.batch_size
        except Exception:  # an unknown model fails in run_one, with its own message
            return self.batch_size
        return None if self.batch_size == tutorial else self.batch_size


def result_path(cfg: RunConfig, mode: str) -> Path:
    return Path(cfg.out) / f"{cfg.key(mode)}.json"


def failed_path(cfg: RunConfig, mode: str) -> Path:
    """Where a failure goes when the run's own name holds a successful result (or belongs to
    another run that is still writing it): beside it, so the good result is never replaced."""
    return Path(cfg.out) / f"{cfg.key(mode)}.failed.json"


def write_result(cfg: RunConfig, res: dict, conflict: bool = False) -> Path:
    """Write a finished run's result under its name; a failure never replaces an ok result."""
    mode = res["mode"] or "default"
    path = result_path(cfg, mode)
    if res["status"] != "ok" and (conflict or _holds_ok(path)):
        path = failed_path(cfg, mode)
    write_json_atomic(path, res)
    if cfg.handback:
        write_json_atomic(Path(cfg.handback), res)
    return path


def _holds_ok(path: Path) -> bool:
    try:
        return read_json(path).get("status") == "ok"
    except (OSError, ValueError, AttributeError):
        return False


class RunLock:
    """`OUT/.KEY.lock` (O_EXCL, holding the pid) for the length of a run, so that two runs of one
    key into one folder are never a silent race: the second fails at once and says who holds it.
    A lock whose process is gone (a killed harness) is taken over."""

    def __init__(self, cfg: RunConfig, mode: str):
        self.path = Path(cfg.out) / f".{cfg.key(mode)}.lock"
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # the pid is in the file from the moment it exists (written aside, then linked in), so a lock
        # is never empty and release() can tell its own lock even if an interrupt hit before `held`
        mine = self.path.with_name(f"{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        mine.write_text(str(os.getpid()))
        try:
            for _ in range(2):
                try:
                    os.link(mine, self.path)
                except FileExistsError:
                    holder = self._holder()
                    if holder is not None and _alive(holder):
                        raise RunConflict(
                            f"another run (pid {holder}) is writing {self.path.name[1:-5]} in "
                            f"{self.path.parent}; wait for it or use another --out"
                        ) from None
                    self.path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                self.held = True
                return
        finally:
            mine.unlink(missing_ok=True)
        raise RunConflict(f"could not take {self.path} (another run keeps creating it)")

    def _holder(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self.held or self._holder() == os.getpid():
            self.path.unlink(missing_ok=True)
            self.held = False


class RunConflict(RuntimeError):
    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _base_result(cfg: RunConfig) -> dict:
    return {
        "schema": RESULT_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run_id": cfg.run_id,
        "backend": cfg.backend,
        "model": cfg.model,
        "device": cfg.device,
        "mode": cfg.mode,
        "status": "failed",
        "error": None,
        "data_source": None,
        "data_detail": None,
        "batch_size": cfg.batch_size,
        "warmup_steps": cfg.warmup,
        "measured_steps": cfg.steps,
        "seed": cfg.seed,
        "images_per_s": None,
        "throughput": None,
        "step_times_s": [],
        "warmup_times_s": [],
        "first_step_s": None,
        "setup_s": None,
        "losses": {"d": [], "g": []},
        "d_x": [],
        "d_g_z": [],
        "diverged": False,
        "peak_memory_bytes": None,
        "memory_kind": None,
        "flops_per_iteration": None,
        "params": None,
        "samples_png": None,
        "env": machine_env(),
        "spec_hash": None,
        "started_at": now_iso(),
        "finished_at": None,
    }


def _error(exc: BaseException) -> dict:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc))[-8000:],
    }


def open_source(spec, data: str, data_dir, cache_dir, download: bool, log=print):
    from common.data.sources import open_images  # numpy/Pillow/cv2 only

    d = spec.data
    return open_images(
        d.dataset,
        d.image_shape,
        d.resize,
        d.channels,
        source=data,
        data_dir=Path(data_dir) if data_dir else None,
        cache_dir=Path(cache_dir) if cache_dir else None,
        download=download,
        log=log,
    )


def run_one(cfg: RunConfig, progress: bool = True, lock: bool = True) -> dict:
    """Run and record one benchmark; the result is written to disk before returning.

    `lock`: hold OUT/.KEY.lock meanwhile (the worker of run_isolated runs under its parent's)."""
    if not lock:
        return _run_one(cfg, progress)
    held = RunLock(cfg, run_mode(cfg.backend, cfg.mode))
    try:
        with signals_held():  # an interrupt waits until the lock is held, so the finally releases it
            held.acquire()
        return _run_one(cfg, progress)
    except RunConflict as exc:
        return record_failure(cfg, exc, conflict=True)
    finally:
        held.release()


def record_failure(cfg: RunConfig, exc: BaseException, conflict: bool = False) -> dict:
    """A failed result for a run that could not start (no backend, a framework that raises on
    import, another run holding its name), written like any other result."""
    res = _base_result(cfg)
    res["mode"] = run_mode(cfg.backend, cfg.mode)
    res["error"] = _error(exc)
    res["finished_at"] = now_iso()
    write_result(cfg, res, conflict=conflict)
    return res


def _run_one(cfg: RunConfig, progress: bool) -> dict:
    from backends import load_backend

    if cfg.distributed:  # started by the framework's own launcher, also with --in-process
        from benchmarks.distributed import run_distributed

        return run_distributed(cfg)

    res = _base_result(cfg)
    out = Path(cfg.out)
    try:
        spec = with_adam_form(get_model(cfg.model), cfg.adam_form)
        res["adam_form"] = adam_form_of(spec)
        batch = resolve_batch(spec, cfg.batch_size)
        g, d = param_count(spec.generator), param_count(spec.discriminator)
        res.update(
            spec_hash=spec.spec_hash(),
            batch_size=batch,
            flops_per_iteration=iteration_flops(spec, batch),
            params={"G": g.trainable, "D": d.trainable, "G_fixed": g.fixed, "D_fixed": d.fixed},
        )
        cls = load_backend(cfg.backend)
        mode = resolve_mode(cls, spec, cfg.device, cfg.mode)
        res["mode"] = mode
        source = open_source(
            spec, cfg.data, cfg.data_dir, cfg.cache_dir, cfg.download, log=log.warning
        )  # open_images says only why data is synthetic
        res.update(data_source=source.kind, data_detail=source.description)

        reset_peak_rss()
        t0 = time.perf_counter()
        backend = cls(spec, cfg.device, mode, seed=cfg.seed, threads=cfg.threads)
        backend.load_state(initial_state(spec, cfg.seed))
        backend.sync()
        res["setup_s"] = time.perf_counter() - t0
        res["env"].update(backend.info())
        _maybe_fail(cfg)

        feed = Feed(spec, source, cfg.seed, batch)
        backend.reset_peak_memory()
        bar = _bar(cfg, mode) if progress else None
        sampler = SystemSampler()
        try:
            timing = time_steps(
                Stepper(backend, feed),
                cfg.warmup,
                cfg.steps,
                progress=(lambda k, dt: bar.update(1)) if bar else None,
                min_time=cfg.min_time,
                target_ci=cfg.target_ci,
                max_time=cfg.max_time,
                max_steps=cfg.max_steps,
                sampler=sampler,
                after_first=backend.check_placement,
            )
        finally:
            sampler.stop()  # a no-op when time_steps stopped it; ends the thread if a step raised
            if bar:
                bar.close()
        # how busy the machine was while measuring, and which rule ended the measured steps
        res.update(system=sampler.summary(), calibration=timing.calibration, measured_steps=len(timing.step_times_s))
        stats = [backend.read(h) for h in timing.handles]
        # compile/trace time is known once the first step has run (jit, to_static, graph mode)
        res["env"].update(backend.info())
        res["compile_s"] = res["env"].get("compile_s")
        losses_d = [s.d_loss for s in stats]
        losses_g = [s.g_loss for s in stats]
        dev_peak, kind = backend.peak_memory()
        if dev_peak is None:
            dev_peak, kind = peak_rss_bytes(), "process_peak_rss"
        tp = throughput_stats(timing.step_times_s, batch)
        res.update(
            status="ok",
            images_per_s=tp["median"] if tp else None,
            throughput=tp,
            step_times_s=timing.step_times_s,
            warmup_times_s=timing.warmup_s,
            first_step_s=timing.first_step_s,
            losses={"d": losses_d, "g": losses_g, "g_all": [list(s.g_losses) for s in stats]},
            d_x=[s.d_x for s in stats],
            d_g_z=[s.d_g_z1 for s in stats],
            d_g_z2=[s.d_g_z2 for s in stats],
            diverged=not bool(np.all(np.isfinite(losses_d + losses_g))),
            peak_memory_bytes=int(dev_peak),
            memory_kind=kind,
        )
        if cfg.samples:
            rel = Path("samples") / f"{cfg.key(mode)}.png"
            images = backend.generate(fixed_noise(spec, seed=cfg.seed))
            save_grid(out / rel, images, spec.data.image_shape)
            res["samples_png"] = rel.as_posix()
    except Exception as exc:  # recorded, not raised: the next run must start
        res["status"], res["error"] = "failed", _error(exc)
    if STOPPING.is_set():
        raise KeyboardInterrupt
    res["finished_at"] = now_iso()
    write_result(cfg, res)
    return res


def _maybe_fail(cfg: RunConfig) -> None:
    hook = os.environ.get(FAIL_HOOK, "")
    target = f"{cfg.backend}:{cfg.model}"
    if hook == target:
        raise RuntimeError(f"injected failure ({FAIL_HOOK}={hook})")
    if hook == f"{target}:crash":
        os._exit(70)  # dies like a segfaulting framework would: no exception, no result


def _bar(cfg: RunConfig, mode: str):
    from tqdm import tqdm

    # a bar on a terminal only: piped into a log, every frame would be a line (the log gets one line
    # per finished run). A worker's stderr is a pipe to its supervisor, which says what it writes to.
    terminal = _progress_wanted() == "1"
    return tqdm(
        total=cfg.warmup + cfg.steps,
        desc=f"{cfg.backend} {cfg.model} {cfg.device}/{mode}",
        unit="it",
        leave=False,
        file=sys.stderr,
        dynamic_ncols=True,
        disable=not terminal,
    )


# --- process isolation ---------------------------------------------------------------------------


def run_isolated(cfg: RunConfig, timeout: float | None = None) -> dict:
    """Run in a child interpreter; a child that dies or hangs is recorded as a failed run.

    The child runs in this process's working folder (the repository goes on PYTHONPATH), so
    relative --out, --data-dir and --cache-dir mean the same in both, and it hands its result
    back in a private file. Ctrl-C (KeyboardInterrupt here) stops the child, records nothing for
    this run and is raised again."""
    if cfg.distributed:  # the engine's launcher is the child (torchrun, …), bounded the same way
        from benchmarks.distributed import run_distributed

        return run_distributed(dataclasses.replace(cfg, out=str(Path(cfg.out).resolve())), timeout=timeout)
    mode = run_mode(cfg.backend, cfg.mode)
    held = RunLock(cfg, mode)
    try:
        with signals_held():  # an interrupt waits until the lock is held, so the finally releases it
            held.acquire()
        with tempfile.TemporaryDirectory(prefix="ganbench-") as private:
            child = dataclasses.replace(
                cfg, out=str(Path(cfg.out).resolve()), handback=str(Path(private) / "result.json")
            )
            return _supervise(child, mode, timeout)
    except RunConflict as exc:
        return record_failure(cfg, exc, conflict=True)
    finally:
        held.release()


def _supervise(cfg: RunConfig, mode: str, timeout: float | None) -> dict:
    cmd = [sys.executable, "-m", WORKER, json.dumps(dataclasses.asdict(cfg))]
    repo = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])),
        SUPERVISOR: str(os.getpid()),
        LOG_LEVEL: str(log.getEffectiveLevel()),
        PROGRESS: _progress_wanted(),
    }
    tail = bytearray()
    proc = None
    try:
        # an interrupt between the child's start and `proc` being set would orphan the child; held
        # back, it is raised as the block ends, inside the try that stops the child. The child inherits
        # the mask: the worker unblocks SIGTERM, and Ctrl-C and hang-ups reach it only through us.
        with signals_held():
            proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env)
        pump = threading.Thread(target=_pump, args=(proc.stderr, tail), daemon=True)
        pump.start()
        code = proc.wait(timeout=timeout)
        why = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
        why = f"timed out after {timeout:.0f} s"
    except BaseException:  # Ctrl-C: the child goes too, and this run records nothing
        if proc is not None:
            _stop(proc)
        _discard(cfg, mode)
        raise
    pump.join(timeout=5)
    try:
        found = read_json(Path(cfg.handback))
    except (OSError, ValueError):
        found = None
    if isinstance(found, dict) and found.get("run_id") == cfg.run_id:
        return found
    res = _base_result(cfg)
    res["mode"] = mode
    res["error"] = {
        "type": "WorkerDied",
        "message": f"the benchmark process ended without a result ({why})",
        "traceback": bytes(tail).decode(errors="replace")[-4000:],
    }
    res["finished_at"] = now_iso()
    write_result(dataclasses.replace(cfg, handback=None), res)
    return res


@contextlib.contextmanager
def signals_held():
    """Ctrl-C and the termination signals wait (pending) until the block ends (main thread only)."""
    held = {signal.SIGINT, *TERMINATION} if threading.current_thread() is threading.main_thread() else set()
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _discard(cfg: RunConfig, mode: str) -> None:
    """Remove what a stopped child may still have written for this run (its own run id only): a
    child interrupted while it was already recording a failure must not leave it behind."""
    for path in (result_path(cfg, mode), failed_path(cfg, mode)):
        try:
            if read_json(path).get("run_id") == cfg.run_id:
                path.unlink()
        except (OSError, ValueError, AttributeError):
            continue


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the worker turns it into a clean stop), then SIGKILL after a few seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pump(stream, tail: bytearray) -> None:
    """Forward the child's stderr (progress bars included) and keep its last bytes for the record."""
    out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
    while True:
        chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
        if not chunk:
            break
        if out is not None:
            out.write(chunk)
            out.flush()
        tail.extend(chunk)
        del tail[:-16384]
