"""The run policy of benchmarks/plan.py: which device `auto` means, which mode a run gets, its batch
size, threads and iteration counts."""

import pytest

from backends.base import Backend, BackendUnavailable
from benchmarks import plan
from benchmarks.plan import (
    UnknownMode,
    resolve_batch,
    resolve_counts,
    resolve_device,
    resolve_mode,
    resolve_modes,
    resolve_threads,
    run_mode,
)
from common.env import usable_cores
from common.models import get_model

MLP = "mindspore-mlp-gan"  # the tutorial's batch is 128
DCGAN64 = "mxnet-dcgan64"  # the tutorial's batch is 64


class Fake(Backend):
    """A backend whose fastest CPU mode refuses the 64×64 DCGAN and that sees no CUDA device."""

    name = "fake"
    modes = ("plainest", "fast", "faster")
    best_modes = {"cpu": ("faster", "fast"), "cuda": ("faster",)}

    @classmethod
    def refuse(cls, spec, mode, device):
        return "too big for it" if mode == "faster" and spec.name == DCGAN64 else None

    @classmethod
    def device_available(cls, device):
        return device == "cpu"


@pytest.fixture
def gpu_on_machine(monkeypatch):
    def answer(yes: bool):
        monkeypatch.setattr(plan, "machine_has_gpu", lambda: yes)

    return answer


def test_auto_picks_cpu_when_no_cuda(gpu_on_machine):
    gpu_on_machine(False)
    assert resolve_device("auto", Fake) == "cpu"
    assert resolve_device("auto", None) == "cpu"  # a backend that cannot be loaded


def test_auto_picks_cuda_where_the_driver_answers_unless_only_the_backend_counts(gpu_on_machine):
    gpu_on_machine(True)
    assert resolve_device("auto", Fake) == "cuda"  # a CPU-only build then fails with its fix
    assert resolve_device("auto", Fake, driver=False) == "cpu"
    assert resolve_device("auto", None) == "cpu"


def test_a_named_device_is_kept(gpu_on_machine):
    gpu_on_machine(False)
    assert resolve_device("cuda", Fake) == "cuda" and resolve_device("cpu", Fake) == "cpu"


def test_no_mode_and_plain_are_the_first_mode():
    spec = get_model(MLP)
    assert resolve_mode(Fake, spec, "cpu", None) == resolve_mode(Fake, spec, "cpu", "plain") == "plainest"
    assert resolve_mode(Fake, spec, "cpu", "fast") == "fast"


def test_best_is_the_first_faster_mode_not_refused():
    assert resolve_mode(Fake, get_model(MLP), "cpu", "best") == "faster"
    assert resolve_mode(Fake, get_model(DCGAN64), "cpu", "best") == "fast"


def test_best_falls_back_to_the_plain_mode_when_refused():
    assert resolve_mode(Fake, get_model(DCGAN64), "cuda", "best") == "plainest"


def test_unknown_mode_names_the_known_modes():
    with pytest.raises(
        UnknownMode,
        match=r"^fake has no mode turbo; its modes: plainest, fast, faster, "
        r"or best, plain$",
    ) as e:
        resolve_mode(Fake, get_model(MLP), "cpu", "turbo")
    assert isinstance(e.value, BackendUnavailable)  # reproduce reports it as one line, like the backend's own
    with pytest.raises(
        UnknownMode,
        match=r"no mode turbo, slow; its modes: plainest, fast, faster, "
        r"or all, best, plain$",
    ):
        resolve_modes(Fake, get_model(MLP), "cpu", ["best,turbo", "slow"])


def test_mode_words_each_once_in_order():
    spec = get_model(DCGAN64)
    assert resolve_modes(Fake, spec, "cpu", None) == [None]  # the run gets the plain mode when it starts
    assert resolve_modes(Fake, spec, "cpu", ["best,plain", "fast"]) == ["fast", "plainest"]
    assert resolve_modes(Fake, spec, "cpu", ["all,best"]) == ["plainest", "fast", "faster"]


def test_run_mode_names_a_run_before_its_backend_loads():
    assert run_mode("caffe", None) == "default"
    assert run_mode("caffe", "fast") == "fast"


def test_batch_default_is_the_specs():
    assert resolve_batch(get_model(MLP), None) == 128
    assert resolve_batch(get_model(DCGAN64), None) == 64
    assert resolve_batch(get_model(MLP), 32) == 32


def test_threads_default_to_the_usable_cores():
    assert resolve_threads(None) == usable_cores()
    assert resolve_threads(3) == 3


def test_iteration_counts_default_to_the_devices_profile():
    assert resolve_counts("cpu", None, None) == (3, 10)
    assert resolve_counts("cuda", None, None) == (10, 100)
    assert resolve_counts("cuda", 0, 5) == (0, 5)
