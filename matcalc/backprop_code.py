"""NumPy code written the way the steps read: forward values once, then one line per named
delta (δ_Z = 2(Z − Y), δ_U = (δ_Z W2ᵀ) ⊙ H ⊙ (1 − H)), then each gradient from its deltas —
an expert's backprop, with constants applied once to the shared delta instead of to every
result.  Built from the derivation's stages (``steps.Plan``); the closed forms are the same
values.
"""
from __future__ import annotations

import numpy as np
from sympy import HadamardProduct, MatMul, MatrixSymbol, S, Symbol
from sympy.matrices.expressions import ZeroMatrix

from .codegen import _GUESS, RESERVED, NumpyCodegen, module_source
from .engine import topological
from .derivation import shaped
from .ir import is_matrix


class _Codegen(NumpyCodegen):
    """Every non-size symbol is a local name (forward values and deltas are scalars too)."""

    def value(self, e, top=False) -> str:
        if isinstance(e, Symbol) and not e.is_integer and e not in self.temps:
            return e.name
        return super().value(e, top)


def _like(sym, name):
    return MatrixSymbol(name, *sym.shape) if is_matrix(sym) else Symbol(name, real=True)


def _free_names(expr) -> set:
    return {n.name for n in topological(expr) if isinstance(n, (MatrixSymbol, Symbol)) and not n.is_integer}


def backprop_source(d, func_name: str = "gradients") -> str:
    """Source of the gradient function, computed delta by delta (see the module docstring)."""
    program, plan = d.program, d.plan
    taken = set(program.variables) | RESERVED
    counter = [0]

    def fresh(base: str) -> str:
        name = base
        while name in taken:
            counter[0] += 1
            name = f"{base}_{counter[0]}"
        taken.add(name)
        return name

    rep: dict = {}
    forward: list = []            # (python name, expression in python-named symbols)
    autos = {st.node: _like(st.node, fresh(st.name)) for st in plan.stages[1:] if st.auto}
    by_value = {definition: program.named[name] for name, definition in program.definitions.items()
                if not isinstance(definition, (MatrixSymbol, Symbol))}
    for name, sym in program.named.items():
        rep[sym] = _like(sym, fresh(name))
    emitted: set = set()

    def emit_autos(expr):
        for node in topological(expr):
            if node in autos and node not in emitted:
                emitted.add(node)
                forward.append((autos[node].name, node.xreplace({k: v for k, v in autos.items() if k != node})))

    for name, definition in program.definitions.items():
        emit_autos(definition)
        forward.append((rep[program.named[name]].name, definition.xreplace(autos)))
    emit_autos(program.opaque_output)
    forward = [(py, e.xreplace(rep)) for py, e in forward]
    deltas = {st.delta: _like(st.delta, fresh("d_" + st.name)) for st in plan.stages[1:]}

    def code(expr):
        return expr.xreplace({**by_value, **autos}).xreplace(autos).xreplace({**rep, **deltas})

    backward = []
    for st in plan.stages[1:]:
        total = plan.total(st.node)
        if total is None:
            total = ZeroMatrix(*st.delta.shape) if is_matrix(st.delta) else S.Zero
        backward.append((deltas[st.delta].name, code(total)))
    outputs = {}
    for name in d.wrt:
        var = program.variables[name]
        total = plan.total(var)
        outputs[name] = shaped(code(total), var) if total is not None else (
            ZeroMatrix(*var.shape) if is_matrix(var) else S.Zero)
    backward, outputs = _place_constants(backward, outputs)
    # keep what the results need
    need = set().union(*(_free_names(e) for e in outputs.values())) if outputs else set()
    lines = []
    for py, expr in reversed(forward + backward):
        if py in need:
            lines.append((py, expr))
            need |= _free_names(expr)
    lines.reverse()
    from .ir import _Placeholder
    for _, expr in lines + list(outputs.items()):
        if any(isinstance(n, _Placeholder) for n in topological(expr)):
            raise ValueError("a placeholder is left in the delta code")   # the closed forms serve instead
    cg = _Codegen(program.variables, {}, func_name)
    body = cg.validation()
    cg.block([(py, "=", e) for py, e in lines] + [(f"_out_{k}", "=", e) for k, e in enumerate(outputs.values())])
    results = {name: f"_out_{k}" for k, name in enumerate(outputs)}
    source = module_source([cg.assemble(body, results)], cg.helpers)
    compile(source, "<matcalc:gradients>", "exec")   # a SyntaxError here falls back to the closed forms
    return source


def _entries(e) -> int:
    if not is_matrix(e):
        return 1
    return int(np.prod([int(d) if getattr(d, "is_Integer", False) else _GUESS for d in e.shape]))


def _linear_use(expr, sym) -> bool:
    """Is ``expr`` a product with ``sym`` as one plain factor (so c·sym may become c·expr)?"""
    if isinstance(expr, (MatMul, HadamardProduct)):
        return sum(1 for a in expr.args if a == sym) == 1 and not any(
            sym in topological(a) for a in expr.args if a != sym)
    return False


def _place_constants(backward, outputs):
    """Apply each delta's constant where it costs least: δ = c·u over n entries, or each use
    (a product with δ as a factor) over its own entries — 2Xᵀ(Xw − y) scales d entries, not n."""
    from .ops import scale, split_coeff
    backward = list(backward)
    outputs = dict(outputs)
    for i, (name, expr) in enumerate(backward):
        c, rest = split_coeff(expr) if is_matrix(expr) else (S.One, expr)
        if c == 1 or not c.is_number:
            continue
        sym = MatrixSymbol(name, *expr.shape)
        uses = [(k, e) for k, (n, e) in enumerate(backward) if k > i and sym in topological(e)]
        out_uses = [(n, e) for n, e in outputs.items() if sym in topological(e)]
        if not all(_linear_use(e, sym) for _, e in uses + out_uses):
            continue
        if sum(_entries(e) for _, e in uses + out_uses) >= _entries(expr):
            continue
        backward[i] = (name, rest)
        for k, e in uses:
            backward[k] = (backward[k][0], scale(c, e))
        for n, e in out_uses:
            outputs[n] = scale(c, e)
    return backward, outputs
