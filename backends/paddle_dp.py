"""Paddle data parallel: `paddle.DataParallel` in processes started by `python -m paddle.distributed.launch`.

One process per replica; the launcher sets PADDLE_TRAINER_ID / PADDLE_TRAINERS_NUM / the endpoints
(`--master`, `--nnodes`, `--rank`, `--host`) and `paddle.distributed.init_parallel_env()` joins the
collective group: on CPU Paddle 3.3.1 uses Gloo (ProcessGroupGloo), on GPUs NCCL. G and the scorer (D
and its loss) are wrapped in `paddle.DataParallel`, whose reducer all-reduces and averages the
gradients in every backward (the summed D step's two backward passes each; averaging is linear).

BatchNorm: per replica by default. `--sync-bn` (`paddle.nn.SyncBatchNorm.convert_sync_batchnorm`)
is refused on CPU: Paddle 3.3.1's CPU build registers no `sync_batch_norm` kernel ("(NotFound) The
kernel `sync_batch_norm` is not registered", seen on this machine with two Gloo ranks).
"""

from __future__ import annotations

import os

import numpy as np
import paddle
import paddle.distributed as dist

from backends.base import ModeRefused
from backends.dp import DPSetup, ReplicaProcess
from backends.paddle_nn import PaddleBackend
from common.spec import ModelSpec


class PaddleDPBackend(ReplicaProcess, PaddleBackend):
    launcher = "paddle_launch"

    def __init__(self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, dp: DPSetup = DPSetup(), **kw):
        mode = mode or self.modes[0]
        if dp.sync_bn and device != "cuda":
            raise ModeRefused(
                "paddle SyncBatchNorm has no CPU kernel in Paddle "
                f"{paddle.__version__} ('(NotFound) The kernel `sync_batch_norm` is not registered')"
            )
        if mode != "dynamic":
            raise ModeRefused(f"paddle data parallel runs the dynamic mode only, not {mode!r}")
        super().__init__(spec, device, mode, **kw)
        if not dist.is_initialized():
            dist.init_parallel_env()
        self.dp, self.rank, self.world = dp, dist.get_rank(), dist.get_world_size()
        if self.world != dp.world:
            raise RuntimeError(f"paddle launch started {self.world} processes, {dp.world} replicas were asked for")
        if dp.sync_bn:
            self.G = self.nets["G"] = paddle.nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
            self.scorer.D = self.D = self.nets["D"] = paddle.nn.SyncBatchNorm.convert_sync_batchnorm(self.D)
        self._g, self._score = paddle.DataParallel(self.G), paddle.DataParallel(self.scorer)
        paddle.seed(self.seed * 1_000_003 + self.rank)  # native noise: each replica its own stream
        self.transport = "nccl" if device == "cuda" else "gloo"
        self.engine = "paddle.DataParallel via paddle.distributed.launch"

    def gpu_index(self) -> int:
        # paddle.distributed.launch gives rank i of a node its GPU in FLAGS_selected_gpus (every rank
        # sees every GPU); ParallelEnv().device_id reads the same but fails in a CPU-only build
        return int(os.environ.get("FLAGS_selected_gpus", "0").split(",")[0])

    def host_values(self, handle) -> np.ndarray:
        # losses averaged over replicas (= the mean over the global batch, slices being equal)
        v = handle.clone()
        dist.all_reduce(v)
        return v.numpy().astype(np.float64) / self.world

    def max_over_ranks(self, values: list[float]) -> list[float]:
        t = paddle.to_tensor(np.asarray(values, np.float64))
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.numpy().tolist()

    def barrier(self) -> None:
        dist.barrier()
