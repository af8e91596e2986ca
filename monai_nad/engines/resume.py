"""Resumable training: save and restore the whole training state every epoch."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from monai.handlers import CheckpointLoader, CheckpointSaver

from monai_nad.engines.checkpoints import latest_checkpoint

__all__ = ["ResumeHandler"]

logger = logging.getLogger(__name__)


class ResumeHandler:
    """Save ``{model, optimizer, lr_scheduler, trainer}`` after every epoch and resume from the latest one.

    The trainer itself is part of the saved state (epoch, iteration), which a bundle config cannot express
    without a circular reference; this handler adds it when it is attached to the trainer. Resuming keeps the
    trainer's current ``max_epochs``, so a finished or interrupted run can also be extended.

    Args:
        ckpt_dir: folder of the checkpoints (``resume_epoch=N.pt``, only the latest kept).
        network: the network being trained.
        optimizer: its optimizer.
        lr_scheduler: the learning-rate scheduler, if any.
        resume: load the latest checkpoint in ``ckpt_dir`` when training starts. Defaults to True.
        save: write checkpoints (set False on all but one distributed rank). Defaults to True.
        map_location: where to load tensors. Defaults to the CPU.
    """

    def __init__(
        self,
        ckpt_dir: str,
        network: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        lr_scheduler: object | None = None,
        resume: bool = True,
        save: bool = True,
        map_location: str | torch.device = "cpu",
    ) -> None:
        self.ckpt_dir = str(ckpt_dir)
        self.objects = {"model": network, "optimizer": optimizer}
        if lr_scheduler is not None:
            self.objects["lr_scheduler"] = lr_scheduler
        self.resume = resume
        self.save = save
        self.map_location = map_location

    def attach(self, engine: Engine) -> None:
        state = dict(self.objects, trainer=engine)
        last = latest_checkpoint(self.ckpt_dir) if self.resume else None
        if last is not None:
            logger.info("resuming training from %s", last)
            CheckpointLoader(load_path=last, load_dict=state, map_location=self.map_location).attach(engine)
        if self.save:
            Path(self.ckpt_dir).mkdir(parents=True, exist_ok=True)
            saver = CheckpointSaver(
                save_dir=self.ckpt_dir, save_dict=state, file_prefix="resume", save_interval=1, n_saved=1, epoch_level=True
            )
            saver.attach(engine)
            engine.add_event_handler(Events.EPOCH_COMPLETED, self._remove_older)

    def _remove_older(self, engine: Engine) -> None:
        """Keep only the newest ``resume*.pt`` (checkpoints left by earlier, interrupted runs included)."""
        newest = latest_checkpoint(self.ckpt_dir)
        for path in Path(self.ckpt_dir).glob("resume*.pt"):
            if str(path) != newest:
                path.unlink(missing_ok=True)
