"""The harness end to end: result files, failures recorded, the next run still completes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from benchmarks.runner import FAIL_HOOK, RunConfig, run_one  # noqa: E402
from common.models import get_model  # noqa: E402
from common.results import RESULT_SCHEMA, run_sets  # noqa: E402
from common.state import check_state, load_state  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REQUIRED = (
    "backend",
    "model",
    "device",
    "mode",
    "data_source",
    "status",
    "batch_size",
    "images_per_s",
    "step_times_s",
    "losses",
    "peak_memory_bytes",
    "env",
    "samples_png",
)


def _cli(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_run_writes_a_valid_result(tmp_path):
    cfg = RunConfig("torch", "mindspore-mlp-gan", warmup=2, steps=4, data="synthetic", out=str(tmp_path), batch_size=16)
    res = run_one(cfg, progress=False)
    path = tmp_path / "torch__mindspore-mlp-gan__cpu__eager__b16.json"  # not the tutorial's 128: named
    on_disk = json.loads(path.read_text())
    assert on_disk == json.loads(json.dumps(res))
    assert on_disk["schema"] == RESULT_SCHEMA and on_disk["status"] == "ok", on_disk["error"]
    assert all(k in on_disk for k in REQUIRED)
    assert on_disk["data_source"] == "synthetic" and "synthetic" in on_disk["data_detail"].lower()
    assert len(on_disk["step_times_s"]) == 4 and len(on_disk["warmup_times_s"]) == 2
    assert on_disk["images_per_s"] == pytest.approx(float(np.median(16 / np.array(on_disk["step_times_s"]))))
    assert len(on_disk["losses"]["d"]) == len(on_disk["losses"]["g"]) == 6  # warm-up iterations included
    assert on_disk["peak_memory_bytes"] > 10 * 2**20 and on_disk["memory_kind"] == "process_peak_rss"
    assert on_disk["env"]["framework"] == "torch" and on_disk["env"]["numpy"] == np.__version__
    assert on_disk["spec_hash"] == get_model("mindspore-mlp-gan").spec_hash()
    grid = Image.open(tmp_path / on_disk["samples_png"])
    assert grid.size == (5 * 30 + 2, 5 * 30 + 2)  # 25 fixed-noise samples of 28×28, 2 px apart
    assert not list(tmp_path.rglob("*.part"))


def test_failure_is_recorded_and_the_next_run_completes(tmp_path):
    out = _cli(
        "run",
        "-b",
        "torch",
        "-m",
        "mindspore-mlp-gan",
        "pytorch-celeba-dcgan",
        "--data",
        "synthetic",
        "--batch-size",
        "4",
        "--warmup",
        "1",
        "--steps",
        "2",
        "--out",
        str(tmp_path),
        "--no-samples",
        env={FAIL_HOOK: "torch:mindspore-mlp-gan:crash"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (run_set,) = run_sets(tmp_path)  # the invocation's own run-set folder
    dead = json.loads((run_set / "torch__mindspore-mlp-gan__cpu__eager__b4.json").read_text())
    assert dead["status"] == "failed" and dead["error"]["type"] == "WorkerDied"
    assert "exit code 70" in dead["error"]["message"]
    ok = json.loads((run_set / "torch__pytorch-celeba-dcgan__cpu__eager__b4.json").read_text())
    assert ok["status"] == "ok" and len(ok["step_times_s"]) == 2
    assert "FAILED" in out.stderr and "pytorch-celeba-dcgan" in out.stdout


def test_exception_in_a_run_is_recorded_with_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv(FAIL_HOOK, "torch:mindspore-mlp-gan")
    res = run_one(
        RunConfig("torch", "mindspore-mlp-gan", data="synthetic", out=str(tmp_path), warmup=1, steps=1), progress=False
    )
    assert res["status"] == "failed" and res["error"]["type"] == "RuntimeError"
    assert "injected failure" in res["error"]["message"] and "Traceback" in res["error"]["traceback"]
    assert json.loads((tmp_path / "torch__mindspore-mlp-gan__cpu__eager.json").read_text())["status"] == "failed"


def test_missing_real_data_fails_with_where_to_put_it(tmp_path):
    res = run_one(
        RunConfig(
            "torch",
            "pytorch-celeba-dcgan",
            data="real",
            data_dir=str(tmp_path / "empty"),
            cache_dir=str(tmp_path / "cache"),
            download=False,
            out=str(tmp_path),
        ),
        progress=False,
    )
    assert res["status"] == "failed" and res["error"]["type"] == "DataUnavailable"
    assert "img_align_celeba" in res["error"]["message"] and str(tmp_path / "empty") in res["error"]["message"]


def test_unknown_backend_is_a_clear_failure(tmp_path):
    res = run_one(RunConfig("caffe", "mindspore-mlp-gan", out=str(tmp_path)), progress=False)
    assert res["status"] == "failed" and "known backends: torch" in res["error"]["message"]


def test_bench_gpu_without_a_gpu_says_so_and_writes_nothing(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: bench-gpu would run")
    proc = _cli("bench-gpu", "-b", "torch", "-m", "mindspore-mlp-gan", "--out", str(tmp_path / "res"), timeout=120)
    assert proc.returncode != 0
    assert "no importable backend sees a CUDA device" in proc.stderr
    assert not (tmp_path / "res").exists()


def test_trace_writes_state_inputs_and_losses(tmp_path):
    out = _cli(
        "trace", "-b", "torch", "-m", "mindspore-mlp-gan", "--steps", "3", "--batch-size", "8", "--out", str(tmp_path)
    )
    assert out.returncode == 0, out.stderr[-2000:]
    folder = tmp_path / "torch__mindspore-mlp-gan__eager"
    spec = get_model("mindspore-mlp-gan")
    check_state(spec, load_state(folder / "state0.npz"))
    inputs = load_state(folder / "inputs.npz")
    assert sorted(inputs) == ["noise_d_000", "noise_d_001", "noise_d_002", "real_000", "real_001", "real_002"]
    assert inputs["real_000"].shape == (8, 1, 28, 28) and inputs["noise_d_000"].shape == (8, 100)
    trace = json.loads((folder / "losses.json").read_text())
    assert trace["schema"] == "ganbench-trace" and len(trace["losses"]["d"]) == 3


def test_pytest_benchmark_entry_point(tmp_path):
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "benchmarks/",
            "-q",
            "-p",
            "no:cacheprovider",
            "--gb-backend",
            "torch",
            "--gb-model",
            "mindspore-mlp-gan",
            "--gb-steps",
            "3",
            "--gb-warmup",
            "1",
            "--gb-batch-size",
            "16",
            f"--benchmark-json={out_json}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    bench = json.loads(out_json.read_text())["benchmarks"]
    assert len(bench) == 1 and bench[0]["stats"]["rounds"] == 3
    info = bench[0]["extra_info"]
    assert info["batch_size"] == 16 and info["images_per_s_median"] == pytest.approx(16 / bench[0]["stats"]["median"])


def test_cuda_on_a_cpu_only_machine_is_a_recorded_failure_with_its_fix(tmp_path):
    cfg = RunConfig(
        "torch",
        "mindspore-mlp-gan",
        device="cuda",
        warmup=1,
        steps=2,
        data="synthetic",
        out=str(tmp_path),
        batch_size=8,
    )
    res = run_one(cfg, progress=False)
    assert res["status"] == "failed" and res["device"] == "cuda"
    assert res["error"]["type"] == "DeviceMismatch"
    assert "installed: torch " in res["error"]["message"] and "fix: " in res["error"]["message"]
    assert res["step_times_s"] == [] and res["warmup_times_s"] == []  # refused before training


def test_the_harness_checks_placement_after_the_first_step(tmp_path, monkeypatch):
    from backends.pytorch import TorchBackend

    monkeypatch.setattr(TorchBackend, "placement", lambda self, handle: ({"cpu"}, {"cuda"}))
    cfg = RunConfig("torch", "mindspore-mlp-gan", warmup=1, steps=2, data="synthetic", out=str(tmp_path), batch_size=8)
    res = run_one(cfg, progress=False)
    assert res["status"] == "failed" and res["error"]["type"] == "DeviceMismatch"
    assert "outputs on cuda" in res["error"]["message"]
