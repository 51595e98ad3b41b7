"""Named results: a `where` block of shared values above results written with them.

The names are the user's own intermediates (H, Y_pred) and, chosen by matcalc, the
repeated non-trivial subexpressions of the results: a subexpression is named when it
occurs at least twice across the results (counted as printed, Xᵀ counting X) and its
text is at least ``MIN_LENGTH`` characters; the one saving the most text is named first
(a value such as σ(z), softmax(z) or X⁻¹ counts 1.5 times: p = σ(Xw + b), then Xᵀ(p − y)),
at most ``MAX_NAMES`` of them.  A name is taken from what the value is (p = σ(·),
s = softmax(·), h = tanh(·), d for a delta (an entrywise product), K for an
inverse, t otherwise; upper case for a matrix), never one of the
program's names.
"""
from __future__ import annotations

from sympy.matrices.expressions import HadamardProduct

from ..lang import printing
from ..errors import MatcalcError
from ..differentiate.engine import _LEAVES, topological
from ..ir.nodes import Elementwise, Softmax, is_matrix

MIN_LENGTH = 8
MAX_NAMES = 4
_STEMS = {"sigmoid": "p", "tanh": "h", "exp": "e", "relu": "a"}


def _occurrences(exprs, cut) -> dict:
    """How many times each node is printed in ``exprs`` (nodes in ``cut`` print as names)."""
    counts: dict = {}
    seen: set = set()
    order = []
    for e in exprs:
        order.extend(topological(e, cut=frozenset(cut), seen=seen))
    for e in exprs:
        counts[e] = counts.get(e, 0) + 1
    for node in reversed(order):            # parents before children
        c = counts.get(node, 0)
        if not c or node in cut or isinstance(node, _LEAVES):
            continue
        for a in node.args:
            counts[a] = counts.get(a, 0) + c
    return counts


def _candidate(node) -> bool:
    """Values a textbook names: σ(z), softmax(z), X⁻¹ (p, s) and entrywise products (deltas,
    δ = (W₂ᵀδ₂) ⊙ h ⊙ (1 − h)); sums and plain products are left inline (Hᵀ(HW₂ + b₂ − Y))."""
    from sympy import Inverse
    return isinstance(node, (Elementwise, Softmax, Inverse, HadamardProduct))


_VALUE_BONUS = 1.5   # a value (σ(z), softmax(z), X⁻¹) is named before a sum that contains it: p − y


def _is_value(node) -> bool:
    from sympy import Inverse
    return isinstance(node, (Elementwise, Softmax, Inverse))


def _stem(node) -> str:
    """p for a vector σ(z), P for a matrix one (likewise s/S, h/H, d/D); K for an inverse."""
    stem = _lower_stem(node)
    if is_matrix(node) and 1 not in tuple(node.shape):
        return stem.upper()
    return stem


def _lower_stem(node) -> str:
    from sympy import Inverse
    if isinstance(node, Inverse):
        return "k"
    if isinstance(node, Elementwise):
        return _STEMS.get(node.name, "t")
    if isinstance(node, Softmax):
        return "s"
    if not is_matrix(node):
        return "q"
    if isinstance(node, HadamardProduct):
        return "d"
    return "t"


def choose_names(results: list, user_names: dict, taken: set) -> dict:
    """{subexpression: name} chosen for the repeated subexpressions of ``results`` (none when
    the results cannot be walked: names are a presentation, never a reason to fail)."""
    try:
        return _choose(results, user_names, taken)
    except MatcalcError:   # a time limit
        raise
    except Exception:  # noqa: BLE001
        return {}


def _choose(results: list, user_names: dict, taken: set) -> dict:
    chosen: dict = {}
    used = set(taken)
    for _ in range(MAX_NAMES):
        names = {**user_names, **chosen}
        counts = _occurrences(results, set(names))
        best, gain = None, 0
        for node, c in counts.items():
            if c < 2 or node in names or not _candidate(node):
                continue
            n = len(printing.to_unicode(node, {k: v for k, v in names.items() if k != node}).replace(" ", ""))
            if n < MIN_LENGTH:
                continue
            g = (c - 1) * n * (_VALUE_BONUS if _is_value(node) else 1)
            if g > gain:
                best, gain = node, g
        if best is None:
            break
        stem = _stem(best)
        name, k = stem, 1
        while name in used:
            k += 1
            name = f"{stem}{k}"
        used.add(name)
        chosen[best] = name
    return chosen


def where_block(results: list, names: dict, style) -> list[tuple[str, str]]:
    """[(name, definition text)] of the names ``results`` use, each defined once, in dependency
    order (a definition uses only names above it)."""
    needed, order = set(), []

    def visit(expr, top):
        for node in topological(expr, cut=frozenset(names)):
            if node in names and node is not top and node not in needed:
                needed.add(node)
                visit(node, node)
                order.append(node)
    for r in results:
        visit(r, None)
    out = []
    for node in order:
        text = printing.Printer(style, {k: v for k, v in names.items() if k != node})(node)
        out.append((names[node], text))
    return out

