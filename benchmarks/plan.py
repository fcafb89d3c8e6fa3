"""Run policy, decided here once: the device `auto` means, the mode a run gets (none asked, `plain`,
`best`, `all` or a name), its batch size, its CPU threads and its warm-up and measured iterations.

`python -m benchmarks run`, `trace` and `reproduce`, the runner, the data-parallel runs and the
pytest-benchmark entry (benchmarks/test_training_step.py) all ask these functions.
"""

from __future__ import annotations

import os

from backends import BackendUnavailable

# warm-up and measured iterations when none are given: a short profile on the CPU, a longer one on CUDA
PROFILES = {"cpu": {"warmup": 3, "steps": 10}, "cuda": {"warmup": 10, "steps": 100}}
MODE_WORDS = ("all", "best", "plain")


class UnknownMode(BackendUnavailable):
    """A mode the backend does not have; the message names its modes and the mode words."""


# --- device --------------------------------------------------------------------------------------


def resolve_device(requested: str, cls=None, *, driver: bool = True) -> str:
    """`cpu` and `cuda` as given; `auto`: CUDA where the backend class `cls` sees a GPU, else CPU.

    `driver`: a GPU that the NVIDIA driver reports also means CUDA (the benchmark commands: a
    CPU-only build then fails with its fix instead of silently benchmarking the CPU); reproduce and
    the pytest-benchmark entry ask the backend only. A backend that cannot be loaded (`cls` None)
    gets the CPU."""
    if requested != "auto":
        return requested
    if cls is None:
        return "cpu"
    return "cuda" if cls.device_available("cuda") or (driver and machine_has_gpu()) else "cpu"


_DRIVER: dict[str, bool] = {}


def machine_has_gpu() -> bool:
    """An NVIDIA GPU answers here and GANBENCH_CUDA does not say none (asked once per process)."""
    from common import builds

    if (os.environ.get(builds.ENV_CUDA) or "").strip().lower() == "none":
        return False
    if "gpu" not in _DRIVER:
        driver = builds.query_driver()
        _DRIVER["gpu"] = bool(driver and driver.gpus)
    return _DRIVER["gpu"]


# --- mode ----------------------------------------------------------------------------------------


def plain_mode(cls) -> str:
    """The backend's first mode, the tutorial's own loop: what a run without a mode gets."""
    return cls.modes[0]


def run_mode(backend: str, requested: str | None) -> str:
    """The mode a run is recorded under before its backend is loaded: the one asked, else the
    plain mode of the backend named `backend`, else "default" where it cannot be loaded."""
    if requested:
        return requested
    try:
        from backends import load_backend

        return plain_mode(load_backend(backend))
    except Exception:
        return "default"


def resolve_mode(cls, spec, device: str, requested: str | None) -> str:
    """One mode: None and `plain` the plain mode, `best` the fastest faithful mode for `spec` on
    `device` (the plain mode where every faster one is refused), a mode name itself."""
    if requested is None or requested == "plain":
        return plain_mode(cls)
    if requested == "best":
        return cls.best_mode(spec, device)
    if requested in cls.modes:
        return requested
    raise UnknownMode(_unknown(cls, [requested], MODE_WORDS[1:]))


def resolve_modes(cls, spec, device: str, requested: list[str] | None) -> list[str | None]:
    """The modes of `--mode` words (space- or comma-separated, `all` included), each once and in
    order; [None] when none are given: the run then gets the plain mode when it starts."""
    if not requested:
        return [None]
    chosen, unknown = [], []
    for word in (w.strip() for m in requested for w in m.split(",")):
        if word == "all":
            chosen += cls.modes
        elif word in ("best", "plain") or word in cls.modes:
            chosen.append(resolve_mode(cls, spec, device, word))
        elif word:
            unknown.append(word)
    if unknown:
        raise UnknownMode(_unknown(cls, unknown, MODE_WORDS))
    # best and plain are often the same mode (torch and MXNet on the CPU): run it once.
    return list(dict.fromkeys(chosen))


def _unknown(cls, unknown: list[str], words: tuple[str, ...]) -> str:
    return f"{cls.name} has no mode {', '.join(unknown)}; its modes: {', '.join(cls.modes)}, or {', '.join(words)}"


# --- sizes ---------------------------------------------------------------------------------------


def resolve_batch(spec, requested: int | None) -> int:
    """The batch size asked for, else the tutorial's (the spec's)."""
    return requested or spec.data.batch_size


def resolve_threads(requested: int | None) -> int:
    """The CPU threads asked for, else every core this process may run on (its affinity)."""
    from common.env import usable_cores

    return requested or usable_cores()


def resolve_counts(device: str, warmup: int | None, steps: int | None) -> tuple[int, int]:
    """Warm-up and measured iterations: those given, else the device's profile (PROFILES)."""
    profile = PROFILES["cuda" if device == "cuda" else "cpu"]
    return (warmup if warmup is not None else profile["warmup"], steps if steps is not None else profile["steps"])
