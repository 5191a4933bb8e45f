"""Shared fixtures: tests run on the CPU, with caches in a temporary folder."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANCORE_CACHE", str(tmp_path_factory.getbasetemp() / "gancore-cache"))
