"""The store's schema: table definitions, schema version, opening a database, creating the tables.

The tables and their columns are described in docs/data.md (Database tables). Every table name and
column name that a write puts in a dynamic SQL position is checked against
:func:`schema_columns`, the allow-list derived from the DDL below.
"""

from __future__ import annotations

import functools
import os
import types
from pathlib import Path
from typing import Iterable, Mapping

import duckdb

from ..errors import UserError
from ._transaction import transaction
from .files import check_project_connection, open_duckdb

__all__ = [
    "SCHEMA_VERSION",
    "SchemaVersionError",
    "connect",
    "open_read_only",
    "check_schema_version",
    "create_schema",
    "create_analysis_state",
    "table_exists",
    "schema_columns",
    "check_columns",
]

SCHEMA_VERSION = 1


class SchemaVersionError(UserError):
    """The database was written by another schema version of this tool."""


# Tables whose shape does not depend on the number of classes. The analysis tables (robustness …
# vulnerability_auc, pie_flags, pie_auc) are filled by ``core.pipeline.analysis_tables``;
# ``dimension_study`` by the build's dimension-study stage (``core.pipeline.study``),
# ``seed_predictions`` by its seed-population stage (``core.pipeline.seed_population``).
FIXED_DDL = """
CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dataset_info(
    dataset VARCHAR PRIMARY KEY, num_classes INTEGER, class_names VARCHAR[],
    height INTEGER, width INTEGER, channels INTEGER, split VARCHAR, n_eval INTEGER);
CREATE TABLE IF NOT EXISTS models(
    model_id VARCHAR PRIMARY KEY, arch VARCHAR, dataset VARCHAR, method VARCHAR, ratio DOUBLE,
    retrained BOOLEAN, sparsity DOUBLE, params_total BIGINT, params_nonzero BIGINT, seed INTEGER,
    width DOUBLE, feature_dim INTEGER, arch_config VARCHAR, checkpoint VARCHAR, source VARCHAR,
    fit_seconds DOUBLE, latency_ratio DOUBLE, fingerprint VARCHAR);
CREATE TABLE IF NOT EXISTS benchmarks(
    benchmark_id VARCHAR PRIMARY KEY, dataset VARCHAR, corruption VARCHAR, severity INTEGER,
    category VARCHAR);
CREATE TABLE IF NOT EXISTS evaluations(
    model_id VARCHAR, benchmark_id VARCHAR, n INTEGER, accuracy DOUBLE, mean_angle DOUBLE,
    mean_l2 DOUBLE, mean_margin DOUBLE, mean_prob DOUBLE);
CREATE TABLE IF NOT EXISTS images(
    benchmark_id VARCHAR, sample_id INTEGER, label SMALLINT, height SMALLINT, width SMALLINT,
    channels SMALLINT, pixels BLOB);
CREATE TABLE IF NOT EXISTS build_settings(name VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS build_fingerprints(name VARCHAR PRIMARY KEY, fingerprint VARCHAR);
CREATE TABLE IF NOT EXISTS build_progress(
    stage VARCHAR PRIMARY KEY, done INTEGER, total INTEGER, message VARCHAR, updated_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS robustness(model_id VARCHAR, sample_id INTEGER, robustness INTEGER,
    n_benchmarks INTEGER);
CREATE TABLE IF NOT EXISTS pruning_vulnerability(arch VARCHAR, method VARCHAR, retrained BOOLEAN,
    sample_id INTEGER, pv INTEGER, n_models INTEGER);
CREATE TABLE IF NOT EXISTS correlations(model_id VARCHAR, target VARCHAR, metric VARCHAR,
    pearson DOUBLE, spearman DOUBLE, n INTEGER);
CREATE TABLE IF NOT EXISTS embeddings(model_id VARCHAR, benchmark_id VARCHAR, x DOUBLE, y DOUBLE,
    space VARCHAR, scope VARCHAR);
CREATE TABLE IF NOT EXISTS geometry_distances(benchmark_id VARCHAR, model_a VARCHAR,
    model_b VARCHAR, distance DOUBLE);
CREATE TABLE IF NOT EXISTS placement_quality(space VARCHAR, benchmark_id VARCHAR,
    n_models INTEGER, n_neighbors INTEGER, trustworthiness DOUBLE, spearman DOUBLE,
    seconds DOUBLE, scope VARCHAR);
CREATE TABLE IF NOT EXISTS cka(benchmark_id VARCHAR, model_a VARCHAR, model_b VARCHAR, cka DOUBLE);
CREATE TABLE IF NOT EXISTS benchmark_similarity(corruption_a VARCHAR, corruption_b VARCHAR,
    similarity DOUBLE, measure VARCHAR, rank INTEGER);
CREATE TABLE IF NOT EXISTS dimension_angles(kind VARCHAR, dim INTEGER, mean DOUBLE, std DOUBLE,
    model_id VARCHAR);
CREATE TABLE IF NOT EXISTS dimension_study(kind VARCHAR, dim INTEGER, mean DOUBLE, std DOUBLE,
    model_id VARCHAR, accuracy DOUBLE);
CREATE TABLE IF NOT EXISTS geometry_spread(model_id VARCHAR, angle_spread DOUBLE,
    l2_spread DOUBLE, mean_angle DOUBLE, clean_accuracy DOUBLE, corrupted_accuracy DOUBLE,
    drop DOUBLE);
CREATE TABLE IF NOT EXISTS vulnerable_samples(arch VARCHAR, sample_id INTEGER, pie BOOLEAN,
    pie_count INTEGER, low_pv BOOLEAN, pv INTEGER, geometric_score DOUBLE);
CREATE TABLE IF NOT EXISTS vulnerability_auc(arch VARCHAR, target VARCHAR, score VARCHAR,
    auc DOUBLE, n_positive INTEGER, n INTEGER);
CREATE TABLE IF NOT EXISTS seed_predictions(arch VARCHAR, seed INTEGER, method VARCHAR,
    ratio DOUBLE, retrained BOOLEAN, sample_id INTEGER, pred SMALLINT, correct BOOLEAN);
CREATE TABLE IF NOT EXISTS pie_flags(arch VARCHAR, method VARCHAR, ratio DOUBLE,
    retrained BOOLEAN, sample_id INTEGER, pie BOOLEAN, n_seeds INTEGER);
CREATE TABLE IF NOT EXISTS pie_auc(arch VARCHAR, method VARCHAR, ratio DOUBLE, retrained BOOLEAN,
    score VARCHAR, auc DOUBLE, n_positive INTEGER, n INTEGER);
CREATE TABLE IF NOT EXISTS attributions(model_id VARCHAR, benchmark_id VARCHAR, sample_id INTEGER,
    "window" INTEGER, stride INTEGER, baseline DOUBLE, metric VARCHAR, height INTEGER,
    width INTEGER, base_value DOUBLE, "values" FLOAT[]);
"""

# Effective robustness (see docs/analysis.md): one row per model against the population's
# logit-linear fit of mean corrupted on clean accuracy; filled by ``core.pipeline.analysis_tables``.
FIXED_DDL += """
CREATE TABLE IF NOT EXISTS effective_robustness(model_id VARCHAR, clean_accuracy DOUBLE,
    corrupted_accuracy DOUBLE, predicted_accuracy DOUBLE, effective_robustness DOUBLE,
    slope DOUBLE, intercept DOUBLE, n_fit INTEGER);
"""

# Columns added after version 1 was released: a version-1 database that lacks them gets them when
# a writer opens it (readers never need them). {table: [(column, type)]}.
_ADDED_COLUMNS = {"models": [("latency_ratio", "DOUBLE"), ("fingerprint", "VARCHAR")],
                  # 'benchmark' (placed per benchmark) or 'shared' (one placement of all rows)
                  "embeddings": [("scope", "VARCHAR")],
                  "placement_quality": [("scope", "VARCHAR")]}

# The fingerprint of the inputs each analysis table was computed from; created by the first
# analysis run, so a store that never ran one has no such table.
ANALYSIS_STATE_DDL = """
CREATE TABLE IF NOT EXISTS analysis_state(name VARCHAR PRIMARY KEY,
    fingerprint VARCHAR, seconds DOUBLE, updated_at TIMESTAMP)
"""

# Tables whose shape depends on the number of classes C: ``angles FLOAT[C]``. The {} is the only
# placeholder and ``class_ddl`` fills it with a validated positive int.
_CLASS_DDL_TEMPLATE = """
CREATE TABLE IF NOT EXISTS sample_metrics(
    model_id VARCHAR, benchmark_id VARCHAR, sample_id INTEGER, label SMALLINT, pred SMALLINT,
    correct BOOLEAN, angle FLOAT, l2 FLOAT, margin FLOAT, prob FLOAT, confidence FLOAT,
    angles FLOAT[{}]);
CREATE TABLE IF NOT EXISTS features(model_id VARCHAR, benchmark_id VARCHAR, sample_id INTEGER,
    feature FLOAT[]);
"""


def class_ddl(num_classes: int) -> str:
    """DDL of the tables whose shape depends on the number of classes (``angles FLOAT[C]``)."""
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive integer. Got {num_classes!r} instead.")
    return _CLASS_DDL_TEMPLATE.format(int(num_classes))


def connect(path: str | os.PathLike, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a database file (created when writing), checking that it is one of this tool's
    databases (or empty) and its schema version. Raises :class:`~core.store.files.NotADuckDBFile`
    or :class:`~core.store.files.ForeignDatabase` for a file that is not."""
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"Database {path} does not exist. Build it first: python -m core build --preset demo "
            f"--db {path}")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = open_duckdb(path, read_only=read_only)
    except duckdb.IOException as exc:
        raise UserError(f"Cannot open database {path}: {exc}. Another process may hold it "
                        "for writing.") from exc
    try:
        check_project_connection(con, path)
        check_schema_version(con, path)
    except BaseException:
        con.close()
        raise
    return con


def open_read_only(path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    return connect(path, read_only=True)


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()[0] > 0


def check_schema_version(con: duckdb.DuckDBPyConnection, path: str | os.PathLike = "") -> None:
    """Raise :class:`SchemaVersionError` when the database records another schema version."""
    if not table_exists(con, "schema_version"):
        return
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    if row and row[0] is not None and row[0] != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"Database {path} has schema version {row[0]}; this tool reads version "
            f"{SCHEMA_VERSION}. Rebuild it: delete the file and run python -m core build.")


def create_schema(con: duckdb.DuckDBPyConnection, *, num_classes: int) -> None:
    """Create every table (idempotent). `num_classes` fixes the width of `angles FLOAT[C]`.

    A database of this schema version written before a column was added (``models.fingerprint``)
    (``models.latency_ratio``, ``models.fingerprint``) gets it, NULL in its existing rows."""
    ddl = class_ddl(num_classes)
    with transaction(con):
        con.execute(FIXED_DDL)
        con.execute(ddl)
        for table, columns in _ADDED_COLUMNS.items():
            for column, kind in columns:
                con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS "{column}" {kind}')
        if con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
            con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])


def create_analysis_state(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``analysis_state`` table (idempotent)."""
    con.execute(ANALYSIS_STATE_DDL)


@functools.cache
def schema_columns() -> Mapping[str, tuple[str, ...]]:
    """{table: its column names in order} of every table this module defines.

    Derived from the DDL itself (run once in a private in-memory database), so the allow-list can
    never drift from the tables that ``create_schema`` makes.
    """
    scratch = open_duckdb()
    try:
        scratch.execute(FIXED_DDL)
        scratch.execute(class_ddl(1))
        scratch.execute(ANALYSIS_STATE_DDL)
        rows = scratch.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "ORDER BY table_name, ordinal_position").fetchall()
    finally:
        scratch.close()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return types.MappingProxyType({t: tuple(c) for t, c in columns.items()})


def check_columns(table: str, columns: Iterable[str] = ()) -> None:
    """Raise ValueError unless `table` is one of the store's tables and every name in `columns`
    is one of its columns. Guards every table or column name that a write splices into SQL."""
    known = schema_columns()
    if table not in known:
        raise ValueError(f"`table` must be one of the store's tables {sorted(known)}. "
                         f"Got {table!r} instead.")
    unknown = [c for c in columns if c not in known[table]]
    if unknown:
        raise ValueError(f"Columns of `{table}` must be among {list(known[table])}. "
                         f"Got unknown {unknown} instead.")
