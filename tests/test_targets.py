"""`targets`: the suite's PyTorch loops against each other and against the tutorial's own loop."""

import json

import pytest

pytest.importorskip("torch")

from benchmarks import targets  # noqa: E402


def test_harness_overhead_is_measured_against_the_tutorials_loop(tmp_path):
    assert (
        targets.main(["--device", "cpu", "--warmup", "1", "--steps", "3", "--out", str(tmp_path), "--only", "overhead"])
        == 0
    )
    doc = json.loads((tmp_path / "targets.json").read_text())
    assert doc["schema"] == "ganbench-targets" and doc["device"] == "cpu"
    checks = {c["check"]: c for c in doc["checks"]}
    overhead = checks["suite torch eager / tutorial loop, pytorch-celeba-dcgan"]
    assert overhead["b"]["batch"] == 128 and len(overhead["b"]["step_times_s"]) == 3
    assert overhead["ratio"] == pytest.approx(overhead["a"]["images_per_s"] / overhead["b"]["images_per_s"])
    assert overhead["lo"] <= overhead["ratio"] <= overhead["hi"]
    assert [c["verdict"] for c in doc["checks"]] == ["no verdict on CPU"]


def test_a_verdict_needs_cuda():
    a = {"images_per_s": 300.0, "step_times_s": [0.1] * 4, "batch": 30}
    b = {"images_per_s": 100.0, "step_times_s": [0.3] * 4, "batch": 30}
    assert targets.check("x", "≥ 3×", a, b, lambda r: r >= 3, "cuda")["verdict"] == "met"
    assert targets.check("x", "≥ 10×", a, b, lambda r: r >= 10, "cuda")["verdict"] == "missed"
    assert targets.check("x", "≥ 3×", a, b, lambda r: r >= 3, "cpu")["verdict"] == "no verdict on CPU"
