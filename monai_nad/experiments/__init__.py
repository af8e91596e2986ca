"""Experiment suites: methods on equal terms, one MLflow run each, and the comparison read back from MLflow."""

from __future__ import annotations

from monai_nad.experiments.compare import SUITES, compare_suite
from monai_nad.experiments.methods import Method, classical_method, level_key, load_tuned, network_method
from monai_nad.experiments.tracking import latest_runs, log_method_run, sqlite_uri

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
