"""The house rules (after ../shared/ARCHITECTURE.md), checked from the source with ``ast``: imports
point down the layers of LAYERS below (the one table of layers) only, no cycle, no gancore import
hidden inside a function, modules of one idea; and the chapters' rules (no functions, a code budget,
no typed result numbers in prose)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gancore"
REPO = PACKAGE.parent

# THE table of layers: the one copy in the repository (README.md and gancore/__init__.py point here;
# where ../shared/ARCHITECTURE.md's older table differs, this one holds). A module may import only
# modules of a LOWER layer number. `storage` (atomic writes, checksummed torch files) and `numerics`
# (portable CPU numerics, applied on import) lie below layer 0, since everything uses them; `streams`
# (a run's data order, noise and penalty generators) and `checkpoint` are the two parts of the loop
# that need no model; `verdict` (the verdict rule) builds on `stats`, and `claims` (paper files and
# rows) on `verdict`; `games` sits one layer above `solvers`, whose projections and averaging its test
# games use; `arena` and `exploit` sit beside `runs`, since they use the recipes and DO-GAN of layer
# 4; `chapter` (the chapters' facade), `reports` (each chapter's analysis) and `sweep` (which runs
# every chapter's experiment, the arena's included; nothing imports it) on top.
LAYERS = {
    "storage": -1, "numerics": -1, "formats": -1, "processes": -1,  # formats: the real data sets' on-disk formats, checked
    "data": 0, "models": 0, "losses": 0, "stats": 0, "profiles": 0, "streams": 0, "checkpoint": 0, "provenance": 0, "meter": 0,
    "solvers": 1, "metrics": 1, "divergences": 1, "verdict": 1, "freshness": 1,
    "games": 2, "train": 2, "claims": 2, "wgan1d": 2,
    "ensemble": 3, "repeated": 3, "oracle": 3, "convex": 3, "ewc": 3,  # ewc: DO-GAN's continual learning
    "dogan": 4, "experiments": 4, "plotting": 4, "cluster": 4, "sweepstore": 4,  # cluster, sweepstore: sweep's parts
    "runs": 5, "arena": 5, "exploit": 5, "archive": 5,
    "chapter": 6, "reports": 6, "catalog": 6, "sweep": 7,  # catalog: the experiments sweeps run (arena.learn among them)
    "status": 8,  # the book's status page reads everything: executed chapters, stored runs, sweeps still landing
}
MAX_LINES = 520  # "no module of gancore is longer than about 500 lines"


def _modules() -> dict[str, Path]:
    """Source files by dotted name below gancore (``convex.gda`` for gancore/convex/gda.py)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The gancore modules (dotted, relative to the package) that ``node`` in ``module`` imports."""
    here = module.split(".") if module else []
    is_package = (_modules()[module].name == "__init__.py") if module in _modules() else False
    targets: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "gancore" or alias.name.startswith("gancore."):
                targets.append(alias.name.removeprefix("gancore").lstrip("."))
        return targets
    if node.level == 0:
        if not (node.module or "").startswith("gancore"):
            return []
        base = node.module.removeprefix("gancore").lstrip(".").split(".") if node.module != "gancore" else []
    else:
        package = here if is_package else here[:-1]
        base = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
    base = [b for b in base if b]
    if node.module is None or (node.level == 0 and node.module == "gancore"):
        # from . import a, b  /  from gancore import a, b
        return [".".join(base + [alias.name]) for alias in node.names]
    return [".".join(base)]


def _top(name: str) -> str:
    return name.split(".")[0] if name else ""


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """Edges between top-level modules (a package counts as one), and gancore imports found inside
    function bodies as (module, imported, line)."""
    edges: dict[str, set[str]] = {}
    hidden = []
    known = {_top(m) for m in _modules() if m}
    for module, path in _modules().items():
        if not module:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        inside_functions = set()
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inside_functions.update(id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom)))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _resolve(module, node):
                top = _top(target)
                if top not in known or top == _top(module):
                    continue
                edges.setdefault(_top(module), set()).add(top)
                if id(node) in inside_functions:
                    hidden.append((module, target, node.lineno))
    return edges, hidden


def test_every_module_has_a_layer():
    missing = sorted({_top(m) for m in _modules() if m and not m.startswith("__")} - set(LAYERS))
    assert not missing, f"modules without a layer (add them to LAYERS above): {missing}"


def test_imports_point_down_the_layers():
    edges, _ = _graph()
    upward = [(a, b) for a, targets in edges.items() for b in targets
              if a in LAYERS and b in LAYERS and LAYERS[b] >= LAYERS[a]]
    assert not upward, f"imports that point up or sideways (module -> imported): {sorted(upward)}"


def test_no_import_cycle():
    edges, _ = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif state.get(nxt) is None:
                visit(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not cycles, f"import cycles: {cycles}"


def test_no_gancore_import_inside_a_function():
    _, hidden = _graph()
    assert not hidden, f"gancore imports inside functions (move them to the top): {hidden}"


@pytest.mark.parametrize("module", sorted(m for m in _modules() if m))
def test_modules_hold_one_idea(module):
    lines = len(_modules()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"gancore/{module} has {lines} lines (> {MAX_LINES}): split it by idea"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The graph builder finds relative, absolute and function-level imports (so the rules above can fail)."""
    pkg = tmp_path / "gancore"
    (pkg / "convex").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "losses.py").write_text("from . import train\n")
    (pkg / "train.py").write_text("import gancore.losses\ndef f():\n    from .convex import gda\n")
    (pkg / "convex" / "__init__.py").write_text("from .gda import x\n")
    (pkg / "convex" / "gda.py").write_text("from .. import train\nx = 1\n")
    global PACKAGE
    real, PACKAGE = PACKAGE, pkg
    try:
        edges, hidden = _graph()
    finally:
        PACKAGE = real
    assert edges == {"losses": {"train"}, "train": {"losses", "convex"}, "convex": {"train"}}
    assert hidden == [("train", "convex", 3)]


def test_chapter_code_lines_fit_the_page():
    """No code line of a chapter source is longer than the page shows without scrolling (90
    characters); a cell's YAML header (figure captions) is text, not code, and is not counted."""
    long = []
    for source in sorted((REPO / "book").glob("*.md")):
        inside = header = first = False
        for number, line in enumerate(source.read_text().splitlines(), 1):
            if line.startswith("```{code-cell}"):
                inside, first = True, True
                continue
            if inside and line.startswith("```"):
                inside = False
                continue
            if inside and first and line == "---":
                header = not header
                continue
            first = first and header
            if inside and not header and len(line) > 90:
                long.append(f"{source.name}:{number} ({len(line)} characters)")
    assert not long, "code lines longer than 90 characters: " + ", ".join(long)


# --- chapters: no functions, a code budget, no typed result numbers in prose -----------------------

CODE_BUDGET = {"alpha_gan": 400, "srfb": 400, "repeated_game": 275, "double_oracle": 225, "arena": 160,
               "convex_wgan": 160, "toolkit": 100, "scorecard": 20}
TOTAL_BUDGET = 1750


def _cells(text: str) -> list[tuple[str, list[tuple[int, str]]]]:
    """The cells of a MyST notebook source as (kind, [(line number, line)]): kind "code" for a
    ``{code-cell}`` (its option lines and YAML header left out), "markdown" for the text between."""
    cells: list[tuple[str, list[tuple[int, str]]]] = [("markdown", [])]
    lines = text.splitlines()
    number, inside, options = 0, False, False
    if lines and lines[0] == "---":  # front matter
        number = lines.index("---", 1) + 1
    for index in range(number, len(lines)):
        line = lines[index]
        if not inside and line.startswith("```{code-cell}"):
            inside, options = True, True
            cells.append(("code", []))
            continue
        if inside and line.startswith("```"):
            inside = False
            cells.append(("markdown", []))
            continue
        if inside and options:
            if line.startswith(":") or line == "---" or (cells[-1][1] == [] and line.strip() == ""):
                continue
            if cells[-1][1] == [] and any(ln == "---" for _, ln in []):
                continue
            options = False
        cells[-1][1].append((index + 1, line))
    return cells


def _code_lines(text: str) -> list[tuple[int, str]]:
    """Non-blank, non-comment lines inside code cells (a YAML header between --- lines excluded)."""
    out = []
    for kind, lines in _cells(text):
        if kind != "code":
            continue
        header = False
        for number, line in lines:
            if line == "---":
                header = not header
                continue
            if header or not line.strip() or line.strip().startswith("#"):
                continue
            out.append((number, line))
    return out


def _chapters() -> list[Path]:
    return sorted(p for p in (REPO / "book").glob("*.md") if p.stem not in ("intro", "references", "status"))


def test_the_cell_parser_counts_code_and_sees_definitions():
    text = "---\nfront: 1\n---\nText 1.5\n```{code-cell} ipython3\n:tags: [x]\n\nx = 1  # a\n# only\n\ndef f():\n" \
           "    return 2\n```\nMore.\n"
    code = _code_lines(text)
    assert [line for _, line in code] == ["x = 1  # a", "def f():", "    return 2"]
    assert any(line.lstrip().startswith("def ") for _, line in code)
    assert _prose_numbers(text) == ["line 4: 1.5"]


def test_chapters_define_no_functions():
    found = [f"{p.name}:{n}" for p in _chapters() for n, line in _code_lines(p.read_text())
             if line.lstrip().startswith(("def ", "async def ", "class "))]
    assert not found, "functions or classes defined in chapters (move them to gancore, tested): " + ", ".join(found)


def _ends_with_a_claim(source: str) -> bool:
    """Whether a code cell's last statement is a bare ``ch.claim(...)`` or ``ch.glue(...)``, whose
    returned row or value the notebook would print under the cell (a raw ``Claim(...)`` repr, a
    glued string's quotes)."""
    body = ast.parse(source).body
    last = body[-1] if body else None
    return (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
            and isinstance(last.value.func, ast.Attribute) and last.value.func.attr in ("claim", "glue"))


def test_no_cell_prints_a_claims_raw_row():
    assert _ends_with_a_claim("x = 1\nch.claim('k', x, note='n')") and not _ends_with_a_claim("row = ch.claim('k', 1)")
    assert _ends_with_a_claim("ch.glue('k', 'text')") and not _ends_with_a_claim("ch.glue('k', 1)\nprint(1)")
    found = []
    for path in _chapters():
        cells = [c for c in _cells(path.read_text()) if c[0] == "code"]
        for _, lines in cells:
            code = "\n".join(line for _, line in lines if not line.startswith((":", "---")))
            try:
                if _ends_with_a_claim(code):
                    found.append(f"{path.name}:{lines[-1][0]}")
            except SyntaxError:
                continue
    assert not found, ("cells ending with a bare ch.claim(...) or ch.glue(...), which prints the returned row or "
                       "value (end the cell with ch.show_claims() or a print, or assign it): " + ", ".join(found))


def test_chapter_code_within_its_budget():
    counts = {p.stem: len(_code_lines(p.read_text())) for p in _chapters()}
    over = {name: (n, CODE_BUDGET[name]) for name, n in counts.items() if name in CODE_BUDGET and n > CODE_BUDGET[name]}
    assert not over, f"chapters over their code budget (lines, budget): {over}"
    assert set(counts) <= set(CODE_BUDGET), f"chapters without a budget: {sorted(set(counts) - set(CODE_BUDGET))}"
    assert sum(counts.values()) <= TOTAL_BUDGET, f"chapters hold {sum(counts.values())} code lines (> {TOTAL_BUDGET})"


# In prose a result number is glued ({glue:text}`name`) or printed by a cell; a setting or formula
# is written as math ($\beta_1 = 0.9$) or code. What is left and looks like a result is an error:
# a decimal, a percentage, a p-value, "k of n".
_HIDDEN = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|``[^`]*``|`[^`\n]*`|\]\([^)]*\)|\{[a-z:-]+\}`[^`]*`|<[^>]*>",
                     re.DOTALL)
_RESULT = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])|\d+(?:\.\d+)?\s?%|\bp\s*[=<>]\s*\d|\b\d+ of \d+\b")


def _prose_numbers(text: str) -> list[str]:
    found = []
    for kind, lines in _cells(text):
        if kind != "markdown":
            continue
        fence = False
        for number, line in lines:
            if line.startswith(("```", "~~~", ":::")):
                fence = not fence if line.strip() in ("```", "~~~", ":::") or not fence else fence
                if line.strip() not in ("```", "~~~", ":::"):
                    fence = True
                continue
            if fence:
                continue
            for match in _RESULT.finditer(_HIDDEN.sub(" ", line)):
                found.append(f"line {number}: {match.group(0)}")
    return found


def test_no_result_number_typed_into_prose():
    found = {p.name: _prose_numbers(p.read_text()) for p in _chapters()}
    found = {k: v for k, v in found.items() if v}
    assert not found, ("numbers typed into chapter prose (glue them from the executed notebook, or write a "
                       f"setting as math): {found}")
