"""Options for `pytest benchmarks/` (pytest-benchmark), mirroring `python -m benchmarks run`."""


def pytest_addoption(parser):
    g = parser.getgroup("ganbench")
    g.addoption("--gb-backend", nargs="*", default=None, help="backends (default: every importable one)")
    g.addoption("--gb-model", nargs="*", default=None, help="models (default: all)")
    g.addoption("--gb-device", default="auto", choices=["auto", "cpu", "cuda"])
    g.addoption(
        "--gb-mode", default=None, help="execution mode, 'best' or 'plain' (default: plain, each backend's first)"
    )
    g.addoption("--gb-warmup", type=int, default=None, help="warm-up rounds (default: 3 CPU / 10 CUDA)")
    g.addoption("--gb-steps", type=int, default=None, help="timed rounds (default: 10 CPU / 100 CUDA)")
    g.addoption("--gb-batch-size", type=int, default=None)
    g.addoption("--gb-data", default="synthetic", choices=["auto", "real", "synthetic"])
    g.addoption("--gb-data-dir", default=None)


def pytest_generate_tests(metafunc):
    if {"gb_backend", "gb_model"} <= set(metafunc.fixturenames):
        from backends import importable_backends
        from common.models import MODELS

        opt = metafunc.config.getoption
        backends = opt("--gb-backend") or importable_backends()
        models = opt("--gb-model") or list(MODELS)
        metafunc.parametrize("gb_backend", backends)
        metafunc.parametrize("gb_model", models)
