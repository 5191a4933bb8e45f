"""The wheel holds the whole library: built from a copy of the source, every module of gancore/ imports
from the wheel alone (not from the source tree or the editable install)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "gancore"


def _source_modules() -> list[str]:
    """Dotted names of every module under gancore/ (a package by its own name)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("gancore",) + path.relative_to(PACKAGE).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


# Run in a fresh interpreter: the editable install's finder is removed, the wheel is the only place
# gancore can come from, and each module must import from inside it.
_IMPORT_ALL = """
import importlib, json, sys
wheel = sys.argv[1]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in str(getattr(f, "__module__", "")).lower()]
sys.path.insert(0, wheel)
found = {}
for name in json.loads(sys.argv[2]):
    module = importlib.import_module(name)
    found[name] = module.__file__
print(json.dumps(found))
"""


@pytest.mark.slow
def test_the_wheel_holds_and_imports_every_module(tmp_path):
    source = tmp_path / "source"  # a copy, so the build writes nothing into the shared checkout
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    shutil.copy(REPO / "README.md", source)
    shutil.copytree(PACKAGE, source / "gancore", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--quiet", "--disable-pip-version-check", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, capture_output=True, text=True, timeout=120)
    (wheel,) = (tmp_path / "dist").glob("gancore-*.whl")
    modules = _source_modules()
    assert {"gancore.arena", "gancore.convex", "gancore.reports", "gancore.train"} <= set(modules)

    inside = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("gancore/") and n.endswith(".py")}
    expected = {str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py")}
    assert expected - inside == set(), f"modules left out of the wheel: {sorted(expected - inside)}"

    done = subprocess.run([sys.executable, "-I", "-c", _IMPORT_ALL, str(wheel), json.dumps(modules)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    files = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(files) == set(modules)
    outside = {name: file for name, file in files.items() if not file.startswith(str(wheel))}
    assert not outside, f"modules imported from outside the wheel: {outside}"
