"""The report's scaling section: efficiency T(N)/(N·T(1)) with its interval, strong and
weak apart, CPU flagged, refusals listed, and a data-parallel result never taken for a duplicate of
the one-replica run."""

from __future__ import annotations

import pytest

pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from reports import build_report  # noqa: E402
from reports.demo import write_result  # noqa: E402
from reports.load import load_results  # noqa: E402
from reports.scaling import scaling_rows  # noqa: E402

M = "mindspore-mlp-gan"


def _dp(folder, name: str, replicas: int = 2, nodes: int = 1, **kw):
    """A torch data-parallel result of the MLP GAN on CPU (per-replica BN, DDP over Gloo unless told)."""
    doc = dict(backend="torch", model=M, device="cpu", mode="eager", batch_size=128, scaling="strong")
    doc.update(bn_mode="per_replica", engine="DDP", transport="gloo", replicas=replicas, nodes=nodes)
    doc.update(world_size=replicas * nodes, **kw)
    return write_result(folder, name=name, **doc)


def _write(folder):
    # one replica: 128 images in 0.1 s; two replicas, strong: 128 in 0.08 s (efficiency 0.625);
    # weak: 256 in 0.125 s (0.8)
    write_result(
        folder, None, backend="torch", model=M, device="cpu", mode="eager", batch_size=128, step_times_s=[0.1] * 10
    )
    _dp(folder, f"torch__{M}__cpu__eager__r2.json", step_times_s=[0.08] * 10)
    _dp(folder, f"torch__{M}__cpu__eager__r2-weak.json", batch_size=256, scaling="weak", step_times_s=[0.125] * 10)
    return _dp(
        folder,
        f"torch__{M}__cpu__eager__r2-syncbn.json",
        bn_mode="sync",
        status="failed",
        images_per_s=None,
        throughput=None,
        step_times_s=[],
        error={"type": "ModeRefused", "message": "SyncBatchNorm runs on GPU only", "traceback": ""},
    )


def test_efficiency_strong_and_weak_apart(tmp_path):
    _write(tmp_path)
    loaded = load_results(tmp_path)
    assert len(loaded.runs) == 4, loaded.warnings  # none dropped as a duplicate
    rows = {(r["scaling"], r["replicas"]): r for r in scaling_rows(loaded.runs)}
    assert rows[("strong", 2)]["efficiency"] == pytest.approx(0.625)
    assert rows[("weak", 2)]["efficiency"] == pytest.approx(0.8)
    assert rows[("-", 1)]["efficiency"] is None
    assert all(r["cpu"] for r in rows.values())


def test_report_shows_the_section(tmp_path):
    _write(tmp_path)
    outcome = build_report(tmp_path)
    html = outcome.html.read_text()
    assert 'id="scaling"' in html and "prove that the data-parallel plumbing runs" in html
    assert "SyncBatchNorm runs on GPU only" in html and "ModeRefused" in html


def test_a_run_over_two_nodes_is_its_own_line(tmp_path):
    """Two replicas on one node and one replica on each of two nodes are both world size 2: they are
    drawn as two lines from the same one-replica run, not joined into one."""
    from reports.scaling import series

    _write(tmp_path)
    _dp(tmp_path, f"torch__{M}__cpu__eager__r1n2.json", replicas=1, nodes=2, step_times_s=[0.07] * 10)
    rows = scaling_rows(load_results(tmp_path).runs)
    lines = {label: [(r["replicas"], r["nodes"]) for r in pts] for label, _, pts in series(rows, "torch")}
    assert lines == {
        "torch (strong)": [(1, 1), (2, 1)],
        "torch (weak)": [(1, 1), (2, 1)],
        "torch (strong, over nodes)": [(1, 1), (2, 2)],
    }


def test_launcher_logs_in_a_run_set_are_not_read_as_results(tmp_path):
    """paddle launch and msrun log into the run set (launcher_logs/); their JSON files are skipped
    without a warning, while a stray JSON elsewhere still warns."""
    from common.results import LAUNCHER_LOGS

    _write(tmp_path)
    logs = tmp_path / LAUNCHER_LOGS / "paddle"
    logs.mkdir(parents=True)
    (logs / "backup_env.0.json").write_text('{"PADDLE_TRAINER_ID": "0"}')
    (tmp_path / "notes.json").write_text("{}")
    loaded = load_results(tmp_path)
    assert len(loaded.runs) == 4
    assert [w.split(":")[0] for w in loaded.warnings] == ["notes.json"]
