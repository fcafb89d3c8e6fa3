"""The report's numbers, built from result files this test writes with known throughputs."""

from __future__ import annotations

import math
import random
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports import ReportError, build_report
from reports.__main__ import main
from reports.demo import base_env, sample_grid, write_result, write_trace
from reports.stats import speed_ratio

REPO = Path(__file__).resolve().parents[1]
BATCH = 64
A, B = "paddle-dcgan28", "mxnet-dcgan64"
CPU_ENV = {"cpu": "Test CPU 9000", "hostname": "box-a"}
GPU_ENV = {"device_name": "NVIDIA H100 80GB HBM3", "hostname": "box-gpu"}


def step_times(ips: float, n: int = 31, spread: float = 0.05, seed: int = 0) -> list[float]:
    """Step times whose median throughput is exactly `ips` (odd n, median factor divided out)."""
    f = np.random.default_rng(seed).lognormal(0, spread, n)
    f /= np.median(f)
    return (BATCH / ips * f).tolist()


def run(
    folder: Path,
    backend: str,
    model: str,
    ips: float | None,
    *,
    device: str = "cpu",
    mode: str = "eager",
    data: str = "real",
    env: dict | None = None,
    seed: int = 0,
    **extra,
) -> Path:
    base = base_env(backend, device, host=(env or CPU_ENV)["hostname"])
    fields = dict(
        backend=backend,
        model=model,
        device=device,
        mode=mode,
        data_source=data,
        batch_size=BATCH,
        env=base | (env or CPU_ENV),
        data_detail=f"{data} data for {model}",
    )
    if ips is not None:
        fields["step_times_s"] = step_times(ips, seed=seed)
    fields.update(extra)
    return write_result(folder, f"{device}/{backend}__{model}__{mode}__{data}.json", **fields)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    run(root, "torch", A, 1000, seed=1)
    run(root, "torch", A, 1250, mode="compile", seed=2, compile_s=3.25)  # the baseline's best row for A
    run(root, "mxnet", A, 1500, seed=3)
    run(root, "paddle", A, 900, seed=4)
    run(
        root,
        "mindspore",
        A,
        None,
        status="failed",
        images_per_s=None,
        throughput=None,
        step_times_s=[],
        error={"type": "ValueError", "message": "shape mismatch in Dense 3", "traceback": "Traceback ...\nValueError"},
    )
    run(root, "jax", A, 2000, data="synthetic", seed=5)
    run(root, "torch", A, 1600, data="synthetic", seed=6)
    run(root, "torch", B, 250, seed=7)
    run(root, "jax", B, 300, data="synthetic", seed=8)  # no synthetic torch run for B: no speed-up
    run(root, "torch", B, 8000, device="cuda", env=GPU_ENV, flops_per_iteration=9.6e10, seed=9)
    run(
        root,
        "mxnet",
        B,
        9000,
        device="cuda",
        env=GPU_ENV,
        flops_per_iteration=9.6e10,
        seed=10,
        samples_png="samples/mxnet.png",
    )
    (root / "cuda" / "samples").mkdir()
    sample_grid(0, 16, 3, n=4).save(root / "cuda" / "samples" / "mxnet.png")
    ref = [1.0, 0.9, 0.8]
    write_trace(root, "torch", A, ref, [2.0, 2.0, 2.0])
    write_trace(root, "jax", A, [1.01, 0.9, 0.8], [2.0, 2.0, 2.2])
    outcome = build_report(root, root / "out" / "report.html")
    return root, outcome


def row(df: pd.DataFrame, backend: str, model: str, *, device="cpu", mode="eager", data="real") -> pd.Series:
    hit = df[
        (df.backend == backend)
        & (df.model == model)
        & (df.device == device)
        & (df["mode"] == mode)
        & (df.data_source == data)
    ]
    assert len(hit) == 1, (backend, model, device, mode, data)
    return hit.iloc[0]


def test_one_row_per_run_and_no_warnings(built):
    root, outcome = built
    assert outcome.warnings == []
    assert len(outcome.summary) == 11
    assert outcome.html == root / "out" / "report.html" and outcome.html.is_file()
    assert outcome.csv == root / "out" / "report.csv"


def test_throughput_median_matches_the_step_times(built):
    _, outcome = built
    r = row(outcome.summary, "mxnet", A)
    assert r.images_per_s == pytest.approx(1500)
    ips = [BATCH / t for t in step_times(1500, seed=3)]
    assert statistics.median(ips) == pytest.approx(1500)
    assert r.ips_p10 == pytest.approx(np.percentile(ips, 10))
    assert r.ips_p90 == pytest.approx(np.percentile(ips, 90))
    assert r.steps == 31


def test_speedups_compare_with_the_fastest_baseline_row_of_the_same_setting(built):
    _, df = built[1], built[1].summary
    # Independent: the baseline for (A, cpu, real) is torch compile at 1250 images/s.
    expected = {
        ("mxnet", "eager"): 1500 / 1250,
        ("paddle", "eager"): 900 / 1250,
        ("torch", "eager"): 1000 / 1250,
        ("torch", "compile"): 1.0,
    }
    for (backend, mode), want in expected.items():
        r = row(df, backend, A, mode=mode)
        assert r.speedup == pytest.approx(want), (backend, mode)
        assert r.speedup_vs == "torch compile"
        assert r.speedup_lo <= r.speedup <= r.speedup_hi
    assert bool(row(df, "torch", A, mode="compile").is_reference)
    assert row(df, "torch", B, device="cuda").speedup == 1.0
    assert row(df, "mxnet", B, device="cuda").speedup == pytest.approx(9000 / 8000)


def test_synthetic_runs_are_compared_only_with_synthetic_baselines(built):
    df = built[1].summary
    assert row(df, "jax", A, data="synthetic").speedup == pytest.approx(2000 / 1600)
    # B has a real-data torch run on the same CPU, but no synthetic one: no speed-up at all.
    assert math.isnan(row(df, "jax", B, data="synthetic").speedup)


def test_failed_run_keeps_its_error(built):
    r = row(built[1].summary, "mindspore", A)
    assert r.status == "failed"
    assert r.error_type == "ValueError" and r.error_message == "shape mismatch in Dense 3"
    assert math.isnan(r.speedup)


def test_mfu_uses_the_fp32_peak_of_the_named_gpu_and_is_na_on_cpu(built):
    df = built[1].summary
    r = row(df, "mxnet", B, device="cuda")
    assert r.mfu_pct == pytest.approx(100 * 9.6e10 * (9000 / BATCH) / 67e12)
    assert "H100 SXM" in r.mfu_peak
    assert math.isnan(row(df, "mxnet", A).mfu_pct)


def test_compile_time_is_its_own_column(built):
    df = built[1].summary
    assert row(df, "torch", A, mode="compile").compile_s == 3.25
    assert math.isnan(row(df, "torch", A).compile_s)  # eager: nothing compiled, not zero
    assert "3.25 s" in (built[0] / "out" / "report.html").read_text()


def test_csv_holds_the_same_table(built):
    outcome = built[1]
    csv = pd.read_csv(outcome.csv)
    assert list(csv.columns) == list(outcome.summary.columns)
    assert len(csv) == len(outcome.summary)
    merged = csv.set_index(["backend", "model", "device", "mode", "data_source"])["speedup"]
    assert merged.loc[("mxnet", A, "cpu", "eager", "real")] == pytest.approx(1.2)
    # each row stands alone: the framework build, the code and the time it was measured
    assert {"framework_version", "git_commit", "finished_at"} <= set(csv.columns)
    assert csv["git_commit"].notna().all() and csv["framework_version"].notna().all()


def test_page_sections(built):
    html = built[1].html.read_text()
    assert html.count('<span class="badge synthetic">synthetic data</span>') >= 3
    assert "shape mismatch in Dense 3" in html and "Traceback" in html
    assert "Machine box-gpu" in html and "Machine box-a" in html
    assert "2.13.0+cu130" in html  # torch's version in the environment table
    assert "Parity traces" in html and "1.0e-01" in html  # jax's G trace is 10 % off at step 2
    assert "Test CPU 9000 (cpu)" in html and "NVIDIA H100 80GB HBM3 (cuda)" in html
    assert "<script" not in html
    assert 'src="http' not in html and 'href="http' not in html
    # Every image is embedded; there is one throughput chart per setting (3 here).
    assert html.count('alt="Training throughput by backend') == 3
    assert html.count("Final samples of every backend") == 1


def test_parity_values(built):
    html = built[1].html.read_text()
    # Step 0: |1.01-1|/1 = 1e-2 on D; step 2: |2.2-2|/2 = 1e-1 on G, the maximum.
    assert "1.0e-02" in html and "<strong>1.0e-01</strong>" in html


@pytest.mark.parametrize("times_a, times_b", [([0.1] * 30, [0.2] * 30)])
def test_interval_collapses_when_steps_do_not_vary(times_a, times_b):
    r = speed_ratio(640, times_a, 64, 320, times_b, 64)
    assert (r.value, r.lo, r.hi) == (2.0, pytest.approx(2.0), pytest.approx(2.0))


def test_interval_matches_an_independent_bootstrap():
    a, b = step_times(1100, n=41, spread=0.1, seed=11), step_times(1000, n=41, spread=0.1, seed=12)
    r = speed_ratio(1100, a, BATCH, 1000, b, BATCH)
    rnd = random.Random(123)
    ratios = sorted(
        statistics.median(BATCH / t for t in rnd.choices(a, k=len(a)))
        / statistics.median(BATCH / t for t in rnd.choices(b, k=len(b)))
        for _ in range(4000)
    )
    lo, hi = ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios))]
    assert r.value == pytest.approx(1.1)
    assert r.lo == pytest.approx(lo, abs=0.015) and r.hi == pytest.approx(hi, abs=0.015)
    wider = speed_ratio(1100, step_times(1100, n=41, spread=0.3, seed=11), BATCH, 1000, b, BATCH)
    assert wider.hi - wider.lo > r.hi - r.lo


def test_no_interval_without_step_times():
    r = speed_ratio(2.0, None, 64, 1.0, [0.1] * 10, 64)
    assert r.value == 2.0 and r.lo is None and r.hi is None


def test_cli_prints_the_table_and_imports_no_framework(tmp_path):
    root = tmp_path / "results"
    run(root, "torch", A, 1000, losses=None, d_x=None, d_g_z=None)
    run(root, "mxnet", A, 1500, losses=None, d_x=None, d_g_z=None)
    probe = (
        "import sys, runpy; sys.argv = ['reports', 'build', sys.argv[1], '-o', sys.argv[2]];"
        "code = 0\ntry: runpy.run_module('reports', run_name='__main__')\n"
        "except SystemExit as e: code = e.code\n"
        "bad = [m for m in ('torch', 'mxnet', 'paddle', 'mindspore', 'jax') if m in sys.modules]\n"
        "print('FRAMEWORKS', bad); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(root), str(tmp_path / "r.html")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "FRAMEWORKS []" in done.stdout
    assert "speed-up [95% CI]" in done.stdout and "×1.50 [" in done.stdout
    assert (tmp_path / "r.html").is_file() and (tmp_path / "r.csv").is_file()


def test_cli_missing_folder_exits_2(tmp_path, capsys):
    assert main(["build", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ReportError):
        build_report(tmp_path / "nope")


def test_cli_folder_without_valid_result_exits_2_and_still_writes_a_page(tmp_path, capsys):
    (tmp_path / "broken.json").write_text("{")
    assert main(["build", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no valid result" in err and "broken.json: not valid JSON" in err
    page = (tmp_path / "report.html").read_text()
    assert "No valid result" in page and "broken.json: not valid JSON" in page


def test_charts_drawn_for_demo_data_carry_the_mark():
    from matplotlib.figure import Figure

    from reports import charts
    from reports.demo import DEMO_MARK

    marked, plain = Figure(), Figure()
    with charts.watermarked(DEMO_MARK):
        charts.to_uri(marked)
    charts.to_uri(plain)
    assert [t.get_text() for t in marked.texts] == [DEMO_MARK] and not plain.texts


def test_only_the_most_recent_settings_draw_their_charts(tmp_path):
    """A folder of many machines keeps every table but draws per-run charts for the
    CHARTED_SETTINGS most recent settings only, and says so for the rest."""
    from reports.build import CHARTED_SETTINGS
    from reports.demo import base_env

    n = CHARTED_SETTINGS + 2
    for k in range(n):
        env = base_env("torch", "cpu") | {"cpu": f"CPU model {k}"}
        write_result(
            tmp_path,
            f"r{k}.json",
            backend="torch",
            model=A,
            data_source="real",
            env=env,
            finished_at=f"2026-11-{10 + k:02d}T10:00:00+00:00",
        )
    outcome = build_report(tmp_path)
    html = outcome.html.read_text()
    assert len(outcome.summary) == n  # every run keeps its row
    assert html.count('alt="Training throughput by backend') == CHARTED_SETTINGS
    assert html.count('alt="Losses of every backend') == CHARTED_SETTINGS
    assert html.count("charts left out; the 6 settings with the") == 2
    # the two oldest machines are the ones left undrawn
    assert "CPU model 0 (cpu) · real data: charts left out" in html
    assert "CPU model 1 (cpu) · real data: charts left out" in html
    assert "CPU model 2 (cpu) · real data: charts left out" not in html


@pytest.mark.parametrize(
    "backends, width_in", [(["torch"], 7.5), (["torch", "mxnet", "paddle", "jax", "mindspore"], 7.5)]
)
def test_sample_grids_leave_room_for_the_title_and_wrap_evenly(tmp_path, backends, width_in):
    """One grid alone once clipped its chart's title; five wrapped 4 + 1."""
    import base64
    import io
    import re

    from PIL import Image

    from reports.demo import sample_grid

    (tmp_path / "samples").mkdir()
    for k, b in enumerate(backends):
        sample_grid(k, 35, 3).save(tmp_path / "samples" / f"{b}.png")  # 298 px: four fit a row, five do not
        write_result(tmp_path, f"{b}.json", backend=b, model=A, data_source="real", samples_png=f"samples/{b}.png")
    html = build_report(tmp_path).html.read_text()
    (uri,) = re.findall(r'alt="Final samples of every backend[^"]*" src="data:image/jpeg;base64,([^"]+)"', html)
    img = Image.open(io.BytesIO(base64.b64decode(uri)))
    assert img.width >= width_in * 100 - 2  # DPI 100
    if len(backends) == 5:
        assert img.width < 1000  # three columns of 298 px, not four: rows of 3 + 2


def test_a_baseline_without_runs_is_a_warning_not_silent_n_a(tmp_path, capsys):
    from reports.__main__ import main as reports_main

    write_result(tmp_path, "t.json", backend="torch", model=A, data_source="real")
    write_result(tmp_path, "m.json", backend="mxnet", model=A, data_source="real")
    assert reports_main(["build", str(tmp_path), "--baseline", "jax"]) == 0
    err = capsys.readouterr()
    assert "baseline 'jax' has no successful run; no speed-ups are shown" in err.out + err.err
    assert "baseline &#39;jax&#39; has no successful run" in (tmp_path / "report.html").read_text()
