"""Experiment suites: methods on equal terms, one MLflow run each, and the comparison read back from MLflow.

The names below are imported on first use, not with the package: ``python -m monai_nad.experiments.volume_timing``
runs each timed method in a fresh process that imports only that method's modules (its peak memory is the method's,
not that of torch and MLflow pulled in by :mod:`~monai_nad.experiments.compare`), and runpy finds the module it runs
not yet imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names are, for readers and type checkers (tests/test_layering.py reads these imports too)
    from monai_nad.experiments.compare import SUITES, compare_suite
    from monai_nad.experiments.methods import Method, classical_method, level_key, load_tuned, network_method
    from monai_nad.experiments.tracking import latest_runs, log_method_run, sqlite_uri

#: name -> the module that defines it
_LAZY = {
    "SUITES": "compare",
    "compare_suite": "compare",
    "Method": "methods",
    "classical_method": "methods",
    "level_key": "methods",
    "load_tuned": "methods",
    "network_method": "methods",
    "latest_runs": "tracking",
    "log_method_run": "tracking",
    "sqlite_uri": "tracking",
}

__all__ = [
    "SUITES",
    "compare_suite",
    "Method",
    "classical_method",
    "level_key",
    "load_tuned",
    "network_method",
    "latest_runs",
    "log_method_run",
    "sqlite_uri",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"monai_nad.experiments.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'monai_nad.experiments' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
