"""The build's reads and writes of a results database: progress rows, the dataset row, the
build settings, the registered models and the benchmarks that already have their images.

Every statement has fixed table and column names; values travel as bound parameters.
"""

from __future__ import annotations

import json

import duckdb

__all__ = ["record_progress", "dataset_row", "BUILD_SETTING_DEFAULTS", "check_build_setting", "registered_checkpoints", "models_to_evaluate",
           "benchmarks_with_images", "flush"]


def record_progress(con: duckdb.DuckDBPyConnection, stage: str, done: int, total: int,
                    message: str = "") -> None:
    """Set the ``build_progress`` row of ``stage``: ``done`` of ``total`` tasks, stamped now."""
    con.execute("INSERT OR REPLACE INTO build_progress VALUES (?, ?, ?, ?, now())",
                [stage, done, total, message])


def dataset_row(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The ``dataset_info`` row as ``{column: value}``, or None before the first build."""
    cursor = con.execute("SELECT * FROM dataset_info LIMIT 1")
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([column[0] for column in cursor.description], row))


# Settings every stored result depends on, with the value of databases built before the setting
# was recorded (``build_settings`` rows hold JSON values).
BUILD_SETTING_DEFAULTS = {"bias_in_margin": True}


def check_build_setting(con: duckdb.DuckDBPyConnection, name: str, value, *, db_path) -> None:
    """Record the build setting ``name`` = ``value``, or refuse a value other than the one the
    database's results were computed with (ValueError). A database that holds evaluations but
    no row for ``name`` was built before the setting existed: it holds the default."""
    row = con.execute("SELECT value FROM build_settings WHERE name = ?", [name]).fetchone()
    if row is not None:
        stored = json.loads(row[0])
    elif con.execute("SELECT count(*) FROM evaluations").fetchone()[0]:
        stored = BUILD_SETTING_DEFAULTS[name]
    else:
        con.execute("INSERT INTO build_settings VALUES (?, ?)", [name, json.dumps(value)])
        return
    if stored != value:
        raise ValueError(f"Database {db_path} was built with {name} = {json.dumps(stored)}; this "
                         f"experiment sets {name} = {json.dumps(value)}, and its results would "
                         "not be comparable. Use another --db.")


def registered_checkpoints(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None]]:
    """``(model_id, checkpoint path)`` of every registered model."""
    return con.execute("SELECT model_id, checkpoint FROM models").fetchall()


def models_to_evaluate(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """``(model_id, arch_config JSON, checkpoint path)`` of every model, ordered by model_id."""
    return con.execute(
        "SELECT model_id, arch_config, checkpoint FROM models ORDER BY model_id").fetchall()


def benchmarks_with_images(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Ids of the benchmarks whose images are stored (written with their benchmark row)."""
    return {row[0] for row in con.execute("SELECT DISTINCT benchmark_id FROM images").fetchall()}


def flush(con: duckdb.DuckDBPyConnection) -> None:
    """Write DuckDB's log into the database file, so that a copy of the file is complete."""
    con.execute("CHECKPOINT")
