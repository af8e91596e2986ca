"""One MLflow run per method or configuration, in one experiment per suite, in an embedded SQLite store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monai_nad.engines.mlflow_extras import flatten_params

__all__ = ["sqlite_uri", "log_method_run", "latest_runs"]


def sqlite_uri(store: str | Path) -> str:
    """The MLflow tracking URI of a SQLite file (MLflow 3 rejects a bare folder as a store)."""
    return f"sqlite:///{Path(store).resolve()}"


def log_method_run(
    tracking_uri: str,
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    artifacts: Sequence[str | Path] = (),
    tags: Mapping[str, str] | None = None,
) -> str:
    """Record one finished method/configuration as an MLflow run.

    Args:
        tracking_uri: e.g. ``sqlite:///.../mlflow.db``.
        experiment: the suite's experiment (created if missing).
        run_name: the method's name; a later run with the same name supersedes it in :func:`latest_runs`.
        params: parameters (values converted to strings, nested dicts flattened as ``a.b``).
        metrics: numeric results.
        artifacts: files to attach.
        tags: extra tags.

    Returns:
        the run id.
    """
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        experiment_id = found.experiment_id
    else:
        location = None
        if tracking_uri.startswith("sqlite:///"):  # artifacts next to the store, not in the working directory
            location = (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlartifacts" / experiment).resolve().as_uri()
        experiment_id = client.create_experiment(experiment, artifact_location=location)
    run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags or {}))
    run_id = run.info.run_id
    timestamp = int(run.info.start_time)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), timestamp, 0) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in flatten_params(params).items()],
        tags=[RunTag("suite", experiment)],
    )
    for path in artifacts:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)
    return run_id


def latest_runs(tracking_uri: str, experiment: str) -> list[dict[str, Any]]:
    """The newest finished run of every run name in an experiment, oldest name first.

    Returns:
        a list of ``{"name", "run_id", "params", "metrics", "tags", "artifact_uri"}``.

    Raises:
        ValueError: the experiment does not exist in the store.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ValueError(f"no MLflow experiment {experiment!r} in {tracking_uri}; run the suite first.")
    runs = client.search_runs([found.experiment_id], "attributes.status = 'FINISHED'", order_by=["attributes.start_time DESC"], max_results=5000)
    latest: dict[str, Any] = {}
    for run in runs:
        name = run.info.run_name
        if name not in latest:
            latest[name] = {
                "name": name,
                "run_id": run.info.run_id,
                "params": dict(run.data.params),
                "metrics": dict(run.data.metrics),
                "tags": dict(run.data.tags),
                "artifact_uri": run.info.artifact_uri,
                "start_time": run.info.start_time,
            }
    return sorted(latest.values(), key=lambda r: r["start_time"])
