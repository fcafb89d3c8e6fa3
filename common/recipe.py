"""One training iteration as an ordered plan: what every backend does, in which order, with what.

`plan(recipe)` turns the recipe's choices (d_update, d_pass_order, g_updates, g_input, labels) into
the steps of one iteration. Every adapter walks this plan with its own primitives when it builds
or traces its step (so jit and graph capture see plain Python constants and are unaffected), and
none of them branches on the recipe's fields itself.

The iteration, whatever the recipe:
1. G makes the fake batch from the D step's noise z (kept differentiable only when a G update
   reuses it: `IterationPlan.keep_fake_graph`).
2. D updates, in order: each is one optimiser step on the SUM of its passes' losses, each pass a
   forward of its own (its own BatchNorm batch statistics; real and fake are never concatenated).
3. G updates, in order: each scores a fake against `label` through the (updated) D and steps G.

`stats_row` gives the order of the values a step hands back (see backends.base.StepStats).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from common.spec import Recipe

REAL, FAKE = "real", "fake"

# where a G update's fake comes from
SAME_FAKE = "same_fake"  # the fake made for D: D's input gradient at it is pulled back through G's forward
FROM_Z = "from_z"  # G(z) recomputed from the D step's noise, after D's update
FRESH = "fresh"  # G(z') from a fresh noise batch of its own (StepNoise.g[i])


@dataclass(frozen=True)
class DPass:
    batch: str  # REAL or FAKE
    label: float


@dataclass(frozen=True)
class DUpdate:
    passes: tuple[DPass, ...]  # one optimiser step on the sum of these passes' losses


@dataclass(frozen=True)
class GUpdate:
    source: str  # SAME_FAKE, FROM_Z or FRESH
    fresh_index: int  # which fresh noise batch (FRESH only; -1 otherwise)
    label: float  # what G wants D to say: the real label

    def fake(self, kept: Any, generate: Callable[[Any], Any], z: Any, fresh: Callable[[int], Any]) -> Any:
        """The batch this update scores: the fake kept from the D step, or `generate` of z, or of
        the fresh noise batch `fresh(i)`; for any framework's arrays."""
        if self.source == SAME_FAKE:
            return kept
        return generate(z if self.source == FROM_Z else fresh(self.fresh_index))


@dataclass(frozen=True)
class IterationPlan:
    d_updates: tuple[DUpdate, ...]
    g_updates: tuple[GUpdate, ...]

    @property
    def d_passes(self) -> tuple[DPass, ...]:
        """Every D pass of the D step(s), in the order they run."""
        return tuple(p for u in self.d_updates for p in u.passes)

    @property
    def keep_fake_graph(self) -> bool:
        """G's first forward is kept for a G update's backward (no G forward is recomputed)."""
        return any(u.source == SAME_FAKE for u in self.g_updates)

    @property
    def fresh_noise(self) -> int:
        """How many fresh noise batches one iteration draws besides z."""
        return sum(u.source == FRESH for u in self.g_updates)

    @property
    def updates(self) -> tuple[str, ...]:
        """The optimiser updates of one iteration, in order: ("D", "G") or ("D", "D", "G", "G")."""
        return ("D",) * len(self.d_updates) + ("G",) * len(self.g_updates)

    @property
    def g_forwards(self) -> int:
        """G forwards per iteration: the fakes for D, plus every G update that does not reuse them."""
        return 1 + sum(u.source != SAME_FAKE for u in self.g_updates)


def plan(recipe: Recipe) -> IterationPlan:
    """The iteration `recipe` describes (validated recipes only: common.spec checks the combinations)."""
    real, fake = DPass(REAL, recipe.real_label), DPass(FAKE, recipe.fake_label)
    passes = (real, fake) if recipe.d_pass_order == "real_first" else (fake, real)
    d_updates: tuple[DUpdate, ...]
    if recipe.d_update == "summed":
        d_updates = (DUpdate(passes),)
    elif recipe.d_update == "separate_fake_then_real":
        d_updates = tuple(DUpdate((p,)) for p in passes)
    else:
        raise ValueError(f"unknown d_update {recipe.d_update!r}")
    source = {"same_fake": SAME_FAKE, "recompute_same_z": FROM_Z, "fresh_noise": FRESH}[recipe.g_input]
    g_updates = tuple(GUpdate(source, k if source == FRESH else -1, recipe.real_label) for k in range(recipe.g_updates))
    return IterationPlan(d_updates, g_updates)


# The values one iteration hands back, in this order, then every G update's loss:
STATS_LAYOUT = ("d", "g", "d_x", "d_g_z1", "d_g_z2")


def stats_row(d_scores: dict[str, tuple[Any, Any]], g_scores: list[tuple[Any, Any]]) -> list[Any]:
    """[d, g, d_x, d_g_z1, d_g_z2, *g_all] from the D passes' (loss, mean probability) by batch and
    the G updates' (loss, mean probability) in order; works on any framework's arrays (it only adds).

    d is loss_real + loss_fake (the sum of both D updates' losses when they are separate), g the
    last G update's loss, d_g_z2 D's mean probability in the last G update."""
    (l_real, p_real), (l_fake, p_fake) = d_scores[REAL], d_scores[FAKE]
    g_losses = [loss for loss, _ in g_scores]
    return [l_real + l_fake, g_losses[-1], p_real, p_fake, g_scores[-1][1], *g_losses]
