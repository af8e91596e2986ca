"""Train for a fixed wall-clock budget: the fair way to compare learned methods of different speeds."""

from __future__ import annotations

import math
import time

import torch
from ignite.engine import Engine, Events

__all__ = ["TimeBudget"]


class TimeBudget:
    """Stop an Ignite trainer after ``budget_s`` seconds of training, with a learning rate that follows the clock.

    Every method compared under one budget gets the same seconds on the same machine, whatever its cost per
    iteration: the learning rate decays as a cosine of the elapsed fraction of the budget (from ``learning_rate``
    to ``min_learning_rate``), and the run ends with the first iteration past the budget, after a final validation
    (the validation handlers, e.g. the best-checkpoint saver, see it). Time spent in validation is not counted; loading
    and augmenting batches is. A budget of ``None`` does nothing, so a config
    can always attach the handler.

    Args:
        budget_s: training seconds, or ``None`` (no budget: the trainer's own schedule applies).
        optimizer: whose learning rate to set (every parameter group).
        learning_rate: the rate at the start.
        min_learning_rate: the rate at the end of the budget. Defaults to 0.
        validator: evaluator to run once when the budget is spent. Defaults to None.

    Raises:
        ValueError: a non-positive budget.
    """

    def __init__(
        self,
        budget_s: float | None,
        optimizer: torch.optim.Optimizer,
        learning_rate: float,
        min_learning_rate: float = 0.0,
        validator: Engine | None = None,
    ) -> None:
        if budget_s is not None and budget_s <= 0:
            raise ValueError(f"the time budget must be positive seconds, got {budget_s!r}.")
        self.budget_s, self.optimizer, self.validator = budget_s, optimizer, validator
        self.learning_rate, self.min_learning_rate = float(learning_rate), float(min_learning_rate)
        self.elapsed = 0.0
        self._start: float | None = None

    def attach(self, engine: Engine) -> None:
        if self.budget_s is None:
            return
        engine.add_event_handler(Events.GET_BATCH_STARTED, self._batch_started)
        engine.add_event_handler(Events.ITERATION_STARTED, self._iteration_started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)

    def rate(self) -> float:
        """The learning rate at the elapsed fraction of the budget."""
        fraction = min(self.elapsed / float(self.budget_s or 1.0), 1.0)
        return self.min_learning_rate + 0.5 * (self.learning_rate - self.min_learning_rate) * (1.0 + math.cos(math.pi * fraction))

    def _batch_started(self, engine: Engine) -> None:
        self._start = time.perf_counter()  # loading and augmenting the batch is part of training

    def _iteration_started(self, engine: Engine) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.rate()

    def _iteration_completed(self, engine: Engine) -> None:
        if self._start is not None:
            self.elapsed += time.perf_counter() - self._start
            self._start = None
        if self.elapsed < float(self.budget_s or 0.0):
            return
        engine.logger.info(f"time budget of {self.budget_s:.0f} s spent after {engine.state.iteration} iterations ({self.elapsed:.0f} s): stopping")
        if self.validator is not None:
            self.validator.run(engine.state.epoch)
        engine.terminate()
