"""The memory limit: every array that a result, its check or its generated function would build
is sized from the shapes before anything is built, and a request over the limit is refused.

``DEFAULT_MEMORY_LIMIT`` bounds one array (float64): 4 GiB, so that a Hessian, the check's
finite-difference copy of it and the temporaries of one evaluation fit in a 24 GiB machine.
``derive(..., memory_limit=bytes)`` / CLI ``--memory-limit 8G`` change it (``None`` / ``0``: no limit).
"""
from __future__ import annotations

import re

from sympy import Integer, MatrixSymbol

from .engine import topological
from ..errors import LimitError, MatcalcError
from ..ir.nodes import is_matrix

DEFAULT_MEMORY_LIMIT = 4 * 2 ** 30   # bytes of one array
_ITEM = 8                            # bytes of a float64 entry
_UNITS = {"": 1, "B": 1, "K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40}


def entries(shape, sizes: dict):
    """Number of entries of an array of ``shape`` with the size symbols of ``sizes`` substituted;
    None if a size is still unknown."""
    total = 1
    for d in shape:
        value = d.xreplace(sizes) if hasattr(d, "xreplace") else d
        if not isinstance(value, (int, Integer)):
            return None
        total *= int(value)
    return total


def show_bytes(n: float) -> str:
    for unit, size in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def guard(outputs: dict, sizes: dict, limit, labels: dict | None = None, what: str = "") -> None:
    """Raise LimitError if evaluating ``outputs`` (key -> expression) at sizes ``sizes`` (size
    symbol -> int) would build an array over ``limit`` bytes (None: no limit); ``labels`` name
    the outputs (key -> text), ``what`` says what the arrays are for."""
    if not limit:
        return
    worst = None
    seen: set = set()
    for key, expr in outputs.items():
        for node in topological(expr, seen=seen):
            if not is_matrix(node) or isinstance(node, MatrixSymbol):   # variables: the caller's arrays
                continue
            n = entries(node.shape, sizes)
            if n is not None and (worst is None or n > worst[0]):
                worst = (n, node, key, node is expr or node == expr)
    if worst is None or worst[0] * _ITEM <= limit:
        return
    n, node, key, is_result = worst
    rows, cols = (entries((d,), sizes) for d in node.shape)
    label = (labels or {}).get(key, str(key))
    if not is_result:
        from ..lang.printing import to_unicode
        text = to_unicode(node)
        label = f"an intermediate value of {label} ({text if len(text) <= 60 else text[:57] + '…'})"
    raise LimitError(f"{label} would be a {rows}×{cols} array ({show_bytes(n * _ITEM)}){what}, over the "
                     f"memory limit of {show_bytes(limit)} (memory_limit / --memory-limit)")


def parse_limit(text: str):
    """'4G', '512M', '1.5GiB', '1000000' (bytes) -> bytes; '0' or 'none' -> None (no limit)."""
    t = text.strip()
    if t.lower() in ("0", "none"):
        return None
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([KMGTkmgt]?)(?:i?[Bb])?", t)
    if m is None:
        raise MatcalcError(f"bad --memory-limit {text!r}: write a size such as 8G, 512M or 0 for no limit")
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if value < 1:
        raise MatcalcError(f"bad --memory-limit {text!r}: the limit must be at least one byte (0: no limit)")
    return int(value)
