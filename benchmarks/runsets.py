"""A run set: the folder one `python -m benchmarks run` invocation writes into, with its manifest.

RESULTS/2026-11-25T10-00-00_ab12cd/manifest.json says what was run, where and from what code; the
result files and samples/ sit beside it. The manifest is written when the set begins (so a killed
invocation still leaves a described set) and again when it ends, with the runs it holds.
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

from common.env import git_commit, machine_env, now_iso
from common.results import new_run_set_name, read_manifest, write_manifest

# backend -> the distributions whose version says which framework build ran
DISTRIBUTIONS = {
    "torch": ["torch"],
    "jax": ["jax", "jaxlib", "flax", "optax"],
    "mxnet": ["mxnet"],
    "paddle": ["paddlepaddle", "paddlepaddle-gpu"],
    "mindspore": ["mindspore"],
}


def framework_versions(backends: list[str]) -> dict[str, dict[str, str]]:
    """Installed versions from package metadata, without importing a framework."""
    out = {}
    for b in backends:
        found = {}
        for dist in DISTRIBUTIONS.get(b, [b]):
            try:
                found[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                pass
        out[b] = found
    return out


def start_run_set(results_dir: Path, backends: list[str], argv: list[str] | None = None) -> Path:
    name = new_run_set_name()
    folder = Path(results_dir) / name
    env = machine_env()
    write_manifest(
        folder,
        {
            "id": name.rsplit("_", 1)[1],
            "name": name,
            "created_at": now_iso(),
            "finished_at": None,
            "command": [Path(sys.executable).name, "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)],
            "git_commit": git_commit(),
            "machine": {k: env[k] for k in ("hostname", "platform", "cpu", "cpu_count", "python", "numpy")},
            "frameworks": framework_versions(backends),
            "runs": [],
        },
    )
    return folder


def finish_run_set(folder: Path, results: list[dict]) -> Path:
    manifest = read_manifest(folder)
    manifest.pop("schema", None)
    manifest.pop("schema_version", None)
    manifest["finished_at"] = now_iso()
    manifest["runs"] = [
        {k: r.get(k) for k in ("backend", "model", "device", "mode", "status", "run_id")} for r in results
    ]
    # the version each framework reported about itself at run time (e.g. a source build's own string)
    for r in results:
        env = r.get("env") or {}
        if env.get("framework_version"):
            manifest.setdefault("frameworks", {}).setdefault(r["backend"], {})["reported"] = env["framework_version"]
    return write_manifest(folder, manifest)
