"""ROC curves of the vulnerable-sample finder: how well the geometric score ranks the samples
flagged as PIE or low PV (see docs/analysis.md, Vulnerable samples).

The stored AUCs (table ``vulnerability_auc``) come from the analysis step; this module draws the
curves behind them from the per-sample flags and scores of one architecture.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

__all__ = ["ROC_TARGETS", "ROC_COLUMNS", "roc_curves"]

# The flags a curve is drawn for, in drawing order.
ROC_TARGETS = ("pie", "low_pv")
ROC_COLUMNS = ["target", "fpr", "tpr", "threshold"]


def roc_curves(samples: pd.DataFrame) -> pd.DataFrame:
    """ROC curve of the geometric score (larger = more vulnerable) for each flag (``pie``,
    ``low_pv``) that has positives and negatives among the samples where it is known.

    ``samples`` has one row per sample with the columns ``geometric_score`` (float, NaN where
    undefined) and the nullable boolean flags ``pie`` and ``low_pv``. Samples whose flag is
    unknown or whose score is not finite are left out of that flag's curve.

    Returns (target, fpr, tpr, threshold), one row per point of each curve: rates are fractions in
    [0, 1]; a point counts the samples with score ≥ threshold as flagged.
    """
    if not {"geometric_score", *ROC_TARGETS} <= set(samples.columns):
        raise ValueError("`samples` must have the columns geometric_score, pie and low_pv. "
                         f"Got {list(samples.columns)} instead.")
    frames = []
    score = samples["geometric_score"].to_numpy(dtype=float, na_value=np.nan)
    for target in ROC_TARGETS:
        flag = samples[target]
        known = flag.notna().to_numpy() & np.isfinite(score)
        y = flag[known].to_numpy(dtype=bool)
        if y.all() or not y.any():
            continue
        fpr, tpr, thresholds = roc_curve(y, score[known])
        frames.append(pd.DataFrame({"target": target, "fpr": fpr, "tpr": tpr,
                                    "threshold": thresholds}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ROC_COLUMNS)
