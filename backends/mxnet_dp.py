"""MXNet data parallel: Gluon over a list of contexts with a KVStore.

One process drives N contexts (`mx.cpu(0..N-1)` on CPU, `mx.gpu(0..N-1)` on GPUs): every parameter
has a copy per context, each replica's slice of the batch runs forward and backward on its own
context (Gluon's data-parallel pattern: one recorded forward per context, `autograd.backward` of
the list), and the Trainer's KVStore (`local` on CPU, `device` on GPUs, `dist_sync` over hosts,
where MXNet's own launcher tools/launch.py starts the workers) sums the contexts' gradients before
the update; `trainer.step(N)` scales that sum by 1/N, the replicas' average (each replica's loss is
its slice's mean, as the single-device run's is the batch's). The update then runs on every
context (update_on_kvstore=False), so the replicas stay identical.

BatchNorm: per replica by default (each context normalises its slice); `--sync-bn` builds every
BatchNorm as `gluon.contrib.nn.SyncBatchNorm(num_devices=N)`. Its kernel is float32 only (a float64
input fails in MXNet 1.9.1 with "TBlob.get_with_shape: data type do not match specified type.
Expected: double v.s. given float"), and over CPU contexts a lone SyncBatchNorm layer runs but the
GAN iteration never finished (tried with a 60 s bound: the first step's work hangs in the engine),
so on CPU `--sync-bn` is refused; on GPUs it is the engine's way (not yet run on one).
"""

from __future__ import annotations

import mxnet as mx

from backends.base import Backend, BackendUnavailable, ModeRefused
from backends.dp import DPSetup, OneProcessReplicas
from backends.mxnet_gluon import MXNetBackend, _num_gpus
from common.spec import ModelSpec


class MXNetKVStoreBackend(OneProcessReplicas, MXNetBackend):
    launcher = "single"

    def __init__(self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, dp: DPSetup = DPSetup(), **kw):
        Backend.__init__(self, spec, device, mode, **kw)  # MXNetBackend builds one context
        if dp.nodes > 1:
            raise ModeRefused(
                "mxnet over several hosts needs the dist_sync KVStore with workers and servers "
                "started by MXNet's tools/launch.py (README's recipe); this harness starts one node"
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
        if not self.device_available(device) or (device == "cuda" and _num_gpus() < dp.world):
            raise BackendUnavailable(
                f"mxnet data parallel over {dp.world} {device} contexts: GPUs visible {_num_gpus()}"
            )
        self.dp, self.rank, self.world = dp, 0, dp.world
        self.kvstore = "device" if device == "cuda" else "local"
        self.engine = f"mxnet Gluon over {dp.world} contexts, KVStore {self.kvstore!r}"
        self.transport = "kvstore-" + self.kvstore
        self._build(
            [mx.gpu(i) if device == "cuda" else mx.cpu(i) for i in range(dp.world)],
            self.threads,
            dp.world if dp.sync_bn else None,
        )

    def info(self) -> dict:
        out = super().info()
        out.update(
            engine=self.engine, transport=self.transport, world_size=self.world, contexts=[str(c) for c in self.ctxs]
        )
        return out
