"""Catch misspelt command-line overrides of ``python -m monai.bundle run``.

MONAI's bundle runner accepts ``--any_key value`` and silently adds keys the configs do not define, so a
typo such as ``--max_epoch 3`` trains with the default instead. Each of our configs calls
:func:`check_override_keys` in its ``initialize`` list; it re-reads the config files named on the command
line and rejects overrides that name nothing in them.
"""

from __future__ import annotations

import ast
import difflib
import sys
from collections.abc import Sequence

from monai.bundle import ConfigParser

__all__ = ["check_override_keys", "exit_bundle_run", "reject_unknown_overrides"]

#: Arguments of ``monai.bundle run`` itself, not config overrides.
RUN_ARGUMENTS = {
    "config_file", "meta_file", "logging_file", "args_file", "run_id", "init_id", "final_id",
    "workflow_type", "workflow", "properties_path", "tracking",
}
#: Keys that ``--tracking mlflow`` adds to the config.
TRACKING_KEYS = {"tracking_uri", "experiment_name", "run_name", "save_execute_config", "is_not_rank0", "output_dir"}


def _overrides(argv: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    items = list(argv)
    for i, item in enumerate(items):
        if item.startswith("--"):
            key, _, value = item[2:].partition("=")
            if not value and i + 1 < len(items) and not items[i + 1].startswith("--"):
                value = items[i + 1]
            found[key] = value
    return found


def check_override_keys(argv: Sequence[str] | None = None) -> None:
    """Raise if a ``--key`` override of a bundle run names no item of the configs being run.

    Args:
        argv: the command line (defaults to ``sys.argv``); runs without ``--config_file`` (e.g. through
            :class:`monai.bundle.ConfigWorkflow`) are not checked.

    Raises:
        ValueError: naming the unknown key, the config files and the closest existing keys.
    """
    overrides = _overrides(sys.argv if argv is None else argv)
    if "config_file" not in overrides:
        return
    raw = overrides["config_file"]
    files = ast.literal_eval(raw) if raw.startswith("[") else [raw]
    parser = ConfigParser()
    parser.read_config(files)
    allowed = set(RUN_ARGUMENTS) | (TRACKING_KEYS if "tracking" in overrides else set())
    known = list(parser.get())
    for key in overrides:
        if key in allowed or key.split("#")[0] in allowed:
            continue
        if key.replace(".", "#") in parser:
            continue
        close = difflib.get_close_matches(key.split("#")[0], known, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown config key '--{key}': it is not defined in {', '.join(map(str, files))}.{hint}")


def reject_unknown_overrides(argv: Sequence[str] | None = None) -> None:
    """:func:`check_override_keys` for a bundle's ``initialize`` list: a bad key ends the run with our message alone.

    MONAI wraps an exception raised inside a config expression in a long ``RuntimeError`` traceback that buries the
    message; this prints ``monai.bundle run: error: <message>`` to stderr and exits with status 2 instead.

    Raises:
        SystemExit: an override names no item of the configs being run.
    """
    try:
        check_override_keys(argv)
    except ValueError as err:
        exit_bundle_run(err, ["--config_file", "x"])


def exit_bundle_run(err: Exception, argv: Sequence[str] | None = None) -> None:
    """Under ``python -m monai.bundle run`` (``--config_file`` on the command line), end the run with ``err``'s message alone.

    Prints ``monai.bundle run: error: <message>`` to stderr and exits with status 2, instead of MONAI's long traceback
    that buries the message. Elsewhere (e.g. :class:`monai.bundle.ConfigWorkflow` inside ``monai-nad``) it returns,
    and the caller re-raises ``err`` for its own handling.

    Raises:
        SystemExit: when running under the bundle command line.
    """
    if "config_file" in _overrides(sys.argv if argv is None else argv):
        print(f"monai.bundle run: error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2)
