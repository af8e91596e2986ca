"""One MLflow run per training, across kills and resumptions (used by :class:`~monai_nad.engines.ResumeHandler`).

MONAI's ``MLFlowHandler`` (added by ``--tracking mlflow``) chooses its run when its engine starts: without a
``run_name`` it takes *any* unfinished run of the experiment (the oldest one), with a ``run_name`` the unfinished
run of that name, and otherwise it creates one. So a killed training (whose run stays unfinished) resumed from its
last completed epoch logs the killed epoch's iterations into the same run a second time (two values per step), a
new training can land in an older killed run, and a re-run of a finished training (nothing left to train) creates
an empty run.

:class:`MLflowRunTracker` is saved in the resume checkpoints (the run's id) and, when the trainer starts (after
the checkpoint is loaded, before the MLflow handlers start):

* a resumed training continues the recorded run (reopened if it was finished, e.g. when ``max_epochs`` is raised),
  and metrics are not logged again for steps the run already holds, so each metric keeps one value per step;
* a training that starts from scratch gets a new run (never an unfinished run of another training);
* a training resumed with nothing left to train changes nothing in MLflow (no new run).

It relies on MONAI's handler internals (``cur_run``, ``_set_experiment``, ``_log_metrics``; MONAI 1.6).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ignite.engine import Engine
from monai.handlers import MLFlowHandler, ValidationHandler
from monai.utils import flatten_dict

__all__ = ["MLflowRunTracker", "mlflow_handlers"]

logger = logging.getLogger(__name__)


def _owners(engine: Engine) -> list[Any]:
    found = []
    for handlers in engine._event_handlers.values():
        for handler, _, _ in handlers:
            owner = getattr(handler, "__self__", handler)
            if all(owner is not f for f in found):
                found.append(owner)
    return found


def mlflow_handlers(engine: Engine) -> list[MLFlowHandler]:
    """The MONAI ``MLFlowHandler`` objects attached to ``engine``, in the order they were attached."""
    return [owner for owner in _owners(engine) if isinstance(owner, MLFlowHandler)]


def _detach(engine: Engine, handler: MLFlowHandler) -> None:
    """Remove every callback of ``handler`` from ``engine``, in place (also from an event being fired)."""
    for callbacks in engine._event_handlers.values():
        callbacks[:] = [c for c in callbacks if getattr(c[0], "__self__", None) is not handler]


def _last_steps(client: Any, run_id: str) -> dict[str, int]:
    """The highest step logged for each metric of a run."""
    run = client.get_run(run_id)
    return {key: max((m.step for m in client.get_metric_history(run_id, key)), default=-1) for key in run.data.metrics}


class MLflowRunTracker:
    """Keep a resumable training in one MLflow run; checkpointable (``state_dict``/``load_state_dict``).

    Args:
        trainer: the training engine (its ``MLFlowHandler`` owns the run).
        validator: the validation engine, whose ``MLFlowHandler`` logs into the same run. The validators of the
            trainer's ``ValidationHandler`` are found without it.
    """

    def __init__(self, trainer: Engine, validator: Engine | None = None) -> None:
        self.trainer = trainer
        self.validator = validator
        self.run_id: str | None = None
        self._last_steps: dict[str, dict[str, int]] = {}

    def _engines(self) -> list[Engine]:
        engines = [self.trainer] + ([self.validator] if self.validator is not None else [])
        for owner in _owners(self.trainer):
            if isinstance(owner, ValidationHandler) and isinstance(owner.validator, Engine):
                if all(owner.validator is not e for e in engines):
                    engines.append(owner.validator)
        return engines

    def _handlers(self) -> list[MLFlowHandler]:
        found: list[MLFlowHandler] = []
        for engine in self._engines():
            found += [h for h in mlflow_handlers(engine) if all(h is not f for f in found)]
        return found

    def state_dict(self) -> dict:
        for handler in mlflow_handlers(self.trainer):
            if handler.cur_run is not None:
                return {"run_id": handler.cur_run.info.run_id}
        return {"run_id": self.run_id or ""}

    def load_state_dict(self, state: dict) -> None:
        self.run_id = state.get("run_id") or None

    def _recorded_run(self, handler: MLFlowHandler) -> Any:
        """The recorded run, if it is in the handler's store and experiment and not deleted."""
        if not self.run_id:
            return None
        try:
            run = handler.client.get_run(self.run_id)
            experiment = handler.client.get_experiment(run.info.experiment_id)
        except Exception as err:  # noqa: BLE001 - MLflow raises its own errors for unknown runs or stores
            logger.warning("MLflow run %s of the checkpoint is not available (%s); not continuing it.", self.run_id, err)
            return None
        if run.info.lifecycle_stage != "active" or experiment.name != handler.experiment_name:
            logger.warning("MLflow run %s of the checkpoint is deleted or in another experiment; not continuing it.", self.run_id)
            return None
        return run

    def _skip_logged_steps(self, handler: MLFlowHandler) -> None:
        """Make ``handler`` skip metric values for steps its run already holds (from before the resumption)."""
        log_metrics = handler._log_metrics
        last_steps = self._last_steps

        def _log_new_metrics(metrics: dict[str, Any], step: int | None = None) -> None:
            if handler.cur_run is None:
                return log_metrics(metrics, step)
            run_id = handler.cur_run.info.run_id
            if run_id not in last_steps:
                last_steps[run_id] = _last_steps(handler.client, run_id)
            done = last_steps[run_id]
            new = {key: value for key, value in flatten_dict(metrics).items() if done.get(key, -1) < (step or 0)}
            if new:
                log_metrics(new, step)

        handler._log_metrics = _log_new_metrics

    def started(self, engine: Engine, resumed: bool) -> None:
        """Bind the MLflow handlers to the training's run; call at ``STARTED``, after the checkpoint is loaded."""
        handlers = self._handlers()
        trainer_handlers = mlflow_handlers(self.trainer)
        if not handlers or not trainer_handlers:
            return
        main = trainer_handlers[0]
        state = engine.state
        if resumed and state.max_epochs is not None and state.epoch >= state.max_epochs:
            logger.info("training already finished (epoch %d of %d): nothing logged to MLflow.", state.epoch, state.max_epochs)
            for handler in trainer_handlers:
                if handler.cur_run is None:  # not started yet (it starts after this), so it can be removed
                    _detach(self.trainer, handler)
            return
        run = self._recorded_run(main) if resumed else None
        if run is not None:
            if run.info.status != "RUNNING":
                main.client.update_run(run.info.run_id, status="RUNNING")
            logger.info("continuing MLflow run %s (%s)", run.info.run_id, run.info.run_name)
        elif not resumed and main.cur_run is None:
            main._set_experiment()
            name = main.run_name or f"run_{time.strftime('%Y%m%d_%H%M%S')}"
            run = main.client.create_run(experiment_id=main.experiment.experiment_id, run_name=name)
        # without a usable recorded run, a resumed training keeps MONAI's choice (an unfinished run of the same name)
        same_store = [
            h for h in handlers if h.client.tracking_uri == main.client.tracking_uri and h.experiment_name == main.experiment_name
        ]
        for handler in same_store:
            if run is not None and handler.cur_run is None:
                handler.cur_run = run
            if resumed:
                self._skip_logged_steps(handler)
