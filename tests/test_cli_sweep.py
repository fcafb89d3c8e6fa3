"""`--mode best,plain` and `--batch-size 32,64,...`: which runs the CLI plans, and the
result file names that keep a batch sweep's runs apart."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from benchmarks.cli import _batch_sizes, _modes, build_parser  # noqa: E402
from benchmarks.runner import RunConfig, result_path  # noqa: E402
from common.results import run_key, run_sets  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MLP = "mindspore-mlp-gan"  # the tutorial's batch is 128


@pytest.mark.parametrize(
    "given, device, want",
    [
        (["best,plain"], "cpu", ["eager"]),  # torch's best on the CPU is eager: run once
        (["best,plain"], "cuda", ["cuda_graph", "eager"]),
        (["best", "plain"], "cuda", ["cuda_graph", "eager"]),
        (["plain", "compile,bf16"], "cpu", ["eager", "compile", "bf16"]),
        (["all,best"], "cuda", ["eager", "compile", "channels_last", "bf16", "cuda_graph"]),
        (["compile,", "compile"], "cpu", ["compile"]),
        (None, "cpu", [None]),
    ],
)
def test_mode_words(given, device, want):
    assert _modes("torch", given, MLP, device) == want


def test_unknown_mode_exits_with_the_choices():
    with pytest.raises(SystemExit, match="no mode hybridized; its modes: eager, compile.*best, plain"):
        _modes("torch", ["best,hybridized"], MLP, "cpu")


def test_batch_sizes_comma_and_space_separated():
    a = build_parser().parse_args(["run", "--batch-size", "32,64", "128", "64"])
    assert _batch_sizes(a.batch_size) == [32, 64, 128]
    assert _batch_sizes(build_parser().parse_args(["run"]).batch_size) == [None]
    for bad in ("0", "32,x", ","):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["run", "--batch-size", bad])


def test_batch_enters_the_file_name_only_when_it_is_not_the_tutorials():
    assert run_key("torch", MLP, "cpu", "eager") == "torch__mindspore-mlp-gan__cpu__eager"
    assert RunConfig("torch", MLP, batch_size=None).key("eager") == "torch__mindspore-mlp-gan__cpu__eager"
    assert RunConfig("torch", MLP, batch_size=128).key("eager") == "torch__mindspore-mlp-gan__cpu__eager"
    assert RunConfig("torch", MLP, batch_size=256).key("eager") == "torch__mindspore-mlp-gan__cpu__eager__b256"
    cfg = RunConfig("torch", "mxnet-dcgan64", batch_size=128, out="res")  # tutorial batch 64
    assert result_path(cfg, "compile") == Path("res/torch__mxnet-dcgan64__cpu__compile__b128.json")


def test_sweep_writes_one_file_per_batch_and_mode(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "run",
            "-b",
            "torch",
            "-m",
            MLP,
            "--data",
            "synthetic",
            "--mode",
            "best,plain",
            "--batch-size",
            "8,128",
            "--warmup",
            "1",
            "--steps",
            "2",
            "--no-samples",
            "--in-process",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_set,) = run_sets(tmp_path)  # the invocation's own run-set folder
    names = sorted(p.name for p in run_set.glob("*.json") if p.name != "manifest.json")
    assert names == ["torch__mindspore-mlp-gan__cpu__eager.json", "torch__mindspore-mlp-gan__cpu__eager__b8.json"]
    batches = {json.loads((run_set / n).read_text())["batch_size"] for n in names}
    assert batches == {8, 128}
    assert proc.stdout.splitlines()[0].split()[4] == "batch"  # the summary table says which batch ran
