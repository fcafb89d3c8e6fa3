"""Shared fixtures: where the real-data subsets live (../shared/data beside the checkout)."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    env = os.environ.get("GANBENCH_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = _shared_data()
    if not (path / "mnist").is_dir():
        pytest.skip(f"real-data subsets not found at {path} (set GANBENCH_SHARED_DATA)")
    return path
