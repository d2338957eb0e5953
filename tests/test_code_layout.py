"""Where code lives: `core.store` owns every SQL statement on the results database (no other
module of `core/` or `app/` spells one; the app's attribution cache, a separate database, keeps
its own), and no app module grows over 450 lines."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Allowed outside core/store: the attribution cache's own database.
OWN_DATABASES = {Path("app/services/attribution_cache.py")}
STATEMENT = re.compile(
    r"\b(SELECT\b.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(OR\s+REPLACE\s+)?(TABLE|VIEW|INDEX|SEQUENCE|MACRO)|DROP\s+TABLE|ALTER\s+TABLE|"
    r"PRAGMA\s|BEGIN\s+TRANSACTION|"
    r"ROLLBACK|COMMIT\b|SET\s+\w+\s*=|COPY\s+\w+\s+(TO|FROM)|ATTACH\s)", re.DOTALL)


def sql_strings(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal of ``source`` that holds an SQL statement."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING or token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            if STATEMENT.search(token.string):
                found.append((token.start[0], token.string[:60]))
    return found


def test_the_pattern_finds_statements_and_ignores_prose():
    code = ('q = "SELECT a FROM t WHERE x = ?"\nw = f"INSERT INTO {t} VALUES (?)"\n'
            'c = "SET threads = ?"\n'
            'doc = """Select the models; drop from the table what is stale."""\n')
    assert [line for line, _ in sql_strings(code)] == [1, 2, 3]


def test_no_sql_outside_core_store():
    offenders = []
    for path in sorted([*ROOT.glob("core/**/*.py"), *ROOT.glob("app/**/*.py")]):
        relative = path.relative_to(ROOT)
        if relative.parts[:2] == ("core", "store") or relative in OWN_DATABASES:
            continue
        offenders += [f"{relative}:{line}: {text}"
                      for line, text in sql_strings(path.read_text(encoding="utf-8"))]
    assert not offenders, "SQL outside core/store:\n" + "\n".join(offenders)


def test_no_app_module_over_450_lines():
    long = {str(p.relative_to(ROOT)): n for p in ROOT.glob("app/**/*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450}
    assert not long, f"modules over 450 lines: {long}"


def test_selected_ids_are_checked_in_one_place():
    # `app.state.known_selection` is the one check of selected ids against the database, called
    # by `app.state.reconcile` only (which the frame calls once per rerun).
    calls = [f"{p.relative_to(ROOT)}:{i}" for p in ROOT.glob("app/**/*.py")
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if "known_selection(" in line and "def known_selection(" not in line]
    assert len(calls) == 1 and calls[0].startswith("app/state.py:"), calls
    frame = (ROOT / "app" / "main.py").read_text(encoding="utf-8")
    assert frame.count("state.reconcile(") == 1
