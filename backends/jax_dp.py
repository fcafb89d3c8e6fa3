"""JAX data parallel: one process, a device mesh, the batch sharded and the state replicated.

`jax.sharding`: a 1-D `Mesh` named "dp" over N devices (on CPU, N host devices made by
XLA_FLAGS=--xla_force_host_platform_device_count=N, which benchmarks/distributed.py sets before the
child imports jax). The carry (parameters, Adam moments, BatchNorm statistics, PRNG key) is placed
replicated (`PartitionSpec()`), every real and noise batch sharded along its first axis
(`PartitionSpec("dp")`), and the single-device training step of backends/jax_flax.py is jitted on
those inputs: XLA's SPMD partitioner runs each device on its slice and inserts the collectives —
the gradients' all-reduce (the loss is the global batch's mean, i.e. the replicas' losses averaged)
and nothing else is written by hand. Several hosts: `jax.distributed.initialize(coordinator, N, i)`
before the mesh is built (README's two-node recipe); the same mesh then spans every host's devices.

BatchNorm:
- sync (`--sync-bn`): the step as written; its batch mean and variance are reductions over the
  sharded batch axis, so the partitioner computes them across replicas — synchronised statistics,
  the single-device computation up to the order of the reductions;
- per replica (default, what an unsynchronised replica does): `ReplicaNet` normalises each
  replica's slice on its own (the step's BatchNorm vmapped over the N slices, the slice axis
  sharded like the batch); the running statistics kept are the replicas' averaged (they only serve
  inference, and a replicated state needs one value).
The transport is XLA's in-process collectives on CPU (NCCL on GPUs).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from backends.base import ModeRefused
from backends.dp import DPSetup, OneProcessReplicas
from backends.jax_flax import JaxBackend, Net, _bn_train, make_train_step
from common.spec import ModelSpec

AXIS = "dp"


def _fetch(a):
    """A replicated array's value on this host. With several hosts no process can fetch the global
    array, but each holds a whole copy on its own devices."""
    return a if a.is_fully_addressable else a.addressable_data(0)


def replica_net(parts: int, sharding=None):
    """A Net class whose training BatchNorm normalises each of `parts` consecutive slices alone."""

    def bn_train(x, w, b, rm, rv, layer):
        xs = x.reshape(parts, x.shape[0] // parts, *x.shape[1:])
        if sharding is not None:  # keep replica r's slice on device r
            xs = jax.lax.with_sharding_constraint(xs, sharding)
        ys, rms, rvs = jax.vmap(lambda xr: _bn_train(xr, w, b, rm, rv, layer))(xs)
        return ys.reshape(x.shape), rms.mean(0), rvs.mean(0)

    return type(f"ReplicaNet{parts}", (Net,), {"bn_train": staticmethod(bn_train)})


class JaxMeshBackend(OneProcessReplicas, JaxBackend):
    launcher = "single"

    def __init__(self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, dp: DPSetup = DPSetup(), **kw):
        if dp.nodes > 1 and not jax.distributed.is_initialized():
            # one process per host, each driving its `replicas` local devices
            jax.distributed.initialize(f"{dp.master_addr}:{dp.master_port}", dp.nodes, dp.node_rank)
        platform = "gpu" if device == "cuda" else "cpu"
        try:
            devices = jax.devices(platform)
        except RuntimeError:
            devices = []
        if len(devices) < dp.world:
            raise ModeRefused(
                f"jax data parallel over {dp.world} replicas needs {dp.world} {device} devices; this "
                f"process sees {len(devices)}"
                + (
                    f" (set XLA_FLAGS=--xla_force_host_platform_device_count={dp.world} before jax is imported)"
                    if device == "cpu"
                    else ""
                )
            )
        super().__init__(spec, device, mode, **kw)
        self.dp, self.rank, self.world = dp, 0, dp.world
        self.mesh = Mesh(np.array(devices[: dp.world]), (AXIS,))
        self.replicated = NamedSharding(self.mesh, P())
        self.batched = NamedSharding(self.mesh, P(AXIS))
        cpu = self.dev.platform == "cpu"
        net_cls = None if dp.sync_bn else replica_net(dp.world, self.batched)
        self._fns = {native: make_train_step(spec, native, cpu, self.np_dtype, net_cls)[0] for native in (True, False)}
        self.engine = "jax.sharding Mesh (batch sharded, state replicated) under jit/GSPMD"
        # across hosts jax.distributed's CPU collectives run over Gloo
        self.transport = "nccl" if device == "cuda" else "gloo" if dp.nodes > 1 else "xla-cpu in-process collectives"

    def info(self) -> dict:
        out = super().info()
        out.update(
            engine=self.engine,
            transport=self.transport,
            world_size=self.world,
            mesh_devices=[str(d) for d in self.mesh.devices.flat],
        )
        return out

    def _global(self, a, sharding):
        """A global array from the host copy every process holds (each process fills its own devices'
        shards: with several hosts a process cannot device_put onto another host's devices)."""
        if self.dp.nodes == 1:
            return jax.device_put(a, sharding)
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])

    def load_state(self, state):
        super().load_state(state)
        self._carry = jax.tree_util.tree_map(lambda a: self._global(a, self.replicated), self._carry)

    def _batch(self, a: np.ndarray):
        return self._global(np.asarray(a, self.np_dtype), self.batched)  # each replica its slice

    def placement(self, handle) -> tuple[set[str], set[str]]:
        params, outputs = super().placement(handle)
        used = {d for leaf in jax.tree_util.tree_leaves(self._carry) for d in leaf.devices()}
        if len(used) != self.world:  # the state must live on every replica's device
            raise ModeRefused(f"jax: the replicated state lives on {len(used)} devices, not {self.world}")
        return params, outputs

    def generate(self, noise: np.ndarray) -> np.ndarray:
        c = self._carry
        z = self._global(np.ascontiguousarray(noise, self.np_dtype), self.replicated)
        return np.asarray(_fetch(self._gen(c["G"], c["fixed_G"], c["bn_G"], z)), np.float32)

    def host_values(self, handle) -> np.ndarray:
        return np.asarray(_fetch(handle), np.float64)
