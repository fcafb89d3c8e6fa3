"""Shared fixtures: where the real-data subsets live.

The tests look where the harness looks, `$GANBENCH_DATA_DIR` (else ./data), resolved by the one
function that resolves it (common.data.paths); CI points it at ../shared/data beside the clone.
The variable is then taken out of this process's environment, so tests of the harness's own
defaults and the runs they start see none (they pass --data-dir where they want real data).
"""

import os
from pathlib import Path

import pytest

from common.data.paths import DATA_DIR_ENV, default_data_dir

REPO = Path(__file__).resolve().parents[1]
_DATA = default_data_dir().resolve()
os.environ.pop(DATA_DIR_ENV, None)


def _shared_data() -> Path:
    return _DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = _shared_data()
    if not (path / "mnist").is_dir():
        pytest.skip(f"real-data subsets not found at {path} (set {DATA_DIR_ENV})")
    return path
