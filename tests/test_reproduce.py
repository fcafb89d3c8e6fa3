"""Reproduction runs: artefacts, exact resume after a kill, divergence keeps the last good checkpoint."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")

from benchmarks.reproduce import KILL_HOOK, NAN_HOOK  # noqa: E402
from common.models import get_model  # noqa: E402
from common.state import check_state, load_state  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--backend", "torch", "--subset", "192", "--batch-size", "32", "--metric-samples", "96", "--no-download"]


def _reproduce(out, *args, env=None, data=None):
    cmd = [
        sys.executable,
        "-m",
        "benchmarks",
        "reproduce",
        "mindspore-mlp-gan",
        "--out",
        str(out),
        "--data-dir",
        str(data),
        *SMALL,
        *args,
    ]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


def _record(out):
    return json.loads((Path(out) / "reproduction.json").read_text())


def test_short_reproduction_leaves_every_artefact(shared_data, tmp_path):
    proc = _reproduce(tmp_path, "--epochs", "2", data=shared_data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = _record(tmp_path)
    assert rec["status"] == "completed" and rec["epochs_done"] == 2 and rec["data_source"] == "real"
    assert rec["iterations_per_epoch"] == 6 and len(rec["losses"]["d"]) == 12
    assert [e["epoch"] for e in rec["epoch_losses"]] == [0, 1]
    m = rec["metrics"][-1]
    assert m["frechet_mnist"] > 0 and m["swd"]["mean"] > 0 and sum(m["class_histogram"]) == 96
    assert rec["published"]["loss_d"] == [1.17, 1.28]
    assert Image.open(tmp_path / rec["grids"][1]).size == (152, 152)  # 5×5 fixed-noise grid
    gif = Image.open(tmp_path / "progress.gif")
    assert gif.n_frames == 2
    assert (tmp_path / "losses.png").exists()
    check_state(get_model("mindspore-mlp-gan"), load_state(tmp_path / rec["checkpoint"]))
    assert "Epoch:[  0/  2], step:[   0/   6]" in proc.stdout  # the tutorial's logging cadence


def test_killed_run_resumes_with_the_same_losses(shared_data, tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _reproduce(whole, "--epochs", "3", data=shared_data).returncode == 0
    killed = _reproduce(cut, "--epochs", "3", env={KILL_HOOK: "0"}, data=shared_data)
    assert killed.returncode == -9  # SIGKILL after epoch 0's checkpoint
    assert _record(cut)["epochs_done"] == 1
    resumed = _reproduce(cut, "--epochs", "3", "--resume", data=shared_data)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stderr
    a, b = _record(whole), _record(cut)
    assert b["status"] == "completed" and len(b["losses"]["d"]) == 18
    assert a["losses"]["d"] == b["losses"]["d"] and a["losses"]["g"] == b["losses"]["g"]
    final_a = load_state(whole / a["checkpoint"])
    final_b = load_state(cut / b["checkpoint"])
    assert all(np.array_equal(final_a[k], final_b[k]) for k in final_a)


def test_planted_nan_stops_with_divergence_and_keeps_the_last_good_checkpoint(shared_data, tmp_path):
    proc = _reproduce(tmp_path, "--epochs", "3", env={NAN_HOOK: "1:2"}, data=shared_data)
    assert proc.returncode == 1
    rec = _record(tmp_path)
    assert rec["status"] == "diverged" and rec["error"]["type"] == "Diverged"
    assert rec["epochs_done"] == 1 and rec["checkpoint"] == "checkpoints/epoch_000.npz"
    assert "epoch 1 iteration 2" in rec["error"]["message"]
    state = load_state(tmp_path / rec["checkpoint"])
    check_state(get_model("mindspore-mlp-gan"), state)
    assert all(np.isfinite(v).all() for v in state.values())
    assert not (tmp_path / "checkpoints" / "epoch_001.npz").exists()


def test_without_the_dataset_it_says_what_to_put_where(tmp_path):
    proc = _reproduce(
        tmp_path / "out",
        "--epochs",
        "1",
        data=tmp_path / "nothing",
        env={"GANBENCH_CACHE_DIR": str(tmp_path / "cache"), "GANBENCH_NO_HUB": "1"},
    )
    assert proc.returncode != 0
    assert "real data only" in proc.stderr and "train-images-idx3-ubyte" in proc.stderr
