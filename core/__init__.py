"""Robustness Lottery Explorer — core library.

The flat public API; each name lives in a small module and is imported on first use, so that
``import core`` stays cheap (the app and the CLI import only what they need).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "compute_geometry": "geometry",
    "build_model": "models", "model_from_config": "models", "MODELS": "models",
    "head_of": "features", "head_parameters": "features", "features_and_logits": "features",
    "extract": "features", "evaluate_geometry": "features",
    "load_dataset": "data", "evaluation_subset": "data", "DatasetError": "data",
    "fit": "train", "evaluate": "train", "to_input": "train",
    "prune": "pruning", "make_pruned_model": "pruning", "sparsity": "pruning",
    "corrupt": "corruptions", "generate_benchmark_set": "corruptions",
    "load_c_directory": "corruptions", "CORRUPTIONS": "corruption_names",
    "occlusion": "attribution",
    "check_database": "checks",
    # The pipeline (core.pipeline).
    "load_experiment": "pipeline.experiment", "plan_build": "pipeline.plan",
    "build": "pipeline.build", "add_model": "pipeline.register",
    "import_manifest": "pipeline.manifest",
    "update_analysis": "pipeline.analysis_tables", "write_synthetic_db": "pipeline.synth",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__():
    return __all__
