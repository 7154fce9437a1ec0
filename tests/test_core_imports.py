"""The host-free core: no module under slt/ imports an adapter package or a host tree (read with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

SLT = Path(__file__).resolve().parent.parent / "slt"
FORBIDDEN = {"slt_pysot", "slt_pytracking", "pysot", "ltr", "pytracking", "lib"}
"""Adapter packages, and the host trees' top-level packages (PySOT, PyTracking family, OSTrack family)."""


def imported_modules(path: Path) -> set[str]:
    """Absolute module names ``path`` imports (``import a.b`` -> ``a.b``; ``from a import b`` -> ``a``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_core_module_imports_an_adapter_or_a_host():
    sources = sorted(SLT.rglob("*.py"))
    assert len(sources) > 20 and SLT / "vot" / "trackers.py" in sources
    offending = {str(path.relative_to(SLT.parent)): sorted(m for m in imported_modules(path)
                                                           if m.split(".")[0] in FORBIDDEN)
                 for path in sources}
    assert {path: mods for path, mods in offending.items() if mods} == {}


def test_the_reader_sees_imports_inside_functions_and_conditionals(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("import os\n"
                      "def f():\n"
                      "    from pysot.core.config import cfg\n"
                      "if True:\n"
                      "    import ltr.admin as admin\n"
                      "from . import sibling\n")
    assert imported_modules(source) == {"os", "pysot.core.config", "ltr.admin"}
