"""The library's architecture, checked from its source: layers, cycles, module size, private FiftyOne API.

Packages are layers, lowest first; a module may import its own package and lower ones only. Imports inside
functions count too (a deferred import hides a cycle, it does not remove it).
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "analysis"
LAYERS = ["core", "data", "demo", "label_errors", "review", "planning", "lab"]
MAX_LINES = 600
# attributes and document keys of FiftyOne's private API (see analysis/data/fo_store.py)
PRIVATE_FO = re.compile(r"\._(bulk_write|sample_collection\w*|reload_docs|doc|dataset|client)\b|_raw=|\"_(cls|rand)\"")


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for p in LIB.rglob("*.py")}


def _imports(path: Path, name: str) -> set[str]:
    """Every ``analysis`` module that ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    modules = _modules()
    return {m for m in found if m in modules and m != name and m != "analysis"}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


GRAPH = {name: _imports(path, name) for name, path in _modules().items()}


def test_every_package_is_a_known_layer_with_a_docstring():
    packages = sorted(p.name for p in LIB.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert packages == sorted(LAYERS)
    for pkg in LAYERS:
        doc = ast.get_docstring(ast.parse((LIB / pkg / "__init__.py").read_text()))
        assert doc and "import" in doc.lower(), f"analysis/{pkg}/__init__.py must say what it holds and may import"


def test_lower_layers_never_import_higher_ones():
    wrong = [(m, dep) for m, deps in GRAPH.items() for dep in deps
             if _layer(m) is not None and _layer(dep) is not None and _layer(dep) > _layer(m)]
    assert wrong == []


def test_no_import_cycles():
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(GRAPH[node]):
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_streamlit_and_no_long_modules_in_the_library():
    for name, path in _modules().items():
        text = path.read_text()
        assert not re.search(r"^\s*(import|from) streamlit", text, flags=re.M), name
        assert len(text.splitlines()) <= MAX_LINES, f"{name} has {len(text.splitlines())} lines"


def test_private_fiftyone_api_only_in_fo_store():
    users = sorted(name for name, path in _modules().items()
                   if name != "analysis.data.fo_store" and PRIVATE_FO.search(path.read_text()))
    assert users == []
    assert PRIVATE_FO.search((LIB / "data/fo_store.py").read_text())  # the pattern still finds what it guards


@pytest.mark.parametrize("page_modules", [
    ["analysis.lab.active_learning", "analysis.data.sources", "analysis.planning.measurements"],
    ["analysis.lab.human_in_the_loop", "analysis.lab.prelabelling", "analysis.lab.consensus",
     "analysis.lab.pseudo_labelling"],
    ["analysis.planning.learning_curves", "analysis.planning.scenarios", "analysis.planning.budget_report"],
])
def test_lab_and_planning_modules_do_not_load_the_label_error_engine(page_modules):
    code = (f"import sys\nfor m in {page_modules!r}: __import__(m)\n"
            "print(sorted(m for m in sys.modules if m.startswith('analysis.label_errors')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
