"""An inference engine for user scans in which one bad scan never stops the others."""

from __future__ import annotations

import logging
import time
from typing import Any

from monai.engines import SupervisedEvaluator
from monai.utils import CommonKeys as Keys

from monai_nad.inference.inputs import InputReport

__all__ = ["ScanEvaluator"]

logger = logging.getLogger(__name__)


def _innermost(err: BaseException) -> BaseException:
    """The exception at the root of a chain (MONAI wraps a failing transform's error in RuntimeErrors)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


class ScanEvaluator(SupervisedEvaluator):
    """A :class:`monai.engines.SupervisedEvaluator` that reports a failing scan and goes on with the next.

    Any exception raised while denoising or writing one batch of scans (the network, the inferer, the
    post-processing that writes the result) is logged in one line naming the scan and its root cause, recorded in
    ``report.failures``, and the run continues. The inputs were checked before the run
    (:func:`~monai_nad.inference.prepare_inputs`), so this catches what only shows up on the way: a scan the network
    cannot take, a full disk, a file that changed. Every result written is recorded in ``report.written``, with the
    model, the noise level (given, or estimated with the coil count and correlation length), the coil count and the
    seconds of each scan in ``report.details``. A run with nothing to denoise (every
    result already there) does nothing.

    Args:
        report: the run's :class:`~monai_nad.inference.InputReport`; results and failures are recorded in it.
        args, kwargs: as :class:`~monai.engines.SupervisedEvaluator`.
    """

    def __init__(self, *args: Any, report: InputReport | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.report = report if report is not None else InputReport()
        self.interrupted = False

    def run(self) -> None:  # type: ignore[override]
        """Denoise every planned scan (in a distributed run, this rank's share); nothing to do when there is none.

        Raises:
            KeyboardInterrupt: Ctrl-C stopped the run; the scans written before it are in ``report.written``.
        """
        self.interrupted = False
        if self.report.items and len(self.data_loader) > 0:  # a rank of a distributed run may get no scan
            self.state.epoch_length = len(self.data_loader)  # the scans of this run (a Ray worker runs again with others)
            super().run()
        if self.interrupted:
            raise KeyboardInterrupt

    def _names(self, batchdata: Any) -> list[str]:
        if not isinstance(batchdata, dict):
            return ["<batch>"]
        if "name" in batchdata:
            return [str(name) for name in _as_list(batchdata["name"])]
        return [str(record.loaded.path) for record in _as_list(batchdata.get("scan", []))] or ["<batch>"]

    def _iteration(self, engine: SupervisedEvaluator, batchdata: dict[str, Any]) -> dict:
        start = time.perf_counter()
        names = self._names(batchdata)
        try:
            output = super()._iteration(engine, batchdata)
        except KeyboardInterrupt:  # end the run cleanly (no engine error log), then tell the caller
            self.interrupted = True
            engine.terminate()
            engine.state.output = {Keys.IMAGE: None, Keys.LABEL: None, Keys.PRED: None}
            return engine.state.output
        except Exception as err:  # noqa: BLE001 - one scan's failure, whatever it is, must not stop the others
            root = _innermost(err)
            reason = f"{type(root).__name__}: {root}".splitlines()[0]
            for name in names:
                logger.error("skipping %s: %s", name, reason)
                self.report.failures.append((name, reason))
            engine.state.output = {Keys.IMAGE: None, Keys.LABEL: None, Keys.PRED: None}
            return engine.state.output
        seconds = (time.perf_counter() - start) / max(len(names), 1)
        written = _as_list(output.get("written", [])) if isinstance(output, dict) else []
        self.report.written.extend(str(path) for path in written)
        choices = getattr(self.inferer, "last_choices", [])
        noises = getattr(self.inferer, "last_noise", [])
        records = _as_list(batchdata.get("scan", [])) if isinstance(batchdata, dict) else []
        coils = _as_list(batchdata.get("coils", [None] * len(names))) if isinstance(batchdata, dict) else []
        given = _as_list(batchdata.get("noise_std", [None] * len(names))) if isinstance(batchdata, dict) else []
        for index, name in enumerate(names):
            detail: dict = {"seconds": round(seconds, 3)}
            if index < len(choices):
                detail["model"] = choices[index][0]
            detail["coils"] = int(coils[index]) if index < len(coils) and coils[index] is not None else 1  # the networks' default
            scale = float(records[index].norm[1]) if index < len(records) else 1.0  # back to the scan's units
            noise = noises[index] if index < len(noises) else {}
            if noise:
                detail.update(noise_std=noise["noise_std"] * scale, noise_estimated=noise.get("noise_from") != "given", coils=noise["coils"],
                              coils_estimated=noise["coils_estimated"])
                if "correlation_length" in noise:  # the noise map's reading (a diffusion series read by its series path may lack it)
                    detail.update(correlation_length=noise["correlation_length"], white_equivalent_factor=noise.get("white_equivalent_factor", 1.0))
                if "kept_fraction" in noise:  # a diffusion series: what its series path estimated
                    detail.update(kept_fraction=noise["kept_fraction"], noise_from=noise["noise_from"],
                                  series_residual_std=noise["series_residual_std"] * scale)
            elif index < len(given) and given[index] is not None:
                detail.update(noise_std=float(given[index]) * scale, noise_estimated=False)
            self.report.details[name] = {**self.report.details.get(name, {}), **detail}  # kept: what prepare_inputs recorded
        return output
