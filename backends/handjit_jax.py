"""The MindSpore tutorial's MLP GAN iteration written by hand as one `jax.jit` function.

Not a backend: the yardstick for the suite's JAX adapter (`python -m benchmarks targets`: the
adapter, which builds any spec, must be at least as fast as this straight-line version of one
model). Plain jax.numpy and the spec's Adam form as the JAX adapter builds it; no Flax, no spec
walking: G = Dense-ReLU, 3 × (Dense-BN-ReLU), Dense-tanh; D = 2 × (Dense-LeakyReLU(0.2)),
Dense-sigmoid; BCE on probabilities; D's loss is the sum of the fake and real terms; G's step
recomputes G(z) from the same z (the tutorial's recipe).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from backends.jax_flax import adam as form_optimizer
from common.models import get_model

G_DENSE = (0, 2, 5, 8, 11)  # layer indices of the spec's Dense layers (canonical state keys)
G_BN = (3, 6, 9)
D_DENSE = (1, 3, 5)
BN_MOMENTUM, BN_EPS, SLOPE = 0.9, 1e-5, 0.2


def _params(state: dict[str, np.ndarray]):
    g = {
        "dense": [(jnp.asarray(state[f"G.{i}.weight"]).T, jnp.asarray(state[f"G.{i}.bias"])) for i in G_DENSE],
        "bn": [(jnp.asarray(state[f"G.{i}.weight"]), jnp.asarray(state[f"G.{i}.bias"])) for i in G_BN],
    }
    d = [(jnp.asarray(state[f"D.{i}.weight"]).T, jnp.asarray(state[f"D.{i}.bias"])) for i in D_DENSE]
    running = [(jnp.asarray(state[f"G.{i}.running_mean"]), jnp.asarray(state[f"G.{i}.running_var"])) for i in G_BN]
    return g, d, running


def _mm(x, w):
    """Full float32 products, as the adapter's Dense and torch's Linear compute them: `x @ w` would let
    XLA use TF32 on Ampere and newer GPUs, and the yardstick would then time cheaper arithmetic."""
    return jnp.matmul(x, w, precision=jax.lax.Precision.HIGHEST)


def _generator(g, running, z):
    (w0, b0), *hidden, (wl, bl) = g["dense"]
    x = jax.nn.relu(_mm(z, w0) + b0)
    new_running = []
    for (w, b), (gamma, beta), (rm, rv) in zip(hidden, g["bn"], running):
        h = _mm(x, w) + b
        mean, var = h.mean(0), h.var(0)
        n = h.shape[0]
        new_running.append(
            (BN_MOMENTUM * rm + (1 - BN_MOMENTUM) * mean, BN_MOMENTUM * rv + (1 - BN_MOMENTUM) * var * n / (n - 1))
        )
        x = jax.nn.relu((h - mean) / jnp.sqrt(var + BN_EPS) * gamma + beta)
    return jnp.tanh(_mm(x, wl) + bl), new_running


def _discriminator(d, x):
    x = x.reshape(x.shape[0], -1)
    for w, b in d[:-1]:
        x = jax.nn.leaky_relu(_mm(x, w) + b, SLOPE)
    w, b = d[-1]
    return jax.nn.sigmoid(_mm(x, w) + b)[:, 0]


def _bce(p, y):
    # torch's BCELoss clamps each log term at -100
    return -jnp.mean(y * jnp.maximum(jnp.log(p), -100.0) + (1 - y) * jnp.maximum(jnp.log1p(-p), -100.0))


class HandJitMLPGAN:
    """One jitted function per iteration: (params, optimiser states, running stats, real, z) → new ones + losses."""

    def __init__(self, state: dict[str, np.ndarray], device: str = "cpu"):
        self.dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
        g, d, running = _params(state)
        # the spec's Adam form (the MindSpore tutorial's), from the one place the suite writes it for JAX
        recipe = get_model("mindspore-mlp-gan").recipe
        self.opt_g, self.opt_d = form_optimizer(recipe.opt_g), form_optimizer(recipe.opt_d)
        carry = (g, d, self.opt_g.init(g), self.opt_d.init(d), running)
        self.carry = jax.device_put(carry, self.dev)
        self._step = jax.jit(self._iteration, donate_argnums=0)

    def _iteration(self, carry, real, z):
        g, d, opt_g, opt_d, running = carry

        def d_loss(d_):
            fake, new_running = _generator(g, running, z)
            p_fake, p_real = _discriminator(d_, fake), _discriminator(d_, real)
            return _bce(p_fake, 0.0) + _bce(p_real, 1.0), new_running

        (loss_d, running), grads = jax.value_and_grad(d_loss, has_aux=True)(d)
        updates, opt_d = self.opt_d.update(grads, opt_d, d)
        d = optax.apply_updates(d, updates)

        def g_loss(g_):
            fake, new_running = _generator(g_, running, z)
            return _bce(_discriminator(d, fake), 1.0), new_running

        (loss_g, running), grads = jax.value_and_grad(g_loss, has_aux=True)(g)
        updates, opt_g = self.opt_g.update(grads, opt_g, g)
        g = optax.apply_updates(g, updates)
        return (g, d, opt_g, opt_d, running), jnp.stack([loss_d, loss_g])

    def step(self, real: np.ndarray, z: np.ndarray):
        x = jax.device_put(np.asarray(real, np.float32), self.dev)
        zz = jax.device_put(np.asarray(z, np.float32), self.dev)
        self.carry, losses = self._step(self.carry, x, zz)
        return losses

    def time(self, batches: list[tuple[np.ndarray, np.ndarray]], warmup: int) -> tuple[list[float], float]:
        """Seconds of each iteration after `warmup` ones (synchronised), and the first (compiling) one."""
        times, first = [], None
        for k, (real, z) in enumerate(batches):
            t0 = time.perf_counter()
            jax.block_until_ready(self.step(real, z))
            dt = time.perf_counter() - t0
            first = dt if first is None else first
            if k >= warmup:
                times.append(dt)
        return times, first
