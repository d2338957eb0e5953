"""Reads of the per-sample tables (``sample_metrics``, ``features``, ``images``,
``attributions``) that the Geometry, Guide and Attribution pages show, as ``(con, …) →
DataFrame`` functions (the app's cached wrappers are in ``app/queries``).

``sample_metrics`` holds one row per (model, benchmark, sample) — tens of millions of rows — so
every read filters on the chosen model(s), benchmark(s) and, where it can, class or sample.
Angles are in degrees.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from .frames import CLEAN, read_frame

__all__ = ["has_sample_metrics", "local_metrics", "paired_metrics", "class_metrics",
           "sample_details", "sample_images", "dense_models", "clean_points", "clean_sample",
           "loss_comparison", "metric_correlations", "image_sample_ids", "image_benchmarks",
           "sample_image", "has_stored_attributions", "stored_attributions",
           "stored_predictions", "ATTRIBUTION_KEY_FILTER"]

_SCALARS = "sample_id, label, pred, correct, angle, l2, margin, prob, confidence"
_METRICS = ("sample_metrics",)

# The rows of one grid of maps in an ``attributions`` table: binds (benchmark_id, sample_id,
# window, stride, baseline) and then the list of model ids. Shared with the app's attribution
# cache, whose tables have the same key columns.
ATTRIBUTION_KEY_FILTER = ('benchmark_id = ? AND sample_id = ? AND "window" = ? AND stride = ? '
                          "AND baseline = ? AND model_id IN (SELECT unnest(?))")


def has_sample_metrics(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``sample_metrics`` holds any row."""
    return not read_frame(con, "SELECT 1 FROM sample_metrics LIMIT 1", tables=_METRICS).empty


def local_metrics(con: duckdb.DuckDBPyConnection, model_id: str, benchmark_id: str
                  ) -> pd.DataFrame:
    """Scalar metrics of every sample of one (model, benchmark), by sample id."""
    return read_frame(con, f"SELECT {_SCALARS} FROM sample_metrics WHERE model_id = ? AND "
                      "benchmark_id = ? ORDER BY sample_id", [model_id, benchmark_id],
                      tables=_METRICS)


def paired_metrics(con: duckdb.DuckDBPyConnection, model_a: str, benchmark_a: str,
                   model_b: str, benchmark_b: str, class_index: int) -> pd.DataFrame:
    """Samples of true class ``class_index`` present in both results A and B: columns sample_id,
    label, pred_a, pred_b, correct_a, correct_b, the metrics under each (angle_a, angle_b, l2_a,
    l2_b, margin_a, margin_b) and their change B − A (d_angle, d_l2, d_margin)."""
    return read_frame(con,
        "SELECT a.sample_id, a.label, a.pred AS pred_a, b.pred AS pred_b, "
        "a.correct AS correct_a, b.correct AS correct_b, a.angle AS angle_a, "
        "b.angle AS angle_b, a.l2 AS l2_a, b.l2 AS l2_b, a.margin AS margin_a, "
        "b.margin AS margin_b, b.angle - a.angle AS d_angle, b.l2 - a.l2 AS d_l2, "
        "b.margin - a.margin AS d_margin "
        "FROM sample_metrics a JOIN sample_metrics b ON a.sample_id = b.sample_id "
        "WHERE a.model_id = ? AND a.benchmark_id = ? AND b.model_id = ? AND b.benchmark_id = ? "
        "AND a.label = ? AND b.label = ? ORDER BY a.sample_id",
        [model_a, benchmark_a, model_b, benchmark_b, int(class_index), int(class_index)],
        tables=_METRICS)


def class_metrics(con: duckdb.DuckDBPyConnection, model_ids: tuple[str, ...],
                  benchmark_ids: tuple[str, ...], class_index: int) -> pd.DataFrame:
    """The samples of true class ``class_index`` under every (model, benchmark) of ``model_ids``
    × ``benchmark_ids``: model_id, benchmark_id, the scalar metrics and ``angles`` (the list of
    angles to every class direction, NaN where undefined), one row per (model, benchmark,
    sample)."""
    return read_frame(con,
        f"SELECT model_id, benchmark_id, {_SCALARS}, "
        "list_transform(angles, lambda a: coalesce(a, 'nan'::FLOAT)) AS angles "
        "FROM sample_metrics WHERE model_id IN (SELECT unnest(?)) "
        "AND benchmark_id IN (SELECT unnest(?)) AND label = ? "
        "ORDER BY model_id, benchmark_id, sample_id",
        [list(model_ids), list(benchmark_ids), int(class_index)], tables=_METRICS)


def sample_details(con: duckdb.DuckDBPyConnection, model_id: str, benchmark_id: str,
                   sample_ids: tuple[int, ...]) -> pd.DataFrame:
    """Scalar metrics of the given samples for one (model, benchmark); unknown ids are absent."""
    return read_frame(con,
        f"SELECT {_SCALARS} FROM sample_metrics WHERE model_id = ? AND benchmark_id = ? "
        "AND sample_id IN (SELECT unnest(?::INTEGER[])) ORDER BY sample_id",
        [model_id, benchmark_id, [int(i) for i in sample_ids]], tables=_METRICS)


def sample_images(con: duckdb.DuckDBPyConnection, benchmark_id: str,
                  sample_ids: tuple[int, ...]) -> pd.DataFrame:
    """Stored images of the given samples on ``benchmark_id``, falling back to the clean image
    when that benchmark has none: columns sample_id, benchmark_id (where the image comes from),
    height, width, channels, pixels (uint8 bytes, H×W×C)."""
    return read_frame(con,
        "SELECT sample_id, benchmark_id, height, width, channels, pixels FROM images "
        "WHERE benchmark_id IN (?, ?) AND sample_id IN (SELECT unnest(?::INTEGER[])) "
        "QUALIFY row_number() OVER (PARTITION BY sample_id ORDER BY benchmark_id = ? DESC) = 1 "
        "ORDER BY sample_id", [benchmark_id, CLEAN, [int(i) for i in sample_ids], benchmark_id],
        tables=("images",))


def dense_models(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """model_id, arch and feature_dim of every dense model."""
    return read_frame(con, "SELECT model_id, arch, feature_dim FROM models WHERE method = 'dense'",
                      tables=("models",))


def clean_points(con: duckdb.DuckDBPyConnection, model_id: str) -> pd.DataFrame:
    """Every evaluation sample of ``model_id`` on the clean benchmark: sample_id, label, pred,
    correct, angle, l2, margin and its stored 2-D feature (x, y)."""
    return read_frame(con,
        "SELECT m.sample_id, m.label, m.pred, m.correct, m.angle, m.l2, m.margin, "
        "f.feature[1] AS x, f.feature[2] AS y FROM sample_metrics m JOIN features f "
        "ON f.model_id = m.model_id AND f.benchmark_id = m.benchmark_id "
        "AND f.sample_id = m.sample_id "
        "WHERE m.model_id = ? AND m.benchmark_id = ? ORDER BY m.sample_id", [model_id, CLEAN],
        tables=("sample_metrics", "features"))


def clean_sample(con: duckdb.DuckDBPyConnection, model_id: str, sample_id: int) -> pd.DataFrame:
    """The ``sample_metrics`` row (or none) of one clean sample: sample_id, label, pred, correct,
    angle, l2, margin."""
    return read_frame(con,
        "SELECT sample_id, label, pred, correct, angle, l2, margin FROM sample_metrics "
        "WHERE model_id = ? AND benchmark_id = ? AND sample_id = ?",
        [model_id, CLEAN, int(sample_id)], tables=_METRICS)


def loss_comparison(con: duckdb.DuckDBPyConnection, model_ids: tuple[str, ...]
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model of ``model_ids``: (accuracy, geometry). accuracy has model_id, clean_accuracy
    and corrupted_accuracy (mean over the corrupted benchmarks, fractions); geometry has, on
    clean samples, model_id, mean_angle, angle_std, mean_l2 and median_margin."""
    ids = list(model_ids)
    accuracy = read_frame(con,
        "SELECT e.model_id, "
        "max(CASE WHEN b.severity = 0 THEN e.accuracy END) AS clean_accuracy, "
        "avg(CASE WHEN b.severity > 0 THEN e.accuracy END) AS corrupted_accuracy "
        "FROM evaluations e JOIN benchmarks b USING (benchmark_id) "
        "WHERE e.model_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY e.model_id", [ids],
        tables=("evaluations", "benchmarks"))
    geometry = read_frame(con,
        "SELECT model_id, avg(angle) AS mean_angle, stddev_samp(angle) AS angle_std, "
        "avg(l2) AS mean_l2, median(margin) AS median_margin FROM sample_metrics "
        "WHERE benchmark_id = ? AND model_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY model_id",
        [CLEAN, ids], tables=_METRICS)
    return accuracy, geometry


def metric_correlations(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Median Spearman correlation over models of each clean metric (angle, l2, margin) with each
    target, and the number of models: columns target, metric, spearman, n_models."""
    return read_frame(con,
        "SELECT target, metric, median(spearman) AS spearman, count(spearman) AS n_models "
        "FROM correlations WHERE spearman IS NOT NULL AND NOT isnan(spearman) "
        "GROUP BY target, metric ORDER BY target, metric", tables=("correlations",))


def image_sample_ids(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Sample ids (column sample_id) with a stored image in at least one benchmark, ascending."""
    return read_frame(con, "SELECT DISTINCT sample_id FROM images ORDER BY sample_id",
                      tables=("images",))


def image_benchmarks(con: duckdb.DuckDBPyConnection, sample_id: int) -> pd.DataFrame:
    """Benchmarks (column benchmark_id) holding an image of ``sample_id``: clean first, then
    corruption and severity."""
    return read_frame(con,
        "SELECT i.benchmark_id FROM images i LEFT JOIN benchmarks b USING (benchmark_id) "
        "WHERE i.sample_id = ? "
        "ORDER BY coalesce(b.corruption, '') <> ?, b.corruption, b.severity, i.benchmark_id",
        [int(sample_id), CLEAN], tables=("images", "benchmarks"))


def sample_image(con: duckdb.DuckDBPyConnection, benchmark_id: str, sample_id: int
                 ) -> pd.DataFrame:
    """The stored image of one sample on one benchmark (at most one row): label, height, width,
    channels, pixels (uint8 bytes, H×W×C)."""
    return read_frame(con, "SELECT label, height, width, channels, pixels FROM images "
                      "WHERE benchmark_id = ? AND sample_id = ? LIMIT 1",
                      [benchmark_id, int(sample_id)], tables=("images",))


def has_stored_attributions(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the results database holds any occlusion map (most builds hold none)."""
    frame = read_frame(con, "SELECT count(*) AS n FROM attributions", tables=("attributions",))
    return not frame.empty and bool(frame["n"].iloc[0])


def stored_attributions(con: duckdb.DuckDBPyConnection, key: list,
                        model_ids: tuple[str, ...]) -> pd.DataFrame:
    """The maps of one grid (``key`` = (benchmark_id, sample_id, window, stride, baseline)) for
    ``model_ids``: one row per (model, metric) with model_id, metric, height, width, base_value
    (the metric on the unoccluded image) and values (the change per pixel, row-major)."""
    return read_frame(con, 'SELECT model_id, metric, height, width, base_value, "values" '
                      f"FROM attributions WHERE {ATTRIBUTION_KEY_FILTER}",
                      list(key) + [list(model_ids)], tables=("attributions",))


def stored_predictions(con: duckdb.DuckDBPyConnection, model_ids: tuple[str, ...],
                       benchmark_id: str, sample_id: int) -> pd.DataFrame:
    """model_id and pred (the predicted class) on one sample, for the models of ``model_ids``
    evaluated on ``benchmark_id``."""
    return read_frame(con, "SELECT model_id, pred FROM sample_metrics WHERE benchmark_id = ? AND "
                      "sample_id = ? AND model_id IN (SELECT unnest(?))",
                      [benchmark_id, int(sample_id), list(model_ids)], tables=_METRICS)
