"""Data parallelism on each framework's own distributed engine: the framework-free part.

A data-parallel backend is an ordinary backend (backends/base.py) that is also told, through
`DPSetup`, how many replicas it is one of. Its `step(real, noise)` receives the *global* batch
(every rank builds the same one from common/feed.py) and trains on its own slice,
`DPSetup.shard(...)`: replica r of R takes rows [r·b, (r+1)·b), b = global/R. Gradients are
averaged by the engine; `read` returns losses averaged over replicas (with equal slices that is the
mean over the global batch, so a data-parallel trace compares step by step with a single-device
one); `max_over_ranks` turns each rank's step times into the slowest rank's.

Per framework (`backends.REGISTRY`: dp_module, dp_cls, launcher): the adapter class, and how the
engine is started (`launcher`): `torchrun` (one process per replica), `single` (one process drives every replica:
JAX's device mesh), `mxnet_launch` (one process drives a node's contexts; over several nodes MXNet's own
launcher starts one such worker per node), `paddle_launch`, `msrun`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from common.feed import StepNoise

SCALING = ("strong", "weak")
BN_MODES = ("per_replica", "sync")


@dataclass(frozen=True)
class DPSetup:
    replicas: int = 1  # per node
    nodes: int = 1
    scaling: str = "strong"
    sync_bn: bool = False
    rank: int = 0  # this process's global rank (0 where one process drives every replica)
    master_addr: str = "127.0.0.1"
    master_port: int = 0
    node_rank: int = 0  # this host's index among `nodes`

    @property
    def world(self) -> int:
        """Replicas in all (every node's)."""
        return self.replicas * self.nodes

    @property
    def bn_mode(self) -> str:
        return "sync" if self.sync_bn else "per_replica"

    def global_batch(self, tutorial_batch: int) -> int:
        """Strong scaling splits the tutorial's batch over the replicas; weak gives each replica it."""
        return tutorial_batch if self.scaling == "strong" else tutorial_batch * self.world

    def check(self, tutorial_batch: int) -> None:
        if self.scaling not in SCALING:
            raise ValueError(f"scaling must be one of {SCALING}, got {self.scaling!r}")
        if self.global_batch(tutorial_batch) % self.world:
            raise ValueError(
                f"strong scaling splits the batch of {tutorial_batch} over {self.world} replicas: "
                f"it must divide evenly (pick --batch-size or --scaling weak)"
            )

    @staticmethod
    def from_env(**kw) -> DPSetup:
        """In a process started by a launcher that sets RANK (torchrun, paddle launch, msrun)."""
        return DPSetup(rank=int(os.environ.get("RANK", "0")), **kw)


def shard(x: np.ndarray, part: int, parts: int) -> np.ndarray:
    """Rows [part·b, (part+1)·b) of x, b = len(x)/parts (the batch split of every engine here)."""
    b = len(x) // parts
    return x[part * b : (part + 1) * b]


def shard_noise(noise: StepNoise | None, part: int, parts: int) -> StepNoise | None:
    if noise is None:
        return None
    return StepNoise(shard(noise.d, part, parts), tuple(shard(g, part, parts) for g in noise.g))


class Replicas:
    """What every data-parallel backend adds to its framework's backend (mixed in first). The class
    sets self.rank, self.world, self.engine and self.transport."""

    @classmethod
    def join(cls, device: str) -> int | None:
        """Join the engine's job before anything else can fail, where its other processes wait for
        every worker (MXNet's dist KVStore); this process's rank then, None where the launcher's
        environment says it."""
        return None

    def comm_s(self) -> float | dict | None:
        """Time spent in communication, where the engine exposes it apart from compute."""
        return None

    def close(self) -> None:
        """Leave the engine's process group, where it has one."""


class OneProcessReplicas(Replicas):
    """One process drives every replica (JAX's device mesh, MXNet's context list): it times every
    replica's step itself."""

    rank = 0

    def max_over_ranks(self, values: list[float]) -> list[float]:
        return list(values)

    def barrier(self) -> None:
        self.sync()


class ReplicaProcess(Replicas):
    """One process per replica: this replica's slice of every batch and of the common noise, and
    the engine in `info()`."""

    def info(self) -> dict:
        out = super().info()
        out.update(engine=self.engine, transport=self.transport, world_size=self.world, rank=self.rank)
        return out

    def step(self, real, noise=None):
        return super().step(shard(real, self.rank, self.world), shard_noise(noise, self.rank, self.world))


def load_dp_backend(name: str):
    """The data-parallel adapter class of `name` (importing its framework)."""
    import importlib

    from backends import REGISTRY
    from backends.base import BackendUnavailable

    if name not in REGISTRY:
        raise BackendUnavailable(f"backend {name!r} has no data-parallel adapter")
    return getattr(importlib.import_module(REGISTRY[name].dp_module), REGISTRY[name].dp_cls)
