"""Bad, partial and foreign files under a results folder: each gives its documented message."""

from __future__ import annotations

import json
from pathlib import Path

from reports import build_report
from reports.demo import write_result, write_trace
from reports.load import load_results


def one_warning(root: Path) -> str:
    loaded = load_results(root)
    assert len(loaded.warnings) == 1, loaded.warnings
    return loaded.warnings[0]


def test_malformed_json(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.json").write_text('{"schema": "ganbench-result",\n "backend": }')
    assert one_warning(tmp_path) == "sub/bad.json: not valid JSON: Expecting value (line 2, column 13)"


def test_top_level_not_an_object(tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    assert one_warning(tmp_path) == "list.json: top level is a list, not an object"


def test_missing_required_key(tmp_path):
    path = write_result(tmp_path, "r.json")
    doc = json.loads(path.read_text())
    del doc["backend"]
    path.write_text(json.dumps(doc))
    assert one_warning(tmp_path) == "r.json: missing required key 'backend'"
    assert load_results(tmp_path).runs == []


def test_required_key_of_the_wrong_kind(tmp_path):
    write_result(tmp_path, "r.json", status="done")
    assert one_warning(tmp_path) == "r.json: key 'status' must be one of 'ok', 'failed', got 'done'"


def test_ok_run_needs_a_throughput(tmp_path):
    write_result(tmp_path, "r.json", images_per_s=None)
    assert one_warning(tmp_path) == "r.json: key 'images_per_s' must be a positive number, got None"


def test_unknown_schema_version(tmp_path):
    write_result(tmp_path, "r.json", schema_version=2)
    assert (
        one_warning(tmp_path)
        == "r.json: schema_version 2 is not supported (this report reads ganbench-result version 1)"
    )


def test_missing_optional_key_keeps_the_run(tmp_path):
    path = write_result(tmp_path, "r.json")
    doc = json.loads(path.read_text())
    del doc["peak_memory_bytes"]
    path.write_text(json.dumps(doc))
    loaded = load_results(tmp_path)
    assert loaded.warnings == ["r.json: optional key 'peak_memory_bytes' missing; shown as n/a"]
    assert len(loaded.runs) == 1 and loaded.runs[0]["peak_memory_bytes"] is None


def test_optional_key_of_the_wrong_kind_keeps_the_run(tmp_path):
    write_result(tmp_path, "r.json", first_step_s="slow")
    loaded = load_results(tmp_path)
    assert loaded.warnings == ["r.json: optional key 'first_step_s' must be a number or null, got 'slow'; shown as n/a"]
    assert loaded.runs[0]["first_step_s"] is None


def test_unknown_extra_keys_are_tolerated(tmp_path):
    write_result(tmp_path, "r.json", energy_joules=12.5, env_extra={"a": 1})
    loaded = load_results(tmp_path)
    assert loaded.warnings == [] and len(loaded.runs) == 1


def test_traces_are_read_and_foreign_json_is_listed(tmp_path):
    write_trace(tmp_path, "torch", "paddle-dcgan28", [1.0], [2.0])
    (tmp_path / "other.json").write_text('{"schema": "something-else"}')
    (tmp_path / "plain.json").write_text('{"a": 1}')
    loaded = load_results(tmp_path)
    assert len(loaded.traces) == 1 and loaded.runs == []
    assert loaded.warnings == [
        "other.json: not a ganbench result (schema 'something-else'); skipped",
        "plain.json: not a ganbench result (no 'schema' key); skipped",
    ]


def test_failed_run_without_error(tmp_path):
    write_result(tmp_path, "r.json", status="failed", error=None, images_per_s=None)
    loaded = load_results(tmp_path)
    assert loaded.warnings == ["r.json: failed run records no error; shown as 'no error recorded'"]
    assert len(loaded.runs) == 1


def test_samples_png_problems(tmp_path):
    write_result(tmp_path, "a.json", backend="a", samples_png="samples/missing.png")
    write_result(tmp_path, "b.json", backend="b", samples_png="../outside.png")
    (tmp_path / "c.png").write_text("not a png")
    write_result(tmp_path, "c.json", backend="c", samples_png="c.png")
    loaded = load_results(tmp_path)
    assert len(loaded.runs) == 3 and all(r.samples is None for r in loaded.runs)
    assert loaded.warnings[0] == "a.json: samples_png 'samples/missing.png' not found; no samples shown"
    assert (
        loaded.warnings[1] == "b.json: samples_png '../outside.png' points outside the results folder; no samples shown"
    )
    assert loaded.warnings[2].startswith("c.json: samples_png 'c.png' not a readable image (")


def test_duplicate_run_keeps_the_later_one(tmp_path):
    write_result(tmp_path / "m1", "r.json", finished_at="2026-11-22T10:00:00+00:00")
    write_result(tmp_path / "m2", "r.json", finished_at="2026-11-22T11:00:00+00:00")
    loaded = load_results(tmp_path)
    assert [r.file for r in loaded.runs] == ["m2/r.json"]
    assert loaded.warnings == [
        "m1/r.json: same (backend, model, device, mode), data source and status on "
        "AMD EPYC 9454 48-Core Processor as m2/r.json; kept the one finished later (m2/r.json)"
    ]


def test_partial_folder_reports_the_valid_runs_and_the_problems(tmp_path):
    write_result(tmp_path, "good.json", losses=None, d_x=None, d_g_z=None)
    (tmp_path / "bad.json").write_text("{")
    outcome = build_report(tmp_path)
    assert outcome.runs == 1
    assert outcome.warnings == [
        "bad.json: not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)"
    ]
    html = outcome.html.read_text()
    assert "bad.json: not valid JSON" in html and "Summary table" in html


def test_markup_in_result_text_is_escaped(tmp_path):
    evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    write_result(tmp_path, "evil.json", backend=f"torch{evil}", losses=None, d_x=None, d_g_z=None)
    write_result(
        tmp_path,
        "evil-failed.json",
        backend=evil,
        status="failed",
        images_per_s=None,
        error={"type": "Error$x$", "message": evil, "traceback": evil},
    )
    html = build_report(tmp_path).html.read_text()
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
