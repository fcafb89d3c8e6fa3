"""The PyTorch DCGAN tutorial's own loop (backends/tutorial_torch.py, as written) against the backend.

Same canonical initial state, same real batches and noise: every logged number must agree."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backends.pytorch import TorchBackend  # noqa: E402
from backends.tutorial_torch import TutorialLoop  # noqa: E402
from common.models import get_model  # noqa: E402
from common.parity import parity_inputs  # noqa: E402
from common.state import initial_state  # noqa: E402


def tutorial_loop(state, inputs):
    loop = TutorialLoop(state, "cpu")  # "for i, data in enumerate(dataloader, 0):", noise supplied
    return [loop.step(real, step_noise.d) for real, step_noise in inputs]


def test_backend_matches_the_tutorials_own_loop():
    spec = get_model("pytorch-celeba-dcgan")
    state = initial_state(spec, 7)
    inputs = parity_inputs(spec, steps=4, batch=8, seed=7)
    expected = tutorial_loop(state, inputs)
    be = TorchBackend(spec, "cpu")
    be.load_state(state)
    got = [be.read(be.step(real, noise)) for real, noise in inputs]
    got = [(s.d_loss, s.g_loss, s.d_x, s.d_g_z1, s.d_g_z2) for s in got]
    np.testing.assert_allclose(np.array(got), np.array(expected), rtol=1e-6, atol=1e-7)
