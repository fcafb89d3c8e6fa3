"""`python -m benchmarks targets`: the suite's numbers against the loops they must match or beat.

Three checks, each a ratio of median images/s with its bootstrap interval (reports.stats), on
one device, in one process, one after the other:
- PyTorch at its best against its plain eager loop, on DCGAN-64 and on the MLP GAN (on CUDA the
  best mode is a whole-iteration CUDA graph; targets ≥ 3× and ≥ 10×);
- harness overhead: the suite's PyTorch eager against the PyTorch tutorial's own loop
  (backends/tutorial_torch.py) on the tutorial's model and batch (target: within 2 %);
- the JAX adapter against the same MLP GAN iteration jitted by hand (backends/handjit_jax.py;
  target: at least as fast).
The targets are GPU targets; on a CPU the ratios are measured and shown without a verdict.
Written to OUT/targets.json and printed as a table. Synthetic data: only speed is measured.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

DCGAN64, MLP = "pytorch-celeba-dcgan", "mindspore-mlp-gan"


def _suite_run(backend: str, model: str, device: str, mode: str | None, warmup: int, steps: int) -> dict:
    from benchmarks.runner import RunConfig, run_one

    with tempfile.TemporaryDirectory() as out:
        res = run_one(
            RunConfig(
                backend,
                model,
                device=device,
                mode=mode,
                warmup=warmup,
                steps=steps,
                data="synthetic",
                out=out,
                samples=False,
            ),
            progress=False,
        )
    if res["status"] != "ok":
        raise RuntimeError(f"{backend} {model} {mode}: {res['error']['type']}: {res['error']['message']}")
    return {
        "images_per_s": res["images_per_s"],
        "step_times_s": res["step_times_s"],
        "batch": res["batch_size"],
        "mode": res["mode"],
        "first_step_s": res["first_step_s"],
    }


def _reference_batches(model: str, n: int, seed: int = 0) -> list:
    """Real batches and noise for a hand-written loop: the same synthetic source the suite's runs use."""
    from benchmarks.runner import open_source
    from common.feed import Feed
    from common.models import get_model

    spec = get_model(model)
    source = open_source(spec, "synthetic", None, None, False)
    it = Feed(spec, source, seed, spec.data.batch_size).iterate(with_noise=True)
    return [next(it)[2:] for _ in range(n)]


def _ratio(a: dict, b: dict) -> dict:
    from reports.stats import speed_ratio

    r = speed_ratio(a["images_per_s"], a["step_times_s"], a["batch"], b["images_per_s"], b["step_times_s"], b["batch"])
    return {"ratio": r.value, "lo": r.lo, "hi": r.hi}


def check(name: str, target: str, a: dict, b: dict, meets, device: str) -> dict:
    row = {"check": name, "target": target, "a": a, "b": b, **_ratio(a, b)}
    row["verdict"] = ("met" if meets(row["ratio"]) else "missed") if device == "cuda" else "no verdict on CPU"
    return row


CHECKS = ("best", "overhead", "jax")


def run_targets(device: str, warmup: int, steps: int, log=print, only=CHECKS) -> list[dict]:
    rows = []
    from backends import importable_backends, load_backend
    from benchmarks.plan import resolve_mode
    from common.models import get_model

    have = importable_backends()
    if "torch" in have and "best" in only:
        cls = load_backend("torch")
        for model, times in ((DCGAN64, 3.0), (MLP, 10.0)):
            log(f"torch {model}: eager, then best …")
            eager = _suite_run("torch", model, device, "eager", warmup, steps)
            best_mode = resolve_mode(cls, get_model(model), device, "best")
            best = _suite_run("torch", model, device, best_mode, warmup, steps)
            rows.append(
                check(
                    f"torch best ({best_mode}) / eager, {model}",
                    f"≥ {times:g}×",
                    best,
                    eager,
                    lambda r, t=times: r >= t,
                    device,
                )
            )
    if "torch" in have and "overhead" in only:
        log("the PyTorch tutorial's own loop …")
        from backends.tutorial_torch import TutorialLoop
        from common.state import initial_state

        eager = _suite_run("torch", DCGAN64, device, "eager", warmup, steps)
        loop = TutorialLoop(initial_state(get_model(DCGAN64), 0), device)
        times_ = loop.time([real for real, _ in _reference_batches(DCGAN64, warmup + steps)], warmup)
        batch = get_model(DCGAN64).data.batch_size
        ref = {"images_per_s": float(np.median(batch / np.asarray(times_))), "step_times_s": times_, "batch": batch}
        rows.append(
            check(f"suite torch eager / tutorial loop, {DCGAN64}", "≥ 0.98×", eager, ref, lambda r: r >= 0.98, device)
        )
    if "jax" in have and "jax" in only:
        log("jax: the adapter, then the hand-jitted MLP GAN …")
        from backends.handjit_jax import HandJitMLPGAN
        from common.state import initial_state

        suite = _suite_run("jax", MLP, device, "jit", warmup, steps)
        hand = HandJitMLPGAN(initial_state(get_model(MLP), 0), device)
        times_, first = hand.time([(real, noise.d) for real, noise in _reference_batches(MLP, warmup + steps)], warmup)
        batch = get_model(MLP).data.batch_size
        ref = {
            "images_per_s": float(np.median(batch / np.asarray(times_))),
            "step_times_s": times_,
            "batch": batch,
            "first_step_s": first,
        }
        rows.append(check(f"jax adapter / hand-written jax.jit, {MLP}", "≥ 1×", suite, ref, lambda r: r >= 1.0, device))
    return rows


def table(rows: list[dict]) -> str:
    lines = [("check", "target", "ratio [95% CI]", "a images/s", "b images/s", "verdict")]
    for r in rows:
        ci = f" [{r['lo']:.2f}, {r['hi']:.2f}]" if r["lo"] is not None else ""
        lines.append(
            (
                r["check"],
                r["target"],
                f"{r['ratio']:.2f}×{ci}",
                f"{r['a']['images_per_s']:.1f}",
                f"{r['b']['images_per_s']:.1f}",
                r["verdict"],
            )
        )
    widths = [max(len(x[i]) for x in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip() for x in lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks targets", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", "-d", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--warmup", type=int, help="default: 10 on CUDA, 2 on CPU")
    ap.add_argument("--steps", type=int, help="default: 100 on CUDA, 5 on CPU")
    ap.add_argument("--out", "-o", default="results")
    ap.add_argument("--only", nargs="+", choices=CHECKS, default=list(CHECKS), help="which checks (default: all)")
    a = ap.parse_args(argv)
    # JAX would take 75 % of the GPU's memory at start-up and leave PyTorch none
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    device = a.device
    if device == "auto":
        from common.builds import query_driver

        device = "cuda" if query_driver() else "cpu"
    cuda = device == "cuda"
    warmup = a.warmup if a.warmup is not None else (10 if cuda else 2)
    steps = a.steps if a.steps is not None else (100 if cuda else 5)
    rows = run_targets(device, warmup, steps, log=lambda m: print(m, file=sys.stderr, flush=True), only=a.only)
    if not rows:
        sys.exit("targets: neither torch nor jax is importable here")
    print(table(rows))
    from common.env import machine_env
    from common.results import TARGETS_SCHEMA, write_json_atomic

    path = write_json_atomic(
        Path(a.out) / "targets.json",
        {
            "schema": TARGETS_SCHEMA,
            "schema_version": 1,
            "device": device,
            "warmup": warmup,
            "steps": steps,
            "env": machine_env(),
            "checks": rows,
        },
    )
    print(f"written: {path.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
