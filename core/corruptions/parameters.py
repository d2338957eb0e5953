"""The CIFAR-10-C severity parameters of the 19 corruptions (see docs/corruptions.md,
Severity parameters)."""

SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

#: CIFAR-10-C parameters per corruption, one entry per severity 1..5; what each number means:
#: docs/corruptions.md, Severity parameters.
CIFAR_PARAMETERS: dict[str, tuple] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    "zoom_blur": (1.06, 1.11, 1.16, 1.21, 1.26),
    "snow": ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "elastic_transform": ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                          (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "jpeg_compression": (80, 65, 58, 50, 40),
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1),
    "spatter": ((0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0),
                (0.65, 0.3, 1, 0.69, 0.5, 0), (0.65, 0.1, 0.7, 0.69, 0.6, 1),
                (0.65, 0.1, 0.5, 0.68, 0.6, 1)),
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
}

#: Severities whose mean absolute pixel change may be *smaller* than the previous severity's,
#: by design of the CIFAR-10-C parameters; every other step changes the image at least as much.
NON_MONOTONE_SEVERITIES: dict[str, tuple[int, ...]] = {
    # (σ, δ, iterations): severities 1 and 2 blur by σ 0.05 and 0.25 (neighbour weights < 0.1 %),
    # so they differ only by their random copies; the stronger blur of severities 3 and 5
    # averages away part of the shuffling.
    "glass_blur": (2, 3, 5),
    # Same σ = 2 as severity 3; the longer kernel only adds weights below 0.3 %.
    "motion_blur": (4,),
    # The image weight drops (1 → 0.9 → 0.85 → 0.75) while the frost weight grows by 0.1, 0,
    # 0.05: on images brighter than the frost texture the change shrinks.
    "frost": (3, 4, 5),
    # The random affine part (±0.08·32 → ±0.03·32 px) shrinks faster than the elastic part
    # grows.
    "elastic_transform": (2, 3, 4, 5),
    # Severity 4 switches from water (edges tinted turquoise) to sparser mud.
    "spatter": (4,),
    # Severities 1-2 desaturate (S × 0.3, × 0.1); severity 3 saturates (S × 1.5), a smaller
    # change.
    "saturate": (3,),
}
