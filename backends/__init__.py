"""Backend registry: each framework's adapter is imported only when asked for.

Each adapter lives in its own module and is the only place its framework is imported, so the
harness and reports run in any virtualenv and use whichever frameworks are importable there.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from backends.base import Backend, BackendUnavailable, StepStats


@dataclass(frozen=True)
class Adapter:
    """Where a framework's adapters live, and how the user gets the framework."""

    module: str  # the single-device adapter
    cls: str
    install: str  # said when the framework does not import
    dp_module: str  # the data-parallel adapter (backends/dp.py)
    dp_cls: str
    launcher: str  # how its engine is started: torchrun, single (one process drives every replica), …


# The framework table: backend id -> its adapters. A new framework is one entry here, its modules,
# and its entry in the noxfile's framework table.
REGISTRY: dict[str, Adapter] = {
    "torch": Adapter(
        "backends.pytorch",
        "TorchBackend",
        "pip install torch (nox -s bench-torch)",
        "backends.pytorch_dp",
        "TorchDDPBackend",
        "torchrun",
    ),
    "mxnet": Adapter(
        "backends.mxnet_gluon",
        "MXNetBackend",
        "pip install mxnet==1.9.1 'numpy<1.24' on Python 3.11 (nox -s bench-mxnet)",
        "backends.mxnet_dp",
        "MXNetKVStoreBackend",
        "mxnet_launch",
    ),
    "paddle": Adapter(
        "backends.paddle_nn",
        "PaddleBackend",
        "pip install paddlepaddle (nox -s bench-paddle)",
        "backends.paddle_dp",
        "PaddleDPBackend",
        "paddle_launch",
    ),
    "mindspore": Adapter(
        "backends.mindspore_nn",
        "MindSporeBackend",
        "pip install mindspore 'numpy<2' (nox -s bench-mindspore)",
        "backends.mindspore_dp",
        "MindSporeDPBackend",
        "msrun",
    ),
    "jax": Adapter(
        "backends.jax_flax",
        "JaxBackend",
        "pip install jax flax optax (nox -s bench-jax)",
        "backends.jax_dp",
        "JaxMeshBackend",
        "single",
    ),
}

__all__ = [
    "REGISTRY",
    "Adapter",
    "Backend",
    "BackendUnavailable",
    "StepStats",
    "backend_problems",
    "importable_backends",
    "load_backend",
]


def load_backend(name: str) -> type[Backend]:
    """The adapter class for `name`; BackendUnavailable says how to install what is missing."""
    if name not in REGISTRY:
        raise BackendUnavailable(f"unknown backend {name!r}; known backends: {', '.join(REGISTRY)}")
    a = REGISTRY[name]
    module, cls, how = a.module, a.cls, a.install
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:
            raise BackendUnavailable(f"backend {name!r} has no adapter in this checkout ({module})") from e
        raise BackendUnavailable(f"backend {name!r} cannot be imported here ({e}); install it: {how}") from e
    return getattr(mod, cls)


def backend_problems() -> dict[str, tuple[str, str] | None]:
    """For each registered backend: None if it imports here, ("missing", why) if its framework is
    not installed, ("broken", "Type: message") if it is installed but raises on import."""
    out: dict[str, tuple[str, str] | None] = {}
    for name in REGISTRY:
        try:
            load_backend(name)
        except BackendUnavailable as e:
            out[name] = ("missing", str(e))
        except Exception as e:  # e.g. a framework built against another numpy
            out[name] = ("broken", f"{type(e).__name__}: {e}")
        else:
            out[name] = None
    return out


def importable_backends() -> list[str]:
    """Backends whose adapter module (and so framework) imports in this interpreter."""
    return [name for name, why in backend_problems().items() if why is None]
