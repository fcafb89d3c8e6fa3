"""PyTorch data parallel: DistributedDataParallel in processes started by `torchrun`.

One process per replica; torchrun sets RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT and this adapter
joins the process group (NCCL on CUDA, Gloo on CPU). G and D are wrapped in DDP, which broadcasts
rank 0's parameters at construction and averages gradients in every backward (the D step's two
backward passes each all-reduce; averaging is linear, so the accumulated gradient is the average of
the replicas' sums). The iteration is TorchBackend's, unchanged: it calls `self.fG`/`self.fD`, which
here are the DDP wrappers.

BatchNorm: per replica by default (each replica normalises its slice; DDP broadcasts rank 0's
running statistics at every forward, its default). `--sync-bn` converts every BatchNorm to
nn.SyncBatchNorm, whose forward in torch 2.x accepts only GPU/XPU/privateuse1 tensors
("SyncBatchNorm expected input tensor to be on GPU or XPU or privateuseone") and whose kernels
(batch_norm_stats, batch_norm_gather_stats_with_counts) have no CPU implementation: on CPU it is
refused (ModeRefused), not imitated.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from backends.base import ModeRefused
from backends.dp import DPSetup, ReplicaProcess
from backends.pytorch import TorchBackend
from common.spec import ModelSpec


class TorchDDPBackend(ReplicaProcess, TorchBackend):
    launcher = "torchrun"

    @classmethod
    def refuse_dp(cls, spec: ModelSpec, mode: str, device: str, dp: DPSetup) -> str | None:
        if dp.sync_bn and device != "cuda":
            return (
                "torch.nn.SyncBatchNorm runs on GPU only: its forward raises 'SyncBatchNorm expected input "
                "tensor to be on GPU or XPU or privateuseone' for CPU tensors, and its statistics kernels "
                "(batch_norm_stats, batch_norm_gather_stats_with_counts) have no CPU implementation in torch "
                f"{torch.__version__}"
            )
        if mode not in ("eager", "channels_last"):
            return f"data parallel runs the eager iteration (DDP's hooks) only, not mode {mode!r}"
        return None

    def __init__(self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, dp: DPSetup = DPSetup(), **kw):
        why = self.refuse_dp(spec, mode or self.modes[0], device, dp)
        if why:
            raise ModeRefused(f"torch data parallel refused for {spec.name} on {device}: {why}")
        self.dp = dp
        self.transport = "nccl" if device == "cuda" else "gloo"
        if not dist.is_initialized():
            if device == "cuda":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            # torchrun's environment (MASTER_ADDR/PORT, RANK, WORLD_SIZE) is the rendezvous
            dist.init_process_group(self.transport)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        if self.world != dp.world:
            raise RuntimeError(f"torchrun started {self.world} processes, {dp.world} replicas were asked for")
        super().__init__(spec, device, mode, **kw)
        if device == "cuda":
            self.dev = torch.device("cuda", torch.cuda.current_device())
        if dp.sync_bn:
            # parameters are the same tensors after conversion (SyncBatchNorm takes them over)
            self.G = self.nets["G"] = nn.SyncBatchNorm.convert_sync_batchnorm(self.G)
            self.D = self.nets["D"] = nn.SyncBatchNorm.convert_sync_batchnorm(self.D)
        ids = [self.dev.index] if device == "cuda" else None
        self.fG = DDP(self.G, device_ids=ids)
        self.fD = DDP(self.D, device_ids=ids)
        # native noise: each replica its own stream (parity runs feed common noise instead)
        self.gen.manual_seed(self.seed * 1_000_003 + self.rank)
        self.engine = "torch.distributed DistributedDataParallel via torchrun"
        self._comm_s = 0.0

    def host_values(self, handle) -> np.ndarray:
        # losses averaged over replicas (= the mean over the global batch, slices being equal)
        v = handle.detach().clone()
        dist.all_reduce(v)
        return (v / self.world).cpu().double().numpy()

    def max_over_ranks(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.dev)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.cpu().tolist()

    def barrier(self) -> None:
        dist.barrier()

    def comm_s(self) -> dict | None:
        """DDP's own runtime logging (`_get_ddp_logging_data`, private but DDP's only account of it): per
        wrapped network, the averages over DDP's sampled iterations of one backward's all-reduce time,
        its compute time and their overlap, and the forward's compute, on this rank (rank 0), in s."""
        keys = (
            "avg_backward_comm_time",
            "avg_backward_compute_time",
            "avg_backward_compute_comm_overlap_time",
            "avg_forward_compute_time",
        )
        out: dict = {"source": "torch DDP runtime logging (sampled iterations), rank 0"}
        for net, wrapper in (("G", self.fG), ("D", self.fD)):
            try:
                data = wrapper._get_ddp_logging_data()
            except Exception:  # a torch without it: nothing exposed
                return None
            out[net] = {k.replace("_time", "_s"): data[k] / 1e9 for k in keys if data.get(k)}
        return out

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()
