"""`python -m benchmarks doctor`: can each framework here train on each device, and if not, what fixes it.

Each framework is probed in a child interpreter of its own (a framework that crashes on import
is a row of the table, not the end of the check): importable?, version, CPU or CUDA build, the
CUDA/cuDNN it was built with, the GPUs it sees and their compute capability against the kernels
the build carries, one training iteration of a small convolutional GAN (forward and backward
through convolution, transposed convolution and BatchNorm) on each device with the placement check,
and its CPU threads. Under nox (`nox -s doctor`) every framework virtualenv in .nox/ is probed.

This module imports no framework and, as the orchestrator, nothing outside the standard library;
`--probe` runs inside a framework's interpreter.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as `python -m benchmarks.doctor` from anywhere

from common import builds  # noqa: E402  (standard library only)
from common.results import DOCTOR_SCHEMA, write_json_atomic  # noqa: E402  (standard library only)

PROBE_MODEL = "paddle-dcgan28"  # the smallest model with conv, transposed conv and BatchNorm
PROBE_BATCH = 4


# --- the probe: runs in the framework's interpreter --------------------------------------------


def probe(framework: str, devices: tuple[str, ...] = ("cpu", "cuda")) -> dict:
    rec: dict = {"framework": framework, "python": sys.executable, "importable": False, "error": None, "checks": {}}
    try:
        from backends import load_backend

        cls = load_backend(framework)
        rec.update(importable=True, **cls.build_info())
    except Exception as exc:
        rec["error"] = f"{type(exc).__name__}: {exc}"
        return rec
    for device in devices:
        rec["checks"][device] = _one_iteration(cls, device)
    return rec


def _one_iteration(cls, device: str) -> dict:
    """One training iteration of PROBE_MODEL at a small batch: ok, seconds, or why not."""
    from backends.base import DeviceMismatch, DeviceRefused
    from common.models import get_model
    from common.parity import parity_inputs
    from common.state import initial_state

    spec = get_model(PROBE_MODEL)
    why = cls.refuse_device(device)
    if why:
        return {"ok": False, "refused": True, "why": why}
    if device != "cpu" and not cls.device_available(device):
        return {"ok": False, "refused": False, "why": f"sees no {device} device"}
    try:
        t0 = time.perf_counter()
        be = cls(spec, device)
        be.load_state(initial_state(spec, 0))
        real, noise = parity_inputs(spec, 1, PROBE_BATCH)[0]
        handle = be.step(real, noise)
        be.sync()
        be.check_placement(handle)
        loss = be.read(handle).d_loss
        return {"ok": loss == loss, "seconds": round(time.perf_counter() - t0, 3), "d_loss": loss}
    except (DeviceMismatch, DeviceRefused) as exc:
        return {"ok": False, "refused": isinstance(exc, DeviceRefused), "why": str(exc)}
    except Exception as exc:
        return {
            "ok": False,
            "refused": False,
            "why": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-2000:],
        }


# --- the orchestrator ---------------------------------------------------------------------------


def interpreters(venv_root: Path | None) -> list[tuple[str, str]]:
    """(framework, python) pairs to probe: every nox virtualenv of a framework, else this interpreter."""
    if venv_root is None:
        return [(fw, sys.executable) for fw in builds.FRAMEWORKS]
    pairs = []
    for fw in builds.FRAMEWORKS:
        names = [f"bench-{fw}", f"tests-{fw}"] + (["tests"] if fw == "torch" else [])
        found = [venv_root / n for n in names if (venv_root / n / "bin" / "python").exists()]
        found += sorted(p for p in venv_root.glob(f"bench-{fw}-cu*") if (p / "bin" / "python").exists())
        pairs += [(fw, str(p / "bin" / "python")) for p in found] or [(fw, "")]
    return pairs


def run_probe(framework: str, python: str, timeout: float) -> dict:
    if not python:
        return {
            "framework": framework,
            "python": None,
            "importable": False,
            "checks": {},
            "error": "no virtualenv holds it",
        }
    cmd = [python, "-m", "benchmarks.doctor", "--probe", framework]
    try:
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {
            "framework": framework,
            "python": python,
            "importable": None,
            "checks": {},
            "error": f"the probe did not finish in {timeout:.0f} s",
        }
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        return {
            "framework": framework,
            "python": python,
            "importable": None,
            "checks": {},
            "error": f"the probe died (exit code {out.returncode}): {' | '.join(tail)}",
        }
    return json.loads(lines[-1])


def problems(rec: dict, driver: builds.Driver | None) -> list[str]:
    """What stops this framework from training here, each with the command that fixes it."""
    fw = rec["framework"]
    if not rec.get("importable"):
        if fw not in builds.FRAMEWORKS:
            return [f"{rec.get('error')}"]
        return [f"{rec.get('error')}; fix: nox -s bench-{fw} (or {builds.cpu_build(fw).install_command})"]
    found = []
    for device, check in rec["checks"].items():
        if check.get("ok") or (device == "cuda" and not driver and not check.get("refused")):
            continue  # no GPU on this machine: nothing to fix for CUDA
        if check.get("refused"):
            found.append(f"{device}: refused: {check['why']}")
        else:
            found.append(f"{device}: {check['why']}; fix: {builds.fix_command(fw, device)}")
    if driver and rec.get("cuda_build"):
        try:
            build = builds.cuda_build(fw, driver.cuda[0] if driver.cuda else 12)
        except ValueError:
            build = None
        archs = rec.get("archs") or []
        for gpu in driver.gpus:
            why = build.gpu_refusal(gpu) if build else None
            cc = gpu.compute_capability
            if not why and archs and cc and not _covers(archs, cc):
                why = f"kernels for {', '.join(archs)}; {gpu.name} is sm_{cc[0]}{cc[1]}"
            if why:
                found.append(f"cuda: {why}")
    return found


def _covers(archs: list[str], cc: tuple[int, int]) -> bool:
    """Whether an arch list like ['sm_80', 'sm_90', 'compute_90'] runs on compute capability `cc`."""
    for a in archs:
        kind, _, num = a.partition("_")
        if not num.isdigit():
            continue
        major, minor = int(num[:-1]), int(num[-1])
        if kind == "sm" and major == cc[0] and minor <= cc[1]:
            return True
        if kind == "compute" and (major, minor) <= cc:  # PTX the driver compiles for newer GPUs
            return True
    return False


def table(records: list[dict], driver: builds.Driver | None) -> str:
    head = (
        "framework",
        "python",
        "version",
        "build",
        "CUDA/cuDNN",
        "GPUs seen",
        "cpu 1st iteration",
        "cuda 1st iteration",
        "threads",
    )
    rows = [head]
    for r in records:
        ok = r.get("importable")
        build = "-" if not ok else ("CUDA" if r.get("cuda_build") else "CPU")
        gpus = ", ".join(f"{g['name']} ({g.get('compute_capability')})" for g in r.get("gpus") or []) or "-"
        rows.append(
            (
                r["framework"],
                _short(r.get("python")),
                str(r.get("version") or "not importable"),
                build,
                f"{r.get('cuda') or '-'}/{r.get('cudnn') or '-'}",
                gpus,
                _check(r["checks"].get("cpu")),
                _check(r["checks"].get("cuda")),
                str(r.get("threads") or "-"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    gpu_line = (
        (
            "driver "
            + (driver.version or "?")
            + ", CUDA "
            + ".".join(map(str, driver.cuda or ()))
            + ": "
            + ", ".join(
                f"{g.name} (sm_{g.compute_capability[0]}{g.compute_capability[1]})" if g.compute_capability else g.name
                for g in driver.gpus
            )
        )
        if driver
        else "no NVIDIA driver answers (nvidia-smi): CUDA is not checked"
    )
    out = [gpu_line, "", *lines]
    issues = [(r["framework"], p) for r in records for p in problems(r, driver)]
    out += ["", "problems:" if issues else "no problems found"] + [f"  {fw}: {p}" for fw, p in issues]
    return "\n".join(out)


def _short(path: str | None) -> str:
    if not path:
        return "-"
    p = Path(path)
    return p.parents[1].name if p.parent.name == "bin" and p.parents[1].parent.name == ".nox" else path


def _check(c: dict | None) -> str:
    if not c:
        return "-"
    if c.get("ok"):
        return f"ok {c['seconds']:.2f}s"
    return "refused" if c.get("refused") else "FAILED" if "sees no" not in (c.get("why") or "") else "no device"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks doctor", description=__doc__.split("\n\n")[0])
    ap.add_argument("--probe", metavar="FRAMEWORK", help=argparse.SUPPRESS)
    ap.add_argument("--venvs", help="probe every framework virtualenv under this folder (nox's .nox)")
    ap.add_argument("--out", "-o", default="results", help="folder for doctor.json (default: results)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per framework probe")
    a = ap.parse_args(argv)
    if a.probe:
        print(json.dumps(probe(a.probe)))
        return 0
    driver = builds.query_driver()
    records = []
    for fw, python in interpreters(Path(a.venvs) if a.venvs else None):
        print(f"probing {fw} ({_short(python) or 'not installed'}) …", file=sys.stderr, flush=True)
        records.append(run_probe(fw, python, a.timeout))
    print(table(records, driver))
    out = Path(a.out) / "doctor.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "schema": DOCTOR_SCHEMA,
        "schema_version": 1,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "driver": None
        if driver is None
        else {"version": driver.version, "cuda": driver.cuda, "gpus": [g.__dict__ for g in driver.gpus]},
        "frameworks": [{**r, "problems": problems(r, driver)} for r in records],
    }
    write_json_atomic(out, doc)
    print(f"\nwritten: {out.resolve()}")
    return 0 if any(r.get("importable") for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
