"""TimeBudget: a training run ends when its seconds are spent, with a learning rate that follows the clock."""

from __future__ import annotations

import time

import pytest
import torch
from ignite.engine import Engine, Events

from monai_nad.engines import TimeBudget


def _trainer(step_s: float, optimizer: torch.optim.Optimizer, rates: list[float]) -> Engine:
    def step(engine, batch):
        rates.append(optimizer.param_groups[0]["lr"])
        time.sleep(step_s)

    return Engine(step)


def test_stops_after_the_budget_and_decays_the_rate():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    rates: list[float] = []
    trainer = _trainer(0.01, optimizer, rates)
    validations: list[int] = []
    validator = Engine(lambda e, b: None)
    validator.run = lambda epoch: validations.append(epoch)  # type: ignore[method-assign]
    TimeBudget(0.2, optimizer, learning_rate=1.0, min_learning_rate=0.1, validator=validator).attach(trainer)
    trainer.run(range(50), max_epochs=1000)
    assert 10 <= trainer.state.iteration <= 25 and trainer.state.epoch == 1  # ~20 steps of 10 ms: it stops inside the epoch
    assert rates[0] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates, rates[1:]))  # cosine decay, monotone
    assert 0.1 <= rates[-1] < 0.3
    assert validations == [trainer.state.epoch]  # the last epoch was validated once


def test_no_budget_changes_nothing():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    rates: list[float] = []
    trainer = _trainer(0.0, optimizer, rates)
    TimeBudget(None, optimizer, learning_rate=1.0).attach(trainer)
    trainer.run(range(3), max_epochs=2)
    assert trainer.state.epoch == 2 and rates == [0.5] * 6


def test_a_bad_budget_is_refused():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    with pytest.raises(ValueError, match="positive"):
        TimeBudget(0, optimizer, learning_rate=1.0)


def test_only_an_epoch_schedule_of_the_neural_pde_replaces_the_shipped_model():
    """A wall-clock budget run is a comparison: it must never overwrite models/model.pt (nor a baseline or a Br35H run)."""
    from monai_nad.engines.training_record import installs_shipped_model

    assert installs_shipped_model("pde", "real_anatomy", None, no_install=False) == "model.pt"
    assert installs_shipped_model("volume", "real_anatomy", None, no_install=False) == "model_3d.pt"
    assert not installs_shipped_model("volume", "real_anatomy", 900.0, no_install=False)
    assert not installs_shipped_model("pde", "real_anatomy", 900.0, no_install=False)
    assert not installs_shipped_model("pde", "br35h", None, no_install=False)
    assert not installs_shipped_model("dncnn", "real_anatomy", None, no_install=False)
    assert not installs_shipped_model("pde", "real_anatomy", None, no_install=True)
