"""`doctor`: each framework probed in its own interpreter; problems come with their fix."""

import json
import sys

import pytest

from benchmarks import doctor
from common.builds import Driver, Gpu

H100 = Gpu("NVIDIA H100 80GB HBM3", (9, 0))


def test_arch_lists_cover_gpus_as_the_driver_would():
    torch_archs = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]
    assert doctor._covers(torch_archs, (9, 0)) and doctor._covers(torch_archs, (8, 9))
    assert not doctor._covers(["sm_50", "sm_60", "sm_70"], (9, 0))
    assert doctor._covers(["sm_70", "compute_70"], (9, 0))  # PTX compiles forward
    assert not doctor._covers(["sm_90"], (8, 0))


def test_problems_name_the_fix():
    missing = {
        "framework": "paddle",
        "importable": False,
        "error": "ModuleNotFoundError: No module named 'paddle'",
        "checks": {},
    }
    assert doctor.problems(missing, None) == [
        "ModuleNotFoundError: No module named 'paddle'; fix: nox -s bench-paddle (or pip install paddlepaddle==3.3.1)"
    ]
    cpu_only = {
        "framework": "torch",
        "importable": True,
        "cuda_build": False,
        "checks": {"cpu": {"ok": True, "seconds": 1.0}, "cuda": {"ok": False, "why": "sees no cuda device"}},
    }
    assert doctor.problems(cpu_only, None) == []  # no GPU here: nothing to fix for CUDA
    found = doctor.problems(cpu_only, Driver("570", (13, 0), (H100,)))
    assert len(found) == 1 and found[0].startswith("cuda: sees no cuda device; fix: ")
    mx = {
        "framework": "mxnet",
        "importable": True,
        "cuda_build": True,
        "archs": ["sm_50", "sm_86"],
        "checks": {"cpu": {"ok": True, "seconds": 1.0}, "cuda": {"ok": True, "seconds": 2.0}},
    }
    assert any("sm_90" in p and "no PTX" in p for p in doctor.problems(mx, Driver("570", (12, 8), (H100,))))


def test_probe_of_this_interpreter_runs_an_iteration_per_device():
    pytest.importorskip("torch")
    rec = doctor.run_probe("torch", sys.executable, timeout=600)
    assert rec["importable"] and rec["version"].startswith("2.") and rec["cuda_build"] in (True, False)
    assert rec["checks"]["cpu"]["ok"] and rec["checks"]["cpu"]["d_loss"] > 0
    if not rec["gpus"]:
        assert rec["checks"]["cuda"] == {"ok": False, "refused": False, "why": "sees no cuda device"}


def test_a_missing_or_crashing_framework_is_a_row_not_the_end(tmp_path):
    rec = doctor.run_probe("caffe", sys.executable, timeout=120)
    assert rec["importable"] is False and "unknown backend 'caffe'" in rec["error"]
    dying = tmp_path / "python"
    dying.write_text("#!/bin/sh\necho 'Fatal Python error: Segmentation fault' >&2\nexit 139\n")
    dying.chmod(0o755)
    rec = doctor.run_probe("paddle", str(dying), timeout=60)
    assert rec["importable"] is None and "exit code 139" in rec["error"] and "Segmentation fault" in rec["error"]
    none = doctor.run_probe("mindspore", "", timeout=60)
    text = doctor.table([rec, none], None)
    assert "no NVIDIA driver answers" in text and "problems:" in text
    assert "mindspore: no virtualenv holds it; fix: nox -s bench-mindspore" in text


def test_doctor_writes_its_json(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor, "interpreters", lambda root: [("caffe", sys.executable)])
    assert doctor.main(["--out", str(tmp_path)]) == 1  # nothing importable
    doc = json.loads((tmp_path / "doctor.json").read_text())
    assert doc["schema"] == "ganbench-doctor" and doc["frameworks"][0]["framework"] == "caffe"
    assert doc["frameworks"][0]["problems"]
