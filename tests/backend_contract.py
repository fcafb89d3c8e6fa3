"""Checks every backend must pass, called from each backend's own test file (each runs in its
framework's virtualenv)."""
import pytest

from backends.base import DeviceMismatch, DeviceRefused
from common.models import get_model
from common.parity import parity_inputs
from common.state import initial_state


def check_no_silent_cpu_fallback(backend_cls, model: str = "mindspore-mlp-gan") -> None:
    """A run that says `cuda` must have computed on a GPU: asking for CUDA on this CPU-only machine
    fails before any training, naming the fix; and a backend that claims CUDA while its arrays live
    on the CPU is caught by the check the harness runs after the first step."""
    spec = get_model(model)
    assert not backend_cls.device_available("cuda"), "this check assumes a machine without a GPU"
    with pytest.raises((DeviceMismatch, DeviceRefused), match=r"fix: |refuses cuda: "):
        backend_cls(spec, "cuda")

    be = backend_cls(spec, "cpu")
    be.load_state(initial_state(spec, 0))
    real, noise = parity_inputs(spec, 1, 4)[0]
    handle = be.step(real, noise)
    be.sync()
    assert be.placement(handle) == ({"cpu"}, {"cpu"})
    be.check_placement(handle)  # honest placement passes
    be.device = "cuda"  # the claim a silently falling-back build would make
    with pytest.raises(DeviceMismatch, match=rf"{backend_cls.name} was asked for cuda but its parameters live "
                                             r"on cpu and the step's outputs on cpu; installed: .+; fix: "):
        be.check_placement(handle)
