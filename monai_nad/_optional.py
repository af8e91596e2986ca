"""Optional dependencies: which extra of ``monai_nad`` brings each one, and one clear error when it is missing.

The core install (``pip install monai_nad``) denoises scans, runs the bundles and trains; the classical baselines,
the benchmarks' figures and the MNI templates come with extras::

    pip install "monai_nad[baselines]"     # bm3d, bm4d (non-commercial licence), DIPY, SimpleITK
    pip install "monai_nad[experiments]"   # matplotlib, nilearn (the MNI templates), einops
    pip install "monai_nad[bids]"          # pybids (monai-nad bids: BIDS datasets in, derivatives out)
    pip install "monai_nad[cluster]"       # ray[data] (monai-nad denoise --ray: a study on a Ray cluster)
    pip install "monai_nad[all]"           # all of them

Code that needs one of them imports it with :func:`require` (or :func:`pyplot`), which raises MONAI's
:class:`~monai.utils.OptionalImportError` (an ``ImportError``) in one line naming the extra to install, e.g.
``bm3d is not installed (needed for the BM3D baseline): pip install "monai_nad[baselines]"``.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["EXTRAS", "OptionalImportError", "missing_extra_message", "require", "pyplot"]

#: The extra that installs each optional module, by its top-level import name.
EXTRAS: dict[str, str] = {
    "bm3d": "baselines",
    "bm4d": "baselines",
    "dipy": "baselines",
    "SimpleITK": "baselines",
    "matplotlib": "experiments",
    "nilearn": "experiments",
    "einops": "experiments",
    "bids": "bids",  # pybids
    "ray": "cluster",  # ray[data]: monai-nad denoise --ray
}


def missing_extra_message(module: str, purpose: str | None = None) -> str:
    """The one-line message for a missing optional ``module`` (a top-level name of :data:`EXTRAS`)."""
    top = module.split(".")[0]
    needed = f" (needed for {purpose})" if purpose else ""
    return f'{top} is not installed{needed}: pip install "monai_nad[{EXTRAS[top]}]"'


def _installed(top: str) -> bool:
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, purpose: str | None = None) -> ModuleType:
    """Import ``module`` (e.g. ``"dipy.denoise.nlmeans"``); if its optional package is missing, say which extra to install.

    Args:
        module: a dotted module name. Modules outside :data:`EXTRAS` are simply imported.
        purpose: what needs it, for the message (e.g. ``"the BM3D baseline"``).

    Returns:
        the imported module.

    Raises:
        monai.utils.OptionalImportError: the package of an optional ``module`` is not installed; the message is one
            line naming the extra (``pip install "monai_nad[<extra>]"``). Other import errors (e.g. a broken
            installation of the package itself) propagate unchanged.
    """
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if top not in EXTRAS or (err.name or "").split(".")[0] != top or _installed(top):
            raise
        from monai.utils import OptionalImportError

        raise OptionalImportError(missing_extra_message(top, purpose)) from None


def __getattr__(name: str):
    # ``OptionalImportError`` is MONAI's, looked up on first use: importing this module stays as cheap as importlib
    # (the command line names the class in an ``except`` clause, which is evaluated only when an exception arrives)
    if name == "OptionalImportError":
        from monai.utils import OptionalImportError

        return OptionalImportError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pyplot(purpose: str | None = None) -> ModuleType:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (figures are written to files), or the one-line error."""
    matplotlib = require("matplotlib", purpose)
    matplotlib.use("Agg")
    return require("matplotlib.pyplot", purpose)
