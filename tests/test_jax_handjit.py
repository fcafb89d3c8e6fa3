"""The hand-written jax.jit MLP GAN that `targets` times the JAX adapter against computes the same
iteration: its losses follow the PyTorch golden trace."""

import numpy as np
import pytest

pytest.importorskip("jax")

from backends.handjit_jax import HandJitMLPGAN  # noqa: E402
from common.models import get_model  # noqa: E402
from common.parity import load_golden, max_rel_diff, parity_inputs  # noqa: E402
from common.state import initial_state  # noqa: E402


def test_hand_jit_follows_the_golden_trace():
    spec, golden = get_model("mindspore-mlp-gan"), load_golden("mindspore-mlp-gan")
    hand = HandJitMLPGAN(initial_state(spec, golden["seed"]))
    out = np.array(
        [
            np.asarray(hand.step(real, noise.d))
            for real, noise in parity_inputs(spec, golden["steps"], golden["batch_size"], golden["seed"])
        ]
    )
    assert max(max_rel_diff(out[:, 0], golden["losses"]["d"])) < 1e-4
    assert max(max_rel_diff(out[:, 1], golden["losses"]["g"])) < 1e-4
