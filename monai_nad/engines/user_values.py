"""Pass user-supplied values (paths, names, numbers) into a MONAI bundle config as data, never as code.

MONAI's config parser treats a string that starts with ``$`` as a Python expression, ``%`` as a macro and
``@name`` as a reference. A file called ``$__import__('os').system(...)`` given as a config override would run.
Every value that comes from a user therefore reaches the config through a fixed expression that contains no user
text, ``$monai_nad.engines.user_value('key')``, and the value itself travels beside it:

- in-process (:class:`monai.bundle.ConfigWorkflow`): in a registry of this module, set by :func:`data_overrides`;
- to a subprocess (``python -m monai.bundle run``): as JSON in the environment variable :data:`USER_VALUES_ENV`,
  built by :func:`bundle_command`.

Example::

    overrides = data_overrides({"input_paths": ["$evil.nii.gz"], "output_dir": "out"})
    ConfigWorkflow(config_file=..., **overrides)          # input_paths evaluates to ["$evil.nii.gz"]
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["USER_VALUES_ENV", "user_value", "data_overrides", "bundle_command"]

#: Environment variable holding the JSON object of user values of a ``monai.bundle run`` subprocess.
USER_VALUES_ENV = "MONAI_NAD_USER_VALUES"

_REGISTRY: dict[str, Any] = {}


def _plain(value: Any) -> Any:
    """``value`` with paths turned into strings and tuples into lists (JSON-friendly, same meaning)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _expression(key: str) -> str:
    if not key.replace("#", "").replace("_", "").isalnum():
        raise ValueError(f"config key {key!r} may only contain letters, digits, '_' and '#'.")
    return f"$monai_nad.engines.user_value({key!r})"


def user_value(key: str) -> Any:
    """The user value registered under ``key`` (in this process, or in :data:`USER_VALUES_ENV`).

    Args:
        key: the config key the value overrides.

    Returns:
        the value exactly as the user gave it (strings are returned unparsed).

    Raises:
        KeyError: no value was passed under ``key``.
    """
    if key in _REGISTRY:
        return _REGISTRY[key]
    passed = json.loads(os.environ.get(USER_VALUES_ENV, "{}"))
    if key not in passed:
        raise KeyError(f"no user value was passed for config key {key!r}")
    return passed[key]


def data_overrides(values: Mapping[str, Any]) -> dict[str, str]:
    """Config overrides for :class:`monai.bundle.ConfigWorkflow` that carry ``values`` as data.

    Args:
        values: config key -> user value (str, Path, number, bool, None, or lists/dicts of them).

    Returns:
        config key -> the fixed expression that returns the value; the values are kept in this process.
    """
    overrides = {}
    for key, value in values.items():
        overrides[key] = _expression(key)
        _REGISTRY[key] = _plain(value)
    return overrides


def bundle_command(
    config_files: Sequence[str | Path], values: Mapping[str, Any], code_overrides: Sequence[str] = (), run_args: Sequence[str] = ()
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a ``python -m monai.bundle run`` subprocess with user values as data.

    Args:
        config_files: the configs, merged in order.
        values: config key -> user value, passed as data (see :func:`data_overrides`).
        code_overrides: ``--key value`` pairs written by us, passed to MONAI unchanged (they may be expressions).
        run_args: arguments of ``monai.bundle run`` itself (``--meta_file``, ``--logging_file``, ``--tracking`` ...).

    Returns:
        ``(command, env)``: run it as ``subprocess.run(command, env=env)``.
    """
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", json.dumps([str(f) for f in config_files]), *run_args]
    for key in values:
        command += [f"--{key}", _expression(key)]
    command += list(code_overrides)
    env = dict(os.environ)
    env[USER_VALUES_ENV] = json.dumps({key: _plain(value) for key, value in values.items()})
    return command, env
