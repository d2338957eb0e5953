"""Pure figure builders of the Overview page (no Streamlit, no database), one module per part:

- `table`: the evaluation table of accuracy against pruning ratio on clean and corrupted data;
- `similarity`: the geometric similarity view (stress / UMAP / CKA placements, coincident models,
  minimum spanning trees of the true distances);
- one module per insight: `correlations` (heat maps), `redundancy` (benchmark redundancy),
  `dimension` (curse of dimensionality), `spread` (the spread hypothesis), `vulnerable` (ROC
  curves of the vulnerable-sample finder), `pies` (the finder against Hooker et al.'s PIEs of a
  seed population: PIE counts, AUC table and reading), `effective` (effective robustness, with
  its reading);
- `readings`: the sentence under each insight that reads its numbers;
- `numbering`: model numbers, benchmark colours and the tree-overlap reading of the shared view.

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
from app.charts.overview.correlations import correlation_figure, correlation_models
from app.charts.overview.dimension import dimension_figure
from app.charts.overview.effective import (
    effective_robustness_figure,
    effective_robustness_reading,
    fits_per_arch_by_default,
)
from app.charts.overview.pies import (
    PIE_SCORE_LABELS,
    pie_auc_table,
    pie_count_figure,
    pie_reading,
    population_label,
)
from app.charts.overview.redundancy import (
    DEFAULT_REDUNDANCY_MEASURE,
    GEOMETRY_MEASURE,
    redundancy_figure,
    redundant_by_both,
)
from app.charts.overview.spread import SPREAD_LABELS, spread_figure
from app.charts.overview.vulnerable import roc_figure, top_flagged
from app.charts.overview.numbering import (
    MAX_NUMBERED,
    benchmark_colours,
    method_symbol,
    model_numbers,
    number_key,
    numbered,
    tree_overlap,
    tree_overlap_reading,
)
from app.charts.overview.readings import (
    correlation_reading,
    dimension_reading,
    redundancy_reading,
    redundant_by_both_reading,
    roc_reading,
    saturate_note,
    spread_reading,
    strength,
)
from app.charts.overview.similarity import (
    COINCIDENT_NAME,
    GEOMETRY_SPACES,
    MAX_SCATTER_POINTS,
    PLACEMENT_LABELS,
    SELECTED_NAME,
    WEBGL_THRESHOLD,
    coincident_markers,
    embedding_figure,
    marker_models,
    mst_segments,
    placement_quality_line,
    sample_points,
)
from app.charts.overview.table import (
    TABLE_BLOCK,
    bar_highlight,
    evaluated_images,
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
    "GEOMETRY_SPACES",
    "TABLE_BLOCK",
    "evaluated_images",
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
    "COINCIDENT_NAME",
    "PLACEMENT_LABELS",
    "coincident_markers",
    "marker_models",
    "placement_quality_line",
    "MAX_NUMBERED",
    "benchmark_colours",
    "method_symbol",
    "model_numbers",
    "number_key",
    "numbered",
    "tree_overlap",
    "tree_overlap_reading",
    "strength",
    "correlation_models",
    "correlation_figure",
    "correlation_reading",
    "redundancy_figure",
    "redundancy_reading",
    "GEOMETRY_MEASURE",
    "DEFAULT_REDUNDANCY_MEASURE",
    "redundant_by_both",
    "redundant_by_both_reading",
    "dimension_figure",
    "dimension_reading",
    "SPREAD_LABELS",
    "spread_figure",
    "spread_reading",
    "saturate_note",
    "roc_figure",
    "roc_reading",
    "top_flagged",
    "effective_robustness_figure",
    "effective_robustness_reading",
    "fits_per_arch_by_default",
    "PIE_SCORE_LABELS",
    "population_label",
    "pie_count_figure",
    "pie_auc_table",
    "pie_reading",
]
