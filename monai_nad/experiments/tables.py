"""Cells of the result pages' Markdown tables."""

from __future__ import annotations

import numpy as np

__all__ = ["table_number"]


def table_number(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or ``"-"`` for a missing or NaN value."""
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"
