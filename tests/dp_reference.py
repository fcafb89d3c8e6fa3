"""The per-replica-BatchNorm reference of the data-parallel parity tests, in torch.

A data-parallel run whose BatchNorm normalises each replica's slice alone is, step for step, a
single-device run whose BatchNorm normalises each slice of the batch alone ("ghost" batch norm):
replica r's loss is the mean over its slice, the engine averages the replicas' gradients, and with
equal slices the average of the slice means is the global batch's mean. `ghost_trace` runs the
single-device PyTorch backend with every BatchNorm replaced by one that splits its input into
`parts` consecutive slices (the rows replica r takes, backends/dp.py `shard`), sharing γ, β.

`python -m tests.dp_reference` rewrites tests/golden/dp/, which every framework's test compares to.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

GOLDEN_DP = Path(__file__).resolve().parent / "golden" / "dp"


class GhostBatchNorm(nn.Module):
    def __init__(self, bn: nn.Module, parts: int):
        super().__init__()
        self.bn, self.parts = bn, parts

    def forward(self, x):
        # training-mode statistics of each slice; the running statistics play no part in training
        return torch.cat([self.bn(c) for c in x.chunk(self.parts)])


def ghost_trace(model: str, parts: int, steps: int = 10, batch: int = 16, seed: int = 0) -> dict:
    from backends.pytorch import TorchBackend
    from common.models import get_model
    from common.parity import parity_inputs
    from common.state import initial_state

    spec = get_model(model)
    b = TorchBackend.with_dtype("float64")(spec, "cpu", "eager", seed=seed)
    b.load_state(initial_state(spec, seed))
    for net in (b.G, b.D):  # fG/fD are these very modules in eager mode
        for i, m in enumerate(net):
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                net[i] = GhostBatchNorm(m, parts)
    stats = [b.read(b.step(real, noise)) for real, noise in parity_inputs(spec, steps, batch, seed)]
    return {
        "schema": "ganbench-dp-reference",
        "model": model,
        "parts": parts,
        "dtype": "float64",
        "steps": steps,
        "batch_size": batch,
        "seed": seed,
        "spec_hash": spec.spec_hash(),
        "made_by": "tests/dp_reference.py: torch float64, BatchNorm per slice",
        "losses": {k: [s.as_dict()[k] for s in stats] for k in ("d", "g")},
    }


if __name__ == "__main__":
    GOLDEN_DP.mkdir(parents=True, exist_ok=True)
    for model in ("mindspore-mlp-gan",):
        ref = ghost_trace(model, 2)
        (GOLDEN_DP / f"{model}__ghost2.json").write_text(json.dumps(ref, indent=1) + "\n")
        print(model, ref["losses"]["d"][-1], ref["losses"]["g"][-1])
