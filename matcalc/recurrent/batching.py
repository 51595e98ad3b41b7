"""Values of every step computed at once, outside the BPTT loops.

A per-step value that the recurrence does not wait for — the output layer ``s_t = h_t V + c``
after the forward loop, the loss's ``δ_s = 2(s_t − y_t)`` and its ``δ_s Vᵀ`` before the backward
loop — is a function of values whose steps are all known by then.  When it is *row-local*
(row i of the result reads row i of its per-step operands only: products with parameters on
the right, sums, entrywise functions and products, row softmax, a row broadcast) it is the
same expression on the steps stacked by rows, (T·B, n): one GEMM instead of T small ones.
The loops read the steps they need back from the (T, B, n) result.
"""
from __future__ import annotations

from sympy import HadamardPower, HadamardProduct, MatAdd, MatMul, MatrixSymbol, OneMatrix, Symbol

from ..differentiate.engine import topological
from ..ir.nodes import Elementwise, is_matrix, _Normalized

ROWS = Symbol("_steps_rows", integer=True, positive=True)   # T·B: printed only through names


def row_local(expr, steps: set, invariant: set) -> bool:
    """Is ``expr`` row-local in the per-step matrices named ``steps``, every other symbol it
    reads being in ``invariant`` (parameters, values hoisted before the loops)?"""
    if not is_matrix(expr):
        return False
    rows = expr.shape[0]
    seen = []

    def fixed(e) -> bool:
        return all(s.name in invariant for s in _symbols(e)) and not (is_matrix(e) and rows in e.shape)

    def ok(e) -> bool:
        if not is_matrix(e):   # a scalar factor
            return fixed(e)
        if e.shape[0] != rows:
            return False
        if isinstance(e, MatrixSymbol):
            seen.append(e)
            return e.name in steps
        if isinstance(e, OneMatrix):   # a constant of ones, as many rows as a step
            return True
        if isinstance(e, (MatAdd, HadamardProduct)):
            return all(ok(a) for a in e.args)
        if isinstance(e, HadamardPower):
            return ok(e.base) and fixed(e.exp)
        if isinstance(e, Elementwise):
            return ok(e.arg)
        if isinstance(e, _Normalized):
            return e.shape[1] != 1 and ok(e.arg)   # per row (a column is normalised down itself)
        if isinstance(e, MatMul):
            matrices = [a for a in e.args if is_matrix(a)]
            first, rest = matrices[0], matrices[1:]
            if not all(fixed(a) and not _has_ones(a) for a in rest) or \
                    not all(fixed(a) for a in e.args if not is_matrix(a)):
                return False
            if isinstance(first, OneMatrix):   # c 𝟏, or 𝟏 p: a row broadcast over the rows
                return not rest or first.shape[1] == 1
            return ok(first)
        return False

    return ok(expr) and bool(seen)


def flatten(expr, stacked: dict):
    """``expr`` on the stacked steps: per-step symbols -> ``stacked`` (their (T·B, n) symbols),
    the row broadcast 𝟏 (rows × 1) -> 𝟏 (T·B × 1)."""
    rows = expr.shape[0]
    ones = {n: OneMatrix(ROWS, n.shape[1]) for n in topological(expr)
            if isinstance(n, OneMatrix) and n.shape[0] == rows}
    return expr.xreplace({**ones, **stacked})


def stacked_symbol(sym, name: str) -> MatrixSymbol:
    return MatrixSymbol(name, ROWS, sym.shape[1])


def forward_outputs(forward: list, states: set, keep: set, sources: set, invariant: set) -> list:
    """Names of forward values to compute after the loop, in order: not needed by the states
    (nor kept by name: the values at the last step), row-local in ``sources`` (forward values,
    sequence steps) and earlier such outputs."""
    needed = set(states)
    for py, expr in reversed(forward):
        if py in needed:
            needed |= {s.name for s in _symbols(expr)}
    out = []
    for py, expr in forward:
        if py not in needed and py not in keep and row_local(expr, (sources | set(out)) - {py}, invariant):
            out.append(py)
    while True:   # a value a line left in the loop reads stays in the loop too
        read = {s.name for py, expr in forward if py not in out for s in _symbols(expr)}
        if not read & set(out):
            return out
        out = [py for py in out if py not in read]


def backward_inputs(assignments: list, sources: set, invariant: set, names) -> tuple[list, list]:
    """(values to compute before the backward loop as (name, expression), the loop's
    assignments): each δ row-local in ``sources`` and earlier such values, and the row-local
    products with parameters inside a sum that also reads the carries (``g_h + δ_s Vᵀ``:
    δ_s Vᵀ for every step in one GEMM)."""
    before, kept, known = [], [], set(sources)
    for target, op, expr in assignments:
        if op != "=" or not is_matrix(expr) or not target.isidentifier():
            kept.append((target, op, expr))
            continue
        if row_local(expr, known, invariant):
            before.append((target, expr))
            known.add(target)
            continue
        if isinstance(expr, MatAdd):
            hoisted = [a for a in expr.args if row_local(a, known, invariant) and _has_product(a)]
            if hoisted:
                parts = []
                for a in hoisted:
                    name = names(target + "_part")
                    before.append((name, a))
                    known.add(name)
                    parts.append(MatrixSymbol(name, *a.shape))
                expr = MatAdd(*[a for a in expr.args if a not in hoisted], *parts)
        kept.append((target, op, expr))
    return before, kept


def _symbols(e):
    """The symbols e reads (sizes, which are integers, excluded)."""
    return [s for s in topological(e) if isinstance(s, (MatrixSymbol, Symbol))
            and not (isinstance(s, Symbol) and s.is_integer)]


def _has_ones(e) -> bool:
    return any(isinstance(n, OneMatrix) for n in topological(e))


def _has_product(e) -> bool:
    return any(isinstance(n, MatMul) and sum(1 for a in n.args if is_matrix(a) and not isinstance(a, OneMatrix)) >= 2
               for n in topological(e))
