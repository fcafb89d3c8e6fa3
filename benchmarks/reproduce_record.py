"""reproduction.json: what a reproduction has done so far (schema ganbench-reproduction, read by
the report), rewritten atomically at every epoch end and at the end of the run."""

from __future__ import annotations

from pathlib import Path

from benchmarks.reproduce_checkpoints import ResumeError
from common.results import REPRO_SCHEMA, read_json, write_json_atomic

FILE = "reproduction.json"


def new_record(
    *,
    spec,
    backend_name: str,
    device: str,
    mode: str,
    epochs: int,
    iterations_per_epoch: int,
    batch_size: int,
    seed: int,
    subset: int | None,
    adam_form: str,
    source,
    published,
    env: dict,
    started_at: str,
) -> dict:
    return {
        "schema": REPRO_SCHEMA,
        "schema_version": 1,
        "model": spec.name,
        "backend": backend_name,
        "device": device,
        "mode": mode,
        "status": "running",
        "error": None,
        "epochs_planned": epochs,
        "epochs_done": 0,
        "iterations_per_epoch": iterations_per_epoch,
        "batch_size": batch_size,
        "seed": seed,
        "subset": subset,
        "adam_form": adam_form,
        "data_source": source.kind,
        "data_detail": source.description,
        "losses": {"d": [], "g": [], "epoch": []},
        "epoch_losses": [],
        "metrics": [],
        "published": published,
        "grids": [],
        "checkpoint": None,
        "spec_hash": spec.spec_hash(),
        "env": env,
        "started_at": started_at,
        "finished_at": None,
        "seconds": 0.0,
    }


def save_record(out: Path, record: dict) -> None:
    write_json_atomic(out / FILE, record)


def read_record(out: Path) -> dict:
    """The record to resume from; ResumeError naming the file when there is none or it is unusable."""
    path = out / FILE
    if not path.exists():
        raise ResumeError(f"nothing to resume in {out}: no {FILE} (run without --resume)")
    try:
        rec = read_json(path)
        done = int(rec["epochs_done"])
        if done < 0 or not isinstance(rec.get("losses"), dict):
            raise ValueError(f"epochs_done {done}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResumeError(
            f"{path} cannot be read ({type(exc).__name__}: {exc}); it is not a record to "
            f"resume from: run without --resume (or with another --out)"
        ) from None
    return rec


def cut_back(rec: dict, done: int, iterations_per_epoch: int, checkpoint: str) -> None:
    """The record as it was when epoch done-1 ended (its checkpoint `checkpoint`): later
    iterations', epochs', metrics' and grids' entries go."""
    n = done * iterations_per_epoch
    rec["checkpoint"] = checkpoint
    rec["epochs_done"] = done
    rec["losses"] = {k: v[:n] for k, v in rec["losses"].items()}
    rec["epoch_losses"], rec["metrics"] = rec["epoch_losses"][:done], rec["metrics"][:done]
    rec["grids"] = rec["grids"][:done]
