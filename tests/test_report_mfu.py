"""MFU arithmetic: achieved FLOP/s over the detected device's peak for the precision the run used."""

import pytest

from reports.peaks import mfu, peak_for


def test_peak_follows_device_name_and_precision():
    h100 = peak_for("cuda", "NVIDIA H100 80GB HBM3")
    assert h100.name == "H100 SXM"
    assert peak_for("cuda", "NVIDIA H100 PCIe").name == "H100 PCIe"
    assert peak_for("cpu", "AMD EPYC 9554") is None  # CPU peaks are unknown: n/a, not a guess
    flops, its = 6.3e11, 40.0  # e.g. mxnet-dcgan64 at 2,560 images/s
    assert mfu(flops, its, h100) == pytest.approx(flops * its / 67e12)
    assert mfu(flops, its, h100, "tf32") == pytest.approx(flops * its / 495e12)
    assert mfu(flops, its, h100, "bf16") == pytest.approx(flops * its / 989e12)
    assert mfu(None, its, h100) is None and mfu(flops, its, None) is None
