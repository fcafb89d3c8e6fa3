"""The interface every framework adapter implements (framework-free: imports numpy only).

A backend turns a `ModelSpec` into native G and D, two Adam optimisers and one training iteration
that does exactly what `spec.recipe` says. State crosses frameworks only in the canonical layout
of common/state.py.

Two ways to feed an iteration:
- native: `step(real, None)` — the backend draws the noise itself, on its device (for speed);
- parity: `step(real, noise)` — common code supplies every noise array (common.feed.StepNoise),
  so every framework sees identical inputs and losses compare step by step.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from common.feed import StepNoise
from common.recipe import plan
from common.spec import ModelSpec

# how frameworks name device kinds, in the suite's terms
DEVICE_KIND = {"cpu": "cpu", "CPU": "cpu", "gpu": "cuda", "GPU": "cuda", "cuda": "cuda", "Ascend": "ascend"}


class BackendUnavailable(RuntimeError):
    """The framework is not importable here, or cannot use the requested device or mode."""


class ModeRefused(BackendUnavailable):
    """The mode cannot run this model faithfully on this device; it is refused, never silently altered."""


class DeviceRefused(BackendUnavailable):
    """The framework's builds cannot use this device at all (recorded as a refusal, not a crash)."""


class DeviceMismatch(BackendUnavailable):
    """The step did not run where the result would say it ran (e.g. a CPU build asked for CUDA)."""


@dataclass(frozen=True)
class StepStats:
    """Host values of one iteration, read after the timed region."""

    d_loss: float  # loss_real + loss_fake (the sum of both D updates' losses when they are separate)
    g_loss: float  # the last G update's loss
    d_x: float  # mean D(x) on the real batch
    d_g_z1: float  # mean D(G(z)) in the D step
    d_g_z2: float  # mean D(G(z)) in the (last) G step
    g_losses: tuple[float, ...] = ()  # every G update's loss when there are several

    @classmethod
    def from_values(cls, values) -> StepStats:
        """From a step's values in common.recipe's order (STATS_LAYOUT, then every G update's loss)."""
        v = [float(x) for x in values]
        return cls(d_loss=v[0], g_loss=v[1], d_x=v[2], d_g_z1=v[3], d_g_z2=v[4], g_losses=tuple(v[5:]))

    def as_dict(self) -> dict:
        return {
            "d": self.d_loss,
            "g": self.g_loss,
            "d_x": self.d_x,
            "d_g_z1": self.d_g_z1,
            "d_g_z2": self.d_g_z2,
            "g_all": list(self.g_losses) or [self.g_loss],
        }


class Backend(abc.ABC):
    name: ClassVar[str]  # backend id used in results: torch, mxnet, paddle, mindspore, jax
    modes: ClassVar[tuple[str, ...]]  # execution modes, the first is the default
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    # `--mode best`: the fastest faithful mode first, per device, from measurements (README, notes)
    best_modes: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Compute dtype. Benchmarks run float32; parity checks may run "float64" where a backend supports
    # it (`supports_float64`), because ten float32 iterations of a conv GAN are chaotic: Adam's first
    # updates are ≈ lr·sign(g), so round-off that flips a near-zero gradient is amplified ~1e7-fold.
    dtype: ClassVar[str] = "float32"
    supports_float64: ClassVar[bool] = False

    def __init__(
        self, spec: ModelSpec, device: str = "cpu", mode: str | None = None, seed: int = 0, threads: int | None = None
    ):
        mode = mode or self.modes[0]
        if mode not in self.modes:
            raise BackendUnavailable(f"{self.name}: unknown mode {mode!r} (modes: {', '.join(self.modes)})")
        if device not in self.devices:
            raise BackendUnavailable(f"{self.name}: unknown device {device!r} (devices: {', '.join(self.devices)})")
        why = self.refuse_device(device)
        if why:
            raise DeviceRefused(f"{self.name} refuses {device}: {why}")
        if device != "cpu" and not self.device_available(device):
            from common.builds import fix_command, installed

            raise DeviceMismatch(
                f"{self.name} was asked for {device} but sees no {device} device here "
                f"(installed: {installed(self.name)}); fix: {fix_command(self.name, device)}"
            )
        why = self.refuse(spec, mode, device)
        if why:
            raise ModeRefused(f"{self.name} mode {mode!r} refused for {spec.name} on {device}: {why}")
        self.spec, self.device, self.mode, self.seed, self.threads = spec, device, mode, seed, threads
        self.plan = plan(spec.recipe)  # what one iteration does, in order: the adapters walk it

    @classmethod
    def refuse(cls, spec: ModelSpec, mode: str, device: str) -> str | None:
        """Why `mode` cannot train `spec` faithfully on `device`, or None if it can."""
        return None

    @classmethod
    def refuse_device(cls, device: str) -> str | None:
        """Why this framework's builds cannot use `device` at all, or None."""
        return None

    @classmethod
    def with_dtype(cls, dtype: str) -> type[Backend]:
        """This backend computing in `dtype` ("float32" or, where supported, "float64")."""
        if dtype == cls.dtype:
            return cls
        if dtype != "float64" or not cls.supports_float64:
            raise BackendUnavailable(
                f"{cls.name}: dtype {dtype!r} is not supported (float32{', float64' if cls.supports_float64 else ''})"
            )
        return type(f"{cls.__name__}Float64", (cls,), {"dtype": "float64"})

    @classmethod
    def best_mode(cls, spec: ModelSpec, device: str) -> str:
        """The first mode of `best_modes[device]` that is not refused for this model."""
        for mode in cls.best_modes.get(device, ()) + (cls.modes[0],):
            if mode in cls.modes and not cls.refuse(spec, mode, device):
                return mode
        return cls.modes[0]

    # --- environment ---------------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def device_available(cls, device: str) -> bool:
        """Whether `device` ("cpu", "cuda") can be used by this framework here."""

    @classmethod
    @abc.abstractmethod
    def build_info(cls) -> dict:
        """What `doctor` reports of the installed build: version, cuda_build (bool), cuda and cudnn it
        was built with, gpus [{name, compute_capability: "9.0"}], archs (GPU architectures it has
        kernels for, where the framework says), threads (CPU threads its kernels use)."""

    @abc.abstractmethod
    def info(self) -> dict:
        """framework, framework_version, device_name, cuda, driver, threads."""

    # --- state ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Set weights, BatchNorm statistics and optimiser moments from the canonical layout."""

    @abc.abstractmethod
    def export_state(self) -> dict[str, np.ndarray]:
        """The full state in the canonical layout."""

    # --- training ------------------------------------------------------------------------------
    @abc.abstractmethod
    def step(self, real: np.ndarray, noise: StepNoise | None = None) -> Any:
        """One training iteration, as `common.recipe.plan(spec.recipe)` orders it. Returns a handle
        to device-side values (`common.recipe.stats_row`'s order); nothing is copied to the host
        here, so timing loops read it with `read` after the clock stops."""

    def read(self, handle: Any) -> StepStats:
        """Copy one iteration's losses and D outputs to the host."""
        return StepStats.from_values(self.host_values(handle))

    @abc.abstractmethod
    def host_values(self, handle: Any) -> np.ndarray:
        """The step's values (common.recipe.stats_row's order) copied to the host, as float64."""

    @abc.abstractmethod
    def sync(self) -> None:
        """Block until all queued device work is done (a no-op where execution is synchronous)."""

    @abc.abstractmethod
    def generate(self, noise: np.ndarray) -> np.ndarray:
        """G(noise) in inference mode (BatchNorm running statistics), as float32 numpy, NCHW
        (or flat, as the spec's data feeds D); changes no state."""

    @abc.abstractmethod
    def placement(self, handle: Any) -> tuple[set[str], set[str]]:
        """Device kinds ("cpu", "cuda", …) that hold the parameters, and the outputs of the step that
        returned `handle`, as the framework itself reports them."""

    def check_placement(self, handle: Any) -> None:
        """Raise DeviceMismatch unless the parameters and the step's outputs live on `self.device`.

        Run once, after the first step: a result that says `cuda` must have computed on the GPU."""
        params, outputs = self.placement(handle)
        if params == {self.device} and outputs == {self.device}:
            return
        from common.builds import fix_command, installed

        raise DeviceMismatch(
            f"{self.name} was asked for {self.device} but its parameters live on {', '.join(sorted(params))} "
            f"and the step's outputs on {', '.join(sorted(outputs))}; installed: {installed(self.name)}; "
            f"fix: {fix_command(self.name, self.device)}"
        )

    # --- memory --------------------------------------------------------------------------------
    def reset_peak_memory(self) -> None:  # noqa: B027 (a no-op default on purpose, not an abstract method)
        """Start a new peak-memory window (device memory); CPU memory is measured by the harness."""

    def peak_memory(self) -> tuple[int | None, str | None]:
        """(bytes, kind) of device memory since the last reset, or (None, None) if not tracked."""
        return None, None
