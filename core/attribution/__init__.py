"""Which pixel regions move a sample's last-layer geometry (see
docs/geometry.md, Occlusion attribution and Gradient attributions).

- :func:`occlusion`: maps of the change of angle, L2, margin and probability when a sliding
  patch of the image is hidden (``OCCLUSION_METRICS``).
- :func:`integrated_gradients` and :func:`grad_cam`: Captum's Integrated Gradients and Grad-CAM
  of the angle, margin or probability (``GRADIENT_METRICS``), differentiated through the same
  geometry (:func:`geometry_forward`); :func:`gradient_saliency`: ``|∂ prob / ∂ x|``.

Every map is an (H, W) numpy array over the input image's pixels.
"""

from ._gradient import (
    GRADIENT_METRICS,
    geometry_forward,
    grad_cam,
    gradient_saliency,
    integrated_gradients,
    last_conv_layer,
)
from ._occlusion import OCCLUSION_METRICS, occlusion, window_starts

__all__ = [
    "OCCLUSION_METRICS",
    "GRADIENT_METRICS",
    "occlusion",
    "window_starts",
    "geometry_forward",
    "integrated_gradients",
    "grad_cam",
    "last_conv_layer",
    "gradient_saliency",
]
