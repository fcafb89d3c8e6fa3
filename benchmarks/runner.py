"""One benchmark run (backend × model × device × mode) from config to result file.

`run_one` never raises: whatever goes wrong is recorded in the result with status "failed" and
its error, so the next run starts. `run_isolated` runs it in a child process, so even a framework
that kills its process (a segfault, an abort) leaves a failed result behind instead of ending the
whole benchmark, and each run's memory high-water mark is its own.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.memory import peak_rss_bytes, reset_peak_rss
from benchmarks.timing import Stepper, throughput_stats, time_steps
from common.analysis import iteration_flops, param_count
from common.env import machine_env, now_iso
from common.feed import Feed, fixed_noise
from common.grid import save_grid
from common.adam import adam_form_of, with_adam_form
from common.models import get_model
from common.results import RESULT_SCHEMA, SCHEMA_VERSION, read_json, run_key, write_json_atomic
from common.state import initial_state

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
    adam_form: str | None = None  # None: the spec's own form (common/spec.py ADAM_FORMS)
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)

    def key(self, mode: str | None = None) -> str:
        return run_key(self.backend, self.model, self.device, mode or self.mode or "default")


def result_path(cfg: RunConfig, mode: str) -> Path:
    return Path(cfg.out) / f"{cfg.key(mode)}.json"


def _base_result(cfg: RunConfig) -> dict:
    return {
        "schema": RESULT_SCHEMA, "schema_version": SCHEMA_VERSION, "run_id": cfg.run_id,
        "backend": cfg.backend, "model": cfg.model, "device": cfg.device, "mode": cfg.mode,
        "status": "failed", "error": None, "data_source": None, "data_detail": None,
        "batch_size": cfg.batch_size, "warmup_steps": cfg.warmup, "measured_steps": cfg.steps, "seed": cfg.seed,
        "images_per_s": None, "throughput": None, "step_times_s": [], "warmup_times_s": [],
        "first_step_s": None, "setup_s": None,
        "losses": {"d": [], "g": []}, "d_x": [], "d_g_z": [], "diverged": False,
        "peak_memory_bytes": None, "memory_kind": None,
        "flops_per_iteration": None, "params": None, "samples_png": None,
        "env": machine_env(), "spec_hash": None, "started_at": now_iso(), "finished_at": None,
    }


def _error(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc))[-8000:]}


def open_source(spec, data: str, data_dir, cache_dir, download: bool, log=print):
    from common.data.sources import open_images  # numpy/Pillow/cv2 only

    d = spec.data
    return open_images(d.dataset, d.image_shape, d.resize, d.channels, source=data,
                       data_dir=Path(data_dir) if data_dir else None,
                       cache_dir=Path(cache_dir) if cache_dir else None, download=download, log=log)


def run_one(cfg: RunConfig, progress: bool = True) -> dict:
    """Run and record one benchmark; the result is written to disk before returning."""
    from backends import load_backend

    res = _base_result(cfg)
    out = Path(cfg.out)
    try:
        spec = with_adam_form(get_model(cfg.model), cfg.adam_form)
        res["adam_form"] = adam_form_of(spec)
        batch = cfg.batch_size or spec.data.batch_size
        g, d = param_count(spec.generator), param_count(spec.discriminator)
        res.update(spec_hash=spec.spec_hash(), batch_size=batch, flops_per_iteration=iteration_flops(spec, batch),
                   params={"G": g.trainable, "D": d.trainable, "G_fixed": g.fixed, "D_fixed": d.fixed})
        cls = load_backend(cfg.backend)
        mode = cfg.mode or cls.modes[0]
        res["mode"] = mode
        source = open_source(spec, cfg.data, cfg.data_dir, cfg.cache_dir, cfg.download,
                             log=lambda m: print(m, file=sys.stderr, flush=True))
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
        try:
            timing = time_steps(Stepper(backend, feed), cfg.warmup, cfg.steps,
                                progress=(lambda k, dt: bar.update(1)) if bar else None)
        finally:
            if bar:
                bar.close()
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
            status="ok", images_per_s=tp["median"] if tp else None, throughput=tp,
            step_times_s=timing.step_times_s, warmup_times_s=timing.warmup_s, first_step_s=timing.first_step_s,
            losses={"d": losses_d, "g": losses_g, "g_all": [list(s.g_losses) for s in stats]},
            d_x=[s.d_x for s in stats], d_g_z=[s.d_g_z1 for s in stats], d_g_z2=[s.d_g_z2 for s in stats],
            diverged=not bool(np.all(np.isfinite(losses_d + losses_g))),
            peak_memory_bytes=int(dev_peak), memory_kind=kind,
        )
        if cfg.samples:
            rel = Path("samples") / f"{cfg.key(mode)}.png"
            images = backend.generate(fixed_noise(spec, seed=cfg.seed))
            save_grid(out / rel, images, spec.data.image_shape)
            res["samples_png"] = rel.as_posix()
    except Exception as exc:  # recorded, not raised: the next run must start
        res["status"], res["error"] = "failed", _error(exc)
    res["finished_at"] = now_iso()
    write_json_atomic(result_path(cfg, res["mode"] or "default"), res)
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

    return tqdm(total=cfg.warmup + cfg.steps, desc=f"{cfg.backend} {cfg.model} {cfg.device}/{mode}",
                unit="it", leave=False, file=sys.stderr, dynamic_ncols=True)


# --- process isolation ---------------------------------------------------------------------------

def run_isolated(cfg: RunConfig, timeout: float | None = None) -> dict:
    """Run in a child interpreter; a child that dies or hangs is recorded as a failed run."""
    cmd = [sys.executable, "-m", "benchmarks", "_one", json.dumps(dataclasses.asdict(cfg))]
    tail = bytearray()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
    pump = threading.Thread(target=_pump, args=(proc.stderr, tail), daemon=True)
    pump.start()
    try:
        code = proc.wait(timeout=timeout)
        why = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
        why = f"timed out after {timeout:.0f} s"
    pump.join(timeout=5)
    found = _find_result(cfg)
    if found is not None and found.get("run_id") == cfg.run_id:
        return found
    res = _base_result(cfg)
    res["mode"] = cfg.mode or _default_mode(cfg.backend)
    res["error"] = {"type": "WorkerDied", "message": f"the benchmark process ended without a result ({why})",
                    "traceback": bytes(tail).decode(errors="replace")[-4000:]}
    res["finished_at"] = now_iso()
    write_json_atomic(result_path(cfg, res["mode"]), res)
    return res


def _default_mode(backend: str) -> str:
    try:
        from backends import load_backend

        return load_backend(backend).modes[0]
    except Exception:
        return "default"


def _find_result(cfg: RunConfig) -> dict | None:
    for path in Path(cfg.out).glob(f"{cfg.backend}__{cfg.model}__{cfg.device}__*.json"):
        try:
            data = read_json(path)
        except (OSError, ValueError):
            continue
        if data.get("run_id") == cfg.run_id:
            return data
    return None


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
