"""Axis and column labels that never run into each other, at any page width."""

from __future__ import annotations

__all__ = ["parcoords_label_angle", "column_label"]

# Parallel-coordinate axes share the plot's width; from this many on, horizontal titles of
# typical length ("∠ T-shirt/top (°)") touch at 1,024 px, so they stand upright instead.
UPRIGHT_FROM = 5


def parcoords_label_angle(n_axes: int) -> int:
    """Title angle (degrees) for ``n_axes`` parallel-coordinate axes: 0, or −90 (upright, one
    title per axis width, never overlapping) when the axes are many."""
    return -90 if n_axes >= UPRIGHT_FROM else 0


def column_label(name: str) -> str:
    """A column's identifier as a one-line label (``gaussian_noise`` → ``gaussian noise``)."""
    return name.replace("_", " ")
