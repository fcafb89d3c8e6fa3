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
import numpy as np
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from backends.base import Backend, BackendUnavailable, DEVICE_KIND, ModeRefused, StepStats
from backends.dp import DPSetup, shard
from backends.mxnet_gluon import (MXNetBackend, _act, _conv_transpose, _num_gpus, _Reshape,
                                  _Scorer, _set_omp_threads)
from common.layers import build_layers
from common.spec import Act, BatchNorm, Conv2d, ConvTranspose2d, Dense, Flatten, MaxPool2d, ModelSpec, Reshape
from common.state import NETS, param_keys


def build_net_dp(net_spec, prefix: str, ctx, dtype: str, sync_devices: int | None) -> nn.HybridSequential:
    """backends.mxnet_gluon.build_net, with SyncBatchNorm over `sync_devices` contexts when asked."""

    def batchnorm(l, c):
        kw = dict(momentum=l.momentum, epsilon=l.eps, scale=l.gamma == "learned", in_channels=c)
        if sync_devices:
            return gluon.contrib.nn.SyncBatchNorm(num_devices=sync_devices, **kw)
        return nn.BatchNorm(axis=1, **kw)

    make = {
        Dense: lambda l, c: nn.Dense(l.out_features, use_bias=l.bias, flatten=False, in_units=c),
        Conv2d: lambda l, c: nn.Conv2D(l.out_channels, l.kernel, l.stride, l.padding, use_bias=l.bias,
                                       in_channels=c),
        ConvTranspose2d: lambda l, c: _conv_transpose(l, c, ctx),
        MaxPool2d: lambda l, c: nn.MaxPool2D(l.kernel, l.stride),
        BatchNorm: batchnorm,
        Act: lambda l, c: _act(l, dtype),
        Reshape: lambda l, c: _Reshape(l.shape),
        Flatten: lambda l, c: nn.Flatten(),
    }
    net = nn.HybridSequential(prefix=prefix)
    with net.name_scope():
        for block in build_layers(net_spec, make):
            net.add(block)
    return net


class MXNetKVStoreBackend(MXNetBackend):
    launcher = "single"

    def __init__(self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, seed: int = 0,
                 threads: int | None = None, dp: DPSetup = DPSetup()):
        Backend.__init__(self, spec, device, mode, seed, threads)  # MXNetBackend's body is redone for N contexts
        if dp.nodes > 1:
            raise ModeRefused("mxnet over several hosts needs the dist_sync KVStore with workers and servers "
                              "started by MXNet's tools/launch.py (README's recipe); this harness starts one node")
        if dp.sync_bn and device == "cpu":
            raise ModeRefused("MXNet 1.9.1's gluon.contrib.nn.SyncBatchNorm over CPU contexts did not finish the "
                              "first GAN iteration in a bounded try (60 s; the MLP GAN, two cpu contexts, KVStore "
                              "'local'), though a lone SyncBatchNorm layer runs; its kernel is also float32 only")
        if dp.sync_bn and self.dtype != "float32":
            raise ModeRefused("MXNet 1.9.1's SyncBatchNorm kernel is float32 only (a float64 input fails: "
                              "'TBlob.get_with_shape: data type do not match specified type')")
        if not self.device_available(device) or (device == "cuda" and _num_gpus() < dp.world):
            raise BackendUnavailable(f"mxnet data parallel over {dp.world} {device} contexts: GPUs visible "
                                     f"{_num_gpus()}")
        self.dp, self.rank, self.world = dp, 0, dp.world
        if threads:
            _set_omp_threads(threads)
        self.ctxs = [mx.gpu(i) if device == "cuda" else mx.cpu(i) for i in range(dp.world)]
        self.ctx = self.ctxs[0]  # generate() and exports read replica 0's copy
        self.kvstore = "device" if device == "cuda" else "local"
        self.engine = f"mxnet Gluon over {dp.world} contexts, KVStore {self.kvstore!r}"
        self.transport = "kvstore-" + self.kvstore
        mx.random.seed(seed)
        sync = dp.world if dp.sync_bn else None
        self.nets = {"G": build_net_dp(spec.generator, "G_", self.ctx, self.dtype, sync),
                     "D": build_net_dp(spec.discriminator, "D_", self.ctx, self.dtype, sync)}
        self.G, self.D = self.nets["G"], self.nets["D"]
        for net in self.nets.values():
            net.initialize(mx.init.Normal(0.02), ctx=self.ctxs)  # placeholders: load_state sets every array
            if self.dtype != "float32":
                net.cast(self.dtype)
        r = spec.recipe
        self._scorers = {lab: _Scorer(self.D, r.loss, lab) for lab in {r.real_label, r.fake_label}}
        self._params = {n: {k: self._param(k) for k in param_keys(spec, n)} for n in NETS}
        self._trainable = {n: param_keys(spec, n, trainable_only=True) for n in NETS}
        self._d_grads = [self._params["D"][k] for k in self._trainable["D"]] if r.d_update == "summed" else []
        for p in self._d_grads:
            p.grad_req = "add"
        self._new_trainers()
        if self.mode == "hybridized":
            self.G.hybridize(static_alloc=True, static_shape=True)
            for s in self._scorers.values():
                s.hybridize(static_alloc=True, static_shape=True)

    def _new_trainers(self) -> None:
        super()._new_trainers()
        # the same optimisers, now reducing over the contexts through the KVStore
        self.trainers = {n: gluon.Trainer([self._params[n][k] for k in self._trainable[n]], t._optimizer,
                                          kvstore=self.kvstore, update_on_kvstore=False)
                         for n, t in self.trainers.items()}

    def load_state(self, state) -> None:
        # Parameter.set_data writes every context's copy
        super().load_state(state)

    def info(self) -> dict:
        out = super().info()
        out.update(engine=self.engine, transport=self.transport, world_size=self.world,
                   contexts=[str(c) for c in self.ctxs])
        return out

    def step(self, real: np.ndarray, noise=None):
        r = self.spec.recipe
        n = len(real) // self.world
        xs = [nd.array(shard(real, i, self.world), ctx=c, dtype=self.dtype) for i, c in enumerate(self.ctxs)]

        def noise_for(i, c, arr):
            if arr is None:
                nz = r.noise
                shape = (n, *nz.shape)
                if nz.dist == "uniform":
                    return nd.random.uniform(nz.low, nz.high, shape=shape, ctx=c, dtype=self.dtype)
                return nd.random.normal(nz.mean, nz.std, shape=shape, ctx=c, dtype=self.dtype)
            return nd.array(shard(arr, i, self.world), ctx=c, dtype=self.dtype)

        zs = [noise_for(i, c, noise.d if noise is not None else None) for i, c in enumerate(self.ctxs)]
        tr_d, tr_g = self.trainers["D"], self.trainers["G"]
        score_real, score_fake = self._scorers[r.real_label], self._scorers[r.fake_label]
        if r.g_input == "same_fake":
            with autograd.record():
                fakes = [self.G(z) for z in zs]
        else:
            with autograd.train_mode():
                fakes = [self.G(z) for z in zs]
        passes = [("real", xs, score_real), ("fake", [f.detach() for f in fakes], score_fake)]
        if r.d_pass_order != "real_first":
            passes.reverse()
        stats = {}
        if r.d_update == "summed":
            for p in self._d_grads:
                p.zero_grad()
            for tag, inps, scorer in passes:
                with autograd.record():
                    stats[tag] = [scorer(x) for x in inps]
                autograd.backward([s[0] for s in stats[tag]])
            tr_d.step(self.world)  # KVStore sums the contexts' gradients; /N averages them
        else:
            for tag, inps, scorer in passes:
                with autograd.record():
                    stats[tag] = [scorer(x) for x in inps]
                autograd.backward([s[0] for s in stats[tag]])
                tr_d.step(self.world)
        g_losses = []
        for k in range(r.g_updates):
            with autograd.record():
                if r.g_input == "same_fake":
                    fs = fakes
                elif r.g_input == "recompute_same_z":
                    fs = [self.G(z) for z in zs]
                else:
                    fs = [self.G(noise_for(i, c, noise.g[k] if noise is not None else None))
                          for i, c in enumerate(self.ctxs)]
                outs = [score_real(f) for f in fs]
            autograd.backward([o[0] for o in outs])
            tr_g.step(self.world)
            g_losses.append([o[0].detach() for o in outs])
        handles = []
        for i in range(self.world):
            (lr_, px), (lf, pz1) = stats["real"][i], stats["fake"][i]
            handles.append(nd.concat(lr_.detach() + lf.detach(), g_losses[-1][i], px.detach(), pz1.detach(),
                                     outs[i][1].detach(), *[g[i] for g in g_losses], dim=0))
        return handles

    def placement(self, handle) -> tuple[set[str], set[str]]:
        params = {DEVICE_KIND.get(c.device_type, c.device_type) for net in self.nets.values()
                  for p in net.collect_params().values() for c in p.list_ctx()}
        used = {h.context for h in handle}
        if len(used) != self.world:
            raise ModeRefused(f"mxnet: the step ran on {len(used)} contexts, not {self.world}")
        return params, {DEVICE_KIND.get(c.device_type, c.device_type) for c in used}

    def read(self, handle) -> StepStats:
        # the replicas' losses averaged (= the global batch's mean, slices being equal)
        v = np.mean([h.asnumpy().astype(np.float64) for h in handle], axis=0).tolist()
        return StepStats(d_loss=v[0], g_loss=v[1], d_x=v[2], d_g_z1=v[3], d_g_z2=v[4], g_losses=tuple(v[5:]))

    def max_over_ranks(self, values: list[float]) -> list[float]:
        return list(values)

    def barrier(self) -> None:
        nd.waitall()

    def comm_s(self) -> float | None:
        return None

    def close(self) -> None:
        pass
