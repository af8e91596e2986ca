"""An inference engine for user scans in which one bad scan never stops the others."""

from __future__ import annotations

import logging
from typing import Any

from monai.engines import SupervisedEvaluator
from monai.utils import CommonKeys as Keys

from monai_nad.inference.inputs import InputReport

__all__ = ["ScanEvaluator"]

logger = logging.getLogger(__name__)


class ScanEvaluator(SupervisedEvaluator):
    """A :class:`monai.engines.SupervisedEvaluator` that reports a failing scan and goes on with the next.

    Any exception raised while denoising or writing one batch of scans (the network, the inferer, the
    post-processing that writes the result) is logged in one line naming the scan, recorded in ``report.failures``,
    and the run continues. The inputs were checked before the run (:func:`~monai_nad.inference.prepare_inputs`), so
    this catches what only shows up on the way: a scan the network cannot take, a full disk, a file that changed.

    Args:
        report: the run's :class:`~monai_nad.inference.InputReport`; failures are appended to it.
        args, kwargs: as :class:`~monai.engines.SupervisedEvaluator`.
    """

    def __init__(self, *args: Any, report: InputReport | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report = report if report is not None else InputReport()

    def _iteration(self, engine: SupervisedEvaluator, batchdata: dict[str, Any]) -> dict:
        try:
            return super()._iteration(engine, batchdata)
        except Exception as err:  # noqa: BLE001 - one scan's failure, whatever it is, must not stop the others
            records = batchdata.get("scan", []) if isinstance(batchdata, dict) else []
            records = records if isinstance(records, list) else [records]
            names = [str(record.loaded.path) for record in records] or ["<batch>"]
            reason = f"{type(err).__name__}: {err}".splitlines()[0]
            for name in names:
                logger.error("skipping %s: %s", name, reason)
                self.report.failures.append((name, reason))
            engine.state.output = {Keys.IMAGE: None, Keys.LABEL: None, Keys.PRED: None}
            return engine.state.output
