"""Fake but realistic result files, to preview the page (`python -m reports demo DIR`) and to
build the tests' fixtures. `write_result` writes one schema-v1 file with every key filled, and
`write_reproduction` one reproduction folder (reproduction.json, grids, progress.gif); the tests
override the fields whose numbers they check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from common.analysis import iteration_flops
from common.models import MODELS, PUBLISHED
from common.results import run_key

from .aggregate import PLAIN_MODES

# model: (batch size, image side, channels, FLOPs per iteration), from the tutorials' specs
DEMO_MODELS = {
    name: (spec.data.batch_size, spec.data.image_shape[1], spec.data.image_shape[0], float(iteration_flops(spec)))
    for name, spec in MODELS.items()
}
BACKENDS = {"torch": "2.13.0+cu130", "mxnet": "1.9.1", "paddle": "3.2.0", "mindspore": "2.7.1", "jax": "0.10.2"}


def base_env(backend: str, device: str, host: str = "bench-h100") -> dict[str, Any]:
    gpu = device == "cuda"
    return {
        "python": "3.11.7",
        "platform": "Linux-6.8.0-x86_64-with-glibc2.36",
        "cpu": "AMD EPYC 9454 48-Core Processor",
        "cpu_count": 16,
        "numpy": "2.4.6",
        "framework": backend,
        "framework_version": BACKENDS.get(backend, "0.0"),
        "device_name": "NVIDIA H100 80GB HBM3" if gpu else "cpu",
        "cuda": "13.0" if gpu else None,
        "driver": "580.65" if gpu else None,
        "git_commit": "3f2c1e9",
        "hostname": host,
        "date": "2026-11-22T19:00:00+00:00",
        "threads": 16,
    }


def sample_grid(seed: int, side: int, channels: int, n: int = 8) -> Image.Image:
    """An n×n grid of smooth random blobs that looks enough like GAN samples to judge layout."""
    rng = np.random.default_rng(seed)
    pad = 2
    grid = np.zeros((n * (side + pad) + pad, n * (side + pad) + pad, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:side, 0:side] / side
    for i in range(n * n):
        img = np.zeros((side, side, 3))
        for _ in range(4):
            cx, cy, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.1, 0.3)]
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
            img += blob[..., None] * (rng.uniform(0.3, 1.0, 3) if channels == 3 else rng.uniform(0.5, 1.0))
        img = np.clip(img / img.max(), 0, 1) * 255
        r0, c0 = pad + (i // n) * (side + pad), pad + (i % n) * (side + pad)
        grid[r0 : r0 + side, c0 : c0 + side] = img.astype(np.uint8)
    return Image.fromarray(grid)


def write_result(folder: Path, name: str | None = None, **fields: Any) -> Path:
    """Write one result file; `fields` override the defaults (a synthetic, 30-step torch run)."""
    backend = fields.get("backend", "torch")
    model = fields.get("model", "pytorch-celeba-dcgan")
    device = fields.get("device", "cpu")
    mode = fields.get("mode", "eager")
    batch = fields.get("batch_size", 128)
    times = fields.get("step_times_s", [0.1] * 30)
    ips = sorted(batch / t for t in times)
    iters = fields.get("warmup_steps", 5) + len(times)
    doc = {
        "schema": "ganbench-result",
        "schema_version": 1,
        "backend": backend,
        "model": model,
        "device": device,
        "mode": mode,
        "status": "ok",
        "error": None,
        "data_source": "synthetic",
        "data_detail": "deterministic synthetic batches",
        "batch_size": batch,
        "warmup_steps": 5,
        "measured_steps": len(times),
        "seed": 0,
        "images_per_s": float(np.median(ips)) if ips else None,
        "throughput": {
            "median": float(np.median(ips)),
            "mean": float(np.mean(ips)),
            "p10": float(np.percentile(ips, 10)),
            "p90": float(np.percentile(ips, 90)),
            "min": min(ips),
            "max": max(ips),
            "stdev": float(np.std(ips, ddof=1)) if len(ips) > 1 else 0.0,
            "stderr": float(np.std(ips, ddof=1) / np.sqrt(len(ips))) if len(ips) > 1 else 0.0,
            "mad_jitter": float(1.4826 * np.median(np.abs(np.asarray(ips) - np.median(ips)))),
        }
        if ips
        else None,
        "step_times_s": times,
        "first_step_s": 0.9,
        "setup_s": 1.3,
        "losses": {"d": [1.4 - 0.01 * i for i in range(iters)], "g": [0.7 + 0.03 * i for i in range(iters)]},
        "d_x": [0.5 + 0.005 * i for i in range(iters)],
        "d_g_z": [0.5 - 0.005 * i for i in range(iters)],
        "peak_memory_bytes": 512 * 2**20,
        "memory_kind": "process_peak_rss" if device == "cpu" else "cuda_max_allocated",
        "flops_per_iteration": DEMO_MODELS.get(model, (0, 0, 0, 1e10))[3],
        "params": {"G": 3576704, "D": 2765568},
        "samples_png": None,
        "env": base_env(backend, device),
        "spec_hash": "0" * 64,
        "started_at": "2026-11-22T19:00:00+00:00",
        "finished_at": "2026-11-22T19:01:00+00:00",
    }
    doc.update(fields)
    path = Path(folder) / (name or run_key(backend, model, device, mode) + ".json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def write_trace(
    folder: Path, backend: str, model: str, d: list[float], g: list[float], device: str = "cpu", mode: str = "eager"
) -> Path:
    path = Path(folder) / "traces" / backend / model / "losses.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "schema": "ganbench-trace",
                "schema_version": 1,
                "backend": backend,
                "model": model,
                "mode": mode,
                "device": device,
                "steps": len(d),
                "losses": {"d": d, "g": g},
                "env": base_env(backend, device),
            }
        ),
        encoding="utf-8",
    )
    return path


def _curves(rng: np.random.Generator, iters: int) -> dict[str, list[float]]:
    t = np.arange(iters)
    d = 1.4 * np.exp(-t / 12) + 0.55 + rng.normal(0, 0.06, iters)
    g = 3.2 - 2.5 * np.exp(-t / 10) + rng.normal(0, 0.15, iters)
    dx = 0.85 - 0.35 * np.exp(-t / 8) + rng.normal(0, 0.02, iters)
    dgz = 0.15 + 0.35 * np.exp(-t / 8) + rng.normal(0, 0.02, iters)
    return {"d": d.tolist(), "g": g.tolist(), "d_x": dx.tolist(), "d_g_z": dgz.tolist()}


DEMO_MARK = "DEMO DATA: invented numbers"


def _mark_as_demo(folder: Path) -> None:
    """Every document the demo wrote says so (env.demo), so a page built from it cannot pass for a
    real comparison: the report puts DEMO_MARK in its title, on every section and on every chart."""
    for path in folder.rglob("*.json"):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("env"), dict):
            doc["env"]["demo"] = True
            path.write_text(json.dumps(doc), encoding="utf-8")


def write_demo(folder: Path) -> None:
    """An H100 machine with real data for all five models: four backends in their plain modes,
    torch and MXNet also in their best (`--mode best,plain`), MindSpore refused; a CPU machine
    with synthetic data and a torch/JAX batch sweep; parity traces for two models; and five
    reproductions."""
    folder = Path(folder)
    rng = np.random.default_rng(0)
    speed = {"torch": 1.0, "mxnet": 0.82, "paddle": 0.91, "mindspore": 0.74, "jax": 1.12}
    base_ips = {
        "paddle-dcgan28": 52000,
        "mindspore-mlp-gan": 310000,
        "mxnet-dcgan64": 9100,
        "gluon-lfw-dcgan": 9300,
        "pytorch-celeba-dcgan": 7800,
    }
    for m_i, (model, (batch, side, ch, flops)) in enumerate(DEMO_MODELS.items()):
        for b_i, backend in enumerate(BACKENDS):
            if backend == "mindspore":  # no NVIDIA GPU backend: refused, see write_demo_best_modes
                continue
            mode = PLAIN_MODES[backend]
            key = run_key(backend, model, "cuda", mode)
            step = batch / (base_ips.get(model, 9000) * speed[backend] * rng.uniform(0.95, 1.05))
            times = (step * rng.lognormal(0, 0.03 + 0.02 * b_i, 30)).tolist()
            curves = _curves(np.random.default_rng(100 * m_i + b_i), 35)
            png = Path("samples") / f"{key}.png"
            (folder / "h100" / png).parent.mkdir(parents=True, exist_ok=True)
            sample_grid(10 * m_i + b_i, side, ch).save(folder / "h100" / png)
            write_result(
                folder / "h100",
                f"{key}.json",
                backend=backend,
                model=model,
                device="cuda",
                mode=mode,
                batch_size=batch,
                step_times_s=times,
                data_source="real",
                data_detail=f"{model} real-data subset (sha256 verified)",
                losses={"d": curves["d"], "g": curves["g"]},
                d_x=curves["d_x"],
                d_g_z=curves["d_g_z"],
                first_step_s=float(rng.uniform(0.5, 9)),
                setup_s=float(rng.uniform(0.8, 4)),
                peak_memory_bytes=int(rng.uniform(0.4, 3) * 2**30),
                flops_per_iteration=flops,
                samples_png=png.as_posix(),
                env=base_env(backend, "cuda"),
            )
    for b_i, backend in enumerate(["torch", "jax", "paddle"]):
        cpu_box = {
            "cpu": "Intel Xeon 2.2GHz",
            "cpu_count": 2,
            "threads": 2,
            "framework_version": BACKENDS[backend].replace("+cu130", "+cpu"),
        }
        times = (0.21 / (1 + 0.2 * b_i) * rng.lognormal(0, 0.08, 20)).tolist()
        curves = _curves(np.random.default_rng(50 + b_i), 25)
        write_result(
            folder / "cpu-box",
            backend=backend,
            model="paddle-dcgan28",
            device="cpu",
            mode=PLAIN_MODES[backend],
            batch_size=128,
            step_times_s=times,
            data_source="synthetic",
            losses={"d": curves["d"], "g": curves["g"]},
            d_x=curves["d_x"],
            d_g_z=curves["d_g_z"],
            env=base_env(backend, "cpu", host="ci-cpu-2core") | cpu_box,
        )
    for model in ("paddle-dcgan28", "pytorch-celeba-dcgan"):
        ref = _curves(np.random.default_rng(7), 10)
        for b_i, backend in enumerate(BACKENDS):
            noise = 10.0 ** (-7 + b_i) if backend != "torch" else 0.0
            scale = 1 + noise * np.linspace(0, 3, 10)
            write_trace(
                folder, backend, model, (np.asarray(ref["d"]) * scale).tolist(), (np.asarray(ref["g"]) * scale).tolist()
            )
    write_demo_best_modes(folder / "h100", rng)
    write_demo_batch_sweep(folder / "cpu-box", rng)
    write_demo_reproductions(folder)
    _mark_as_demo(folder)


# --- each framework at its best, batch sweep ----------------------------------------------
# What `--mode best,plain` adds on the GPU: torch's whole-iteration CUDA graph (the hand-written
# hand-written H100 probe measured 2.0× eager on DCGAN-64 and 7.8× on the MLP GAN) and MXNet's
# hybridized graph. MindSpore has no NVIDIA GPU backend, so its CUDA runs are refusals.
CUDA_BEST = {"torch": ("cuda_graph", {"mindspore-mlp-gan": 7.8}, 2.0), "mxnet": ("hybridized", {}, 1.3)}


def write_demo_best_modes(folder: Path, rng: np.random.Generator) -> None:
    for model, (batch, _, _, flops) in DEMO_MODELS.items():
        for backend, (mode, by_model, default_gain) in CUDA_BEST.items():
            plain = json.loads((folder / (run_key(backend, model, "cuda", PLAIN_MODES[backend]) + ".json")).read_text())
            gain = by_model.get(model, default_gain)
            times = np.asarray(plain["step_times_s"]) / gain * rng.lognormal(0, 0.02, len(plain["step_times_s"]))
            write_result(
                folder,
                run_key(backend, model, "cuda", mode) + ".json",
                backend=backend,
                model=model,
                device="cuda",
                mode=mode,
                batch_size=batch,
                step_times_s=times.tolist(),
                data_source="real",
                data_detail=plain["data_detail"],
                losses=plain["losses"],
                d_x=plain["d_x"],
                d_g_z=plain["d_g_z"],
                first_step_s=float(rng.uniform(4, 30)),
                compile_s=float(rng.uniform(3, 25)),
                flops_per_iteration=flops,
                peak_memory_bytes=plain["peak_memory_bytes"],
                env=base_env(backend, "cuda"),
            )
        write_result(
            folder,
            run_key("mindspore", model, "cuda", "pynative") + ".json",
            backend="mindspore",
            model=model,
            device="cuda",
            mode="pynative",
            status="failed",
            data_source="real",
            images_per_s=None,
            throughput=None,
            step_times_s=[],
            losses=None,
            d_x=None,
            d_g_z=None,
            first_step_s=None,
            setup_s=None,
            peak_memory_bytes=None,
            batch_size=batch,
            flops_per_iteration=flops,
            data_detail=f"{model} real-data subset (sha256 verified)",
            error={
                "type": "DeviceRefused",
                "traceback": "",
                "message": "MindSpore 2.x ships no NVIDIA GPU backend (Ascend and CPU only)",
            },
            env=base_env("mindspore", "cuda"),
        )


def write_demo_batch_sweep(folder: Path, rng: np.random.Generator) -> None:
    """`--batch-size 32,64,128,256,512` for torch and JAX on the 2-core CPU box: a fixed cost per
    step plus a cost per image, so images/s grows and flattens; JAX's 512 is killed by the OS."""
    cpu_box = {"cpu": "Intel Xeon 2.2GHz", "cpu_count": 2, "threads": 2}
    for backend, fixed, per_image in (("torch", 0.03, 0.00141), ("jax", 0.025, 0.00117)):
        env = (
            base_env(backend, "cpu", host="ci-cpu-2core")
            | cpu_box
            | {"framework_version": BACKENDS[backend].replace("+cu130", "+cpu")}
        )
        for batch in (32, 64, 256, 512):  # 128, the tutorial's, is the run written above
            mode = PLAIN_MODES[backend]
            name = run_key(backend, "paddle-dcgan28", "cpu", mode, batch) + ".json"
            if backend == "jax" and batch == 512:
                write_result(
                    folder,
                    name,
                    backend=backend,
                    model="paddle-dcgan28",
                    device="cpu",
                    mode=mode,
                    status="failed",
                    data_source="synthetic",
                    batch_size=batch,
                    images_per_s=None,
                    throughput=None,
                    step_times_s=[],
                    losses=None,
                    d_x=None,
                    d_g_z=None,
                    first_step_s=None,
                    peak_memory_bytes=None,
                    env=env,
                    error={
                        "type": "WorkerDied",
                        "traceback": "",
                        "message": "the benchmark process ended without a result (killed by signal 9)",
                    },
                )
                continue
            times = ((fixed + per_image * batch) * rng.lognormal(0, 0.08, 20)).tolist()
            write_result(
                folder,
                name,
                backend=backend,
                model="paddle-dcgan28",
                device="cpu",
                mode=mode,
                batch_size=batch,
                step_times_s=times,
                data_source="synthetic",
                env=env,
            )


# --- reproductions ------------------------------------------------------------------------------------


def reproduction_losses(
    rng: np.random.Generator,
    epochs: int,
    ipe: int,
    plateau_d: float = 1.22,
    plateau_g: float = 0.98,
    noise_d: float = 0.08,
    noise_g: float = 0.15,
    extra_steps: int = 0,
) -> tuple[list[float], list[float]]:
    """Per-step losses that start at the BCE values at initialisation (ln 4, ln 2), swing as D
    wins early, and settle on plateaus, as the MLP GAN's printed log does."""
    t = np.arange(epochs * ipe + extra_steps) / max(ipe, 1)
    start = 1 - np.exp(-t / 0.05)  # no noise on the very first step
    swing = np.exp(-t / 6) - np.exp(-t / 0.2)
    d = plateau_d + (1.384 - plateau_d) * np.exp(-t / 0.2) - 0.4 * swing + rng.normal(0, noise_d, len(t)) * start
    g = plateau_g + (0.693 - plateau_g) * np.exp(-t / 0.2) + 0.8 * swing + rng.normal(0, noise_g, len(t)) * start
    return np.round(d, 5).tolist(), np.round(np.abs(g), 5).tolist()


def progress_frames(seed: int, epochs: int, n: int, side: int = 28) -> list[Image.Image]:
    """One fixed-noise grid per epoch: noise that turns into blobs as the epochs go by."""
    rng = np.random.default_rng(seed)
    nrow = max(1, int(np.ceil(np.sqrt(n))))
    ncol = int(np.ceil(n / nrow))
    base = np.asarray(sample_grid(seed, side, 1, n=nrow).convert("L"), dtype=float)[: ncol * (side + 2) + 2]
    frames = []
    for e in range(epochs):
        alpha = 1 - np.exp(-(e + 1) / 4)
        img = alpha * base + (1 - alpha) * rng.uniform(0, 255, base.shape) * (base > 0)
        frames.append(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "L"))
    return frames


def write_reproduction(
    folder: Path,
    model: str = "mindspore-mlp-gan",
    backend: str = "torch",
    *,
    epochs_done: int = 3,
    epochs_planned: int | None = None,
    iterations_per_epoch: int = 5,
    status: str = "completed",
    device: str = "cuda",
    seed: int = 0,
    losses: tuple[list[float], list[float]] | None = None,
    extra_steps: int = 0,
    gif: bool = True,
    curve: dict[str, float] | None = None,
    **fields: Any,
) -> Path:
    """Write RESULTS/reproduce/MODEL__BACKEND/ as `python -m benchmarks reproduce` leaves it:
    reproduction.json, grids/epoch_NNN.png (one per epoch that ended) and progress.gif.
    `losses` (per-step D and G) defaults to reproduction_losses; `extra_steps` are iterations
    of an unfinished epoch (a diverged run's); `fields` override any key of the file."""
    folder = Path(fields.pop("out", None) or Path(folder) / "reproduce" / f"{model}__{backend}")
    ipe = iterations_per_epoch
    rng = np.random.default_rng(seed + 1000)
    # A collapsed run's last epoch ended (losses, grid, metrics) but is not counted as done.
    epochs_ended = epochs_done + (1 if status == "collapsed" else 0)
    if losses is None:
        losses = reproduction_losses(rng, epochs_ended, ipe, extra_steps=extra_steps, **(curve or {}))
    d, g = losses
    epoch_losses = []
    for e in range(epochs_ended):
        dd, gg = d[e * ipe : (e + 1) * ipe], g[e * ipe : (e + 1) * ipe]
        if dd:
            epoch_losses.append(
                {"epoch": e, "d": float(np.mean(dd)), "g": float(np.mean(gg)), "last_d": dd[-1], "last_g": gg[-1]}
            )
    mnist = model in MODELS and MODELS[model].data.is_mnist
    metrics = []
    for e in range(len(epoch_losses)):
        m = {
            "epoch": e,
            "samples": 1000,
            "swd": {
                "levels": [float(v) for v in np.round(rng.uniform(5, 60, 2), 3)],
                "mean": float(round(9 + 70 * np.exp(-e / 12) * rng.uniform(0.9, 1.1), 3)),
                "resolutions": [28, 14],
            },
            "sample_pixel_std": float(round(0.45 + rng.normal(0, 0.01), 4)),
        }
        if mnist:
            p = rng.dirichlet(np.full(10, 4.0 + 4 * e))
            hist = rng.multinomial(1000, p).tolist()
            m.update(
                frechet_mnist=float(round(4 + 160 * np.exp(-e / 8) * rng.uniform(0.9, 1.1), 3)),
                class_histogram=hist,
                classes_covered=int(sum(h >= 10 for h in hist)),
            )
        metrics.append(m)
    grids = []
    if epoch_losses:
        frames = progress_frames(seed, len(epoch_losses), MODELS[model].run.grid_noise if model in MODELS else 25)
        for e, frame in enumerate(frames):
            name = f"grids/epoch_{e:03d}.png"
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            frame.save(folder / name)
            grids.append(name)
        if gif and status != "running":
            frames[0].save(folder / "progress.gif", save_all=True, append_images=frames[1:], duration=500, loop=0)
    seconds = 14.0 * (len(d) / max(ipe, 1)) * (1 if device == "cuda" else 9)
    doc = {
        "schema": "ganbench-reproduction",
        "schema_version": 1,
        "model": model,
        "backend": backend,
        "device": device,
        "mode": "eager",
        "status": status,
        "error": None,
        "epochs_planned": epochs_planned or epochs_done,
        "epochs_done": epochs_done,
        "iterations_per_epoch": ipe,
        "batch_size": 128,
        "seed": seed,
        "subset": None,
        "data_source": "real",
        "data_detail": "MNIST train, 60000 images (sha256 verified)",
        "losses": {"d": d, "g": g, "epoch": [i // ipe for i in range(len(d))]},
        "epoch_losses": epoch_losses,
        "metrics": metrics,
        "published": PUBLISHED.get(model),
        "grids": grids,
        "checkpoint": f"checkpoints/epoch_{epochs_done - 1:03d}.npz" if epochs_done else None,
        "spec_hash": "5" * 64,
        "env": base_env(backend, device) | {"mode": "eager"},
        "started_at": "2026-11-21T08:00:00+00:00",
        "finished_at": None if status == "running" else "2026-11-21T09:00:00+00:00",
        "seconds": seconds,
    }
    doc.update(fields)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "reproduction.json"
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def write_demo_reproductions(folder: Path) -> None:
    """Full-length MLP GAN runs on MindSpore and PyTorch, a smoke-test subset run on JAX still
    going, and the Paddle DCGAN diverging where PyTorch finishes."""
    folder = Path(folder)
    write_reproduction(
        folder,
        "mindspore-mlp-gan",
        "mindspore",
        epochs_done=200,
        iterations_per_epoch=468,
        seed=1,
        curve={"plateau_d": 1.21, "plateau_g": 0.99},
    )
    write_reproduction(
        folder,
        "mindspore-mlp-gan",
        "torch",
        epochs_done=200,
        iterations_per_epoch=468,
        seed=2,
        curve={"plateau_d": 1.24, "plateau_g": 1.09},
    )
    write_reproduction(
        folder,
        "mindspore-mlp-gan",
        "jax",
        epochs_done=12,
        epochs_planned=200,
        iterations_per_epoch=46,
        status="running",
        device="cpu",
        seed=3,
        subset=6000,
        data_detail="first 6000 of: MNIST train, 60000 images (sha256 verified)",
        env=base_env("jax", "cpu", host="ci-cpu-2core") | {"cpu": "Intel Xeon 2.2GHz"},
    )
    write_reproduction(
        folder,
        "paddle-dcgan28",
        "torch",
        epochs_done=20,
        iterations_per_epoch=468,
        seed=4,
        curve={"plateau_d": 0.62, "plateau_g": 2.3, "noise_d": 0.12, "noise_g": 0.4},
    )
    ipe, bad_epoch, bad_step = 468, 7, 212
    d, g = reproduction_losses(
        np.random.default_rng(5),
        bad_epoch,
        ipe,
        plateau_d=0.7,
        plateau_g=2.0,
        noise_d=0.1,
        noise_g=0.3,
        extra_steps=bad_step,
    )
    ramp = np.clip((np.arange(len(d)) / ipe - 5.0) / 2.2, 0, None) ** 2  # D wins over the last epochs
    d = np.round(np.maximum(np.asarray(d) * np.exp(-2 * ramp), 1e-4), 5).tolist()
    g = np.round(np.asarray(g) + 6 * ramp, 5).tolist()
    write_reproduction(
        folder,
        "paddle-dcgan28",
        "paddle",
        epochs_done=bad_epoch,
        epochs_planned=20,
        iterations_per_epoch=ipe,
        status="diverged",
        seed=5,
        losses=(d, g),
        error={
            "type": "Diverged",
            "message": f"loss_d nan, loss_g nan at epoch {bad_epoch} iteration "
            f"{bad_step}; the last good checkpoint is checkpoints/epoch_{bad_epoch - 1:03d}.npz",
        },
    )
