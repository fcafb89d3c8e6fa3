"""The report overview: one number per framework (geometric mean with a bootstrap interval),
the model × framework heat map, what each best mode gained over the plain mode, and batch sweeps
(speed-ups only at the same batch, the largest batch that fits). Numbers come from result files
written here with known throughputs."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from reports import aggregate, build_report
from reports.demo import base_env, write_result
from reports.load import load_results
from reports.stats import MIN_STEPS, Pair, geomean_ratio, speed_ratio

REPO = Path(__file__).resolve().parents[1]
A, B = "paddle-dcgan28", "mxnet-dcgan64"  # tutorial batches 128 and 64
CPU_ENV = {"cpu": "Test CPU 9000", "hostname": "box-a"}
GPU_ENV = {"device_name": "NVIDIA H100 80GB HBM3", "hostname": "box-gpu"}


def step_times(ips: float, batch: int, n: int = 31, spread: float = 0.05, seed: int = 0) -> list[float]:
    """Step times whose median throughput is exactly `ips` (odd n, median factor divided out)."""
    f = np.random.default_rng(seed).lognormal(0, spread, n)
    f /= np.median(f)
    return (batch / ips * f).tolist()


def run(
    folder: Path,
    backend: str,
    model: str,
    ips: float | None,
    *,
    batch: int | None = None,
    mode: str = "eager",
    device: str = "cpu",
    env: dict | None = None,
    seed: int = 0,
    **extra,
) -> Path:
    batch = batch or aggregate.TUTORIAL_BATCH[model]
    env = env or CPU_ENV
    fields = dict(
        backend=backend,
        model=model,
        device=device,
        mode=mode,
        data_source="real",
        batch_size=batch,
        env=base_env(backend, device, host=env["hostname"]) | env,
    )
    if ips is not None:
        fields["step_times_s"] = step_times(ips, batch, seed=seed)
    else:
        fields.update(
            status="failed", images_per_s=None, throughput=None, step_times_s=[], losses=None, d_x=None, d_g_z=None
        )
    fields.update(extra)
    return write_result(folder, f"{device}/{backend}__{model}__{mode}__b{batch}.json", **fields)


def failed(error_type: str, message: str) -> dict:
    return {"error": {"type": error_type, "message": message, "traceback": ""}}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    # CPU, model A at its tutorial batch 128: torch best is compile (1250), mxnet 1500, paddle 900.
    run(root, "torch", A, 1000, seed=1)
    run(root, "torch", A, 1250, mode="compile", seed=2)
    run(root, "mxnet", A, 1500, mode="imperative", seed=3)
    run(root, "mxnet", A, 1800, mode="hybridized", seed=4)
    run(root, "paddle", A, 900, mode="dynamic", seed=5)
    run(root, "mindspore", A, None, mode="pynative", **failed("ModeRefused", "graph mode refuses this model"))
    # Model B at its batch 64: torch 250, mxnet 500; paddle failed for a reason of its own.
    run(root, "torch", B, 250, seed=6)
    run(root, "torch", B, 200, mode="compile", seed=13)  # slower than eager: plain stays the best
    run(root, "mxnet", B, 500, mode="imperative", seed=7)
    run(root, "paddle", B, None, mode="dynamic", **failed("RuntimeError", "conv kernel missing"))
    # A batch sweep of A: larger batches are faster but must not enter the headline numbers.
    run(root, "torch", A, 600, batch=32, seed=8)
    run(root, "torch", A, 3000, batch=256, seed=9)
    run(root, "torch", A, None, batch=512, **failed("OutOfMemoryError", "CUDA out of memory. Tried to allocate"))
    run(root, "torch", A, None, batch=1024, **failed("XlaRuntimeError", "RESOURCE_EXHAUSTED: Out of memory"))
    run(root, "mxnet", A, 4000, mode="imperative", batch=256, seed=10)
    run(root, "mxnet", A, None, mode="imperative", batch=512, **failed("WorkerDied", "killed by signal 9"))
    # The GPU: its own block, never averaged with the CPU.
    run(root, "torch", B, 8000, device="cuda", env=GPU_ENV, seed=11)
    run(root, "mxnet", B, 6000, mode="hybridized", device="cuda", env=GPU_ENV, seed=12)
    run(
        root,
        "mindspore",
        B,
        None,
        mode="pynative",
        device="cuda",
        env=GPU_ENV,
        **failed("DeviceRefused", "MindSpore 2.x has no NVIDIA GPU backend"),
    )
    outcome = build_report(root, root / "report.html")
    loaded = load_results(root)
    return root, outcome, loaded


def block(outcome, device: str) -> dict:
    df = outcome.summary
    runs = load_results(outcome.html.parent).runs
    blocks = aggregate.framework_overview(df, runs, "torch")
    hit = [b for b in blocks if b["device"] == device]
    assert len(hit) == 1
    return hit[0]


def test_every_sweep_run_is_kept(built):
    _, outcome, loaded = built
    assert outcome.warnings == []
    assert len(outcome.summary) == 19 and len(loaded.runs) == 19


def test_speedups_compare_runs_at_the_same_batch(built):
    df = built[1].summary
    at = df[(df.model == A) & (df.device == "cpu")].set_index(["backend", "mode", "batch_size"])
    # At 128 the reference is torch compile (1250), not torch at 256 (3000).
    assert at.loc[("mxnet", "imperative", 128), "speedup"] == pytest.approx(1500 / 1250)
    assert at.loc[("torch", "eager", 128), "speedup"] == pytest.approx(1000 / 1250)
    # At 256 the only torch run is the reference.
    assert at.loc[("mxnet", "imperative", 256), "speedup"] == pytest.approx(4000 / 3000)
    assert bool(at.loc[("torch", "eager", 256), "is_reference"])


def test_headlines_and_charts_use_the_tutorials_batch(built):
    _, outcome, _ = built
    df = outcome.summary
    heads = aggregate.headlines(df[aggregate.at_primary(df)], load_results(outcome.html.parent).runs, "torch")
    head = next(h for h in heads if h["model"] == A)
    assert (head["fastest"], head["fastest_mode"]) == ("mxnet", "hybridized")
    assert head["ips"] == pytest.approx(1800)  # not mxnet's 4000 at batch 256


def test_heat_map_cells(built):
    b = block(built[1], "cpu")
    assert b["models"] == [A, B] and b["backends"] == ["torch", "mxnet", "paddle", "mindspore"]
    c = b["cells"]
    assert c[(A, "torch")]["value"] == pytest.approx(1.0) and c[(A, "torch")]["mode"] == "compile"
    assert c[(A, "mxnet")]["value"] == pytest.approx(1800 / 1250) and c[(A, "mxnet")]["mode"] == "hybridized"
    assert c[(A, "mxnet")]["lo"] < 1800 / 1250 < c[(A, "mxnet")]["hi"]
    assert c[(A, "paddle")]["value"] == pytest.approx(900 / 1250)
    assert c[(A, "mindspore")]["kind"] == "refused" and c[(A, "mindspore")]["error_type"] == "ModeRefused"
    assert c[(B, "paddle")]["kind"] == "failed" and c[(B, "paddle")]["error_type"] == "RuntimeError"
    assert (B, "mindspore") not in c  # never run on the CPU: an empty cell, not a failure
    assert b["grid"][1][3] is None


def test_geometric_mean_per_framework(built):
    b = block(built[1], "cpu")
    means = {m["backend"]: m for m in b["means"]}
    mx = means["mxnet"]
    assert mx["n"] == 2 and mx["models"] == [A, B]
    assert mx["value"] == pytest.approx(math.sqrt(1800 / 1250 * 500 / 250))
    assert mx["lo"] < mx["value"] < mx["hi"] and mx["resolved"]
    # paddle's B failed: its mean covers A only and says so.
    assert means["paddle"]["n"] == 1 and means["paddle"]["ran"] == 2
    assert means["paddle"]["value"] == pytest.approx(900 / 1250)
    assert means["mindspore"]["n"] == 0 and "value" not in means["mindspore"]
    assert means["torch"]["is_baseline"] and means["torch"]["value"] == pytest.approx(1.0)


def test_gpu_is_its_own_block(built):
    g = block(built[1], "cuda")
    means = {m["backend"]: m for m in g["means"]}
    assert means["mxnet"]["value"] == pytest.approx(6000 / 8000) and means["mxnet"]["n"] == 1
    assert g["cells"][(B, "mindspore")]["kind"] == "refused"


def test_mode_gains_against_the_plain_mode(built):
    gains = {(g["model"], g["backend"]): g for g in block(built[1], "cpu")["gains"]}
    mx = gains[(A, "mxnet")]
    assert (mx["plain_mode"], mx["best_mode"]) == ("imperative", "hybridized")
    assert mx["gain"] == pytest.approx(1800 / 1500) and mx["lo"] < mx["gain"] < mx["hi"]
    assert gains[(A, "torch")]["gain"] == pytest.approx(1250 / 1000)
    assert gains[(B, "torch")]["gain"] == 1.0 and gains[(B, "torch")]["best_mode"] == "eager"
    assert gains[(B, "torch")]["modes"] == ["compile", "eager"]
    assert gains[(A, "paddle")]["gain"] == 1.0


def test_batch_sweep_lines_and_largest_batch_that_fits(built):
    sweeps = aggregate.batch_sweeps(built[1].summary)
    assert [(s["device"], s["models"]) for s in sweeps] == [("cpu", [A])]
    lines = {ln["backend"]: ln for ln in sweeps[0]["lines"]}
    assert lines["torch"]["mode"] == "eager"  # measured at 32, 128 and 256; compile only at 128
    assert lines["torch"]["batch"] == [32, 128, 256]
    assert lines["torch"]["ips"] == pytest.approx([600, 1000, 3000])
    fits = {f["backend"]: f for f in sweeps[0]["fits"]}
    assert fits["torch"]["tried"] == [32, 128, 256, 512, 1024]
    assert (fits["torch"]["largest_ok"], fits["torch"]["smallest_oom"]) == (256, 512)
    assert fits["torch"]["largest_ok_ips"] == pytest.approx(3000)
    # A killed worker may have run out of memory, but nothing says so: a failure, not an OOM.
    assert fits["mxnet"]["smallest_oom"] is None and fits["mxnet"]["other_failures"] == [(512, "WorkerDied")]


@pytest.mark.parametrize(
    "error_type, message",
    [
        ("OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB"),
        ("XlaRuntimeError", "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 8589934592 bytes."),
        ("MXNetError", "[10:01:02] src/storage/./pooled_storage_manager.h:161: cudaMalloc retry failed: out of memory"),
        ("ResourceExhaustedError", "Out of memory error on GPU 0. Cannot allocate 1.5GB memory on GPU 0"),
        ("RuntimeError", "Device(id:0) memory isn't enough and alloc failed, kernel name: Conv2D"),
        ("MemoryError", ""),
    ],
)
def test_out_of_memory_is_recognised(error_type, message):
    assert aggregate.is_oom(error_type, message)


def test_other_failures_are_not_out_of_memory():
    assert not aggregate.is_oom("RuntimeError", "shape mismatch in Dense 3")
    assert not aggregate.is_oom("WorkerDied", "the benchmark process ended without a result (killed by signal 9)")


def test_page_opens_with_the_overview_and_has_the_sweep(built):
    html = built[1].html.read_text()
    overview, summary = html.index('id="overview"'), html.index('id="summary"')
    sweep, learning = html.index('id="batch-sweep"'), html.index('id="learning"')
    assert overview < summary < sweep < learning
    part = html[overview:summary]
    assert part.count('class="chart heatmap"') == 2  # CPU and GPU
    assert "×1.70 [" in part  # mxnet's geometric mean sqrt(1.44 * 2) = 1.697 on the CPU
    assert "2 of 2: paddle-dcgan28, mxnet-dcgan64" in part
    assert "only dynamic ran" in part  # paddle ran one mode: no gain to show
    assert "×1.00 (plain is its fastest)" in part  # torch on B: compile was slower than eager
    sweep_part = html[sweep:learning]
    assert sweep_part.count('alt="Throughput against batch size') == 1
    assert re.search(
        r"<td>paddle-dcgan28</td><td>torch</td><td>32, 128, 256, 512, 1024</td>\s*"
        r'<td class="n">256</td><td class="n">3,000</td>\s*<td class="n">512</td>',
        sweep_part,
    )
    assert "batch sizes 32, 128, 256, 512, 1024" in html  # the summary table's model header


def test_terminal_table_says_which_batch_ran(built):
    from reports.build import terminal_table

    table = terminal_table(built[1].summary)
    assert table.splitlines()[0].split()[:7] == ["model", "hardware", "data", "backend", "mode", "batch", "status"]
    assert len(re.findall(r"torch\s+eager\s+1024\s+failed", table)) == 1
    assert len(re.findall(r"torch\s+eager\s+256\s+ok\s+3,000", table)) == 1


def test_no_sweep_section_with_one_batch_per_model(tmp_path):
    run(tmp_path, "torch", A, 1000, seed=1)
    run(tmp_path, "mxnet", A, 1500, mode="imperative", seed=2)
    html = build_report(tmp_path).html.read_text()
    assert 'id="overview"' in html and 'id="batch-sweep"' not in html and "batch sizes" not in html


def test_geomean_of_one_model_is_speed_ratio():
    ta, tb = step_times(1500, 64, seed=1), step_times(1000, 64, seed=2)
    one = geomean_ratio([Pair(1500, ta, 64, 1000, tb, 64)])
    direct = speed_ratio(1500, ta, 64, 1000, tb, 64)
    assert (one.value, one.lo, one.hi) == pytest.approx((direct.value, direct.lo, direct.hi))


def test_geomean_interval_of_constant_steps_is_the_value():
    pairs = [Pair(2.0, [0.5] * 5, 1, 1.0, [1.0] * 5, 1), Pair(0.5, [2.0] * 5, 1, 1.0, [1.0] * 5, 1)]
    g = geomean_ratio(pairs)
    assert g.value == pytest.approx(1.0) and g.lo == pytest.approx(1.0) and g.hi == pytest.approx(1.0)


def test_geomean_without_enough_steps_has_no_interval():
    short = [0.1] * (MIN_STEPS - 1)
    g = geomean_ratio([Pair(4.0, [0.1] * 9, 1, 1.0, [0.2] * 9, 1), Pair(1.0, short, 1, 1.0, short, 1)])
    assert g.value == pytest.approx(2.0) and g.lo is None and g.hi is None


def test_report_tables_agree_with_the_suite():
    """The report copies two facts so it imports nothing outside reports/: keep them true."""
    from common.models import MODELS

    assert aggregate.TUTORIAL_BATCH == {name: m.data.batch_size for name, m in MODELS.items()}
    # Each adapter's first mode, read from its source: the frameworks need not be importable here.
    from backends import REGISTRY

    for backend, adapter in REGISTRY.items():
        source = (REPO / (adapter.module.replace(".", "/") + ".py")).read_text()
        first = re.search(r'^\s+modes = \("(\w+)"', source, re.M).group(1)
        assert aggregate.PLAIN_MODES[backend] == first, backend


def test_sweep_line_follows_the_mode_fastest_at_the_tutorials_batch(tmp_path):
    # Both modes ran at both batches: the line follows compile, the faster one at 128, even though
    # eager is faster at 64; a line never switches mode between points.
    run(tmp_path, "torch", A, 1000, seed=1)
    run(tmp_path, "torch", A, 1250, mode="compile", seed=2)
    run(tmp_path, "torch", A, 700, batch=64, seed=3)
    run(tmp_path, "torch", A, 600, batch=64, mode="compile", seed=4)
    sweeps = aggregate.batch_sweeps(build_report(tmp_path).summary)
    (line,) = sweeps[0]["lines"]
    assert line["mode"] == "compile" and line["batch"] == [64, 128]
    assert line["ips"] == pytest.approx([600, 1250])
