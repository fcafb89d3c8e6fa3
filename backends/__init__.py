"""Backend registry: each framework's adapter is imported only when asked for.

Each adapter lives in its own module and is the only place its framework is imported, so the
harness and reports run in any virtualenv and use whichever frameworks are importable there.
"""
from __future__ import annotations

import importlib

from backends.base import Backend, BackendUnavailable, StepStats

# backend id -> (module, class, how to get the framework)
REGISTRY: dict[str, tuple[str, str, str]] = {
    "torch": ("backends.pytorch", "TorchBackend", "pip install torch (nox -s bench-torch)"),
    "mxnet": ("backends.mxnet_gluon", "MXNetBackend", "pip install mxnet==1.9.1 'numpy<1.24' on Python 3.11 (nox -s bench-mxnet)"),
    "paddle": ("backends.paddle_nn", "PaddleBackend", "pip install paddlepaddle (nox -s bench-paddle)"),
    "mindspore": ("backends.mindspore_nn", "MindSporeBackend", "pip install mindspore 'numpy<2' (nox -s bench-mindspore)"),
    "jax": ("backends.jax_flax", "JaxBackend", "pip install jax flax optax (nox -s bench-jax)"),
}

__all__ = ["Backend", "BackendUnavailable", "StepStats", "REGISTRY", "load_backend", "importable_backends", "backend_problems"]


def load_backend(name: str) -> type[Backend]:
    """The adapter class for `name`; BackendUnavailable says how to install what is missing."""
    if name not in REGISTRY:
        raise BackendUnavailable(f"unknown backend {name!r}; known backends: {', '.join(REGISTRY)}")
    module, cls, how = REGISTRY[name]
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
