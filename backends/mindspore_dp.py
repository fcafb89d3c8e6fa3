"""MindSpore data parallel: its communication API in processes started by `msrun`.

One process per replica; `msrun --worker_num --local_worker_num --master_addr --master_port
--node_rank` starts them and its scheduler is the rendezvous; `mindspore.communication.init()` joins
the group (on CPU MindSpore 2.10 runs its own TCP collectives; HCCL on Ascend, NCCL on GPUs).
The iteration is MindSporeBackend's, unchanged, except that each optimiser receives the gradients
through `nn.DistributedGradReducer(mean=True)` (MindSpore's data-parallel gradient all-reduce,
averaged over the replicas) — done by swapping the step cell's optimiser for a cell that reduces,
then updates.

BatchNorm: per replica (each process normalises its slice). `--sync-bn` is refused off Ascend:
`mindspore.nn.SyncBatchNorm`'s documented supported platform is Ascend only.
"""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops
from mindspore.communication import get_group_size, get_rank, init

from backends.base import ModeRefused
from backends.dp import DPSetup, ReplicaProcess
from backends.mindspore_nn import MindSporeBackend
from common.spec import ModelSpec

_INITIALISED = []


class _ReducedOptimizer(nn.Cell):
    """The data-parallel optimiser: gradients averaged over the replicas, then the same update."""

    def __init__(self, opt, params, world: int):
        super().__init__(auto_prefix=False)
        self.opt = opt
        self.reducer = nn.DistributedGradReducer(params, mean=True, degree=world)

    def construct(self, grads):
        return self.opt(self.reducer(grads))


class MindSporeDPBackend(ReplicaProcess, MindSporeBackend):
    launcher = "msrun"

    def __init__(self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, dp: DPSetup = DPSetup(), **kw):
        if dp.sync_bn:
            raise ModeRefused(
                f"mindspore.nn.SyncBatchNorm supports Ascend only (its documented platforms); this run is on {device}"
            )
        super().__init__(spec, device, mode, **kw)
        if not _INITIALISED:
            init()  # msrun's environment is the rendezvous
            _INITIALISED.append(True)
        self.dp, self.rank, self.world = dp, get_rank(), get_group_size()
        if self.world != dp.world:
            raise RuntimeError(f"msrun started {self.world} processes, {dp.world} replicas were asked for")
        ms.set_seed(self.seed * 1_000_003 + self.rank)  # native noise: each replica its own stream
        for net in ("G", "D"):
            params = ms.ParameterTuple([self.params[k] for k in self.trainable[net]])
            setattr(self.cell, f"opt_{net.lower()}", _ReducedOptimizer(self.opts[net], params, self.world))
        self._allreduce = ops.AllReduce()
        self.transport = {"cpu": "mindspore CPU collectives (TCP)", "cuda": "nccl"}.get(device, "hccl")
        self.engine = "mindspore.communication + nn.DistributedGradReducer via msrun"

    def host_values(self, handle) -> np.ndarray:
        # losses averaged over replicas (= the mean over the global batch, slices being equal)
        return np.asarray(self._allreduce(handle).asnumpy(), np.float64) / self.world

    def max_over_ranks(self, values: list[float]) -> list[float]:
        # MindSpore's CPU AllReduce sums only ("AllReduce only support reduce sum on CPU, but got max"):
        # each rank writes its row of a zero matrix, the sum gathers every rank's times, the max is taken here
        rows = np.zeros((self.world, len(values)), np.float32)
        rows[self.rank] = values
        return np.asarray(self._allreduce(Tensor(rows)).asnumpy(), np.float64).max(axis=0).tolist()

    def barrier(self) -> None:
        self._allreduce(Tensor(np.zeros(1, np.float32))).asnumpy()
