"""A resumed training keeps one MLflow run with one value per step; a re-run of a finished one adds no run.

The fast tests build the engines in-process the way ``--tracking mlflow`` configures them (an ``MLFlowHandler``
on the trainer, logging every iteration and closing the run at the end, and one on the validator, attached after
``ResumeHandler``); an exception stands in for the kill. The slow test kills a real bundle run with SIGKILL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ignite.engine import Events
from monai.data import DataLoader
from monai.engines import SupervisedEvaluator, SupervisedTrainer
from monai.handlers import MeanSquaredError, MLFlowHandler, ValidationHandler, from_engine

from monai_nad.engines import ResumeHandler

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "bundles" / "reproductions" / "neural_pde_v0.2" / "configs"  # the v0.2 recipe
ITERATIONS = 3  # per epoch


class Killed(RuntimeError):
    pass


def _train(tmp_path: Path, max_epochs: int, kill_at: int | None = None, resume: bool = True, run_name: str | None = None) -> None:
    """One invocation of a tiny training (a new process in real life: new network, engines and handlers)."""
    torch.manual_seed(0)
    network = torch.nn.Linear(4, 1)
    data = [{"image": torch.randn(4), "label": torch.randn(1)} for _ in range(2 * ITERATIONS)]
    loader = DataLoader(data, batch_size=2, shuffle=False)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    validator = SupervisedEvaluator(
        device="cpu", val_data_loader=loader, network=network,
        key_val_metric={"val_mse": MeanSquaredError(output_transform=from_engine(["pred", "label"]))},
        val_handlers=[MLFlowHandler(tracking_uri=uri, experiment_name="e", run_name=run_name, iteration_log=False)],
    )
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01)
    handlers = [
        ValidationHandler(validator=validator, interval=1, epoch_level=True),
        ResumeHandler(str(tmp_path / "ckpt"), network, optimizer, validator=validator, resume=resume),
        MLFlowHandler(
            tracking_uri=uri, experiment_name="e", run_name=run_name, iteration_log=True, tag_name="train_loss",
            output_transform=from_engine(["loss"], first=True), close_on_complete=True,
        ),
    ]
    trainer = SupervisedTrainer(
        device="cpu", max_epochs=max_epochs, train_data_loader=loader, network=network, optimizer=optimizer,
        loss_function=torch.nn.MSELoss(), train_handlers=handlers,
    )
    if kill_at is not None:  # after the iteration is logged, as a kill would be

        def kill(engine):
            raise Killed(f"killed at iteration {engine.state.iteration}")

        trainer.add_event_handler(Events.ITERATION_COMPLETED(once=kill_at), kill)
        with pytest.raises(Killed):
            trainer.run()
    else:
        trainer.run()


def _runs(tracking_uri: str, experiment: str) -> list[dict]:
    """Each run of the experiment: its name, status and the steps of each metric."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id]) if found else []
    return [
        {
            "name": run.info.run_name,
            "status": run.info.status,
            "steps": {key: sorted(m.step for m in client.get_metric_history(run.info.run_id, key)) for key in run.data.metrics},
        }
        for run in runs
    ]


def test_resumed_training_continues_its_run_with_one_value_per_step(tmp_path):
    _train(tmp_path, max_epochs=3, kill_at=ITERATIONS + 2)  # killed in epoch 2, after two of its iterations
    _train(tmp_path, max_epochs=3)  # resumes from epoch 1
    runs = _runs(f"sqlite:///{tmp_path / 'mlruns.db'}", "e")
    assert len(runs) == 1, runs
    assert runs[0]["status"] == "FINISHED"
    assert runs[0]["steps"]["train_loss"] == list(range(1, 3 * ITERATIONS + 1))
    assert runs[0]["steps"]["lr_group_0"] == list(range(1, 3 * ITERATIONS + 1))
    assert runs[0]["steps"]["val_mse"] == [1, 2, 3]


def test_rerun_of_a_finished_training_adds_no_run_and_an_extension_continues_it(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    _train(tmp_path, max_epochs=2, run_name="v1")
    before = _runs(uri, "e")
    _train(tmp_path, max_epochs=2, run_name="v1")  # nothing left to train
    assert _runs(uri, "e") == before
    _train(tmp_path, max_epochs=3, run_name="v1")  # more epochs: the same run goes on
    runs = _runs(uri, "e")
    assert len(runs) == 1 and runs[0]["status"] == "FINISHED", runs
    assert runs[0]["steps"]["train_loss"] == list(range(1, 3 * ITERATIONS + 1))
    assert runs[0]["steps"]["val_mse"] == [1, 2, 3]


def test_training_from_scratch_never_logs_into_a_killed_run(tmp_path):
    _train(tmp_path, max_epochs=2, kill_at=2)
    _train(tmp_path, max_epochs=2, resume=False)
    runs = sorted(_runs(f"sqlite:///{tmp_path / 'mlruns.db'}", "e"), key=lambda r: r["status"])
    assert [r["status"] for r in runs] == ["FINISHED", "RUNNING"]
    assert runs[0]["steps"]["train_loss"] == list(range(1, 2 * ITERATIONS + 1))
    assert runs[1]["steps"]["train_loss"] == [1, 2]


def _bundle(root: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "monai.bundle", "run", "--config_file", str(CONFIGS / "train.json"),
        "--meta_file", str(CONFIGS / "metadata.json"), "--logging_file", str(CONFIGS / "logging.conf"),
        "--bundle_root", str(root), "--tracking", "mlflow", "--experiment_name", "tiny",
        "--max_epochs", "3", "--val_interval", "1", "--patches_per_slice", "2", "--network_def#steps", "2",
        "--train#datalist", "$monai_nad.data.mni_slices('train')[:8]", "--val_noise_stds", "[0.1]", *args,
    ]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))


@pytest.mark.slow
def test_bundle_run_killed_mid_epoch_resumes_into_the_same_mlflow_run(tmp_path):
    """The documented command line: ``--tracking mlflow``, killed (SIGKILL) in epoch 2, run again twice."""
    root = tmp_path / "bundle"
    shutil.copytree(CONFIGS, root / "configs")
    initialize = json.loads((CONFIGS / "train.json").read_text())["initialize"]
    kill = "$@train#trainer.add_event_handler(ignite.engine.Events.ITERATION_COMPLETED(once=3), lambda e: os.kill(os.getpid(), signal.SIGKILL))"
    killed = _bundle(root, "--initialize", json.dumps(initialize + ["$import signal", kill]))  # 2 iterations per epoch
    assert killed.returncode == -9, killed.stdout[-2000:] + killed.stderr[-2000:]
    uri = f"sqlite:///{root / 'runs' / 'mlruns.db'}"
    assert _runs(uri, "tiny")[0]["steps"]["train_loss"] == [1, 2, 3]
    for _ in range(2):  # the resumption, then a re-run of the finished training
        result = _bundle(root)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs = _runs(uri, "tiny")
        assert len(runs) == 1 and runs[0]["status"] == "FINISHED", runs
        assert runs[0]["steps"]["train_loss"] == [1, 2, 3, 4, 5, 6]
        assert runs[0]["steps"]["val_psnr"] == [1, 2, 3]
