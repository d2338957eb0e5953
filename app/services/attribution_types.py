"""The value types of the attribution corner (pure: no Streamlit, no I/O): what one grid of
maps is computed for (`OcclusionKey`, `GradientKey`), one model's row of maps
(`AttributionRow`), and the gradient columns the grid can draw."""

from __future__ import annotations

from dataclasses import dataclass

from core.attribution import GRADIENT_METRICS

__all__ = ["OcclusionKey", "GradientKey", "AttributionRow", "GRADIENT_METHODS",
           "GRADIENT_COLUMNS"]

GRADIENT_METHODS = {"ig": "Integrated Gradients", "gradcam": "Grad-CAM"}
# Column ids "method:metric", in the order the columns are drawn.
GRADIENT_COLUMNS = tuple(f"{method}:{metric}" for method in GRADIENT_METHODS
                         for metric in GRADIENT_METRICS)


@dataclass(frozen=True)
class OcclusionKey:
    """What one grid of maps is computed for (the cache key besides the model): the image
    (benchmark, sample), the square patch's side and step in pixels, and the value hidden pixels
    take (0 = black, 1 = white)."""

    benchmark_id: str
    sample_id: int
    window: int
    stride: int
    baseline: float

    def params(self) -> list:
        """The values ``core.store.samples.ATTRIBUTION_KEY_FILTER`` binds before the model
        ids."""
        return [self.benchmark_id, self.sample_id, self.window, self.stride, self.baseline]


@dataclass(frozen=True)
class GradientKey:
    """What one grid's gradient maps are computed for besides the model: the image (benchmark,
    sample), the Integrated Gradients baseline (pixel value) and integration steps."""

    benchmark_id: str
    sample_id: int
    baseline: float
    steps: int

    def params(self) -> list:
        return [self.benchmark_id, self.sample_id, self.baseline, self.steps]


@dataclass(frozen=True)
class AttributionRow:
    """One model's maps: ``maps`` metric → (H, W) change, ``base`` metric → unoccluded value,
    ``pred`` the predicted class on the unoccluded image (None when unknown)."""

    model_id: str
    maps: dict
    base: dict
    pred: int | None
