"""Peak compute of the devices the report knows, the denominator of MFU.

Numbers are NVIDIA's datasheet values for dense math (the datasheets print the tensor-core
figures "with sparsity", i.e. twice the dense rate; the dense half is what a GAN can reach).
Every tutorial trains in fp32, so MFU is taken against the plain fp32 (non-tensor-core) peak:
TF32 tensor cores may be used by cuDNN for convolutions, which is why an MFU above 100 % of
the fp32 peak is possible and is shown as such rather than clipped. The TF32 and BF16 columns
are kept here so the footnote can state them.

CPU peaks are unknown (they depend on the SKU, the vector units the framework uses and the
thread count), so MFU on the CPU is "n/a" rather than a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class DevicePeak:
    name: str
    fp32_tflops: float
    tf32_tflops: float
    bf16_tflops: float


# Order matters: the first pattern that matches env.device_name wins, so the specific SKUs
# (PCIe, NVL) come before the bare family name, which NVIDIA reports for the SXM part.
PEAKS: tuple[tuple[str, DevicePeak], ...] = (
    (r"H100.*PCIe", DevicePeak("H100 PCIe", 51.0, 378.0, 756.0)),
    (r"H100.*NVL", DevicePeak("H100 NVL", 60.0, 418.0, 835.0)),
    (r"H100", DevicePeak("H100 SXM", 67.0, 495.0, 989.0)),
    (r"H200.*NVL", DevicePeak("H200 NVL", 60.0, 418.0, 835.0)),
    # H200 SXM has the H100 SXM's compute; only its memory differs.
    (r"H200", DevicePeak("H200 SXM", 67.0, 495.0, 989.0)),
    (r"A100", DevicePeak("A100", 19.5, 156.0, 312.0)),
)


def peak_for(device: str, device_name: str | None) -> DevicePeak | None:
    """The peak of a run's device, or None when it is unknown (every CPU, unlisted GPUs)."""
    if device == "cpu" or not device_name:
        return None
    for pattern, peak in PEAKS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return peak
    return None


PRECISIONS = ("fp32", "tf32", "bf16")


def peak_tflops(peak: DevicePeak, precision: str | None) -> float:
    """The peak for the precision a run used (its env.precision; fp32 when not recorded)."""
    return {"tf32": peak.tf32_tflops, "bf16": peak.bf16_tflops}.get(precision or "fp32", peak.fp32_tflops)


def mfu(
    flops_per_iteration: float | None,
    iterations_per_s: float | None,
    peak: DevicePeak | None,
    precision: str | None = None,
) -> float | None:
    """Model FLOPs utilisation as a fraction of the peak for `precision`; None when any input is missing."""
    if peak is None or not flops_per_iteration or not iterations_per_s:
        return None
    return flops_per_iteration * iterations_per_s / (peak_tflops(peak, precision) * 1e12)
