"""The package's layout holds: the library never imports the pipeline, the build plan stays pure
(no torch, no database), and no module of ``core`` outgrows 450 lines."""

import ast
import re
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "core"
LIBRARY = [p for p in CORE.rglob("*.py")
           if "pipeline" not in p.relative_to(CORE).parts and p.name != "__main__.py"]


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved against its package."""
    package = ["core", *path.relative_to(CORE).parent.parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def test_the_library_never_imports_the_pipeline():
    assert len(LIBRARY) > 20
    upward = {str(p.relative_to(CORE)): sorted(n for n in _imports(p)
                                                if n.startswith("core.pipeline"))
              for p in LIBRARY}
    assert {k: v for k, v in upward.items() if v} == {}


def test_import_resolution_sees_relative_imports():
    # The check above relies on this: core/pipeline/build.py imports the store relatively.
    assert "core.store" in _imports(CORE / "pipeline" / "build.py")
    assert "core.pipeline.plan" in _imports(CORE / "pipeline" / "build.py")


def test_the_plan_imports_neither_torch_nor_the_store():
    code = ("import sys, core.pipeline.plan\n"
            "print(sorted(m for m in ('torch', 'duckdb', 'core.store') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=CORE.parent).stdout.strip()
    assert out == "[]"


def test_no_module_of_core_is_over_450_lines():
    long = {str(p.relative_to(CORE)): n for p in CORE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


def test_docs_pointers_in_core_name_existing_headings():
    """A comment "docs/<file>.md, <Heading>" (or "docs/<file>.md (<Heading>)") names a heading
    of that file; headings are stable, so the pointers stay valid."""
    docs = CORE.parent / "docs"
    headings = {p.name: [line.lstrip("#").strip() for line in p.read_text().splitlines()
                         if line.startswith("#")] for p in docs.glob("*.md")}
    stale = []
    for path in CORE.rglob("*.py"):
        text = re.sub(r"[\s#]+", " ", path.read_text())
        for match in re.finditer(r"docs/(\w+\.md)(?:, | \()([A-Z][^.;:)]*)", text):
            name, pointed = match.group(1), match.group(2).strip()
            found = headings.get(name, [])
            # One heading, or several joined by "and" ("Robustness and Pruning vulnerability").
            if not any(h.startswith(pointed) for h in found) and not all(
                    any(h.startswith(part.strip()) for h in found)
                    for part in pointed.split(" and ")):
                stale.append(f"{path.relative_to(CORE)}: {name}, {pointed}")
    assert stale == []


def test_every_name_of_the_flat_core_api_resolves():
    import core

    assert {name for name in core.__all__ if getattr(core, name, None) is None} == set()
    assert core.build.__module__ == "core.pipeline.build"
