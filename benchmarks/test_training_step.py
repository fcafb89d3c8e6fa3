"""pytest-benchmark view of the same measurement as `python -m benchmarks run`.

    pytest benchmarks/ --benchmark-json out.json [--gb-backend torch --gb-device cuda ...]

Each benchmark is one training iteration of one (backend, model): pedantic rounds, the device
synchronised inside the timed call (the shared `Stepper`), host-side staging in the untimed
setup. `pytest-benchmark compare` then works across runs and machines; `extra_info` carries
images/s, the batch size, device and data source so saved runs say what they measured.
"""

import pytest

from backends import BackendUnavailable, load_backend
from benchmarks.plan import resolve_batch, resolve_counts, resolve_device, resolve_mode
from benchmarks.runner import open_source
from benchmarks.timing import Stepper
from common.feed import Feed
from common.models import get_model
from common.state import initial_state


def test_training_iteration(benchmark, request, gb_backend, gb_model):
    opt = request.config.getoption
    try:
        cls = load_backend(gb_backend)
    except BackendUnavailable as e:
        pytest.skip(str(e))
    device = resolve_device(opt("--gb-device"), cls, driver=False)
    if opt("--gb-device") != "auto" and not cls.device_available(device):
        pytest.skip(f"{gb_backend} cannot use {device} here")
    warmup, steps = resolve_counts(device, opt("--gb-warmup"), opt("--gb-steps"))

    spec = get_model(gb_model)
    batch = resolve_batch(spec, opt("--gb-batch-size"))
    source = open_source(spec, opt("--gb-data"), opt("--gb-data-dir"), None, download=False)
    backend = cls(spec, device, resolve_mode(cls, spec, device, opt("--gb-mode")), seed=0)
    backend.load_state(initial_state(spec, 0))
    stepper = Stepper(backend, Feed(spec, source, 0, batch))

    benchmark.group = f"{gb_model} {device}"
    benchmark.extra_info.update(
        backend=gb_backend,
        model=gb_model,
        device=device,
        mode=backend.mode,
        batch_size=batch,
        data_source=source.kind,
        framework=backend.info(),
    )
    benchmark.pedantic(stepper, setup=stepper.prepare, rounds=steps, warmup_rounds=warmup, iterations=1)
    benchmark.extra_info["images_per_s_median"] = batch / benchmark.stats.stats.median
