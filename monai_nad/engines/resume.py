"""Resumable training: save and restore the whole training state every epoch."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from monai.handlers import CheckpointLoader, CheckpointSaver

from monai_nad.engines.checkpoints import latest_checkpoint, save_weights
from monai_nad.engines.mlflow_resume import MLflowRunTracker

__all__ = ["ResumeHandler", "snapshot_path"]


def snapshot_path(ckpt_dir: str | Path, epoch: int) -> Path:
    """Where :class:`ResumeHandler` keeps the network's weights after ``epoch``: ``<ckpt_dir>/snapshots/epoch_N.pt``."""
    return Path(ckpt_dir) / "snapshots" / f"epoch_{int(epoch)}.pt"


class _ValidationState:
    """The validator's best metric and its best-checkpoint saver's memory, as a checkpointable object.

    Without it, a resumed run forgets its best validation score and overwrites the best checkpoint with the
    first (possibly worse) model it validates.
    """

    def __init__(self, validator: Engine, best_saver: CheckpointSaver | None) -> None:
        self.validator = validator
        self.best_saver = best_saver

    def _checkpoint(self):
        return getattr(self.best_saver, "_key_metric_checkpoint", None) if self.best_saver is not None else None

    def state_dict(self) -> dict:
        state = self.validator.state
        checkpoint = self._checkpoint()
        return {
            "best_metric": float(getattr(state, "best_metric", -1.0)),
            "best_metric_epoch": int(getattr(state, "best_metric_epoch", -1)),
            "saver": checkpoint.state_dict() if checkpoint is not None else {},
        }

    def load_state_dict(self, state: dict) -> None:
        self.validator.state.best_metric = state["best_metric"]
        self.validator.state.best_metric_epoch = state["best_metric_epoch"]
        checkpoint = self._checkpoint()
        if checkpoint is not None and state.get("saver"):
            checkpoint.load_state_dict(state["saver"])

logger = logging.getLogger(__name__)


class ResumeHandler:
    """Save ``{model, optimizer, lr_scheduler, trainer}`` after every epoch and resume from the latest one.

    The trainer itself is part of the saved state (epoch, iteration), which a bundle config cannot express
    without a circular reference; this handler adds it when it is attached to the trainer. Resuming keeps the
    trainer's current ``max_epochs``, so a finished or interrupted run can also be extended.

    With MLflow tracking (``--tracking mlflow``, whose handlers must be attached after this one, as MONAI does),
    the checkpoints also record the MLflow run, and a resumed training continues it with one value per step
    (the steps of an interrupted epoch are not logged twice); a training started from scratch gets a new run and
    a re-run of a finished training none (see :class:`~monai_nad.engines.mlflow_resume.MLflowRunTracker`).

    Args:
        ckpt_dir: folder of the checkpoints (``resume_epoch=N.pt``, only the latest kept).
        network: the network being trained.
        optimizer: its optimizer.
        lr_scheduler: the learning-rate scheduler, if any.
        validator: the validation engine, whose best metric is saved and restored too.
        best_saver: the validator's best-metric ``CheckpointSaver``, whose record of the best file is kept
            across resumption (so a worse model never replaces the best checkpoint).
        resume: load the latest checkpoint in ``ckpt_dir`` when training starts. Defaults to True.
        save: write checkpoints (set False on all but one distributed rank). Defaults to True.
        map_location: where to load tensors. Defaults to the CPU.
        snapshot_interval: also keep the network's weights (a plain state dict) after every ``snapshot_interval``-th
            epoch as ``<ckpt_dir>/snapshots/epoch_N.pt``, never removed, so that a run's epochs can be compared
            afterwards on other data than its validation (``python scripts/tune_white_equivalent.py --weights-2d``);
            0: none. Defaults to 0.

    Raises:
        ValueError: a negative ``snapshot_interval``.
    """

    def __init__(
        self,
        ckpt_dir: str,
        network: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        lr_scheduler: object | None = None,
        validator: Engine | None = None,
        best_saver: CheckpointSaver | None = None,
        resume: bool = True,
        save: bool = True,
        map_location: str | torch.device = "cpu",
        snapshot_interval: int = 0,
    ) -> None:
        if int(snapshot_interval) != snapshot_interval or snapshot_interval < 0:
            raise ValueError(f"snapshot_interval must be an int >= 0, got {snapshot_interval!r}.")
        self.ckpt_dir = str(ckpt_dir)
        self.snapshot_interval = int(snapshot_interval)
        self.objects = {"model": network, "optimizer": optimizer}
        if lr_scheduler is not None:
            self.objects["lr_scheduler"] = lr_scheduler
        if validator is not None:
            self.objects["validation"] = _ValidationState(validator, best_saver)
        self.validator = validator
        self.resume = resume
        self.save = save
        self.map_location = map_location

    def attach(self, engine: Engine) -> None:
        state = dict(self.objects, trainer=engine)
        last = latest_checkpoint(self.ckpt_dir) if self.resume else None
        tracker = MLflowRunTracker(engine, self.validator)
        if last is not None:
            logger.info("resuming training from %s", last)
            CheckpointLoader(load_path=last, load_dict=state, map_location=self.map_location).attach(engine)
        # after the checkpoint is loaded and before MLflow's handlers (attached later) start their run
        engine.add_event_handler(Events.STARTED, self._start_tracking, tracker, last)
        if self.save:
            Path(self.ckpt_dir).mkdir(parents=True, exist_ok=True)
            saver = CheckpointSaver(
                save_dir=self.ckpt_dir, save_dict=dict(state, mlflow=tracker), file_prefix="resume", save_interval=1,
                n_saved=1, epoch_level=True,
            )
            saver.attach(engine)
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._remove_older)
            if self.snapshot_interval:
                engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.snapshot_interval), self._snapshot)

    @staticmethod
    def _start_tracking(engine: Engine, tracker: MLflowRunTracker, last: str | None) -> None:
        if last is not None:
            # read apart from CheckpointLoader: checkpoints written before the MLflow run was recorded lack it
            saved = torch.load(last, map_location="cpu", weights_only=True, mmap=True).get("mlflow")
            if isinstance(saved, dict):
                tracker.load_state_dict(saved)
        tracker.started(engine, resumed=last is not None)

    def _snapshot(self, engine: Engine) -> None:
        """Write the network's weights as ``snapshots/epoch_N.pt`` (never half written)."""
        save_weights(self.objects["model"], snapshot_path(self.ckpt_dir, engine.state.epoch))

    def _remove_older(self, engine: Engine) -> None:
        """Keep only the newest ``resume*.pt`` (checkpoints left by earlier, interrupted runs included)."""
        newest = latest_checkpoint(self.ckpt_dir)
        for path in Path(self.ckpt_dir).glob("resume*.pt"):
            if str(path) != newest:
                path.unlink(missing_ok=True)
