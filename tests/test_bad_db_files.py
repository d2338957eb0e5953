"""Bad-input catalogue, `--db` files that are not this tool's databases (README): an empty file,
random bytes, an SQLite file and another application's DuckDB database are refused by `build`,
`add-model`, `import` and `check` with one line naming the file, exit status 2, and nothing
written. Every
DuckDB connection of the project is opened with extension auto-install and auto-load off.
"""

import os
import re
import sqlite3
from pathlib import Path

import duckdb
import pytest

from conftest import TINY
from core import store
from core.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def write_foreign(path: Path, kind: str) -> None:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(bytes(range(256)) * 20)
    elif kind == "sqlite":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE customers(name TEXT)")
        con.commit()
        con.close()
    else:   # another application's DuckDB database
        con = duckdb.connect(str(path))
        con.execute("CREATE TABLE invoices(id INTEGER, total DOUBLE)")
        con.execute("INSERT INTO invoices VALUES (1, 9.5)")
        con.close()


MESSAGES = {
    "empty": "is not a DuckDB database (it is empty).",
    "random": "is not a DuckDB database (it does not start with DuckDB's file header).",
    "sqlite": "is not a DuckDB database (it starts like an SQLite file).",
    "other app": "is a DuckDB database of another application (no schema_version table); "
                 "use another --db.",
}

COMMANDS = {
    "build": lambda db, tmp: ["build", "--experiment", str(TINY), "--db", str(db),
                              "--cache", str(tmp / "cache"), "--executor", "local"],
    "add-model": lambda db, tmp: ["add-model", str(tmp / "model.pt"), "--db", str(db),
                                  "--arch", "lenet5", "--method", "dense"],
    "import": lambda db, tmp: ["import", str(tmp / "grid.csv"), "--db", str(db)],
    "check": lambda db, tmp: ["check", "--db", str(db)],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("kind", list(MESSAGES))
def test_db_file_that_is_not_ours_is_refused_and_untouched(tmp_path, capsys, kind, command):
    db = tmp_path / "x.db"
    write_foreign(db, kind)
    before = (db.read_bytes(), db.stat().st_mtime_ns)
    status = main(COMMANDS[command](db, tmp_path))
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert lines == [f"error: {db} {MESSAGES[kind]}"]
    assert "Another process" not in err and "sqlite_scanner" not in err and "http" not in err
    assert (db.read_bytes(), db.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.db"]   # no lock, work file or cache


def test_an_empty_duckdb_database_is_accepted_as_ours(tmp_path):
    db = tmp_path / "new.duckdb"
    duckdb.connect(str(db)).close()              # a DuckDB file with no tables yet
    store.check_project_file(db)
    store.connect(db).close()


def test_a_project_database_passes(tmp_path):
    db = tmp_path / "ours.duckdb"
    con = store.connect(db)
    store.create_schema(con, num_classes=3)
    con.close()
    store.check_project_file(db)
    assert main(["check", "--db", str(db)]) == 0


@pytest.mark.parametrize("opener", ["open_duckdb", "connect", "app"])
def test_connections_never_install_or_load_extensions(tmp_path, monkeypatch, opener):
    db = tmp_path / "ours.duckdb"
    con = store.connect(db)
    store.create_schema(con, num_classes=3)
    con.close()
    if opener == "open_duckdb":
        con = store.open_duckdb()
    elif opener == "connect":
        con = store.connect(db, read_only=True)
    else:
        from app import db as app_db

        monkeypatch.setenv("ROBUSTNESS_DB", str(db))
        con = app_db.open_version(app_db.current_db())
    settings = dict(con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('autoinstall_known_extensions', 'autoload_known_extensions')").fetchall())
    con.close()
    assert settings == {"autoinstall_known_extensions": "false",
                        "autoload_known_extensions": "false"}


def test_every_connection_of_core_and_app_goes_through_open_duckdb():
    """No module opens DuckDB on its own: only core/store/files.py calls duckdb.connect."""
    callers = []
    for folder in ("core", "app"):
        for path in (ROOT / folder).rglob("*.py"):
            if re.search(r"\bduckdb\.connect\(", path.read_text()):
                callers.append(str(path.relative_to(ROOT)))
    assert callers == [os.path.join("core", "store", "files.py")]
