"""Fake but realistic result files, to preview the page (`python -m reports demo DIR`) and to
build the tests' fixtures. `write_result` writes one schema-v1 file with every key filled; the
tests override the fields whose numbers they check.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

MODELS = {  # model: (batch size, image side, channels, FLOPs per iteration)
    "paddle-dcgan28": (128, 28, 1, 2.1e10),
    "mindspore-mlp-gan": (64, 28, 1, 1.1e9),
    "mxnet-dcgan64": (64, 64, 3, 9.6e10),
    "gluon-lfw-dcgan": (64, 64, 3, 9.6e10),
    "pytorch-celeba-dcgan": (128, 64, 3, 1.9e11),
}
BACKENDS = {"torch": "2.13.0+cu130", "mxnet": "1.9.1", "paddle": "3.2.0", "mindspore": "2.7.1", "jax": "0.10.2"}


def base_env(backend: str, device: str, host: str = "bench-h100") -> dict[str, Any]:
    gpu = device == "cuda"
    return {"python": "3.11.7", "platform": "Linux-6.8.0-x86_64-with-glibc2.36",
            "cpu": "AMD EPYC 9454 48-Core Processor", "cpu_count": 16, "numpy": "2.4.6",
            "framework": backend, "framework_version": BACKENDS.get(backend, "0.0"),
            "device_name": "NVIDIA H100 80GB HBM3" if gpu else "cpu",
            "cuda": "13.0" if gpu else None, "driver": "580.65" if gpu else None,
            "git_commit": "3f2c1e9", "hostname": host, "date": "2026-11-22T19:00:00+00:00", "threads": 16}


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
        grid[r0:r0 + side, c0:c0 + side] = img.astype(np.uint8)
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
        "schema": "ganbench-result", "schema_version": 1,
        "backend": backend, "model": model, "device": device, "mode": mode, "status": "ok", "error": None,
        "data_source": "synthetic", "data_detail": "deterministic synthetic batches",
        "batch_size": batch, "warmup_steps": 5, "measured_steps": len(times), "seed": 0,
        "images_per_s": float(np.median(ips)) if ips else None,
        "throughput": {"median": float(np.median(ips)), "mean": float(np.mean(ips)),
                       "p10": float(np.percentile(ips, 10)), "p90": float(np.percentile(ips, 90)),
                       "min": min(ips), "max": max(ips), "stdev": float(np.std(ips, ddof=1)) if len(ips) > 1 else 0.0,
                       "stderr": float(np.std(ips, ddof=1) / np.sqrt(len(ips))) if len(ips) > 1 else 0.0,
                       "mad_jitter": float(1.4826 * np.median(np.abs(np.asarray(ips) - np.median(ips))))} if ips else None,
        "step_times_s": times, "first_step_s": 0.9, "setup_s": 1.3,
        "losses": {"d": [1.4 - 0.01 * i for i in range(iters)], "g": [0.7 + 0.03 * i for i in range(iters)]},
        "d_x": [0.5 + 0.005 * i for i in range(iters)], "d_g_z": [0.5 - 0.005 * i for i in range(iters)],
        "peak_memory_bytes": 512 * 2**20, "memory_kind": "process_peak_rss" if device == "cpu" else "cuda_max_allocated",
        "flops_per_iteration": MODELS.get(model, (0, 0, 0, 1e10))[3], "params": {"G": 3576704, "D": 2765568},
        "samples_png": None, "env": base_env(backend, device), "spec_hash": "0" * 64,
        "started_at": "2026-11-22T19:00:00+00:00", "finished_at": "2026-11-22T19:01:00+00:00",
    }
    doc.update(fields)
    path = Path(folder) / (name or f"{backend}__{model}__{device}__{mode}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def write_trace(folder: Path, backend: str, model: str, d: list[float], g: list[float],
                device: str = "cpu", mode: str = "eager") -> Path:
    path = Path(folder) / "traces" / backend / model / "losses.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "ganbench-trace", "schema_version": 1, "backend": backend,
                                "model": model, "mode": mode, "device": device, "steps": len(d),
                                "losses": {"d": d, "g": g}, "env": base_env(backend, device)}), encoding="utf-8")
    return path


def _curves(rng: np.random.Generator, iters: int) -> dict[str, list[float]]:
    t = np.arange(iters)
    d = 1.4 * np.exp(-t / 12) + 0.55 + rng.normal(0, 0.06, iters)
    g = 3.2 - 2.5 * np.exp(-t / 10) + rng.normal(0, 0.15, iters)
    dx = 0.85 - 0.35 * np.exp(-t / 8) + rng.normal(0, 0.02, iters)
    dgz = 0.15 + 0.35 * np.exp(-t / 8) + rng.normal(0, 0.02, iters)
    return {"d": d.tolist(), "g": g.tolist(), "d_x": dx.tolist(), "d_g_z": dgz.tolist()}


def write_demo(folder: Path) -> None:
    """An H100 machine with real data for all five models and backends (one failure), a CPU
    machine with synthetic data, and parity traces for two models."""
    folder = Path(folder)
    rng = np.random.default_rng(0)
    speed = {"torch": 1.0, "mxnet": 0.82, "paddle": 0.91, "mindspore": 0.74, "jax": 1.12}
    base_ips = {"paddle-dcgan28": 52000, "mindspore-mlp-gan": 310000, "mxnet-dcgan64": 9100,
                "gluon-lfw-dcgan": 9300, "pytorch-celeba-dcgan": 7800}
    for m_i, (model, (batch, side, ch, flops)) in enumerate(MODELS.items()):
        for b_i, backend in enumerate(BACKENDS):
            key = f"{backend}__{model}__cuda__eager"
            if backend == "mindspore" and model == "mxnet-dcgan64":
                write_result(folder / "h100", f"{key}.json", backend=backend, model=model, device="cuda",
                             status="failed", data_source="real", images_per_s=None, throughput=None,
                             data_detail=f"{model} real-data subset (sha256 verified)",
                             first_step_s=None, setup_s=2.1, flops_per_iteration=flops,
                             step_times_s=[], losses=None, d_x=None, d_g_z=None, peak_memory_bytes=None,
                             error={"type": "RuntimeError",
                                    "message": "Conv2dTranspose: output_padding must be smaller than stride",
                                    "traceback": "Traceback (most recent call last):\n  File \"backends/mindspore_gan.py\", line 212, in build\n    ...\nRuntimeError: Conv2dTranspose: output_padding must be smaller than stride"},
                             env=base_env(backend, "cuda"))
                continue
            step = batch / (base_ips[model] * speed[backend] * rng.uniform(0.95, 1.05))
            times = (step * rng.lognormal(0, 0.03 + 0.02 * b_i, 30)).tolist()
            curves = _curves(np.random.default_rng(100 * m_i + b_i), 35)
            png = Path("samples") / f"{key}.png"
            (folder / "h100" / png).parent.mkdir(parents=True, exist_ok=True)
            sample_grid(10 * m_i + b_i, side, ch).save(folder / "h100" / png)
            write_result(folder / "h100", f"{key}.json", backend=backend, model=model, device="cuda",
                         batch_size=batch, step_times_s=times, data_source="real",
                         data_detail=f"{model} real-data subset (sha256 verified)",
                         losses={"d": curves["d"], "g": curves["g"]}, d_x=curves["d_x"], d_g_z=curves["d_g_z"],
                         first_step_s=float(rng.uniform(0.5, 9)), setup_s=float(rng.uniform(0.8, 4)),
                         peak_memory_bytes=int(rng.uniform(0.4, 3) * 2**30), flops_per_iteration=flops,
                         samples_png=png.as_posix(), env=base_env(backend, "cuda"))
    for b_i, backend in enumerate(["torch", "jax", "paddle"]):
        cpu_box = {"cpu": "Intel Xeon 2.2GHz", "cpu_count": 2, "threads": 2,
                   "framework_version": BACKENDS[backend].replace("+cu130", "+cpu")}
        times = (0.21 / (1 + 0.2 * b_i) * rng.lognormal(0, 0.08, 20)).tolist()
        curves = _curves(np.random.default_rng(50 + b_i), 25)
        write_result(folder / "cpu-box", backend=backend, model="paddle-dcgan28", device="cpu",
                     batch_size=128, step_times_s=times, data_source="synthetic",
                     losses={"d": curves["d"], "g": curves["g"]}, d_x=curves["d_x"], d_g_z=curves["d_g_z"],
                     env=base_env(backend, "cpu", host="ci-cpu-2core") | cpu_box)
    for model in ("paddle-dcgan28", "pytorch-celeba-dcgan"):
        ref = _curves(np.random.default_rng(7), 10)
        for b_i, backend in enumerate(BACKENDS):
            noise = 10.0 ** (-7 + b_i) if backend != "torch" else 0.0
            scale = 1 + noise * np.linspace(0, 3, 10)
            write_trace(folder, backend, model, (np.asarray(ref["d"]) * scale).tolist(),
                        (np.asarray(ref["g"]) * scale).tolist())
