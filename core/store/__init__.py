"""DuckDB store: the schema (see docs/data.md, Database tables), transactional bulk writes, and the
queries of the analysis tables. The one owner of the project's SQL.

Modules:

- ``files``: the one function that opens DuckDB files (no extension auto-install or auto-load),
  and the refusal of files that are not this tool's databases.
- ``schema``: table definitions, schema version, opening a database, creating the tables, and
  the allow-list of table and column names (``schema_columns``).
- ``writes``: transactions and bulk writes (``replace_rows``, ``write_model_results`` …).
- ``reads``: queries of the build tables shared by several modules.
- ``analysis``: the inputs of the analysis tables, robustness, and their fingerprints.
- ``catalog``, ``results``, ``samples``: the app's reads, ``(con, …) → DataFrame`` — what a
  database holds; evaluation results and analysis tables; the per-sample tables.
- ``pies``: the PIE tables as the app's vulnerable-sample finder reads them.
- ``placements``: the app's reads of the stored placements (per benchmark or shared) and their
  quality, for the similarity view.
- ``frames``: how a read answers when a table is missing (an empty frame with the schema's
  columns), the models' display order (dense first) and the clean benchmark (``CLEAN``).

Every public name below is importable from ``core.store`` directly.
"""

from __future__ import annotations

from . import analysis, catalog, pies, placements, results, samples
from .files import (
    ForeignDatabase,
    NotADuckDBFile,
    check_project_connection,
    check_project_file,
    duckdb_file_problem,
    open_duckdb,
    instance_cursor,
    open_read_only_instance,
)
from .frames import CLEAN, dense_first
from .reads import done_pairs
from .schema import (
    SCHEMA_VERSION,
    SchemaVersionError,
    check_columns,
    check_schema_version,
    connect,
    create_analysis_state,
    create_schema,
    open_read_only,
    schema_columns,
    table_exists,
)
from .writes import (
    _insert_frame,  # noqa: F401  (core.pipeline.synth appends inside its own transaction)
    insert_rows,
    metrics_table,
    replace_rows,
    transaction,
    write_model_results,
)

# The build's and the checks' queries (modules ``builds`` and ``checks``) are re-exported here
# too once they move into this package.

__all__ = [
    "SCHEMA_VERSION",
    "SchemaVersionError",
    "NotADuckDBFile",
    "ForeignDatabase",
    "open_duckdb",
    "open_read_only_instance",
    "instance_cursor",
    "duckdb_file_problem",
    "check_project_file",
    "check_project_connection",
    "connect",
    "open_read_only",
    "check_schema_version",
    "create_schema",
    "create_analysis_state",
    "schema_columns",
    "check_columns",
    "table_exists",
    "done_pairs",
    "transaction",
    "insert_rows",
    "replace_rows",
    "write_model_results",
    "metrics_table",
    "analysis",
    "catalog",
    "pies",
    "placements",
    "results",
    "samples",
    "CLEAN",
    "dense_first",
]
