"""Whether an executed chapter is still current: a content hash of everything its execution reads.

A chapter's result depends on its source (``book/NAME.md``), its paper file, the gancore modules it
imports (and those they import, transitively), its profile entry (:data:`gancore.profiles.CHAPTERS`),
the pinned environment (``requirements.lock``) and the stored runs it can read (``results/NAME/RUN/``
with a ``run.json`` on top, as :func:`gancore.runs.stored` lists them; a sweep whose jobs are still
landing is not one yet); the scorecard also reads the other chapters' executed notebooks. :func:`inputs_hash` hashes exactly these,
so ``make book`` re-executes a chapter only when one of them changed (the hash is recorded in the
executed notebook's metadata under :data:`KEY`), and a change to one library module re-executes
exactly the chapters that import it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from pathlib import Path

from . import profiles

__all__ = ["KEY", "imported_modules", "inputs", "inputs_hash", "recorded_hash"]

KEY = "gancore_inputs_sha256"
"""The executed notebook's metadata key holding the hash of the inputs it was executed from."""

_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+gancore(?:\.([\w.]+))?[ \t]+import[ \t]+(\([^)]*\)|[\w ,\t]+)"
                     r"|import[ \t]+gancore\.([\w.]+))", re.MULTILINE)


def _module_file(package: Path, dotted: str) -> Path | None:
    path = package.joinpath(*dotted.split("."))
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    return None


def _imports_of(package: Path, file: Path) -> set[str]:
    """The gancore modules (dotted, relative to the package) one source file imports."""
    here = file.relative_to(package).with_suffix("").parts
    here = here[:-1] if here[-1] == "__init__" else here
    base_of_file = list(here if file.name == "__init__.py" else here[:-1])
    found = set()
    for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = base_of_file[:len(base_of_file) - (node.level - 1)]
            elif (node.module or "").split(".")[0] == "gancore":
                base = []
            else:
                continue
            module = [p for p in (node.module or "").split(".") if p and not (node.level == 0 and p == "gancore")]
            prefix = base + module
            for alias in node.names:
                candidate = ".".join(prefix + [alias.name])
                found.add(candidate if _module_file(package, candidate) else ".".join(prefix))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("gancore.") for a in node.names if a.name.startswith("gancore.")}
    return {m for m in found if m and _module_file(package, m)}


def imported_modules(source: str, package: Path) -> list[str]:
    """Every gancore module a chapter's ``source`` uses, transitively, sorted (``""`` stands for
    ``gancore/__init__.py``, which every import runs)."""
    todo = {""}
    for match in _IMPORT.finditer(source):
        sub, names, plain = match.groups()
        if plain:
            todo.add(plain)
            continue
        prefix = [sub] if sub else []
        for name in re.split(r"[\s,()]+", names):
            if name:
                dotted = ".".join(prefix + [name])
                todo.add(dotted if _module_file(package, dotted) else ".".join(prefix))
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".") if module else []
        for i in range(1, len(parts)):  # importing a.b runs a/__init__.py first
            todo.add(".".join(parts[:i]))
        file = _module_file(package, module) if module else package / "__init__.py"
        if file is not None and file.exists():
            todo |= _imports_of(package, file) - seen
    return sorted(seen)


def inputs(name: str, top: str | os.PathLike) -> list[Path]:
    """The files whose content decides chapter ``name``'s execution (module docstring), sorted."""
    top = Path(top)
    source = top / "book" / f"{name}.md"
    package = top / "gancore"
    files = {source, top / "requirements.lock"}
    files |= {p for p in [top / "book" / f"{name}.paper.toml"] if p.exists()}
    files |= {_module_file(package, m) if m else package / "__init__.py" for m in
              imported_modules(source.read_text(), package)}
    stored = top / "results" / name
    runs = [f.parent for f in stored.glob("*/run.json") if not f.parent.name.startswith(".")] if stored.exists() else []
    files |= {p for run in runs for p in run.rglob("*") if p.is_file()  # the stored runs a chapter can read
              and not {"checkpoints", "work"} & set(p.relative_to(run).parts)}  # (runs.stored), not a sweep still
    # running (no run.json on top yet: its finished jobs land between sessions), notes such as PLAN.md, or a
    # running job's work and checkpoints
    if name == "scorecard":
        files |= {p for p in (top / "book" / "executed").glob("*.ipynb") if p.stem != name}
    return sorted(p for p in files if p is not None and p.exists())


def inputs_hash(name: str, top: str | os.PathLike, profile: str = "quick") -> str:
    """SHA-256 over the inputs' paths and contents and the chapter's profile entry."""
    top = Path(top)
    digest = hashlib.sha256()
    digest.update(json.dumps([name, profile, profiles.CHAPTERS.get(name, {})], sort_keys=True, default=repr).encode())
    for path in inputs(name, top):
        digest.update(str(path.relative_to(top)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def recorded_hash(notebook: str | os.PathLike) -> str | None:
    """The inputs hash an executed notebook records (None when absent or unreadable)."""
    try:
        return json.loads(Path(notebook).read_text())["metadata"].get(KEY)
    except (OSError, ValueError, KeyError, AttributeError):
        return None
