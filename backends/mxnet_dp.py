"""MXNet data parallel: Gluon over a list of contexts with a KVStore, on one host or several.

One process drives N contexts (`mx.cpu(0..N-1)` on CPU, `mx.gpu(0..N-1)` on GPUs): every parameter
has a copy per context, each replica's slice of the batch runs forward and backward on its own
context (Gluon's data-parallel pattern: one recorded forward per context, `autograd.backward` of
the list), and a KVStore (`local` on CPU, `device` on GPUs) sums the contexts' gradients before the
update (`KVStore.pushpull`, what a Trainer with update_on_kvstore=False does); `trainer.step(N)`
scales that sum by 1/N, the replicas' average (each replica's loss is its slice's mean, as the
single-device run's is the batch's). The update then runs on every context, so the replicas stay
identical.

Several nodes: MXNet's own launcher (backends/mxnet_launch.py: the wheel's tools/launch.py) starts a
scheduler, one server per node and one worker per node, every worker driving its N contexts; the
`dist_sync` KVStore (`dist_device_sync` on GPUs) sums over the servers what every worker pushes,
which is every context of every node. Worker w (its rank from the KVStore) takes slices
w·N … w·N+N-1 of the global batch. A worker joins the store first thing (`join`): the scheduler
and servers wait for every worker, so one that failed before joining would leave the job hanging
until its time-out. A second dist KVStore in one process hangs in MXNet 1.9.1 (tried), hence one
store, keyed G's arrays then D's, for both Trainers. Losses and step times are summed over the
workers through the same store. The servers sum what they are pushed; nothing runs an optimiser
on them. They sum in float32 whatever the arrays' type (measured: 1/3 + 1/3 pushed as float64 comes
back 0.66666669), so a float64 run over several nodes is float32-rounded at every reduction.

BatchNorm: per replica by default (each context normalises its slice); `--sync-bn` builds every
BatchNorm as `gluon.contrib.nn.SyncBatchNorm(num_devices=N)`, which synchronises the contexts of
one process, never the workers of a dist KVStore (refused over several nodes). Its kernel is float32
only (a float64 input fails in MXNet 1.9.1 with "TBlob.get_with_shape: data type do not match
specified type. Expected: double v.s. given float"), and over CPU contexts a lone SyncBatchNorm layer
runs but the GAN iteration never finished (tried with a 60 s bound: the first step's work hangs in
the engine), so on CPU `--sync-bn` is refused; on GPUs it is the engine's way (not yet run on one).
"""

from __future__ import annotations

import os

import mxnet as mx
import numpy as np
from mxnet import nd

from backends.base import Backend, BackendUnavailable, ModeRefused
from backends.dp import DPSetup, OneProcessReplicas, shard, shard_noise
from backends.mxnet_gluon import MXNetBackend, _num_gpus
from common.spec import ModelSpec

_JOB: dict = {}  # this worker's dist KVStore, created by `join`


def _dist_kvstore_type(device: str) -> str:
    return "dist_device_sync" if device == "cuda" else "dist_sync"


class MXNetKVStoreBackend(OneProcessReplicas, MXNetBackend):
    launcher = "single"

    @classmethod
    def join(cls, device: str) -> int | None:
        """In a worker started by MXNet's launcher (DMLC_ROLE=worker), join the dist KVStore and return
        this worker's rank; None elsewhere. (A server or scheduler never gets here: importing mxnet
        with that role runs it to its end and exits.)"""
        if os.environ.get("DMLC_ROLE") != "worker":
            return None
        if "kv" not in _JOB:
            _JOB["kv"] = mx.kv.create(_dist_kvstore_type(device))
        return _JOB["kv"].rank

    def __init__(self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, dp: DPSetup = DPSetup(), **kw):
        Backend.__init__(self, spec, device, mode, **kw)  # MXNetBackend builds one context
        if dp.nodes > 1 and dp.sync_bn:
            raise ModeRefused(
                "MXNet's SyncBatchNorm (gluon.contrib.nn) synchronises the contexts of one process, "
                "not the workers of a dist KVStore: over several nodes BatchNorm is per replica"
            )
        if dp.sync_bn and device == "cpu":
            raise ModeRefused(
                "MXNet 1.9.1's gluon.contrib.nn.SyncBatchNorm over CPU contexts did not finish the "
                "first GAN iteration in a bounded try (60 s; the MLP GAN, two cpu contexts, KVStore "
                "'local'), though a lone SyncBatchNorm layer runs; its kernel is also float32 only"
            )
        if dp.sync_bn and self.dtype != "float32":
            raise ModeRefused(
                "MXNet 1.9.1's SyncBatchNorm kernel is float32 only (a float64 input fails: "
                "'TBlob.get_with_shape: data type do not match specified type')"
            )
        if not self.device_available(device) or (device == "cuda" and _num_gpus() < dp.replicas):
            raise BackendUnavailable(
                f"mxnet data parallel over {dp.replicas} {device} contexts: GPUs visible {_num_gpus()}"
            )
        if dp.nodes > 1:
            if self.join(device) is None:
                raise ModeRefused(
                    "mxnet over several nodes runs in workers started by MXNet's launcher "
                    "(python -m benchmarks run … --nodes M starts it; README, 'Multi-node')"
                )
            kv = _JOB["kv"]
            if kv.num_workers != dp.nodes:
                raise ValueError(f"MXNet's launcher started {kv.num_workers} workers for --nodes {dp.nodes}")
            how = f"{dp.nodes} workers (MXNet's launcher) × {dp.replicas} contexts"
        else:
            kv = mx.kv.create("device" if device == "cuda" else "local")
            how = f"{dp.replicas} contexts"
        self.dp, self.world = dp, dp.world
        self.rank, self.workers = kv.rank, dp.nodes
        self.engine = f"mxnet Gluon over {how}, KVStore {kv.type!r}"
        self.transport = "kvstore-" + kv.type
        self._sum_keys: dict[tuple, int] = {}
        self._build(
            [mx.gpu(i) if device == "cuda" else mx.cpu(i) for i in range(dp.replicas)],
            self.threads,
            dp.replicas if dp.sync_bn else None,
            kv=kv,
            replicas=dp.world,
        )

    def step(self, real, noise=None):
        # this worker's part of the global batch; its contexts split it further
        return super().step(shard(real, self.rank, self.workers), shard_noise(noise, self.rank, self.workers))

    def _sum_over_workers(self, x: np.ndarray) -> np.ndarray:
        """x summed over the workers by the KVStore (every worker asks in the same order, so a new
        shape gets the same new key on each)."""
        if self.workers == 1:
            return x
        if x.shape not in self._sum_keys:
            self._sum_keys[x.shape] = len(self._kv_key) + len(self._sum_keys)
            self.kv.init(self._sum_keys[x.shape], nd.zeros(x.shape, dtype="float64"))
        arr = nd.array(x, dtype="float64")
        self.kv.pushpull(self._sum_keys[x.shape], arr)
        return arr.asnumpy()

    def host_values(self, handle) -> np.ndarray:
        # every replica's statistics averaged (= the global batch's mean, slices being equal)
        local = np.sum([h.asnumpy().astype(np.float64) for h in handle], axis=0)
        return self._sum_over_workers(local) / self.world

    def max_over_ranks(self, values: list[float]) -> list[float]:
        mine = np.zeros((self.workers, len(values)))
        mine[self.rank] = values
        return [float(v) for v in self._sum_over_workers(mine).max(axis=0)]

    def barrier(self) -> None:
        self.sync()
        if self.workers > 1:
            self.kv._barrier()

    def info(self) -> dict:
        out = super().info()
        out.update(
            engine=self.engine,
            transport=self.transport,
            world_size=self.world,
            rank=self.rank,
            contexts=[str(c) for c in self.ctxs],
        )
        return out
