"""Model numbers, benchmark colours and the tree-overlap reading of the shared similarity view.

A model's number is its position (1-based) among the sorted ids of the models shown — the
selected models when some are selected, else every model — so the Overview's similarity view and
the Geometry page's titles and legends name a model by the same short number.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from plotly.colors import qualitative

from app.escape import code

__all__ = ["MAX_NUMBERED", "model_numbers", "numbered", "benchmark_colours", "METHOD_SYMBOLS",
           "method_symbol", "number_key", "tree_overlap", "tree_overlap_reading"]

# Up to this many models the similarity view writes each marker's number beside it.
MAX_NUMBERED = 30
_BENCHMARK_PALETTE = qualitative.Dark24
METHOD_SYMBOLS = {"dense": "circle", "random": "x", "magnitude": "square", "snip": "diamond",
                  "fisher": "triangle-up", "taylor2": "pentagon", "mpt": "star",
                  "structured_l1": "hexagon", "structured_group": "triangle-down"}
_EXTRA_SYMBOLS = ("cross", "hourglass", "bowtie", "star-diamond", "hexagram")


def model_numbers(selected: Sequence[str], every: Iterable[str]) -> dict[str, int]:
    """{model_id: number}: positions 1… in the sorted ``selected`` ids, or in the sorted ids of
    ``every`` model when none is selected."""
    ids = sorted(set(selected)) if len(selected) else sorted(set(every))
    return {m: i + 1 for i, m in enumerate(ids)}


def numbered(model_id: str, numbers: Mapping[str, int]) -> str:
    """"#3 lenet5-…" for a numbered model, the bare id otherwise."""
    return f"#{numbers[model_id]} {model_id}" if model_id in numbers else model_id


def benchmark_colours(benchmark_ids: Sequence[str]) -> dict[str, str]:
    """One colour per shown benchmark, in the given order (cycled beyond 24)."""
    return {b: _BENCHMARK_PALETTE[i % len(_BENCHMARK_PALETTE)]
            for i, b in enumerate(dict.fromkeys(benchmark_ids))}


def method_symbol(method: str) -> str:
    if method in METHOD_SYMBOLS:
        return METHOD_SYMBOLS[method]
    return _EXTRA_SYMBOLS[sum(map(ord, method)) % len(_EXTRA_SYMBOLS)]


def number_key(numbers: Mapping[str, int], clean_accuracy: pd.Series) -> pd.DataFrame:
    """The key under the chart: (number, model, clean accuracy) sorted by number;
    ``clean_accuracy`` indexed by model_id (NaN where a model has no clean result)."""
    ids = sorted(numbers, key=numbers.get)
    return pd.DataFrame({"number": [numbers[m] for m in ids], "model": ids,
                         "clean accuracy": clean_accuracy.reindex(ids).to_numpy(dtype=float)})


def tree_overlap(points: pd.DataFrame) -> pd.DataFrame:
    """How close the trees of two benchmarks lie in the shared placement.

    Args:
        points: (model_id, benchmark_id, x, y) of one shared placement, two benchmarks or more.

    Returns:
        (benchmark_a, benchmark_b, overlap, n_models) per pair a < b with common models:
        ``overlap`` = mean over the common models of the placed distance between a model's
        points on a and on b, divided by the median placed distance between two different
        models on one benchmark (over the shown benchmarks). 0 = every model at the same point
        on both; about 1 = as far apart as two models are. Sorted by overlap (closest first).
    """
    columns = ["benchmark_a", "benchmark_b", "overlap", "n_models"]
    by_benchmark = {b: rows.set_index("model_id")[["x", "y"]]
                    for b, rows in points.groupby("benchmark_id", sort=True)}
    within = []
    for rows in by_benchmark.values():
        xy = rows.to_numpy(dtype=float)
        i, j = np.triu_indices(len(xy), k=1)
        within.append(np.linalg.norm(xy[i] - xy[j], axis=1))
    scale = float(np.median(np.concatenate(within))) if within and sum(map(len, within)) else 0.0
    names = list(by_benchmark)
    rows = []
    for a_pos, a in enumerate(names):
        for b in names[a_pos + 1:]:
            common = by_benchmark[a].index.intersection(by_benchmark[b].index)
            if not len(common):
                continue
            moved = np.linalg.norm(by_benchmark[a].loc[common].to_numpy(float)
                                   - by_benchmark[b].loc[common].to_numpy(float), axis=1)
            overlap = float(moved.mean() / scale) if scale > 0 else float("nan")
            rows.append((a, b, overlap, len(common)))
    return pd.DataFrame(rows, columns=columns).sort_values("overlap", ignore_index=True)


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def tree_overlap_reading(overlap: pd.DataFrame, corruption_of: Mapping[str, str],
                         geometry_redundancy: pd.DataFrame) -> str:
    """Which shown benchmarks' trees overlap most, and whether the geometry redundancy table
    (``benchmark_similarity`` rows of measure geometry_distance: corruption_a, corruption_b,
    similarity = normalised distance) ranks the same pair most redundant among the shown pairs.

    ``corruption_of``: benchmark_id → corruption. Ids are code spans (``app.escape.code``)."""
    if overlap.empty:
        return ""
    best, worst = overlap.iloc[0], overlap.iloc[-1]
    text = (f"Trees overlapping most: {code(best.benchmark_a)} and {code(best.benchmark_b)} "
            f"(a model's two points lie {best.overlap:.2f} × the median distance between models "
            f"apart, mean over {int(best.n_models)} models)")
    if len(overlap) > 1:
        text += (f"; least: {code(worst.benchmark_a)} and {code(worst.benchmark_b)} "
                 f"({worst.overlap:.2f} ×)")
    text += "."
    distance = {_pair(a, b): d for a, b, d in geometry_redundancy[
        ["corruption_a", "corruption_b", "similarity"]].itertuples(index=False)}
    pairs = overlap.assign(corruptions=[
        _pair(corruption_of.get(a, a), corruption_of.get(b, b))
        for a, b in zip(overlap["benchmark_a"], overlap["benchmark_b"])])
    pairs["table"] = pairs["corruptions"].map(distance)
    ranked = pairs.dropna(subset=["table"])
    if len(ranked) < 2:
        return text + (" The geometry redundancy table ranks corruptions, not severities: it "
                       "has fewer than two of these pairs to compare.")
    table_best = ranked.sort_values("table").iloc[0]
    ours = ranked.iloc[0]
    if table_best.corruptions == ours.corruptions:
        return text + (f" This agrees with the geometry redundancy table: among these pairs it "
                       f"ranks {code(ours.corruptions[0])} ~ {code(ours.corruptions[1])} most "
                       f"redundant (d = {ours.table:.2f}).")
    return text + (f" The geometry redundancy table disagrees: among these pairs it ranks "
                   f"{code(table_best.corruptions[0])} ~ {code(table_best.corruptions[1])} most "
                   f"redundant (d = {table_best.table:.2f}; {code(ours.corruptions[0])} ~ "
                   f"{code(ours.corruptions[1])}: d = {ours.table:.2f}), over every severity.")
