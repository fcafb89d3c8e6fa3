"""Results over time: run sets, compare with verdicts, the stability guard, calibration,
history in the report and the exports. Result files are hand-made (reports.demo.write_result) with
step times drawn from a seeded generator, so every expectation is exact and no test times anything."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.cli import main
from benchmarks.compare import compare_docs, regressions, write_history_csv
from benchmarks.timing import SystemSampler, time_steps
from common.results import (
    csv_safe,
    new_run_set_name,
    read_manifest,
    resolve_run_set,
    run_sets,
    set_results,
    write_manifest,
)
from common.stability import median_ci, median_ci_indices, stability_warnings
from reports import build_report
from reports.demo import write_result
from reports.load import load_results
from reports.stats import speed_ratio

REPO = Path(__file__).resolve().parents[1]


def steps(median_s: float, n: int = 40, spread: float = 0.02, seed: int = 0) -> list[float]:
    """Step times around `median_s` with a small multiplicative noise (2 %: a quiet machine)."""
    rng = np.random.default_rng(seed)
    return (median_s * np.exp(rng.normal(0, spread, n))).tolist()


def make_set(root: Path, name: str, created: str, runs: list[dict], commit: str = "abc1234") -> Path:
    folder = root / name
    write_manifest(
        folder,
        {
            "id": name[-6:],
            "name": name,
            "created_at": created,
            "git_commit": commit,
            "command": ["python", "-m", "benchmarks", "run"],
            "frameworks": {},
        },
    )
    for fields in runs:
        write_result(folder, **fields)
    return folder


def quiet(**fields) -> dict:
    """Fields of a run that passes the stability guard (a quiet machine recorded)."""
    return {"system": {"other_busy_cores": 0.05, "loadavg_1m_max": 0.3, "cpu_count": 2}, **fields}


# --- statistics, checked against scipy ----------------------------------------------------------------


def test_median_interval_matches_scipy_quantile_test():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    for n in (6, 7, 10, 23, 50, 101, 400):
        x = rng.lognormal(0, 0.3, n)
        ci = stats.quantile_test(x, q=float(np.median(x)), p=0.5).confidence_interval(0.95)
        assert median_ci(x.tolist()) == (ci.low, ci.high), n
    assert median_ci_indices(5) is None  # 2·(1/2)^5 > 5 %: no pair of order statistics covers 95 %


def test_bootstrap_of_the_change_agrees_with_scipy_bootstrap():
    """compare's interval (the report's bootstrap) against scipy.stats.bootstrap's percentile interval
    of the same statistic, both samples resampled independently: equal within Monte Carlo error."""
    stats = pytest.importorskip("scipy.stats")
    a, b = np.array(steps(0.10, 30, 0.15, seed=2)), np.array(steps(0.11, 25, 0.15, seed=3))
    batch = 64
    ours = speed_ratio(
        float(np.median(batch / b)), b.tolist(), batch, float(np.median(batch / a)), a.tolist(), batch, resamples=20000
    )

    def ratio(new, base, axis=-1):
        return np.median(batch / new, axis=axis) / np.median(batch / base, axis=axis)

    ref = stats.bootstrap(
        (b, a), ratio, method="percentile", n_resamples=20000, vectorized=True, random_state=np.random.default_rng(7)
    ).confidence_interval
    assert ours.lo == pytest.approx(ref.low, rel=0.02)
    assert ours.hi == pytest.approx(ref.high, rel=0.02)
    assert ours.value == pytest.approx(float(ratio(b, a)))


# --- compare -----------------------------------------------------------------------------------------


def _doc(times, **fields):
    batch = fields.pop("batch_size", 64)
    ips = batch / np.asarray(times)
    return {
        "schema": "ganbench-result",
        "backend": "torch",
        "model": "mindspore-mlp-gan",
        "device": "cpu",
        "mode": "eager",
        "status": "ok",
        "batch_size": batch,
        "data_source": "synthetic",
        "images_per_s": float(np.median(ips)),
        "step_times_s": list(times),
        "throughput": {"median": float(np.median(ips)), "mad_jitter": 0.0},
        "env": {"cpu": "AMD EPYC"},
        **fields,
    }


def test_verdicts_faster_slower_and_not_told_apart():
    base = _doc(steps(0.10, seed=0))
    same = _doc(steps(0.10, seed=1))
    slower = _doc(steps(0.125, seed=2))  # 20 % fewer images/s
    faster = _doc(steps(0.08, seed=3))
    assert compare_docs([base], [same])[0].verdict == "not told apart"
    row = compare_docs([base], [slower])[0]
    assert row.verdict == "slower" and row.change == pytest.approx(-0.2, abs=0.02)
    assert row.change_lo < row.change < row.change_hi < 0
    assert regressions([row], 0.10) == [row] and regressions([row], 0.25) == []
    assert compare_docs([base], [faster])[0].verdict == "faster"
    busy = compare_docs([base], [_doc(steps(0.125, seed=2), system={"other_busy_cores": 1.2})])[0]
    assert busy.verdict == "slower" and busy.noisy
    assert "NEW noisy: machine busy: other processes used 1.2 cores while measuring" in busy.notes
    assert not row.noisy


def test_different_hardware_or_data_source_is_never_compared():
    base = _doc(steps(0.10))
    other_cpu = _doc(steps(0.20), env={"cpu": "Intel Xeon"})
    real = _doc(steps(0.20), data_source="real")
    for new, why in ((other_cpu, "different hardware (AMD EPYC vs Intel Xeon)"), (real, "different data source")):
        row = compare_docs([base], [new])[0]
        assert row.verdict == "not compared" and row.change is None
        assert any(why in n for n in row.notes), row.notes
    # another batch size is another key: two rows, each present on one side only
    rows = compare_docs([base], [_doc(steps(0.2), batch_size=32)])
    assert [r.notes for r in rows] == [["only in NEW"], ["only in BASE"]]


def test_compare_cli_exit_codes_and_formats(tmp_path, capsys):
    res = tmp_path / "results"
    a = make_set(
        res, "2026-11-25T10-00-00_aaaaaa", "2026-11-25T10:00:00+00:00", [quiet(step_times_s=steps(0.10, seed=0))]
    )
    b = make_set(
        res, "2026-11-25T11-00-00_bbbbbb", "2026-11-25T11:00:00+00:00", [quiet(step_times_s=steps(0.10, seed=1))]
    )
    assert resolve_run_set(res) == b  # a results folder means its latest set
    assert main(["compare", str(a), str(res), "--fail-above", "10%"]) == 0
    table = capsys.readouterr().out
    assert "not told apart" in table and "pytorch-celeba-dcgan" in table

    c = make_set(
        res, "2026-11-25T12-00-00_cccccc", "2026-11-25T12:00:00+00:00", [quiet(step_times_s=steps(0.125, seed=2))]
    )
    assert main(["compare", str(b), str(c), "--fail-above", "10%"]) == 1
    out = capsys.readouterr()
    assert "slower" in out.out and "REGRESSION" in out.err
    assert main(["compare", str(b), str(c), "--fail-above", "30%"]) == 0  # slower, but within the threshold
    capsys.readouterr()

    assert main(["compare", str(b), str(c), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows"][0]["verdict"] == "slower" and doc["rows"][0]["change"] == pytest.approx(-0.2, abs=0.02)
    assert main(["compare", str(b), str(c), "--format", "markdown"]) == 0
    md = capsys.readouterr().out.splitlines()
    assert md[2].startswith("| backend |") and md[4].startswith("| torch |")
    assert main(["compare", str(b), str(c), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[0]["verdict"] == "slower" and float(rows[0]["change"]) < -0.1
    assert main(["compare", str(tmp_path / "nowhere"), str(c)]) == 2


# --- run sets and the report ---------------------------------------------------------------------------


def test_run_set_names_sort_by_time_and_old_flat_folders_still_read(tmp_path):
    import datetime as dt

    t = dt.datetime(2026, 11, 25, 10, 0, 0, tzinfo=dt.timezone.utc)
    assert new_run_set_name(t, "ab12cd") == "2026-11-25T10-00-00_ab12cd"
    flat = tmp_path / "flat"
    write_result(flat)
    assert resolve_run_set(flat) == flat and len(set_results(flat)) == 1
    assert load_results(flat).warnings == [] and len(load_results(flat).runs) == 1


def test_latest_is_a_view_and_history_keeps_every_set(tmp_path):
    make_set(
        tmp_path,
        "2026-11-25T10-00-00_aaaaaa",
        "2026-11-25T10:00:00+00:00",
        [quiet(step_times_s=steps(0.10, seed=0))],
        commit="1111111",
    )
    make_set(
        tmp_path,
        "2026-11-25T11-00-00_bbbbbb",
        "2026-11-25T11:00:00+00:00",
        [quiet(step_times_s=steps(0.125, seed=1))],
        commit="2222222",
    )
    loaded = load_results(tmp_path)
    assert loaded.warnings == []  # an older set's run is history, not a duplicate
    assert [r.run_set for r in loaded.runs] == ["2026-11-25T11-00-00_bbbbbb"]
    assert sorted(r.run_set for r in loaded.history) == ["2026-11-25T10-00-00_aaaaaa", "2026-11-25T11-00-00_bbbbbb"]
    assert list(loaded.run_sets) == ["2026-11-25T10-00-00_aaaaaa", "2026-11-25T11-00-00_bbbbbb"]

    outcome = build_report(tmp_path)
    html = outcome.html.read_text()
    assert 'id="history"' in html and "▼ slower" in html and "<code>2222222</code>" in html
    assert outcome.summary["run_set"].tolist() == ["2026-11-25T11-00-00_bbbbbb"]


def test_one_run_set_has_no_history_section(tmp_path):
    make_set(tmp_path, "2026-11-25T10-00-00_aaaaaa", "2026-11-25T10:00:00+00:00", [quiet()])
    assert 'id="history"' not in build_report(tmp_path).html.read_text()


def test_cli_run_writes_one_run_set_per_invocation(tmp_path):
    pytest.importorskip("torch")
    args = [
        "run",
        "-b",
        "torch",
        "-m",
        "mindspore-mlp-gan",
        "--data",
        "synthetic",
        "--warmup",
        "1",
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--out",
        str(tmp_path),
        "--no-samples",
        "--in-process",
    ]
    assert main(args) == 0 and main(args) == 0
    sets = run_sets(tmp_path)
    assert len(sets) == 2 and sets[0] != sets[1]
    for folder in sets:
        m = read_manifest(folder)
        assert m["schema"] == "ganbench-run-set" and m["finished_at"] and m["command"][-1] == "--in-process"
        assert m["frameworks"]["torch"]["reported"].startswith("2.") and m["machine"]["cpu_count"]
        assert [r["status"] for r in m["runs"]] == ["ok"]
        res = set_results(folder)[0]
        assert res["calibration"]["stop_rule"] == "steps" and res["system"]["samples"] >= 1
    assert main(["compare", str(sets[0]), str(sets[1])]) == 0


# --- the stability guard -----------------------------------------------------------------------------


def test_stability_guard_reasons():
    ok = quiet(
        status="ok", step_times_s=steps(0.1), images_per_s=640.0, throughput={"median": 640.0, "mad_jitter": 10.0}
    )
    assert stability_warnings(ok) == []
    assert "only 3 measured steps" in stability_warnings({**ok, "step_times_s": [0.1] * 3})[0]
    assert "jitter 65%" in stability_warnings({**ok, "throughput": {"median": 640.0, "mad_jitter": 416.0}})[0]
    busy = {**ok, "system": {"other_busy_cores": 1.0, "loadavg_1m_max": 3.0, "cpu_count": 2}}
    assert stability_warnings(busy) == ["machine busy: other processes used 1.0 cores while measuring"]
    # no /proc/stat figure (not Linux): the load average decides
    loaded = {**ok, "system": {"other_busy_cores": None, "loadavg_1m_max": 3.5, "cpu_count": 2}}
    assert stability_warnings(loaded) == ["machine busy: load average 3.5 on 2 cores while measuring"]
    throttled = {**ok, "system": {**ok["system"], "cpu_mhz_min": 1800.0, "cpu_mhz_max": 3000.0}}
    assert "CPU clock moved 1800-3000 MHz" in stability_warnings(throttled)[0]
    assert stability_warnings({**busy, "status": "failed"}) == []


def test_noisy_run_is_flagged_on_its_row_and_in_the_warnings(tmp_path):
    write_result(tmp_path, system={"other_busy_cores": None, "loadavg_1m_max": 6.0, "cpu_count": 2})
    outcome = build_report(tmp_path)
    assert outcome.summary["stability"].tolist() == ["machine busy: load average 6.0 on 2 cores while measuring"]
    assert any("noisy measurement" in w for w in outcome.warnings)
    html = outcome.html.read_text()
    assert 'class="badge noisy"' in html and "1 warning(s)" in html


def test_sampler_records_the_machine():
    s = SystemSampler(interval=0.01)
    s.start()
    sum(range(200000))
    out = s.stop()
    assert out["samples"] >= 2 and out["loadavg_1m_max"] is not None and out["cpu_count"]
    assert set(out) >= {"cpu_mhz_min", "cpu_mhz_max", "other_busy_cores", "loadavg_1m"}


# --- calibration: --min-time / --target-ci --------------------------------------------------------------


class FakeStepper:
    """Steps that 'take' the next of the given durations on a fake clock."""

    def __init__(self, durations):
        self.durations, self.now, self.handles = iter(durations), 0.0, []

    def clock(self):
        return self.now

    def prepare(self):
        pass

    def __call__(self):
        self.now += next(self.durations)
        self.handles.append(None)


def test_min_time_extends_the_measured_steps():
    s = FakeStepper([1.0] * 2 + [0.5] * 100)
    t = time_steps(s, warmup=2, steps=4, clock=s.clock, min_time=10.0)
    assert len(t.step_times_s) == 20 and t.calibration["stop_rule"] == "min_time"
    s = FakeStepper([1.0] * 2 + [0.5] * 100)
    t = time_steps(s, warmup=2, steps=4, clock=s.clock)
    assert len(t.step_times_s) == 4 and t.calibration["stop_rule"] == "steps"


def test_target_ci_stops_when_narrow_or_when_the_time_is_spent():
    rng = np.random.default_rng(0)
    quiet_steps = (0.1 * np.exp(rng.normal(0, 0.01, 1000))).tolist()
    s = FakeStepper(quiet_steps)
    t = time_steps(s, warmup=0, steps=3, clock=s.clock, target_ci=0.02)
    assert t.calibration["stop_rule"] == "target_ci" and t.calibration["median_ci_rel"] <= 0.02
    assert 6 <= len(t.step_times_s) < 50
    noisy = (0.1 * np.exp(rng.normal(0, 1.0, 1000))).tolist()
    s = FakeStepper(noisy)
    t = time_steps(s, warmup=0, steps=3, clock=s.clock, target_ci=0.001, max_time=5.0)
    assert t.calibration["stop_rule"] == "max_time" and t.calibration["median_ci_rel"] > 0.001
    s = FakeStepper(noisy)
    t = time_steps(s, warmup=0, steps=3, clock=s.clock, target_ci=0.001, max_steps=12)
    assert t.calibration["stop_rule"] == "max_steps" and len(t.step_times_s) == 12


# --- exports ------------------------------------------------------------------------------------------


def test_csv_neutralises_formulas():
    assert [csv_safe(v) for v in ("=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "plain", -5.0, 3)] == [
        "'=1+1",
        "'+cmd",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "plain",
        -5.0,
        3,
    ]


def test_history_csv_has_commit_versions_and_date_and_no_formula(tmp_path):
    make_set(
        tmp_path,
        "2026-11-25T10-00-00_aaaaaa",
        "2026-11-25T10:00:00+00:00",
        [
            quiet(),
            {
                "backend": "paddle",
                "status": "failed",
                "images_per_s": None,
                "error": {"type": "RuntimeError", "message": "x", "traceback": ""},
                "mode": '=HYPERLINK("http://evil","click")',
                "name": "paddle__evil.json",
            },
        ],
    )
    out = tmp_path / "all.csv"
    assert write_history_csv(tmp_path, out) == 2
    rows = list(csv.DictReader(out.open()))
    assert {r["git_commit"] for r in rows} == {"abc1234"} and rows[0]["set_created_at"].startswith("2026-11-25")
    assert all(r["framework_version"] for r in rows)
    assert rows[0]["mode"].startswith("'=HYPERLINK")  # shown as text, never run
    # the report's CSV is neutralised too
    summary = tmp_path / "report.csv"
    build_report(tmp_path)
    assert "'=HYPERLINK" in summary.read_text()


def test_pytest_benchmark_export_loads_in_pytest_benchmark_compare(tmp_path):
    pytest.importorskip("pytest_benchmark")
    make_set(tmp_path / "r", "2026-11-25T10-00-00_aaaaaa", "2026-11-25T10:00:00+00:00", [quiet()])
    make_set(
        tmp_path / "r", "2026-11-25T11-00-00_bbbbbb", "2026-11-25T11:00:00+00:00", [quiet(step_times_s=steps(0.12))]
    )
    assert main(["export", str(tmp_path / "r"), "-o", str(tmp_path / "pb")]) == 0
    files = sorted((tmp_path / "pb").glob("*.json"))
    assert [f.name for f in files] == ["0001_2026-11-25T10-00-00_aaaaaa.json", "0002_2026-11-25T11-00-00_bbbbbb.json"]
    doc = json.loads(files[1].read_text())
    st = doc["benchmarks"][0]["stats"]
    assert st["rounds"] == 40 and st["median"] == pytest.approx(float(np.median(steps(0.12))))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_benchmark.cli import main; main()",
            "compare",
            *map(str, files),
            "--columns",
            "min,median,rounds",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "torch__pytorch-celeba-dcgan__cpu__eager" in proc.stdout and "0002_2026-11" in proc.stdout


def test_old_flat_files_beside_run_sets_are_older_than_every_set(tmp_path):
    write_result(tmp_path, step_times_s=steps(0.2), finished_at="2027-01-01T00:00:00+00:00")  # a pre-run-set file
    make_set(tmp_path, "2026-11-25T10-00-00_aaaaaa", "2026-11-25T10:00:00+00:00", [quiet()])
    loaded = load_results(tmp_path)
    assert loaded.warnings == [] and [r.run_set for r in loaded.runs] == ["2026-11-25T10-00-00_aaaaaa"]
    assert sorted(str(r.run_set) for r in loaded.history) == ["2026-11-25T10-00-00_aaaaaa", "None"]


def test_percentages_on_the_command_line():
    from benchmarks.cli import build_parser

    p = build_parser()
    assert p.parse_args(["compare", "a", "b", "--fail-above", "5%"]).fail_above == pytest.approx(0.05)
    assert p.parse_args(["run", "--target-ci", "0.02"]).target_ci == pytest.approx(0.02)
    with pytest.raises(SystemExit):
        p.parse_args(["compare", "a", "b", "--fail-above", "150%"])
