"""Command line: `python -m benchmarks {run,bench-gpu,trace,reproduce,list}` — works with or without nox, with whatever
frameworks this interpreter can import."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from benchmarks.runner import RunConfig, run_isolated, run_one
from common.models import MODELS
from common.spec import ADAM_FORMS
from common.results import write_json_atomic

CPU_DEFAULTS = {"warmup": 3, "steps": 10}
CUDA_DEFAULTS = {"warmup": 10, "steps": 100}


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", "-b", nargs="+", help="backends (default: every importable one)")
    p.add_argument("--model", "-m", nargs="+", choices=list(MODELS), help="models (default: all five)")
    p.add_argument("--device", "-d", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: CUDA where the backend sees a GPU, else CPU")
    p.add_argument("--mode", nargs="+", help="execution modes, 'all', or 'best' (each backend's fastest faithful "
                                            "mode for the model and device); default: each backend's first")
    p.add_argument("--seed", type=int, default=0)
    _add_adam_form(p)


def _add_adam_form(p: argparse.ArgumentParser) -> None:
    p.add_argument("--adam-form", choices=list(ADAM_FORMS),
                   help="run every model with this Adam form instead of its tutorial's (an experiment; "
                        "recorded as adam_form; the spec hash changes with it)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--warmup", type=int, help="untimed iterations first (default: 3 on CPU, 10 on CUDA)")
    p.add_argument("--steps", type=int, help="timed iterations (default: 10 on CPU, 100 on CUDA)")
    p.add_argument("--batch-size", type=int, help="override the tutorial's batch size")
    p.add_argument("--data", default="auto", choices=["auto", "real", "synthetic"],
                   help="auto: real data when it can be had, else synthetic (with a loud warning)")
    p.add_argument("--data-dir", help="where datasets are looked for (default: $GANBENCH_DATA_DIR or ./data)")
    p.add_argument("--cache-dir", help="downloads and extracted archives (default: $GANBENCH_CACHE_DIR or "
                                       "~/.cache/ganbench)")
    p.add_argument("--no-download", action="store_true", help="never try the network for datasets")
    p.add_argument("--out", "-o", default="results", help="results directory (default: results)")
    p.add_argument("--threads", type=int, help="CPU threads for the framework (default: every core); "
                                               "set explicitly and recorded")
    p.add_argument("--timeout", type=float, default=3600, help="seconds before a run is killed and recorded "
                                                               "as failed")
    p.add_argument("--in-process", action="store_true", help="no child process per run (debugging)")
    p.add_argument("--no-samples", action="store_true", help="skip the sample grid PNG")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    run = sub.add_parser("run", help="time training steps and write one result file per run")
    gpu = sub.add_parser("bench-gpu", help="a GPU machine without nox: every importable backend × model × mode "
                                           "on CUDA, then the HTML report (= run --device cuda --mode all + "
                                           "reports build)")
    _add_common(run)
    _add_common(gpu)
    for p in (run, gpu):
        _add_run_options(p)

    tr = sub.add_parser("trace", help="parity mode: K steps from the canonical state, inputs written down")
    _add_common(tr)
    tr.add_argument("--steps", type=int, default=10)
    tr.add_argument("--batch-size", type=int, default=16)
    tr.add_argument("--out", "-o", default="results/traces")
    tr.add_argument("--golden-dir", help="also write losses only as GOLDEN_DIR/MODEL.json (the repository's "
                                         "golden traces: tests/golden, and tests/golden/f64 for float64)")
    tr.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                    help="float64: chaos-free parity references (backends that support it; eager only)")

    rp = sub.add_parser("reproduce", help="a tutorial's full training on real data: grids, GIF, checkpoints, metrics")
    rp.add_argument("model", choices=list(MODELS))
    rp.add_argument("--backend", "-b", help="default: the tutorial's own framework")
    rp.add_argument("--device", "-d", default="auto", choices=["auto", "cpu", "cuda"])
    rp.add_argument("--epochs", type=int, help="default: the tutorial's")
    rp.add_argument("--mode", help="execution mode, or 'best' (default: the backend's first, its plainest)")
    rp.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    rp.add_argument("--out", "-o", help="default: results/reproduce/MODEL__BACKEND")
    rp.add_argument("--data-dir")
    rp.add_argument("--cache-dir")
    rp.add_argument("--no-download", action="store_true")
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--batch-size", type=int, help="override the tutorial's batch size")
    rp.add_argument("--subset", type=int, help="use only the first N images (smoke runs; recorded)")
    rp.add_argument("--metric-samples", type=int, default=1000, help="samples per quality measurement")
    rp.add_argument("--keep", type=int, default=3, help="how many epoch checkpoints to keep")
    _add_adam_form(rp)

    sub.add_parser("list", help="models (with parameters and FLOPs) and importable backends")
    tc = sub.add_parser("train-classifier", help="train the MNIST feature extractor of the quality metrics (torch)")
    tc.add_argument("--data-dir")
    tc.add_argument("--epochs", type=int, default=6)
    tc.add_argument("--out", default=None, help="default: common/metrics/mnist_classifier.npz")
    one = sub.add_parser("_one", help=argparse.SUPPRESS)  # child of `run`: one run from a JSON config
    one.add_argument("config")
    return ap


def _backends(names: list[str] | None) -> list[str]:
    from backends import importable_backends, load_backend

    if names:
        for n in names:
            load_backend(n)  # fail early with the install hint
        return names
    found = importable_backends()
    if not found:
        sys.exit("no backend importable in this interpreter; install one (e.g. `pip install torch`)")
    return found


def _devices(backend: str, device: str) -> str:
    from backends import load_backend

    cls = load_backend(backend)
    if device == "auto":
        return "cuda" if cls.device_available("cuda") else "cpu"
    return device


def _modes(backend: str, modes: list[str] | None, model: str | None = None, device: str = "cpu") -> list[str | None]:
    from backends import load_backend
    from common.models import get_model

    cls = load_backend(backend)
    if not modes:
        return [None]
    if modes == ["all"]:
        return list(cls.modes)
    if modes == ["best"]:
        return [cls.best_mode(get_model(model), device)]
    unknown = [m for m in modes if m not in cls.modes]
    if unknown:
        sys.exit(f"{backend} has no mode {', '.join(unknown)}; its modes: {', '.join(cls.modes)}, or all, best")
    return modes


def cmd_run(a) -> int:
    backends = _backends(a.backend)
    models = a.model or list(MODELS)
    plan = []
    for b in backends:
        dev = _devices(b, a.device)
        defaults = CUDA_DEFAULTS if dev == "cuda" else CPU_DEFAULTS
        for m in models:
            for mode in _modes(b, a.mode, m, dev):
                plan.append(RunConfig(
                    backend=b, model=m, device=dev, mode=mode,
                    warmup=a.warmup if a.warmup is not None else defaults["warmup"],
                    steps=a.steps if a.steps is not None else defaults["steps"],
                    data=a.data, data_dir=a.data_dir, cache_dir=a.cache_dir, download=not a.no_download,
                    seed=a.seed, out=a.out, batch_size=a.batch_size, threads=a.threads or os.cpu_count(),
                    samples=not a.no_samples, adam_form=a.adam_form))
    results = []
    for k, cfg in enumerate(plan, 1):
        print(f"[{k}/{len(plan)}] {cfg.backend} {cfg.model} on {cfg.device}"
              f"{' (' + cfg.mode + ')' if cfg.mode else ''}: {cfg.warmup} warm-up + {cfg.steps} timed iterations",
              file=sys.stderr, flush=True)
        res = run_one(cfg) if a.in_process else run_isolated(cfg, timeout=a.timeout)
        results.append(res)
        print(_line(res), file=sys.stderr, flush=True)
    print(summary_table(results))
    print(f"results in {Path(a.out).resolve()}")
    return 0 if any(r["status"] == "ok" for r in results) else 1


def cmd_bench_gpu(a) -> int:
    """Every importable backend, model and mode on CUDA, then the report beside the results."""
    from backends import load_backend

    if a.device == "cpu":
        sys.exit("bench-gpu runs on CUDA; `python -m benchmarks run --device cpu --mode all` benchmarks the CPU")
    a.device = "cuda"
    a.mode = a.mode or ["all"]
    a.backend = [b for b in _backends(a.backend) if load_backend(b).device_available("cuda")]
    if not a.backend:
        sys.exit("bench-gpu: no importable backend sees a CUDA device here (`python -m benchmarks list` "
                 "shows what is importable; `run --device cpu` benchmarks the CPU)")
    rc = cmd_run(a)
    from reports import build_report

    outcome = build_report(Path(a.out))
    print(f"report: {outcome.html}")
    return rc


def _line(r: dict) -> str:
    if r["status"] != "ok":
        err = r.get("error") or {}
        return f"  FAILED: {err.get('type')}: {str(err.get('message'))[:300]}"
    tp = r["throughput"]
    data = "" if r["data_source"] == "real" else "  [SYNTHETIC data]"
    return (f"  {tp['median']:.1f} images/s (p10–p90 {tp['p10']:.1f}–{tp['p90']:.1f}), first step "
            f"{r['first_step_s']:.2f} s{data}")


def summary_table(results: list[dict]) -> str:
    rows = [("backend", "model", "device", "mode", "status", "images/s", "±jitter", "data")]
    for r in results:
        ok = r["status"] == "ok"
        rows.append((r["backend"], r["model"], r["device"], str(r["mode"]), r["status"],
                     f"{r['images_per_s']:.1f}" if ok else "-",
                     f"{r['throughput']['mad_jitter']:.1f}" if ok else "-", str(r["data_source"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)


def cmd_trace(a) -> int:
    from benchmarks.trace import run_trace, write_trace

    for b in _backends(a.backend):
        dev = _devices(b, a.device)
        for m in a.model or list(MODELS):
            for mode in _modes(b, a.mode, m, dev):
                trace, state0, inputs = run_trace(b, m, a.steps, a.batch_size, a.seed, dev, mode, dtype=a.dtype,
                                                  adam_form=a.adam_form)
                folder = write_trace(Path(a.out), trace, state0, inputs)
                if a.golden_dir:
                    golden = {k: v for k, v in trace.items() if k != "env"}
                    golden["env"] = {k: trace["env"].get(k) for k in ("framework", "framework_version", "cpu")}
                    write_json_atomic(Path(a.golden_dir) / f"{m}.json", golden)
                print(f"{b} {m}: d {trace['losses']['d'][-1]:.6f} g {trace['losses']['g'][-1]:.6f} -> {folder}")
    return 0


def cmd_list(a) -> int:
    from backends import REGISTRY, importable_backends
    from common.analysis import iteration_flops, param_count

    for m in MODELS.values():
        g, d = param_count(m.generator), param_count(m.discriminator)
        print(f"{m.name:22s} G {g.trainable:>11,d}  D {d.trainable:>11,d}  "
              f"{iteration_flops(m) / 1e9:8.1f} GFLOP/iteration  batch {m.data.batch_size}  {m.title}")
    have = importable_backends()
    print("backends: " + ", ".join(f"{b}{'' if b in have else ' (not importable)'}" for b in REGISTRY))
    return 0


def cmd_reproduce(a) -> int:
    from backends.base import BackendUnavailable
    from benchmarks.reproduce import Reproduction
    from common.data.errors import DataUnavailable

    try:
        rep = Reproduction(a.model, a.backend, a.device, a.epochs, a.out, a.data_dir, a.cache_dir,
                           not a.no_download, a.seed, a.subset, a.batch_size, a.metric_samples, a.keep,
                           log=lambda m: print(m, file=sys.stderr, flush=True), mode=a.mode,
                           adam_form=a.adam_form)
    except DataUnavailable as e:
        sys.exit(f"reproduce runs on real data only.\n{e}")
    except BackendUnavailable as e:
        sys.exit(str(e))
    rec = rep.run(resume=a.resume)
    print(f"{a.model} on {rec['backend']}: {rec['status']} after {rec['epochs_done']}/{rec['epochs_planned']} "
          f"epochs -> {rep.out}")
    if rec["error"]:
        print(f"  {rec['error']['type']}: {rec['error']['message']}")
    return 0 if rec["status"] == "completed" else 1


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if a.cmd == "_one":
        cfg = RunConfig(**json.loads(a.config))
        res = run_one(cfg)
        return 0 if res["status"] == "ok" else 1
    if a.cmd == "reproduce":
        return cmd_reproduce(a)
    if a.cmd == "train-classifier":
        from benchmarks.classifier import train_and_save
        from common.metrics.mnist_classifier import WEIGHTS

        train_and_save(Path(a.out) if a.out else WEIGHTS, a.data_dir, a.epochs)
        return 0
    return {"run": cmd_run, "bench-gpu": cmd_bench_gpu, "trace": cmd_trace, "list": cmd_list}[a.cmd](a)
