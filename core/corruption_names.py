"""Names and categories of the 19 corruption types (see docs/corruptions.md, Corruption types and
categories), importable without the heavy corruption code."""

CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter", "saturate",
)

CATEGORY = {
    **dict.fromkeys(("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"), "noise"),
    **dict.fromkeys(("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur"),
                    "blur"),
    **dict.fromkeys(("snow", "frost", "fog", "spatter"), "weather"),
    **dict.fromkeys(("brightness", "contrast", "elastic_transform", "pixelate",
                     "jpeg_compression", "saturate"), "digital"),
}


def category_of(corruption: str) -> str:
    """The category of a corruption name, or "clean" for the clean benchmark."""
    return "clean" if corruption == "clean" else CATEGORY[corruption]


def benchmark_id(corruption: str, severity: int) -> str:
    """The benchmark's id: "clean", or "<corruption>-<severity>" such as "fog-3"."""
    return "clean" if corruption == "clean" else f"{corruption}-{severity}"
