"""Colours, orders and small helpers that the Overview's figures and readings share."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

METHOD_ORDER = ("dense", "random", "magnitude", "snip", "fisher", "taylor2", "mpt",
                "structured_l1", "structured_group")
# Green and red are kept for gain and loss, so no method is drawn in either. The structured
# (channel-removing) family shares the cool teal / navy hues.
METHOD_COLOURS = {"dense": "#222222", "random": "#8c8c8c", "magnitude": "#1f77b4",
                  "snip": "#ff7f0e", "fisher": "#8c564b", "taylor2": "#9467bd", "mpt": "#e377c2",
                  "structured_l1": "#17becf", "structured_group": "#393b79"}
_EXTRA_COLOURS = ("#bcbd22", "#7b4173", "#c49c94", "#aec7e8", "#dbdb8d")
GAIN_COLOUR = "#2ca02c"
LOSS_COLOUR = "#d62728"
HIGHLIGHT_LINE = "#000000"
DIMMED_OPACITY = 0.3
TARGET_LABELS = {"robustness": "robustness (correct on k corrupted sets)",
                 "pv": "PV (correct at k pruning ratios)",
                 "pie": "disagrees with the other pruned models",
                 "low_pv": "low PV (correct at ≤ half the ratios)"}
MEASURE_LABELS = {"accuracy_pearson": "Pearson r of accuracy",
                  "drop_pearson": "Pearson r of the accuracy drop from clean",
                  "drop_spearman": "Spearman ρ of the accuracy drop, per severity"}


def plotly_config(filename: str) -> dict:
    """Plotly toolbar settings: the camera button downloads a PNG named ``filename``."""
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}


def method_colour(method: str) -> str:
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    return _EXTRA_COLOURS[sum(map(ord, method)) % len(_EXTRA_COLOURS)]


def method_rank(method: str) -> tuple[int, str]:
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)


def axis_ref(kind: str, n: int) -> tuple[str, str]:
    """(trace reference, layout key) of axis number ``n`` (1-based) of ``kind`` 'x' or 'y'."""
    suffix = "" if n == 1 else str(n)
    return f"{kind}{suffix}", f"{kind}axis{suffix}"


def nullable(values: np.ndarray) -> list:
    """A float array as a list with NaN → None (gaps that break a Plotly line)."""
    return [None if np.isnan(v) else float(v) for v in values]


def ordered(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    """The distinct ``values``: those in ``preferred`` first, in its order, then the rest sorted."""
    values = list(dict.fromkeys(values))
    return ([v for v in preferred if v in values] + sorted(v for v in values
                                                          if v not in preferred))


def geometric_auc(auc: pd.DataFrame, arch: str, target: str) -> float:
    """The stored AUC of the geometric score for ``target`` on ``arch`` (NaN when absent)."""
    row = auc[(auc["arch"] == arch) & (auc["target"] == target) & (auc["score"] == "geometric")]
    return float(row["auc"].iat[0]) if len(row) else np.nan

