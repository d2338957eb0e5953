"""A model's registry config as canonical JSON: what :func:`core.models.model_from_config`
rebuilds it from. Apart from ``core.models`` (which re-exports it) so that the build plan names
models without importing torch."""

from __future__ import annotations

import json

__all__ = ["arch_config"]


def arch_config(arch: str, *, in_channels: int, num_classes: int, width: float,
                input_size: int, **options) -> str:
    """The JSON config (keys sorted) that :func:`model_from_config` rebuilds the model from.

    ``options`` (the model's own keyword arguments) whose value is None are left out, so a
    config without options reads exactly as before they existed.
    """
    config = {"arch": arch, "in_channels": in_channels, "num_classes": num_classes,
              "width": width, "input_size": input_size}
    config.update({k: v for k, v in options.items() if v is not None})
    return json.dumps(config, sort_keys=True)
