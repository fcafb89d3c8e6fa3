"""Where datasets are looked for and where downloads and extracted archives go."""

import os
from pathlib import Path

DATA_DIR_ENV = "GANBENCH_DATA_DIR"  # the one name of the data folder, for the harness and the tests


def default_data_dir() -> Path:
    """``$GANBENCH_DATA_DIR`` if set, else ``./data`` (relative to the current directory)."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path("data")


def default_cache_dir() -> Path:
    """``$GANBENCH_CACHE_DIR`` if set, else ``~/.cache/ganbench``."""
    env = os.environ.get("GANBENCH_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ganbench"
