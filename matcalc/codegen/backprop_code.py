"""NumPy code written the way the steps read: forward values once, then one line per named
delta (δ_Z = 2(Z − Y), δ_U = (δ_Z W2ᵀ) ⊙ H ⊙ (1 − H)), then each gradient from its deltas —
an expert's backprop, with constants applied once to the shared delta instead of to every
result.  Built from the derivation's stages (``steps.Plan``); the closed forms are the same
values.
"""
from __future__ import annotations

import ast

import numpy as np
from sympy import HadamardProduct, MatAdd, MatMul, MatrixSymbol, S, Symbol
from sympy.matrices.expressions import ZeroMatrix

from ..ir import ops
from . import removable
from .. import rules
from .numpy_code import _GUESS, RESERVED, NumpyCodegen, _broadcast_source, _negative, module_source
from ..differentiate.engine import _LEAVES, topological
from ..ir.nodes import Elementwise, is_matrix
from ..ir.ops import shaped


class _Codegen(NumpyCodegen):
    """Every non-size symbol is a local name (forward values and deltas are scalars too).

    Element-wise sums, products and functions are fused into in-place updates of an array the
    function owns — a fresh product or a named value no later line reads — as an expert writes
    ``u = X @ W; u += b`` or ``d_H *= H``: fewer temporaries, less memory traffic."""

    def value(self, e, top=False) -> str:
        if isinstance(e, Symbol) and not e.is_integer and e not in self.temps:
            return e.name
        return super().value(e, top)

    def fused_block(self, assignments, returned) -> None:
        """Lines for ``target = expr`` in order, updating dying owned arrays in place (never
        the ``returned`` names, which are read after the block)."""
        named: dict = {}   # each earlier value read by its name, so that liveness sees every read
        written = []
        for target, expr in assignments:
            expr = _by_name(expr, named, {})
            written.append((target, expr))
            if not (expr.is_Atom or isinstance(expr, (MatrixSymbol, _LEAVES))):
                named[expr] = _like(expr, target)
        assignments = written
        self.prepare([e for _, e in assignments])
        last: dict = {}
        for i, (_, expr) in enumerate(assignments):
            for name in _free_names(expr):
                last[name] = i
        for name in returned:
            last[name] = len(assignments)
        self.owned: set = set()
        dies_at: dict = {}
        for name, i in last.items():
            dies_at.setdefault(i, set()).add(name)
        for i, (target, expr) in enumerate(assignments):
            start = len(self.lines)
            dying = {n for n in dies_at.get(i, ()) if n in self.owned}
            fused = self.fused(target, expr, dying)
            if fused is None:
                simple = expr in self.temps or isinstance(expr, (MatrixSymbol, Symbol, _LEAVES))
                self.lines.append(f"{target} = {self.value(expr) if simple else self.emit(expr)}")
                self._own(self.lines[start:])
            else:   # the temporaries its terms needed, then the target: it owns the updated array
                self._own(self.lines[start:len(self.lines) - len(fused)])
                self.owned.add(target)
            self.temps[expr] = target

    def _own(self, lines) -> None:
        """Track which names hold arrays of their own: a fresh value is owned; a name that a
        non-fresh line reads (an alias, a view such as ``u.T``) is owned no more."""
        for line in lines:
            stmt = ast.parse(line).body[0]
            if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                target = stmt.targets[0].id
                if _fresh(stmt.value):
                    self.owned.add(target)
                else:
                    self.owned.discard(target)
                    self.owned -= {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}

    def fused(self, target, e, dying):
        """Lines computing ``e`` into ``target`` by in-place updates of an owned array, or None."""
        if not is_matrix(e):
            return None
        updates = []
        if isinstance(e, (MatAdd, HadamardProduct)):
            terms = list(e.args)
        elif isinstance(e, MatMul):
            coeff, body = ops.split_coeff(e)
            if coeff == 1 or removable.absorb(coeff, body)[1] is not body:   # adj(M), unit(r): emit's
                return None
            terms, updates = [body], [("*=", coeff)]
        elif isinstance(e, Elementwise) and rules.FUNCTIONS[e.name].numpy_inplace:
            terms = [e.arg]
        else:
            return None
        base = self._base(e, terms, dying)
        if base is None:
            return None
        term, code = base
        if code in dying:   # its array is about to hold another value: no term may read it as a
            for k in [k for k, v in self.temps.items() if v == code]:   # shared temporary
                del self.temps[k]
        rest = [t for t in terms if t is not term] if isinstance(e, (MatAdd, HadamardProduct)) else []
        if isinstance(e, MatAdd):
            updates = [("-=" if _negative(t) else "+=", ops.neg(t) if _negative(t) else t) for t in rest]
        elif isinstance(e, HadamardProduct):
            updates = [("*=", t) for t in rest]
        codes = [(op, self.loose(t) if is_matrix(t) else self.operand(t)) for op, t in updates]
        if isinstance(e, Elementwise):
            fn = rules.FUNCTIONS[e.name]
            self.helpers.update(fn.helpers)
            x = code if code.isidentifier() else target
            lines = ([] if x == code else [f"{target} = {code}"]) + [f"{target} = {fn.numpy_inplace.format(x=x)}"]
        else:
            lines = [f"{target} = {code}"] + [f"{target} {op} {c}" for op, c in codes]
        self.lines += lines
        return lines

    def _base(self, e, terms, dying):
        """The term to update in place: a dying owned name read by no other term, else a fresh
        product or function value not shared elsewhere; (term, code) or None."""
        full = [t for t in terms if is_matrix(t) and t.shape == e.shape and _broadcast_source(t) is None
                and not (isinstance(e, MatAdd) and _negative(t))]
        for t in full:
            if isinstance(t, MatrixSymbol) and t.name in dying and t not in self.temps and \
                    sum(1 for u in terms if t.name in _free_names(u)) == 1:
                return t, t.name
        for t in full:
            if not isinstance(t, _LEAVES + (MatrixSymbol,)) and t not in self.temps and self.uses.get(t, 0) <= 1:
                code = self.emit(t)
                node = ast.parse(code, mode="eval").body
                if _fresh(node) and not _constant(node):
                    return t, code
        return None


def _by_name(e, named: dict, memo: dict):
    """``e`` with every subexpression in ``named`` replaced by its name — never inside a
    matrix symbol, whose shape holds sizes, not values (unlike ``xreplace``)."""
    if e in named:
        return named[e]
    if e.is_Atom or isinstance(e, MatrixSymbol) or not e.args:
        return e
    if e not in memo:
        args = [_by_name(a, named, memo) for a in e.args]
        memo[e] = e.func(*args) if any(a is not b for a, b in zip(args, e.args)) else e
    return memo[e]


_ALLOCATING = {"eye", "ones", "zeros", "kron", "diagflat"}
_CONSTANTS = {"eye", "ones", "zeros"}   # float64 whatever the arguments' dtype: never a base


def _constant(node) -> bool:
    f = node.func if isinstance(node, ast.Call) else None
    return isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "np" and \
        f.attr in _CONSTANTS
_FRESH_HELPERS = {"_sigmoid", "_softmax", "_logsoftmax", "_commutation", "_adjugate", "_unit"}


def _fresh(node) -> bool:
    """Does this generated expression make a new array (not an argument, an alias or a view)?"""
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        return True
    if isinstance(node, ast.Attribute) and node.attr == "T":   # the transpose of a fresh array
        return _fresh(node.value)
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Attribute) and f.value.attr == "linalg" and \
            isinstance(f.value.value, ast.Name) and f.value.value.id == "np":
        return f.attr in ("inv", "solve")
    if isinstance(f, ast.Name):
        return f.id in _FRESH_HELPERS
    if not isinstance(f, ast.Attribute):
        return False
    if isinstance(f.value, ast.Name) and f.value.id == "np":
        return f.attr in _ALLOCATING or isinstance(getattr(np, f.attr, None), np.ufunc)
    return f.attr in ("copy", "sum") and any(k.arg == "keepdims" for k in node.keywords)


def _like(sym, name):
    return MatrixSymbol(name, *sym.shape) if is_matrix(sym) else Symbol(name, real=True)


def _free_names(expr) -> set:
    return {n.name for n in topological(expr) if isinstance(n, (MatrixSymbol, Symbol)) and not n.is_integer}


def backprop_source(d, func_name: str = "gradients") -> str:
    """Source of the gradient function, computed delta by delta (see the module docstring)."""
    program, plan = d.program, d.code_plan
    taken = set(program.variables) | RESERVED
    counter = [0]

    def fresh(base: str) -> str:
        base = "v" + base if base.startswith("_") else base   # _out_k, _tN and helpers are ours
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
                if not (definition.is_Atom or isinstance(definition, MatrixSymbol))}   # never a size
    for name, sym in program.named.items():
        rep[sym] = _like(sym, fresh(name))
    emitted: set = set()

    def emit_autos(expr):
        for node in topological(expr):
            if node in autos and node not in emitted:
                emitted.add(node)
                # the node's operands with the other stages by name (not a copy of all stages per node)
                forward.append((autos[node].name, node.func(*[a.xreplace(autos) for a in node.args])))

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
        backward.append((deltas[st.delta].name, shaped(code(total), st.delta)))
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
    from ..ir.nodes import _Placeholder
    for _, expr in lines + list(outputs.items()):
        if any(isinstance(n, _Placeholder) for n in topological(expr)):
            raise ValueError("a placeholder is left in the delta code")   # the closed forms serve instead
    lines, outputs = drop_symmetric_transposes(lines, outputs)
    from .solves import inline_single_inverses
    lines, outputs = inline_single_inverses(lines, outputs)
    cg = _Codegen(program.variables, {}, func_name)
    body = cg.validation()
    results = {name: f"_out_{k}" for k, name in enumerate(outputs)}
    cg.fused_block(lines + [(results[name], e) for name, e in outputs.items()], set(results.values()))
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
    from ..ir.ops import scale, split_coeff
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


def drop_symmetric_transposes(lines: list, outputs: dict):
    """Generated code's (name, expr) lines and results with Sᵀ -> S for every S proved
    symmetric, through the earlier lines' names: X d + X dᵀ becomes 2 X d (one GEMM)."""
    from sympy.matrices.expressions import Transpose
    from ..differentiate.simplify import rewrite
    from ..differentiate.symmetry import is_symmetric
    known: set = set()

    def drop(expr):
        frozen = frozenset(known)

        def rule(node):
            return node.arg if isinstance(node, Transpose) and is_symmetric(node.arg, frozen) else None
        return rewrite(expr, [rule], {}) if is_matrix(expr) else expr
    out = []
    for name, expr in lines:
        expr = drop(expr)
        if is_symmetric(expr, frozenset(known)):
            known.add(name)
        out.append((name, expr))
    return out, {k: drop(e) for k, e in outputs.items()}
