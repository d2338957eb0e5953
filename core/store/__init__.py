"""DuckDB store: the schema (see docs/definitions.md, Store), transactional bulk writes, and the
queries of the analysis tables. The one owner of the project's SQL.

Modules:

- ``schema``: table definitions, schema version, opening a database, creating the tables, and
  the allow-list of table and column names (``schema_columns``).
- ``writes``: transactions and bulk writes (``replace_rows``, ``write_result`` …).
- ``reads``: queries of the build tables shared by several modules.
- ``analysis``: the inputs of the analysis tables, robustness, and their fingerprints.
- ``placements``: the stored placements and their quality, for the similarity view.

Every public name below is importable from ``core.store`` directly.
"""

from __future__ import annotations

from . import analysis, placements
from .reads import done_pairs, num_classes
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
    _insert_frame,  # noqa: F401  (core.synth appends inside its own transaction)
    insert_rows,
    metrics_table,
    replace_rows,
    transaction,
    upsert_model,
    write_model_results,
    write_result,
)

# The build's and the checks' queries (modules ``builds`` and ``checks``) are re-exported here
# too once they move into this package.

__all__ = [
    "SCHEMA_VERSION",
    "SchemaVersionError",
    "connect",
    "open_read_only",
    "check_schema_version",
    "create_schema",
    "create_analysis_state",
    "schema_columns",
    "check_columns",
    "num_classes",
    "table_exists",
    "done_pairs",
    "transaction",
    "insert_rows",
    "replace_rows",
    "upsert_model",
    "write_result",
    "write_model_results",
    "metrics_table",
    "analysis",
    "placements",
]
