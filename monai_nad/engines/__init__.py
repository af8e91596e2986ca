"""Helpers for MONAI/Ignite engines: checkpoints and experiment tracking."""

from __future__ import annotations

from monai_nad.engines.bundle_training import (
    PRETRAINED_STAGES,
    RealScanOptions,
    check_stages,
    real_scan_command,
    real_scan_init_checkpoint,
    run_bundle,
    run_train_config,
    train_pretrained_stages,
    train_real_scan,
    train_with_extra_configs,
)
from monai_nad.engines.config_check import check_override_keys, exit_bundle_run, reject_unknown_overrides
from monai_nad.engines.checkpoints import (
    LatestWeightsSaver,
    half_precision,
    latest_checkpoint,
    load_bundle_weights,
    load_network_weights,
    read_state_dict,
    warm_start,
    widen_input_channels,
)
from monai_nad.engines.mlflow_extras import MLflowRunExtras, flatten_params
from monai_nad.engines.noise_batch import NoiseStdBatch
from monai_nad.engines.resume import ResumeHandler, snapshot_path
from monai_nad.engines.time_budget import TimeBudget
from monai_nad.engines.user_values import USER_VALUES_ENV, bundle_command, data_overrides, user_value

__all__ = [
    "PRETRAINED_STAGES",
    "RealScanOptions",
    "check_stages",
    "real_scan_command",
    "real_scan_init_checkpoint",
    "run_bundle",
    "run_train_config",
    "train_pretrained_stages",
    "train_real_scan",
    "train_with_extra_configs",
    "check_override_keys",
    "exit_bundle_run",
    "load_bundle_weights",
    "reject_unknown_overrides",
    "LatestWeightsSaver",
    "half_precision",
    "latest_checkpoint",
    "load_network_weights",
    "read_state_dict",
    "warm_start",
    "widen_input_channels",
    "MLflowRunExtras",
    "flatten_params",
    "NoiseStdBatch",
    "ResumeHandler",
    "snapshot_path",
    "TimeBudget",
    "USER_VALUES_ENV",
    "bundle_command",
    "data_overrides",
    "user_value",
]
