"""Extra MLflow records for a run started by MONAI's ``MLFlowHandler`` (``--tracking mlflow``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events

from monai_nad.engines.mlflow_resume import mlflow_handlers as _mlflow_handlers

__all__ = ["MLflowRunExtras", "flatten_params"]

logger = logging.getLogger(__name__)


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested dicts into ``{"a.b": "value"}`` strings, as MLflow parameters."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, f"{name}."))
        else:
            flat[name] = str(value)[:500]
    return flat


class MLflowRunExtras:
    """Log hyper-parameters after the first iteration and files (e.g. the best checkpoint) at completion.

    It does nothing unless a MONAI ``MLFlowHandler`` is attached to the same engine (as ``--tracking mlflow``
    does), so it can stay in a bundle config permanently.

    Args:
        params: hyper-parameters to log (nested dicts are flattened to ``a.b`` names).
        artifacts: files to log when the engine completes; missing files are skipped with a warning. A callable
            returning the list is evaluated at completion.
    """

    def __init__(self, params: Mapping[str, Any] | None = None, artifacts: Sequence[str] | Callable[[], Sequence[str]] = ()) -> None:
        self.params = dict(params or {})
        self.artifacts = artifacts
        self._params_logged = False

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.log_params)
        engine.add_event_handler(Events.COMPLETED, self.log_artifacts)

    def log_params(self, engine: Engine) -> None:
        if self._params_logged:
            return
        self._params_logged = True
        for handler in _mlflow_handlers(engine):
            if handler.cur_run is not None:
                existing = handler.client.get_run(handler.cur_run.info.run_id).data.params
                for key, value in flatten_params(self.params).items():
                    if key not in existing:
                        handler.client.log_param(handler.cur_run.info.run_id, key, value)

    def log_artifacts(self, engine: Engine) -> None:
        files = self.artifacts() if callable(self.artifacts) else self.artifacts
        for handler in _mlflow_handlers(engine):
            if handler.cur_run is None:
                continue
            for file in files:
                if Path(file).is_file():
                    handler.client.log_artifact(handler.cur_run.info.run_id, str(file))
                else:
                    logger.warning("MLflowRunExtras: artifact %s does not exist, not logged.", file)
