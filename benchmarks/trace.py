"""`python -m benchmarks trace`: K parity-mode iterations with every input written down.

Writes, per backend and model, `state0.npz` (canonical initial state), `inputs.npz` (every real
batch and noise array in the order consumed) and `losses.json` (per-step losses, schema
ganbench-trace), so any other framework can be checked against the same numbers.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.plan import resolve_mode
from common.adam import adam_form_of, with_adam_form
from common.env import machine_env
from common.models import get_model
from common.parity import TRACE_BATCH, TRACE_SEED, TRACE_STEPS, parity_inputs
from common.results import SCHEMA_VERSION, TRACE_SCHEMA, write_json_atomic
from common.state import initial_state, save_state


def run_trace(
    backend_name: str,
    model: str,
    steps: int = TRACE_STEPS,
    batch: int = TRACE_BATCH,
    seed: int = TRACE_SEED,
    device: str = "cpu",
    mode: str | None = None,
    state: dict | None = None,
    dtype: str = "float32",
    adam_form: str | None = None,
):
    """Returns (trace dict, initial state, inputs); writes nothing. dtype "float64" makes the
    chaos-free references that tests/golden/f64 keeps (backends with `supports_float64`)."""
    from backends import load_backend

    spec = with_adam_form(get_model(model), adam_form)  # the spec's own Adam form unless overridden
    cls = load_backend(backend_name).with_dtype(dtype)
    backend = cls(spec, device, resolve_mode(cls, spec, device, mode), seed=seed)
    state0 = state if state is not None else initial_state(spec, seed)
    backend.load_state(state0)
    inputs = parity_inputs(spec, steps, batch, seed)
    stats = [backend.read(backend.step(real, noise)) for real, noise in inputs]
    losses = {k: [s.as_dict()[k] for s in stats] for k in ("d", "g", "d_x", "d_g_z1", "d_g_z2", "g_all")}
    env = machine_env()
    env.update(backend.info())
    trace = {
        "schema": TRACE_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "backend": backend_name,
        "model": model,
        "mode": backend.mode,
        "device": device,
        "steps": steps,
        "batch_size": batch,
        "seed": seed,
        "dtype": dtype,
        "spec_hash": spec.spec_hash(),
        "adam_form": adam_form_of(spec),
        "data_source": "synthetic",
        "data_detail": "smooth synthetic parity images (common/parity.py)",
        "losses": losses,
        "env": env,
    }
    return trace, state0, inputs


def write_trace(out_dir: Path, trace: dict, state0: dict, inputs) -> Path:
    suffix = "" if trace.get("dtype", "float32") == "float32" else f"__{trace['dtype']}"
    folder = Path(out_dir) / f"{trace['backend']}__{trace['model']}__{trace['mode']}{suffix}"
    save_state(folder / "state0.npz", state0)
    arrays = {}
    for k, (real, noise) in enumerate(inputs):
        arrays[f"real_{k:03d}"] = real
        arrays[f"noise_d_{k:03d}"] = noise.d
        for j, g in enumerate(noise.g):
            arrays[f"noise_g_{k:03d}_{j}"] = g
    save_state(folder / "inputs.npz", arrays)
    write_json_atomic(folder / "losses.json", trace)
    return folder
