"""Default data and cache folders and their environment overrides."""

from pathlib import Path

from common.data.paths import default_cache_dir, default_data_dir


def test_environment_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("GANBENCH_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("GANBENCH_CACHE_DIR", str(tmp_path / "c"))
    assert default_data_dir() == tmp_path / "d"
    assert default_cache_dir() == tmp_path / "c"


def test_defaults_without_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GANBENCH_DATA_DIR", raising=False)
    monkeypatch.delenv("GANBENCH_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == Path("data")  # relative: resolved against the working folder
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "ganbench"
