"""The MindSpore tutorial's own loop (tests/test_mindspore_tutorial.py: its cells, nn.BCELoss,
value_and_grad and nn.Adam) run for the golden trace's 10 float32 iterations of mindspore-mlp-gan
from the canonical initial state on the parity inputs. The losses are kept in
tests/golden/tutorial/mindspore-mlp-gan.json, so backends in other virtualenvs compare with them."""

import json
from pathlib import Path

import numpy as np

from common.parity import GOLDEN_DIR, TRACE_BATCH, TRACE_SEED, TRACE_STEPS

PATH = GOLDEN_DIR / "tutorial" / "mindspore-mlp-gan.json"
RTOL = 1e-6  # float32 round-off of one non-chaotic network over ten iterations


def load() -> dict:
    return json.loads(Path(PATH).read_text())


def write(losses: list[tuple[float, float]]) -> None:
    PATH.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "model": "mindspore-mlp-gan",
        "loop": "the MindSpore tutorial's train_step (nn.Adam, value_and_grad)",
        "steps": TRACE_STEPS,
        "batch_size": TRACE_BATCH,
        "seed": TRACE_SEED,
        "dtype": "float32",
        "losses": {"d": [d for d, _ in losses], "g": [g for _, g in losses]},
    }
    PATH.write_text(json.dumps(doc, indent=1) + "\n")


def assert_matches(d_losses, g_losses, rtol: float = RTOL) -> float:
    """Every iteration's D and G loss within `rtol` of the tutorial's loop; returns the worst."""
    ref = load()
    got = np.array([d_losses, g_losses], np.float64)
    want = np.array([ref["losses"]["d"], ref["losses"]["g"]], np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    rel = np.abs(got - want) / np.abs(want)
    assert rel.max() <= rtol, f"worst relative difference {rel.max():.3g} (D {rel[0].tolist()}, G {rel[1].tolist()})"
    return float(rel.max())
