"""Which framework build a session installs, from the driver's CUDA version (no GPU needed)."""

import os
import stat

import pytest

from common import builds
from common.builds import CudaSelectionError, Driver, Gpu, cuda_build, select_build, wanted_cuda

H100 = Gpu("NVIDIA H100 80GB HBM3", (9, 0))
A100 = Gpu("NVIDIA A100-SXM4-80GB", (8, 0))
RTX4090 = Gpu("NVIDIA GeForce RTX 4090", (8, 9))
V100 = Gpu("Tesla V100-SXM2-16GB", (7, 0))

SMI_BANNER = """\
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 570.86.15              Driver Version: 570.86.15      CUDA Version: 12.8     |
|-----------------------------------------+------------------------+----------------------+
"""


def _driver(cuda, gpus=(H100,)):
    return Driver("570.86.15", cuda, tuple(gpus))


def test_smi_output_is_parsed():
    assert builds.parse_smi_header(SMI_BANNER) == (12, 8)
    assert builds.parse_smi_header("NVIDIA-SMI has failed") is None
    driver, gpus = builds.parse_smi_query(
        "NVIDIA H100 80GB HBM3, 9.0, 570.86.15\nTesla V100-SXM2-16GB, 7.0, 570.86.15\n"
    )
    assert driver == "570.86.15" and gpus == (H100, V100)
    assert builds.parse_smi_query("Some GPU, [N/A], 470.1\n")[1] == (Gpu("Some GPU", None),)


@pytest.mark.parametrize("cuda, major", [((11, 8), 11), ((12, 8), 12), ((13, 0), 13)])
def test_auto_follows_the_driver(cuda, major):
    for device in ("auto", "cuda"):
        assert wanted_cuda(device, None, _driver(cuda)) == major
        assert wanted_cuda(device, "auto", _driver(cuda)) == major
    assert wanted_cuda("cpu", None, _driver(cuda)) is None  # a CPU run installs CPU builds on a GPU machine


def test_override_and_no_driver():
    assert wanted_cuda("auto", None, None) is None  # auto without a GPU: CPU builds, no error
    assert wanted_cuda("cuda", "12", None) == 12  # GANBENCH_CUDA forces a version without a driver
    assert wanted_cuda("auto", "13", _driver((12, 4))) == 13
    assert wanted_cuda("auto", "none", _driver((12, 4))) is None
    with pytest.raises(CudaSelectionError, match="no NVIDIA driver answers.*GANBENCH_CUDA=12"):
        wanted_cuda("cuda", None, None)
    with pytest.raises(CudaSelectionError, match="GANBENCH_CUDA=none"):
        wanted_cuda("cuda", "none", _driver((12, 4)))
    with pytest.raises(CudaSelectionError, match="must be one of none, auto, 11, 12, 13; got '10'"):
        wanted_cuda("auto", "10", None)


def test_packages_for_each_cuda_version():
    env = {}
    assert cuda_build("torch", 13, env).install_command == "pip install torch==2.13.0"
    assert cuda_build("torch", 12, env).pip_args == ("--index-url", builds.TORCH_CU126_INDEX)
    assert cuda_build("torch", 12, {builds.ENV_TORCH_INDEX: "file:///idx"}).pip_args == ("--index-url", "file:///idx")
    assert "no CUDA 11 build" in cuda_build("torch", 11, env).refused
    assert cuda_build("jax", 12, env).packages[0] == "jax[cuda12]"
    assert cuda_build("jax", 13, env).packages[0] == "jax[cuda13]"
    assert "no CUDA 11 wheels" in cuda_build("jax", 11, env).refused
    for cuda in (11, 12, 13):  # MXNet's newest build is CUDA 11.7, on any newer driver
        mx = cuda_build("mxnet", cuda, env)
        assert mx.packages[0] == "mxnet-cu117==1.9.1" and mx.python == "3.11"
        assert any(p.startswith("nvidia-cudnn-cu11==8.") for p in mx.lib_packages)
    assert cuda_build("paddle", 12, env).packages == ("paddlepaddle-gpu==2.6.2",)
    p3 = cuda_build("paddle", 12, {builds.ENV_PADDLE_INDEX: "file:///paddle-cu126"})
    assert p3.packages == ("paddlepaddle-gpu==3.3.1",) and p3.pip_args == ("--extra-index-url", "file:///paddle-cu126")
    assert not p3.lib_packages  # Paddle 3 wheels take their CUDA libraries as dependencies
    for cuda in (11, 12, 13):
        ms = cuda_build("mindspore", cuda, env)
        assert ms.refused and "Ascend and CPU only" in ms.refused and ms.install_command == ""


def test_cpu_and_cuda_builds_never_share_a_virtualenv():
    assert builds.cpu_build("jax").venv_suffix == ""
    assert {cuda_build("jax", c, {}).venv_suffix for c in (12, 13)} == {"-cu12", "-cu13"}
    assert select_build("jax", "auto", None, None).packages == builds.CPU_PACKAGES["jax"]
    assert select_build("jax", "auto", None, _driver((13, 0))).packages[0] == "jax[cuda13]"


def test_kernel_coverage_by_gpu_generation():
    mx = cuda_build("mxnet", 12, {})
    assert mx.gpu_refusal(A100) is None and mx.gpu_refusal(V100) is None
    assert mx.gpu_refusal(RTX4090) is None  # sm_89 runs the sm_86 machine code
    why = mx.gpu_refusal(H100)
    assert "sm_90" in why and "no PTX" in why and "mxnet-cu117" in why
    assert cuda_build("paddle", 12, {}).gpu_refusal(H100)
    assert cuda_build("jax", 12, {}).gpu_refusal(H100) is None  # nothing known against it
    assert mx.gpu_refusal(Gpu("unknown", None)) is None


def test_device_requested_reads_the_harness_arguments():
    assert builds.device_requested([]) == "auto"
    assert builds.device_requested(["--model", "x", "--device", "cuda"]) == "cuda"
    assert builds.device_requested(["-d", "cpu"]) == "cpu"
    assert builds.device_requested(["--device=cuda"]) == "cuda"


def test_query_driver_reads_nvidia_smi_from_path(tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "" ]; then cat <<\'EOF\'\n' + SMI_BANNER + "EOF\n"
        "else echo 'NVIDIA H100 80GB HBM3, 9.0, 570.86.15'; fi\n"
    )
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert builds.query_driver() == Driver("570.86.15", (12, 8), (H100,))
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate' >&2\nexit 9\n")
    assert builds.query_driver() is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert builds.query_driver() is None


def test_only_mindspore_has_no_cuda_build_at_all():
    assert [fw for fw in builds.FRAMEWORKS if builds.never_cuda(fw)] == ["mindspore"]
