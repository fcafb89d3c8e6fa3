"""What one iteration of each reference recipe does, whatever the framework: the oracle that every
backend's recipe tests hold their hooks against (read off the five tutorials, REFERENCE_MODELS.md)."""

from __future__ import annotations

import numpy as np

# optimiser updates of one iteration, in order (Paddle's book: D on fakes, D on reals, two G updates)
UPDATES = {"paddle-dcgan28": ["D", "D", "G", "G"]}
DEFAULT_UPDATES = ["D", "G"]


def expected_updates(name: str) -> list[str]:
    return UPDATES.get(name, DEFAULT_UPDATES)


# (model, G forwards per iteration, what D sees first)
FEEDS = [
    ("paddle-dcgan28", 3, "fake"),  # fakes for D, then one fresh G(z) per G update
    ("mindspore-mlp-gan", 2, "fake"),  # G(z) for D, recomputed after D's update
    ("mxnet-dcgan64", 1, "fake"),  # the same fake re-scored by the G step
    ("gluon-lfw-dcgan", 2, "real"),
    ("pytorch-celeba-dcgan", 1, "real"),
]


def changed(before: dict, after: dict, prefix: str, equal=np.array_equal) -> set[str]:
    """Keys under `prefix` ("G." or "D.") whose arrays differ between two snapshots."""
    return {k for k in before if k.startswith(prefix) and not equal(before[k], after[k])}
