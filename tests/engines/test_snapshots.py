"""ResumeHandler's snapshots: the network's weights after every N-th epoch, kept through resumption, so that a run's
epochs can be compared afterwards on data other than its validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ignite.engine import Events
from monai.data import DataLoader
from monai.engines import SupervisedTrainer

from monai_nad.engines import ResumeHandler, load_network_weights


def _train(ckpt: Path, max_epochs: int, interval: int) -> dict[int, dict[str, torch.Tensor]]:
    """A tiny training (a new process in real life); returns the network's weights after each epoch it ran."""
    torch.manual_seed(0)
    network = torch.nn.Linear(4, 1)
    data = [{"image": torch.randn(4), "label": torch.randn(1)} for _ in range(4)]
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    trainer = SupervisedTrainer(
        device="cpu", max_epochs=max_epochs, train_data_loader=DataLoader(data, batch_size=2), network=network, optimizer=optimizer,
        loss_function=torch.nn.MSELoss(), train_handlers=[ResumeHandler(str(ckpt), network, optimizer, snapshot_interval=interval)],
    )
    seen: dict[int, dict[str, torch.Tensor]] = {}
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: seen.update({e.state.epoch: {k: v.clone() for k, v in network.state_dict().items()}}))
    trainer.run()
    return seen


def test_every_nth_epoch_is_kept_with_its_weights_and_resuming_adds_to_them(tmp_path):
    ckpt = tmp_path / "checkpoints"
    weights = _train(ckpt, max_epochs=5, interval=2)
    folder = ckpt / "snapshots"
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_2.pt", "epoch_4.pt"]
    for epoch in (2, 4):
        network = load_network_weights(torch.nn.Linear(4, 1), folder / f"epoch_{epoch}.pt")
        assert all(torch.equal(network.state_dict()[k], weights[epoch][k]) for k in weights[epoch])
    assert not torch.equal(weights[2]["weight"], weights[4]["weight"])
    assert len(list(ckpt.glob("resume*.pt"))) == 1  # the resume checkpoints are still pruned to the newest
    more = _train(ckpt, max_epochs=6, interval=2)  # resumed: epochs 6 only
    assert set(more) == {6}
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_2.pt", "epoch_4.pt", "epoch_6.pt"]


def test_no_snapshots_by_default_and_a_negative_interval_is_refused(tmp_path):
    _train(tmp_path / "checkpoints", max_epochs=2, interval=0)
    assert not (tmp_path / "checkpoints" / "snapshots").exists()
    with pytest.raises(ValueError, match="snapshot_interval"):
        ResumeHandler(str(tmp_path), torch.nn.Linear(1, 1), torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1), snapshot_interval=-1)
