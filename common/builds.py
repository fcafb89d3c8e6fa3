"""Which build of each framework to install: CPU, or CUDA for the NVIDIA driver at hand.

Standard library only: the noxfile imports it before any virtualenv exists, and `doctor` uses it to
say how to fix what it finds. Facts about wheels below were read from the wheels themselves
(`pip download --no-deps`, `readelf -d` for the CUDA libraries a shared object needs, and the
architectures in its `.nv_fatbin` section) on 2026-11-26; each table entry says what it rests on.

GANBENCH_CUDA=none|auto|11|12|13 overrides the driver: `none` installs CPU builds, a number installs
the builds for that CUDA major version, `auto` (default) asks `nvidia-smi`.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

ENV_CUDA = "GANBENCH_CUDA"
# Paddle 3.x GPU wheels are published on Paddle's own package index, one index per CUDA version;
# PyPI's paddlepaddle-gpu stops at 2.6.2. A user who wants Paddle 3 on a GPU names that index here.
ENV_PADDLE_INDEX = "GANBENCH_PADDLE_INDEX"
# PyTorch's own index for builds other than PyPI's default CUDA (e.g. its cu126 index for a CUDA 12 driver)
ENV_TORCH_INDEX = "GANBENCH_TORCH_INDEX"
TORCH_CU126_INDEX = "https://download.pytorch.org/whl/cu126"
CUDA_CHOICES = ("none", "auto", "11", "12", "13")

COMMON = ("numpy", "pillow", "opencv-python-headless", "tqdm")
REPORT = ("pandas", "matplotlib", "jinja2")

# The CPU builds every nox session installs today (one virtualenv per framework: their numpy pins clash).
CPU_PACKAGES: dict[str, tuple[str, ...]] = {
    # the CPU wheel; a bare `torch` pulls PyPI's multi-GB CUDA build
    "torch": ("torch==2.13.0",),
    "jax": ("jax", "flax", "optax"),
    # MXNet 1.9.1's wheels stop at Python 3.11 and its code at numpy 1.23; OpenCV 4.8 still supports that numpy
    "mxnet": ("mxnet==1.9.1", "numpy<1.24", "opencv-python-headless<4.9"),
    "paddle": ("paddlepaddle==3.3.1",),
    # MindSpore's extension is built against numpy 1.x (PyNative crashes under numpy 2)
    "mindspore": ("mindspore==2.10.0", "numpy<2"),
}
FRAMEWORK_PYTHON = {"mxnet": "3.11"}  # interpreters a framework's wheels exist for (None: any)
FRAMEWORKS = tuple(CPU_PACKAGES)

# CUDA 11 runtime libraries from PyPI's nvidia-* wheels, for framework wheels that need them but do not
# bundle them: `readelf -d` of mxnet-cu117 1.9.1's libmxnet.so lists libcudart.so.11.0, libcublas.so.11,
# libcufft.so.10, libcusolver.so.11, libcusparse.so.11, libcurand.so.10, libnvrtc.so.11.2,
# libnvToolsExt.so.1, libcudnn.so.8 and libnccl.so.2 (and the driver's libcuda.so.1); the same set as
# MindSpore 2.10's GPU plugin. cuDNN 8 keeps its ABI across minor versions.
CUDA11_LIBS = (
    "nvidia-cuda-runtime-cu11==11.8.89",
    "nvidia-cublas-cu11==11.11.3.6",
    "nvidia-cufft-cu11==10.9.0.58",
    "nvidia-cusolver-cu11==11.4.1.48",
    "nvidia-cusparse-cu11==11.7.5.86",
    "nvidia-curand-cu11==10.3.0.86",
    "nvidia-cuda-nvrtc-cu11==11.8.89",
    "nvidia-nvtx-cu11==11.8.86",
    "nvidia-cudnn-cu11==8.9.6.50",
    "nvidia-nccl-cu11==2.21.5",
)


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: tuple[int, int] | None


@dataclass(frozen=True)
class Driver:
    """What `nvidia-smi` says: the driver's version, the newest CUDA it supports, its GPUs."""

    version: str | None
    cuda: tuple[int, int] | None
    gpus: tuple[Gpu, ...] = ()


@dataclass(frozen=True)
class Build:
    """One framework's packages for one target (cuda None = CPU)."""

    framework: str
    cuda: int | None
    packages: tuple[str, ...] = ()
    pip_args: tuple[str, ...] = ()
    # nvidia-* wheels whose lib/ folders must be on LD_LIBRARY_PATH (the framework does not find them itself)
    lib_packages: tuple[str, ...] = ()
    refused: str | None = None  # why this framework cannot use this CUDA at all
    # compute capabilities the build has machine code for (major, minor), and whether it carries PTX
    # the driver can compile for newer GPUs; empty = not known / not checked
    sass: tuple[tuple[int, int], ...] = ()
    ptx: bool | None = None
    notes: str = ""
    python: str | None = None

    @property
    def venv_suffix(self) -> str:
        return "" if self.cuda is None else f"-cu{self.cuda}"

    @property
    def install_command(self) -> str:
        if self.refused:
            return ""
        quoted = [f"'{p}'" if any(c in p for c in "<>[") else p for p in (*self.packages, *self.lib_packages)]
        return " ".join(["pip install", *self.pip_args, *quoted])

    def gpu_refusal(self, gpu: Gpu) -> str | None:
        """Why this build cannot run its kernels on `gpu`, or None (also when unknown)."""
        cc = gpu.compute_capability
        if not self.sass or cc is None:
            return None
        # machine code runs on GPUs of the same major version and an equal or newer minor version
        if any(major == cc[0] and minor <= cc[1] for major, minor in self.sass):
            return None
        if self.ptx and cc >= max(self.sass):
            return None
        archs = ", ".join(f"sm_{a}{b}" for a, b in self.sass)
        return (
            f"{' '.join(self.packages[:1])} has machine code for {archs} and "
            f"{'PTX' if self.ptx else 'no PTX'}; {gpu.name} is sm_{cc[0]}{cc[1]}"
        )


class CudaSelectionError(RuntimeError):
    """What was asked for cannot be installed here; the message says what would be and how to force it."""


def cuda_build(framework: str, cuda: int, env: Mapping[str, str] | None = None) -> Build:
    """The CUDA build of `framework` for a driver of CUDA major version `cuda`."""
    env = os.environ if env is None else env
    if framework not in CPU_PACKAGES:
        raise ValueError(f"unknown framework {framework!r}; known: {', '.join(FRAMEWORKS)}")
    if cuda not in (11, 12, 13):
        raise ValueError(f"CUDA major version must be 11, 12 or 13; got {cuda!r}")
    python = FRAMEWORK_PYTHON.get(framework)
    if framework == "torch":
        index = env.get(ENV_TORCH_INDEX)
        if cuda == 11:
            return Build(
                "torch",
                cuda,
                refused="PyTorch 2.13 has no CUDA 11 build (CUDA 11.8 builds ended "
                "with 2.7); update the NVIDIA driver to one for CUDA 12 or 13",
                python=python,
            )
        # PyPI's Linux x86-64 torch wheel is the CUDA 13 build; PyTorch's own index carries the CUDA 12.6 one
        index = index or (TORCH_CU126_INDEX if cuda == 12 else None)
        return Build(
            "torch",
            cuda,
            ("torch==2.13.0",),
            ("--index-url", index) if index else (),
            notes=f"from {index}" if index else "PyPI's CUDA 13 build",
            python=python,
        )
    if framework == "jax":
        if cuda == 11:
            return Build(
                "jax",
                cuda,
                refused="JAX ships no CUDA 11 wheels since 0.4.26; update the NVIDIA driver to one for CUDA 12 or 13",
                python=python,
            )
        # the jax[cudaNN] extra pulls the matching jax-cudaNN-plugin and NVIDIA's libraries from PyPI
        return Build("jax", cuda, (f"jax[cuda{cuda}]", "flax", "optax"), python=python)
    if framework == "mxnet":
        # MXNet's last release (1.9.1) is built for CUDA 11.7 at most; a newer driver runs a CUDA 11
        # runtime. mxnet-cu117's libmxnet.so: SASS for sm_50/60/70/80/86 and no PTX, so Maxwell to Ada
        # (sm_89 runs sm_86 code) and not Hopper (sm_90) or newer.
        return Build(
            "mxnet",
            cuda,
            ("mxnet-cu117==1.9.1", "numpy<1.24", "opencv-python-headless<4.9"),
            lib_packages=CUDA11_LIBS,
            sass=((5, 0), (6, 0), (7, 0), (8, 0), (8, 6)),
            ptx=False,
            notes="CUDA 11.7 build with CUDA 11 libraries from PyPI",
            python=python,
        )
    if framework == "paddle":
        index = env.get(ENV_PADDLE_INDEX)
        if index:
            # Paddle 3 GPU wheels (one index per CUDA version) take their CUDA libraries from PyPI
            return Build(
                "paddle",
                cuda,
                ("paddlepaddle-gpu==3.3.1",),
                ("--extra-index-url", index),
                notes=f"Paddle 3.3.1 from {index}",
                python=python,
            )
        # PyPI's paddlepaddle-gpu 2.6.2: CUDA 11.8 / cuDNN 8.6 (paddle/version), CUDA libraries loaded
        # at run time and not bundled; libphi.so holds SASS for sm_61/70/75/80/86 (one sm_90 kernel) and
        # no PTX, so Hopper and newer GPUs need Paddle 3 from Paddle's index.
        return Build(
            "paddle",
            cuda,
            ("paddlepaddle-gpu==2.6.2",),
            lib_packages=CUDA11_LIBS,
            sass=((6, 1), (7, 0), (7, 5), (8, 0), (8, 6)),
            ptx=False,
            notes=f"PyPI's last GPU wheel; for Paddle 3 set {ENV_PADDLE_INDEX} to Paddle's index for your CUDA version",
            python=python,
        )
    # MindSpore: see MINDSPORE_GPU
    return Build("mindspore", cuda, refused=MINDSPORE_GPU, python=python)


# What the mindspore 2.10.0 wheel holds: lib/plugin/libmindspore_gpu.so.11.1 and .11.6 (CUDA 11.1 / 11.6
# plugins needing libcudart.so.11.0, libcudnn.so.8, cuBLAS/cuFFT/cuSOLVER/cuSPARSE/cuRAND 11 and NVRTC
# 11.2) and plugin/gpu/libcuda_ops.so.11 (SASS sm_60-80, PTX 6.0 and 8.6); libmindspore_hardware_abstract
# picks a plugin by the version `nvcc --version` prints from $CUDA_HOME. MindSpore's install pages list
# no GPU package since 2.3 (Ascend and CPU only), and nothing here has run that plugin on a GPU.
MINDSPORE_GPU = (
    "MindSpore releases since 2.3 support Ascend and CPU only; the 2.10 wheel still carries "
    "an unsupported CUDA 11.1/11.6 plugin that needs a CUDA 11 toolkit's nvcc, which this "
    "suite does not install or trust for a comparison"
)


def never_cuda(framework: str) -> bool:
    """No CUDA build of this framework can be installed, whatever the driver."""
    return all(cuda_build(framework, c, {}).refused for c in (11, 12, 13))


def cpu_build(framework: str) -> Build:
    if framework not in CPU_PACKAGES:
        raise ValueError(f"unknown framework {framework!r}; known: {', '.join(FRAMEWORKS)}")
    return Build(framework, None, CPU_PACKAGES[framework], python=FRAMEWORK_PYTHON.get(framework))


# the distributions that provide each framework's import name, CPU and CUDA builds alike
DISTRIBUTIONS = {
    "torch": ("torch",),
    "jax": ("jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin"),
    "mxnet": ("mxnet", "mxnet-cu117", "mxnet-cu112", "mxnet-cu110"),
    "paddle": ("paddlepaddle", "paddlepaddle-gpu"),
    "mindspore": ("mindspore",),
}


def installed(framework: str) -> str:
    """Which of the framework's distributions this interpreter has, with versions ("none" if none)."""
    from importlib import metadata

    found = []
    for dist in DISTRIBUTIONS.get(framework, (framework,)):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found) or "none"


def parse_smi_header(text: str) -> tuple[int, int] | None:
    """The 'CUDA Version: 12.4' of `nvidia-smi`'s banner."""
    m = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse_smi_query(text: str) -> tuple[str | None, tuple[Gpu, ...]]:
    """`nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader` → (driver, GPUs)."""
    driver, gpus = None, []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3:
            continue
        name, cc, driver = parts[0], parts[1], parts[2]
        m = re.fullmatch(r"(\d+)\.(\d+)", cc)
        gpus.append(Gpu(name, (int(m.group(1)), int(m.group(2))) if m else None))
    return driver, tuple(gpus)


def query_driver(timeout: float = 20) -> Driver | None:
    """The NVIDIA driver as `nvidia-smi` reports it, or None where it is absent or does not answer."""
    try:
        banner = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=timeout)
        query = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if banner.returncode != 0:
        return None
    driver, gpus = parse_smi_query(query.stdout) if query.returncode == 0 else (None, ())
    return Driver(driver, parse_smi_header(banner.stdout), gpus)


def wanted_cuda(device: str, setting: str | None, driver: Driver | None) -> int | None:
    """The CUDA major version to install builds for (None: CPU builds).

    device: what the run asks for (auto, cpu, cuda); setting: $GANBENCH_CUDA; driver: query_driver().
    Asking for CUDA where no driver answers is an error (nothing multi-GB is installed for nothing),
    unless GANBENCH_CUDA names a version.
    """
    setting = (setting or "auto").strip().lower()
    if setting not in CUDA_CHOICES:
        raise CudaSelectionError(f"{ENV_CUDA} must be one of {', '.join(CUDA_CHOICES)}; got {setting!r}")
    if setting == "none":
        if device == "cuda":
            raise CudaSelectionError(
                f"--device cuda was asked but {ENV_CUDA}=none selects CPU builds; "
                f"unset {ENV_CUDA} or set it to your driver's CUDA major version"
            )
        return None
    if setting != "auto":
        return int(setting)
    if device == "cpu":
        return None
    if driver is None or driver.cuda is None:
        if device == "cuda":
            raise CudaSelectionError(
                "--device cuda was asked but no NVIDIA driver answers here (`nvidia-smi` is missing or "
                f"fails); install the driver, or set {ENV_CUDA}=12 (or 11, 13) to install CUDA builds anyway"
            )
        return None
    return driver.cuda[0]


def select_build(
    framework: str,
    device: str,
    setting: str | None = None,
    driver: Driver | None = None,
    env: Mapping[str, str] | None = None,
) -> Build:
    """The build a session installs for `framework` when a run asks for `device`."""
    cuda = wanted_cuda(device, setting, driver)
    return cpu_build(framework) if cuda is None else cuda_build(framework, cuda, env)


def device_requested(args: list[str]) -> str:
    """The --device/-d value in harness arguments (default auto), as the nox sessions pass them on."""
    for i, a in enumerate(args):
        if a in ("--device", "-d") and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--device="):
            return a.split("=", 1)[1]
    return "auto"


def fix_command(framework: str, device: str) -> str:
    """What to run so that `framework` can use `device` here: the nox session, or the pip line."""
    session = f"nox -s bench-{framework}"
    if device != "cuda":
        return f"{session} (or {cpu_build(framework).install_command})"
    try:
        build = select_build(framework, "cuda", os.environ.get(ENV_CUDA), query_driver())
    except CudaSelectionError as e:
        return str(e)
    if build.refused:
        return f"none: {build.refused}"
    return f"{session} -- --device cuda (or {build.install_command})"
