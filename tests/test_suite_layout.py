"""The test suite's own rules: test modules share helpers through tests/support.py (and the
other *_support.py modules) and fixtures through conftest.py, never by importing each other."""

from __future__ import annotations

import ast

from tests.support import ROOT


def test_no_test_module_imports_another():
    offenders = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        if path.name == "test_suite_layout.py":      # its own patterns below
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            offenders += [f"{path.name}: {name}" for name in names
                          if name.startswith(("tests.test_", "test_"))]
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and "from tests.test_" in node.value:       # code run in a subprocess
                offenders.append(f"{path.name}: {node.value[:60]}")
    assert offenders == [], "import helpers from tests/support.py instead"
