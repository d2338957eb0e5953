"""The build's reads and writes of a results database: progress rows, the dataset row, the
build settings (e.g. the margin's form), the registered models and their fingerprints, the build's
own fingerprints (evaluation subset), and the benchmarks that already have their images.

Every statement has fixed table and column names; values travel as bound parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from ._transaction import transaction
from .frames import CLEAN
from .writes import _delete_where, _insert_frame

__all__ = ["record_progress", "dataset_row", "BUILD_SETTING_DEFAULTS", "check_build_setting",
           "RegisteredModel", "registered_models", "replace_model", "replace_models",
           "set_model_fingerprint",
           "models_to_evaluate", "benchmarks_with_images", "evaluation_sample_ids",
           "build_fingerprint", "record_build_fingerprint", "flush"]

# Tables holding per-model results: replaced models lose their rows here.
_RESULT_TABLES = ("sample_metrics", "evaluations", "features", "attributions")


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


@dataclass(frozen=True)
class RegisteredModel:
    """What the build needs to know of a ``models`` row to decide whether it is current."""

    checkpoint: str | None
    source: str | None
    fingerprint: str | None     # None: written before fingerprints were recorded


def registered_models(con: duckdb.DuckDBPyConnection) -> dict[str, RegisteredModel]:
    """``{model_id: RegisteredModel}`` of every ``models`` row (fingerprints None in a database
    opened read-only before its ``fingerprint`` column was added)."""
    columns = [c[0] for c in con.execute("SELECT * FROM models LIMIT 0").description]
    fingerprint = "fingerprint" if "fingerprint" in columns else "NULL"
    rows = con.execute(
        f"SELECT model_id, checkpoint, source, {fingerprint} FROM models").fetchall()
    return {m: RegisteredModel(c, s, f) for m, c, s, f in rows}


def replace_model(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    """Insert or replace the ``models`` row of ``row['model_id']`` and, in the same
    transaction, delete that model's results (evaluations, sample metrics, features,
    attributions): results of a replaced model describe weights that are gone."""
    replace_models(con, [row])


def replace_models(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """:func:`replace_model` for several rows, all in one transaction (all or none written)."""
    with transaction(con):
        for row in rows:
            key = {"model_id": row["model_id"]}
            for table in (*_RESULT_TABLES, "models"):
                _delete_where(con, table, key)
        if rows:
            _insert_frame(con, "models", pd.DataFrame(rows))


def set_model_fingerprint(con: duckdb.DuckDBPyConnection, model_id: str, fingerprint: str
                          ) -> None:
    """Record the fingerprint of a model stored without one (its results stay)."""
    con.execute("UPDATE models SET fingerprint = ? WHERE model_id = ?", [fingerprint, model_id])


def models_to_evaluate(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """``(model_id, arch_config JSON, checkpoint path)`` of every model, ordered by model_id."""
    return con.execute(
        "SELECT model_id, arch_config, checkpoint FROM models ORDER BY model_id").fetchall()


def benchmarks_with_images(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Ids of the benchmarks whose images are stored (written with their benchmark row)."""
    return {row[0] for row in con.execute("SELECT DISTINCT benchmark_id FROM images").fetchall()}


def evaluation_sample_ids(con: duckdb.DuckDBPyConnection) -> np.ndarray | None:
    """Sorted test-split indices of the stored evaluation subset (the clean benchmark's images),
    or None when no clean images are stored yet."""
    ids = con.execute("SELECT sample_id FROM images WHERE benchmark_id = ? ORDER BY sample_id",
                      [CLEAN]).fetchnumpy()["sample_id"]
    return np.asarray(ids) if len(ids) else None


def build_fingerprint(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The recorded fingerprint ``name`` of the build (e.g. ``evaluation_subset``), or None."""
    row = con.execute("SELECT fingerprint FROM build_fingerprints WHERE name = ?",
                      [name]).fetchone()
    return None if row is None else row[0]


def record_build_fingerprint(con: duckdb.DuckDBPyConnection, name: str, fingerprint: str
                             ) -> None:
    """Set the build's fingerprint ``name``."""
    con.execute("INSERT OR REPLACE INTO build_fingerprints VALUES (?, ?)", [name, fingerprint])


def flush(con: duckdb.DuckDBPyConnection) -> None:
    """Write DuckDB's log into the database file, so that a copy of the file is complete."""
    con.execute("CHECKPOINT")
