"""Parameter gradients of a BPTT loop as one GEMM after the loop.

The backward loop accumulates a weight's gradient as Σ_t L_tᵀ R_t (``grad_W += h_prev.T @ d_u``;
a bias's column sums are 𝟏ᵀ R_t).  That sum is one product of the steps stacked by rows,
[L_1; …; L_T]ᵀ [R_1; …; R_T]: one GEMM over T·B rows after the loop, which keeps the BLAS
threads busy where T small GEMMs do not.  Each R_t (a δ the loop computes) is stored in a
(T, …) buffer as it is computed; L_t is read where it already lives: a sequence argument, a
forward value kept in a (T, …) buffer by the forward loop, or a state's previous value — the
state's own buffer one step behind, and its initial value for the first step (no copy).
Terms of any other shape stay in the loop.  The values are the same sums of products.
"""
from __future__ import annotations

from sympy import Add, MatAdd, MatMul, MatrixSymbol, OneMatrix, Symbol, Transpose

from ..differentiate.engine import topological
from ..ir.nodes import is_matrix
from .fusion import ColumnBlock, Concat


class Steps:
    """Where the steps of the per-step values live, as the deferral reads them."""

    def __init__(self, sequences: dict, values: set, prevs: dict, buffer, zero_initial: set, size):
        self.sequences = sequences      # step name (x_t) -> the (T, …) argument (x)
        self.values = values            # forward values the forward loop can keep in a buffer
        self.prevs = prevs              # prev name (h_prev) -> the state's forward value (h_t)
        self.buffer = buffer            # forward value -> the name of its (T, …) buffer
        self.zero_initial = zero_initial  # prev names whose value before step 1 is zero
        self.size = size                # a size (sympy) -> its code

    def knows(self, name: str) -> bool:
        return name in self.sequences or name in self.values or name in self.prevs


class Plan:
    """What the deferral needs from the code around the loops."""

    def __init__(self):
        self.forward_buffers: set = set()     # forward values kept in (T, …) buffers
        self.initial: dict = {}               # prev name -> name of its value before step 1
        self.stores: dict = {}                # loop value (δ) -> its buffer's name
        self.symbols: dict = {}               # loop value -> its symbol (the buffer's shape)
        self.definitions: dict = {}           # loop value -> its expression in the loop
        self.after: list = []                 # (target, '+=', expression) after the backward loop
        self.flat: dict = {}                  # symbol in ``after`` -> code of the stacked steps


def defer(assignments: list, accumulators: set, steps: Steps, names, per_step: set):
    """(assignments left in the loop, Plan).  ``per_step``: the names whose value changes with t
    (a term whose scalar factor reads one stays in the loop)."""
    plan = Plan()
    plan.definitions = {target: expr for target, op, expr in assignments if op == "="}
    defined = set(plan.definitions)
    kept = []
    for target, op, expr in assignments:
        if op != "+=" or target not in accumulators:
            kept.append((target, op, expr))
            continue
        terms = list(expr.args) if isinstance(expr, MatAdd) else [expr]
        stay = []
        for term in terms:
            parts = _split(term, defined, steps, per_step)
            if parts is None:
                stay.append(term)
            else:
                plan.after += _stacked_terms(target, term, *parts, steps, plan, names)
        if stay:
            kept.append((target, op, MatAdd(*stay) if len(stay) > 1 else stay[0]))
    return kept, plan


def _split(term, defined: set, steps: Steps, per_step: set):
    """(L or None for 𝟏ᵀ, R) when ``term`` is c · Lᵀ R or c · 𝟏ᵀ R with R a loop value or a
    step of a known per-step value, L known, and c free of per-step names; else None."""
    if not isinstance(term, MatMul):
        return None
    matrices = [a for a in term.args if is_matrix(a)]
    scalars = [a for a in term.args if not is_matrix(a)]
    if len(matrices) != 2 or any(s.name in per_step for c in scalars for s in topological(c)
                                 if isinstance(s, Symbol)):
        return None
    left, right = matrices
    if not (isinstance(right, MatrixSymbol) and (right.name in defined or steps.knows(right.name))):
        return None
    if isinstance(left, OneMatrix) and left.shape[0] == 1:
        return None, right
    if isinstance(left, Transpose) and isinstance(left.arg, MatrixSymbol) and steps.knows(left.arg.name):
        return left.arg, right
    return None


def _stacked_terms(target, term, left, right, steps: Steps, plan: Plan, names) -> list:
    """The after-loop assignments for one deferred term (two for a state's previous value)."""
    rows = Symbol("_rows", integer=True, positive=True)   # T·B: only printed through its names
    r_all = _steps_of(right, steps, plan, names)

    def flat(where, steps_part, sym, name):
        """(T·rows, columns) view of the steps ``steps_part`` ('', '1:', ':-1') of ``where``."""
        array, cols = where
        index = ", ".join(p for p in (steps_part or (":" if cols else ""), ":" if cols else "",
                                      cols and f"{steps.size(cols[0])}:{steps.size(cols[1])}") if p)
        code = f"{array}[{index}]" if index else array
        width = steps.size(sym.shape[1]) if cols else f"{array}.shape[-1]"
        code = f"{code}.reshape(-1, {width})"
        known = next((s for s, c in plan.flat.items() if c == code), None)
        if known is None:
            known = MatrixSymbol(names(name), rows, sym.shape[1])
            plan.flat[known] = code
        return known

    if left is None:   # 𝟏ᵀ R: the column sums over every step's rows
        r = flat(r_all, "", right, right.name + "_all")
        ones = next(a for a in term.args if isinstance(a, OneMatrix))
        return [(target, "+=", term.xreplace({ones: OneMatrix(1, rows), right: r}))]
    if left.name in steps.prevs:      # Σ_t prev_tᵀ R_t = prev_0ᵀ R_0 + [s_0 … s_{T-2}]ᵀ [R_1 … R_{T-1}]
        state = steps.prevs[left.name]
        plan.forward_buffers.add(state)
        head = flat((steps.buffer(state), None), ":-1", left, left.name + "_all")
        tail = flat(r_all, "1:", right, right.name + "_rest")
        out = [(target, "+=", term.xreplace({left: head, right: tail}))]
        if left.name not in steps.zero_initial:   # (a zero initial state adds nothing)
            initial = plan.initial.setdefault(left.name, names(left.name + "0"))
            first = MatrixSymbol(names(right.name + "_first"), *right.shape)
            array, cols = r_all
            plan.flat[first] = f"{array}[0, :, {steps.size(cols[0])}:{steps.size(cols[1])}]" if cols else f"{array}[0]"
            out.insert(0, (target, "+=", term.xreplace({left: MatrixSymbol(initial, *left.shape), right: first})))
        return out
    l_all = _steps_of(left, steps, plan, names)
    return [(target, "+=", term.xreplace({left: flat(l_all, "", left, left.name + "_all"),
                                          right: flat(r_all, "", right, right.name + "_all")}))]


def _steps_of(sym, steps: Steps, plan: Plan, names) -> tuple:
    """(the (T, …) array holding every step's value of ``sym``, its column range or None): a
    loop value that is a column block of a concatenation [δ_1 … δ_m] the loop computes is read
    from that concatenation's buffer (one buffer, no second copy)."""
    if sym.name in steps.sequences:
        return steps.sequences[sym.name], None
    if sym.name in steps.values:
        plan.forward_buffers.add(sym.name)
        return steps.buffer(sym.name), None
    block = _block_of(sym, plan.definitions)
    if block is not None:
        whole, start, stop = block
        array, cols = _steps_of(whole, steps, plan, names)
        return array, (start, stop) if cols is None else (cols[0] + start, cols[0] + stop)
    if sym.name not in plan.stores:
        plan.stores[sym.name] = names(sym.name + "_s")
        plan.symbols[sym.name] = sym
    return plan.stores[sym.name], None


def _block_of(sym, definitions: dict):
    """(W, start, stop) when the loop value ``sym`` is columns start:stop of the loop value W
    (W = [… sym …] a concatenation, or sym defined as a column block of W); else None."""
    expr = definitions.get(sym.name)
    if isinstance(expr, ColumnBlock):
        return expr.args[0], expr.args[1], expr.args[2]
    for name, whole in definitions.items():
        if isinstance(whole, Concat) and sym in whole.args and isinstance(definitions.get(name), Concat):
            k = list(whole.args).index(sym)
            start = Add(*[a.shape[1] for a in whole.args[:k]])
            return MatrixSymbol(name, *whole.shape), start, start + sym.shape[1]
    return None
