"""Command line: `python -m benchmarks COMMAND` — works with or without nox, with whatever frameworks
this interpreter can import."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks.plan import UnknownMode, resolve_counts, resolve_device, resolve_modes, resolve_threads
from benchmarks.runner import TERMINATION, RunConfig, log, record_failure, run_isolated, run_one, setup_logging
from common.models import MODELS
from common.results import write_json_atomic
from common.spec import ADAM_FORMS
from common.stability import stability_warnings


def _at_least(low: int, kind=int):
    """argparse type: a number >= low, else one line naming the allowed range."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not value >= low:
            raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: {low} or more")
        return value

    parse.__name__ = "integer" if kind is int else "number"
    return parse


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: more than 0 seconds")
    return value


def _backend_name(text: str) -> str:
    from backends import REGISTRY

    if text not in REGISTRY:
        raise argparse.ArgumentTypeError(f"unknown backend {text!r}; known backends: {', '.join(REGISTRY)}")
    return text


class _Names(argparse.Action):
    """`-b torch jax`, `-b torch,jax` and `-b torch -b jax` all mean [torch, jax]; an unknown name is
    one usage line naming the known ones."""

    def __init__(self, *args, known, what, **kw):
        super().__init__(*args, nargs="+", **kw)
        self.known, self.what = known, what

    def __call__(self, parser, namespace, values, option_string=None):
        known = self.known()
        names = [w.strip() for v in values for w in v.split(",") if w.strip()]
        for n in names:
            if n not in known:
                parser.error(
                    f"argument {'/'.join(self.option_strings)}: unknown {self.what} {n!r}; "
                    f"known {self.what}s: {', '.join(known)}"
                )
        setattr(namespace, self.dest, list(dict.fromkeys([*(getattr(namespace, self.dest) or []), *names])))


def _registry() -> list[str]:
    from backends import REGISTRY

    return list(REGISTRY)


def _add_verbosity(p: argparse.ArgumentParser, top: bool = False) -> None:
    """-q/-v before or after the command; a command's own flags default to 'not given', so that
    `python -m benchmarks -q run` keeps its -q."""
    d = {} if top else {"default": argparse.SUPPRESS}
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings, errors and results", **d)
    p.add_argument("-v", "--verbose", action="store_true", help="also debug messages", **d)


def _add_common(p: argparse.ArgumentParser) -> None:
    _add_verbosity(p)
    p.add_argument(
        "--backend",
        "-b",
        action=_Names,
        known=_registry,
        what="backend",
        metavar="BACKEND",
        help="backends, space- or comma-separated (default: every importable one; "
        "`python -m benchmarks list` names them)",
    )
    p.add_argument(
        "--model",
        "-m",
        action=_Names,
        known=lambda: list(MODELS),
        what="model",
        metavar="MODEL",
        help=f"models, space- or comma-separated (default: all five: {', '.join(MODELS)})",
    )
    p.add_argument(
        "--device",
        "-d",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto: CUDA where the backend sees a GPU, else CPU",
    )
    p.add_argument(
        "--mode",
        nargs="+",
        help="execution modes, space- or comma-separated (e.g. best,plain), "
        "with 'all', 'best' (each backend's fastest faithful mode for the model "
        "and device) and 'plain' (its first, the tutorial's); default: plain",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights, data order and noise (default: 0)")
    _add_adam_form(p)


def _add_adam_form(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--adam-form",
        choices=list(ADAM_FORMS),
        help="run every model with this Adam form instead of its tutorial's (an experiment; "
        "recorded as adam_form; the spec hash changes with it)",
    )


def _batch_list(text: str) -> list[int]:
    """'32,64,128' -> [32, 64, 128]; anything else is one usage line naming the allowed range."""
    try:
        sizes = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(b < 1 for b in sizes):
        raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: 1 or more, or a list such as 32,64,128")
    return sizes


def _batch_sizes(given: list[list[int]] | None) -> list[int | None]:
    """The batch sizes to run, in the order given and each once; [None] = the tutorial's."""
    return list(dict.fromkeys(b for group in given for b in group)) if given else [None]


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warmup", type=_at_least(0), help="untimed iterations first, 0 or more (default: 3 on CPU, 10 on CUDA)"
    )
    p.add_argument("--steps", type=_at_least(1), help="timed iterations, 1 or more (default: 10 on CPU, 100 on CUDA)")
    p.add_argument(
        "--batch-size",
        nargs="+",
        type=_batch_list,
        metavar="N[,N...]",
        help="override the tutorial's batch size (1 or more); several (32,64,128) run a batch sweep, one run each",
    )
    p.add_argument(
        "--data",
        default="auto",
        choices=["auto", "real", "synthetic"],
        help="auto: real data when it can be had, else synthetic (with a loud warning)",
    )
    p.add_argument("--data-dir", help="where datasets are looked for (default: $GANBENCH_DATA_DIR or ./data)")
    p.add_argument(
        "--cache-dir", help="downloads and extracted archives (default: $GANBENCH_CACHE_DIR or ~/.cache/ganbench)"
    )
    p.add_argument("--no-download", action="store_true", help="never try the network for datasets")
    p.add_argument("--out", "-o", default="results", help="results directory (default: results)")
    p.add_argument(
        "--threads",
        type=_at_least(1),
        help="CPU threads for the framework (default: every core); set explicitly and recorded",
    )
    p.add_argument(
        "--timeout",
        type=_positive,
        default=3600,
        help="seconds before a run is killed and recorded as failed (default: 3600)",
    )
    p.add_argument("--in-process", action="store_true", help="no child process per run (debugging)")
    p.add_argument("--no-samples", action="store_true", help="skip the sample grid PNG")
    p.add_argument(
        "--min-time",
        type=_positive,
        metavar="S",
        help="keep measuring (after --steps) until S seconds were spent measuring",
    )
    p.add_argument(
        "--target-ci",
        type=_fraction,
        metavar="P",
        help="keep measuring until the 95%% interval of the median is within ±P of it (2%% or 0.02), "
        "or --max-time is spent",
    )
    p.add_argument("--max-time", type=_positive, metavar="S", help="time budget of --target-ci (default 120 s)")
    p.add_argument("--max-steps", type=_at_least(1), metavar="N", help="never measure more than N steps")
    dp = p.add_argument_group("data parallel (each framework's own engine; README, 'Data parallel')")
    dp.add_argument("--replicas", type=_at_least(1), default=1, help="replicas per node (processes or devices)")
    dp.add_argument("--nodes", type=_at_least(1), default=1, help="hosts taking part (run the same command on each)")
    dp.add_argument("--node-rank", type=_at_least(0), default=0, help="this host's index among --nodes")
    dp.add_argument("--master-addr", default="127.0.0.1", help="the rendezvous host (node 0's address)")
    dp.add_argument(
        "--master-port", type=int, default=0, help="the rendezvous port (default: a free one, single node only)"
    )
    dp.add_argument(
        "--hostfile",
        help="mxnet over several hosts: the hosts file MXNet's launcher reaches over ssh (node 0 starts them all)",
    )
    dp.add_argument(
        "--scaling",
        choices=["strong", "weak"],
        default="strong",
        help="strong: the tutorial's batch split over the replicas; weak: that batch per replica",
    )
    dp.add_argument(
        "--sync-bn", action="store_true", help="BatchNorm statistics over all replicas (default: each replica its own)"
    )


def _fraction(text: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage or fraction: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100%: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    _add_verbosity(ap, top=True)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="time training steps and write one result file per run")
    gpu = sub.add_parser(
        "bench-gpu",
        help="a GPU machine without nox: every importable backend × model × mode "
        "on CUDA, then the HTML report (= run --device cuda --mode all + "
        "reports build)",
    )
    _add_common(run)
    _add_common(gpu)
    for p in (run, gpu):
        _add_run_options(p)

    tr = sub.add_parser("trace", help="parity mode: K steps from the canonical state, inputs written down")
    _add_common(tr)
    tr.add_argument("--steps", type=_at_least(1), default=10)
    tr.add_argument("--batch-size", type=_at_least(1), default=16)
    tr.add_argument("--out", "-o", default="results/traces")
    tr.add_argument(
        "--golden-dir",
        help="also write losses only as GOLDEN_DIR/MODEL.json (the repository's "
        "golden traces: tests/golden, and tests/golden/f64 for float64)",
    )
    tr.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="float64: chaos-free parity references (backends that support it; eager only)",
    )

    rp = sub.add_parser("reproduce", help="a tutorial's full training on real data: grids, GIF, checkpoints, metrics")
    _add_verbosity(rp)
    rp.add_argument("model", choices=list(MODELS))
    rp.add_argument("--backend", "-b", type=_backend_name, help="default: the tutorial's own framework")
    rp.add_argument("--device", "-d", default="auto", choices=["auto", "cpu", "cuda"])
    rp.add_argument("--epochs", type=_at_least(1), help="default: the tutorial's")
    rp.add_argument("--mode", help="execution mode, 'best' or 'plain' (default: plain, the backend's first)")
    rp.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    rp.add_argument("--out", "-o", help="default: results/reproduce/MODEL__BACKEND")
    rp.add_argument("--data-dir")
    rp.add_argument("--cache-dir")
    rp.add_argument("--no-download", action="store_true")
    rp.add_argument("--seed", type=int, default=0)
    rp.add_argument("--batch-size", type=_at_least(1), help="override the tutorial's batch size")
    rp.add_argument("--subset", type=_at_least(1), help="use only the first N images (smoke runs; recorded)")
    rp.add_argument("--metric-samples", type=_at_least(1), default=1000, help="samples per quality measurement")
    rp.add_argument("--keep", type=_at_least(1), default=3, help="how many epoch checkpoints to keep")
    _add_adam_form(rp)

    from benchmarks.compare import add_compare_parser, add_export_parser

    add_compare_parser(sub, _fraction)
    add_export_parser(sub)

    sub.add_parser("list", help="models (with parameters and FLOPs) and importable backends")
    tg = sub.add_parser(
        "targets",
        help="the suite against hand-written loops: torch best vs eager, torch eager vs "
        "the tutorial's loop, the JAX adapter vs a hand-written jax.jit",
    )
    tg.add_argument("--device", "-d", default="auto", choices=["auto", "cpu", "cuda"])
    tg.add_argument("--warmup", type=int, help="default: 10 on CUDA, 2 on CPU")
    tg.add_argument("--steps", type=int, help="default: 100 on CUDA, 5 on CPU")
    tg.add_argument("--out", "-o", default="results")
    dr = sub.add_parser(
        "doctor",
        help="per framework: installed?, CPU or CUDA build, GPUs and their kernels, one "
        "training iteration on each device, and the fix for every problem",
    )
    dr.add_argument("--venvs", help="probe every framework virtualenv under this folder (nox's .nox)")
    dr.add_argument("--out", "-o", default="results", help="folder for doctor.json (default: results)")
    dr.add_argument("--timeout", type=float, default=600, help="seconds per framework probe")
    tc = sub.add_parser("train-classifier", help="train the MNIST feature extractor of the quality metrics (torch)")
    tc.add_argument("--data-dir")
    tc.add_argument("--epochs", type=int, default=6)
    tc.add_argument("--out", default=None, help="default: common/metrics/mnist_classifier.npz")
    return ap


def _backends(names: list[str] | None) -> list[str]:
    """The backends asked for (names are checked at parse time), or by default every installed one:
    those that import and those installed but raising on import, which are then recorded as
    failed runs rather than left out unseen."""
    from backends import backend_problems

    if names:
        return names
    problems = backend_problems()
    found = [b for b, why in problems.items() if why is None or why[0] == "broken"]
    if not found:
        sys.exit("no backend importable in this interpreter; install one (e.g. `pip install torch`)")
    return found


def _devices(backend: str, device: str) -> str:
    from backends import load_backend

    return resolve_device(device, load_backend(backend))


def _modes(backend: str, modes: list[str] | None, model: str | None = None, device: str = "cpu") -> list[str | None]:
    """The modes of --mode words for one backend, model and device; an unknown mode exits naming the known ones."""
    from backends import load_backend
    from common.models import get_model

    try:
        return resolve_modes(load_backend(backend), get_model(model) if model else None, device, modes)
    except UnknownMode as e:
        sys.exit(str(e))


def _check_out(out: Path) -> None:
    """Before anything trains: the results folder can be created and written to."""
    try:
        (out / "samples").mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test.", suffix=".part")
        try:
            os.write(fd, b"ganbench" * 512)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        sys.exit(
            f"--out {out}: cannot write results there ({e.strerror or e}); free space or choose a "
            f"writable folder with --out"
        )


def _plan(a) -> tuple[list[RunConfig], list[tuple[RunConfig, BaseException]]]:
    """The runs to do, and those that cannot start (a backend not installed or raising on import),
    each with its error: the latter are recorded as failed results and the rest still runs."""
    plan, cannot = [], []
    for b in _backends(a.backend):
        models = a.model or list(MODELS)
        common = dict(
            data=a.data,
            data_dir=a.data_dir,
            cache_dir=a.cache_dir,
            download=not a.no_download,
            seed=a.seed,
            out=a.out,
            threads=resolve_threads(a.threads),
            samples=not a.no_samples,
            min_time=a.min_time,
            target_ci=a.target_ci,
            max_time=a.max_time,
            max_steps=a.max_steps,
            adam_form=a.adam_form,
            **_dp_options(a),
        )
        try:
            dev = _devices(b, a.device)
        except Exception as exc:  # not installed, or installed but raising on import
            dev = resolve_device(a.device)  # no backend to ask: `auto` is the CPU
            cannot += [
                (RunConfig(backend=b, model=m, device=dev, warmup=a.warmup or 0, steps=a.steps or 0, **common), exc)
                for m in models
            ]
            continue
        warmup, steps = resolve_counts(dev, a.warmup, a.steps)
        for m in models:
            for batch in _batch_sizes(a.batch_size):
                for mode in _modes(b, a.mode, m, dev):
                    plan.append(
                        RunConfig(
                            backend=b,
                            model=m,
                            device=dev,
                            mode=mode,
                            batch_size=batch,
                            warmup=warmup,
                            steps=steps,
                            **common,
                        )
                    )
    return plan, cannot


def cmd_run(a) -> int:
    _check_out(Path(a.out))
    plan, cannot = _plan(a)
    # every invocation gets its own run set, decided once here, so a re-run never overwrites a result
    from benchmarks.runsets import finish_run_set, start_run_set

    run_set = start_run_set(Path(a.out), _backends(a.backend), argv=getattr(a, "argv", None))
    for cfg in [*plan, *(c for c, _ in cannot)]:
        cfg.out = str(run_set)
    results = []
    for cfg, exc in cannot:
        res = record_failure(cfg, exc)
        results.append(res)
        log.error("%s %s: cannot start\n%s", cfg.backend, cfg.model, _line(res))
    done = 0
    try:
        for k, cfg in enumerate(plan, 1):
            mode = f" ({cfg.mode})" if cfg.mode else ""
            batch = f", batch {cfg.batch_size}" if cfg.batch_size else ""
            log.info(
                f"[{k}/{len(plan)}] {cfg.backend} {cfg.model} on {cfg.device}{mode}{batch}: "
                f"{cfg.warmup} warm-up + {cfg.steps} timed iterations"
            )
            res = run_one(cfg) if a.in_process else run_isolated(cfg, timeout=a.timeout)
            results.append(res)
            done = k
            log.info(_line(res))
            for why in stability_warnings(res):
                log.warning("noisy measurement: %s", why)
    except KeyboardInterrupt:
        finish_run_set(run_set, results)
        print(summary_table(results))
        left = [f"{c.backend} {c.model} {c.device}{'/' + c.mode if c.mode else ''}" for c in plan[done:]]
        print(
            f"interrupted: {len(results)} run(s) recorded, {len(left)} not finished (nothing written for "
            f"them): {', '.join(left)}"
        )
        print(f"results in {run_set.resolve()}")
        return 130
    except OSError as e:  # the results folder became unwritable or full mid-way
        _remove_parts(run_set)
        print(summary_table(results))
        sys.exit(
            f"--out {a.out}: cannot write results ({e.strerror or e}); stopped after {done} of "
            f"{len(plan)} runs; partial files removed"
        )
    finish_run_set(run_set, results)
    print(summary_table(results))
    print(f"results in {run_set.resolve()}")
    return 0 if any(r["status"] == "ok" for r in results) else 1


def _remove_parts(out: Path) -> None:
    for part in [*out.glob(".*.part"), *out.glob("samples/.*.part")]:
        part.unlink(missing_ok=True)


def _dp_options(a) -> dict:
    """The data-parallel fields of RunConfig from `run`'s arguments (absent in bench-gpu's defaults)."""
    keys = ("replicas", "nodes", "node_rank", "master_addr", "master_port", "hostfile", "scaling", "sync_bn")
    return {k: getattr(a, k) for k in keys if hasattr(a, k)}


def cmd_bench_gpu(a) -> int:
    """Every importable backend, model and mode on CUDA, then the report beside the results."""
    from backends import load_backend

    if a.device == "cpu":
        sys.exit("bench-gpu runs on CUDA; `python -m benchmarks run --device cpu --mode all` benchmarks the CPU")
    a.device = "cuda"
    a.mode = a.mode or ["all"]
    a.backend = [b for b in _backends(a.backend) if _sees_cuda(load_backend, b)]
    if not a.backend:
        sys.exit(
            "bench-gpu: no importable backend sees a CUDA device here (`python -m benchmarks list` "
            "shows what is importable; `run --device cpu` benchmarks the CPU)"
        )
    rc = cmd_run(a)
    from reports import build_report

    outcome = build_report(Path(a.out))
    print(f"report: {outcome.html}")
    return rc


def _sees_cuda(load_backend, b: str) -> bool:
    try:
        return load_backend(b).device_available("cuda")
    except Exception as exc:  # not installed or raising on import: say so and go on with the rest
        log.warning("bench-gpu: skipping %s: %s: %s", b, type(exc).__name__, exc)
        return False


def _line(r: dict) -> str:
    if r["status"] != "ok":
        err = r.get("error") or {}
        word = "REFUSED" if err.get("type") in ("DeviceRefused", "ModeRefused") else "FAILED"
        return f"  {word}: {err.get('type')}: {str(err.get('message'))[:300]}"
    tp = r["throughput"]
    data = "" if r["data_source"] == "real" else "  [SYNTHETIC data]"
    return (
        f"  {tp['median']:.1f} images/s (p10–p90 {tp['p10']:.1f}–{tp['p90']:.1f}), first step "
        f"{r['first_step_s']:.2f} s{data}"
    )


def summary_table(results: list[dict]) -> str:
    rows = [("backend", "model", "device", "mode", "batch", "status", "images/s", "±jitter", "data", "stability")]
    for r in results:
        ok = r["status"] == "ok"
        noisy = stability_warnings(r)
        rows.append(
            (
                r["backend"],
                r["model"],
                r["device"],
                str(r["mode"]),
                str(r.get("batch_size")),
                r["status"],
                f"{r['images_per_s']:.1f}" if ok else "-",
                f"{r['throughput']['mad_jitter']:.1f}" if ok else "-",
                str(r["data_source"]),
                ("NOISY: " + "; ".join(noisy)) if noisy else ("ok" if ok else "-"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)


def cmd_trace(a) -> int:
    from benchmarks.trace import run_trace, write_trace

    for b in _backends(a.backend):
        dev = _devices(b, a.device)
        for m in a.model or list(MODELS):
            for mode in _modes(b, a.mode, m, dev):
                trace, state0, inputs = run_trace(
                    b, m, a.steps, a.batch_size, a.seed, dev, mode, dtype=a.dtype, adam_form=a.adam_form
                )
                folder = write_trace(Path(a.out), trace, state0, inputs)
                if a.golden_dir:
                    golden = {k: v for k, v in trace.items() if k != "env"}
                    golden["env"] = {k: trace["env"].get(k) for k in ("framework", "framework_version", "cpu")}
                    write_json_atomic(Path(a.golden_dir) / f"{m}.json", golden)
                print(f"{b} {m}: d {trace['losses']['d'][-1]:.6f} g {trace['losses']['g'][-1]:.6f} -> {folder}")
    return 0


def cmd_list(a) -> int:
    from backends import REGISTRY, backend_problems
    from common.analysis import iteration_flops, param_count

    for m in MODELS.values():
        g, d = param_count(m.generator), param_count(m.discriminator)
        print(
            f"{m.name:22s} G {g.trainable:>11,d}  D {d.trainable:>11,d}  "
            f"{iteration_flops(m) / 1e9:8.1f} GFLOP/iteration  batch {m.data.batch_size}  {m.title}"
        )
    problems = backend_problems()
    print("backends: " + ", ".join(f"{b}{'' if problems[b] is None else ' (not importable)'}" for b in REGISTRY))
    for b, why in problems.items():
        if why is not None and why[0] == "broken":
            print(f"  {b} is installed but raises on import: {why[1]}")
    return 0


def cmd_reproduce(a) -> int:
    from backends.base import BackendUnavailable
    from benchmarks.reproduce import Reproduction, ResumeError
    from common.data.errors import DataUnavailable

    try:
        rep = Reproduction(
            a.model,
            a.backend,
            a.device,
            a.epochs,
            a.out,
            a.data_dir,
            a.cache_dir,
            not a.no_download,
            a.seed,
            a.subset,
            a.batch_size,
            a.metric_samples,
            a.keep,
            log=log.info,
            mode=a.mode,
            adam_form=a.adam_form,
        )
    except DataUnavailable as e:
        sys.exit(f"reproduce runs on real data only.\n{e}")
    except BackendUnavailable as e:
        sys.exit(str(e))
    try:
        rec = rep.run(resume=a.resume)
    except ResumeError as e:
        sys.exit(f"--resume: {e}")
    print(
        f"{a.model} on {rec['backend']}: {rec['status']} after {rec['epochs_done']}/{rec['epochs_planned']} "
        f"epochs -> {rep.out}"
    )
    if rec["error"]:
        print(f"  {rec['error']['type']}: {rec['error']['message']}")
    return 0 if rec["status"] == "completed" else 1


def _stop_like_ctrl_c() -> None:
    """`timeout`, `kill` and a closed terminal stop a command the way Ctrl-C does: its worker is
    stopped with it (by default the worker would be orphaned and go on training and writing) and
    what finished is reported."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for sig in TERMINATION:
            signal.signal(sig, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(args)
    a.argv = args  # the run set's manifest records the command
    setup_logging(logging.WARNING if a.quiet else logging.DEBUG if a.verbose else logging.INFO)
    _stop_like_ctrl_c()
    if a.cmd == "reproduce":
        return cmd_reproduce(a)
    if a.cmd == "targets":
        from benchmarks import targets

        return targets.main(
            [
                "--device",
                a.device,
                "--out",
                a.out,
                *(["--warmup", str(a.warmup)] if a.warmup is not None else []),
                *(["--steps", str(a.steps)] if a.steps is not None else []),
            ]
        )
    if a.cmd == "doctor":
        from benchmarks import doctor

        return doctor.main(["--out", a.out, "--timeout", str(a.timeout), *(["--venvs", a.venvs] if a.venvs else [])])
    if a.cmd == "train-classifier":
        from benchmarks.classifier import train_and_save
        from common.metrics.mnist_classifier import WEIGHTS

        train_and_save(Path(a.out) if a.out else WEIGHTS, a.data_dir, a.epochs)
        return 0
    if a.cmd in ("compare", "export"):
        from benchmarks.compare import cmd_compare, cmd_export

        return (cmd_compare if a.cmd == "compare" else cmd_export)(a)
    return {"run": cmd_run, "bench-gpu": cmd_bench_gpu, "trace": cmd_trace, "list": cmd_list}[a.cmd](a)
