"""Per-sample aggregates over a model population and model-level comparisons (see
docs/analysis.md).

Pure functions of pandas frames and numpy arrays; ``core.pipeline.analysis_tables`` reads the store
(through ``core.store.analysis``), calls them and writes the analysis tables. Shapes and units are
stated per function. Population conventions used throughout:

- A *family* is (arch, method, retrained): the pruned models of one method at ratios 0.1 … 0.9.
  The dense model of the arch (``method = 'dense'``) joins every family of its arch as ratio 0.
- *The* dense model of an arch, where one is needed (PIE reference, geometric score), is the dense
  model with the lowest (seed, model_id).
- Several models with the same (arch, method, retrained, ratio) — e.g. seeds — each count once.
  Architectures are keyed by ``arch`` alone: widths of one arch are pooled.

Modules: ``robustness`` (robustness, pruning vulnerability, correlations), ``vectors`` (the
standardised geometry vectors), ``placement`` (their distances per benchmark, coincident models,
placements, minimum spanning trees), ``quality`` (how faithful a placement is), ``shared`` (one
placement of every (model, benchmark) together), ``cka``,
``benchmarks`` (benchmark similarity on accuracy), ``redundancy`` (benchmark similarity on
geometry), ``dimension`` (angles versus dimension), ``vulnerability`` (disagreement with the
other pruned models, the geometric score, vulnerable samples, AUC), ``pie`` (Hooker et al.'s PIEs
over a seed population, the finder's AUC), ``spread`` (the spread hypothesis: spread of the clean
geometry against robustness), ``effective`` (effective robustness). Every public name is
importable from here.
"""

from __future__ import annotations

from .benchmarks import benchmark_similarity
from .cka import linear_cka, linear_cka_matrix
from .dimension import dimension_angles, trained_dimension_angles
from .placement import (
    COINCIDENT_TOLERANCE,
    DEFAULT_PLACEMENT,
    PLACEMENT_METHODS,
    classical_mds,
    coincident_groups,
    distance_matrix,
    embed_umap,
    geometry_distances,
    geometry_mst,
    minimum_spanning_tree,
    place_geometry,
)
from .pie import PIE_AUC_COLUMNS, PIE_COLUMNS, hooker_pies, modal_label_sets, pie_auc
from .quality import placement_quality
from .shared import place_shared, sampled_spearman, shared_trustworthiness
from .redundancy import geometry_redundancy
from .robustness import correlations, model_pv, pruning_vulnerability, robustness
from .spread import (
    SPREAD_SCOPES,
    SPREAD_STATS,
    SPREAD_TARGETS,
    geometry_spread,
    spread_correlations,
)
from .vectors import GEOMETRY_METRICS, geometry_vectors
from .vulnerability import (
    PIE_EXCLUDED_METHODS,
    SINGLE_SCORES,
    geometric_score,
    pie_counts,
    reference_dense_models,
    vulnerability_auc,
    vulnerable_samples,
)

__all__ = [
    "GEOMETRY_METRICS",
    "PLACEMENT_METHODS",
    "DEFAULT_PLACEMENT",
    "COINCIDENT_TOLERANCE",
    "PIE_EXCLUDED_METHODS",
    "SINGLE_SCORES",
    "SPREAD_STATS",
    "SPREAD_TARGETS",
    "SPREAD_SCOPES",
    "robustness",
    "pruning_vulnerability",
    "model_pv",
    "correlations",
    "geometry_vectors",
    "geometry_distances",
    "distance_matrix",
    "coincident_groups",
    "place_geometry",
    "placement_quality",
    "place_shared",
    "sampled_spearman",
    "shared_trustworthiness",
    "embed_umap",
    "classical_mds",
    "minimum_spanning_tree",
    "geometry_mst",
    "linear_cka",
    "linear_cka_matrix",
    "benchmark_similarity",
    "geometry_redundancy",
    "dimension_angles",
    "trained_dimension_angles",
    "reference_dense_models",
    "pie_counts",
    "geometric_score",
    "vulnerable_samples",
    "vulnerability_auc",
    "PIE_COLUMNS",
    "PIE_AUC_COLUMNS",
    "modal_label_sets",
    "hooker_pies",
    "pie_auc",
    "geometry_spread",
    "spread_correlations",
]
