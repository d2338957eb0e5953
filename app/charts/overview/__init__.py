"""Pure figure builders of the Overview page (no Streamlit, no database), one module per part:

- `table`: the evaluation table of accuracy against pruning ratio on clean and corrupted data;
- `similarity`: the geometric similarity view (UMAP / CKA placements, minimum spanning trees);
- `insights`: correlation heat maps, benchmark redundancy, curse of dimensionality, the spread
  hypothesis, ROC curves;
- `readings`: the sentence under each insight that reads its numbers.

Selection events of these figures are parsed in `app.selection`; the ROC curves themselves are
computed by `core.analysis.roc`.
"""

from app.charts.overview._shared import (
    DIMMED_OPACITY,
    GAIN_COLOUR,
    LOSS_COLOUR,
    MEASURE_LABELS,
    METHOD_COLOURS,
    TARGET_LABELS,
    method_colour,
    plotly_config,
)
from app.charts.overview.insights import (
    correlation_figure,
    correlation_models,
    dimension_figure,
    SPREAD_LABELS,
    redundancy_figure,
    roc_figure,
    spread_figure,
    top_flagged,
)
from app.charts.overview.readings import (
    correlation_reading,
    dimension_reading,
    redundancy_reading,
    roc_reading,
    spread_reading,
    strength,
)
from app.charts.overview.similarity import (
    MAX_SCATTER_POINTS,
    SELECTED_NAME,
    WEBGL_THRESHOLD,
    embedding_figure,
    mst_segments,
    sample_points,
)
from app.charts.overview.table import (
    TABLE_BLOCK,
    bar_highlight,
    evaluation_table_figure,
    row_label,
    split_dense,
    table_csv_frame,
    with_subset,
)

__all__ = [
    "DIMMED_OPACITY",
    "GAIN_COLOUR",
    "LOSS_COLOUR",
    "MEASURE_LABELS",
    "METHOD_COLOURS",
    "TARGET_LABELS",
    "SELECTED_NAME",
    "WEBGL_THRESHOLD",
    "TABLE_BLOCK",
    "MAX_SCATTER_POINTS",
    "plotly_config",
    "method_colour",
    "row_label",
    "split_dense",
    "with_subset",
    "bar_highlight",
    "evaluation_table_figure",
    "table_csv_frame",
    "sample_points",
    "mst_segments",
    "embedding_figure",
    "strength",
    "correlation_models",
    "correlation_figure",
    "correlation_reading",
    "redundancy_figure",
    "redundancy_reading",
    "dimension_figure",
    "dimension_reading",
    "SPREAD_LABELS",
    "spread_figure",
    "spread_reading",
    "roc_figure",
    "roc_reading",
    "top_flagged",
]
