"""The generated NumPy code's writes through views, for backends without them.

The structured generator (matcalc.codegen.structured) adds a Hessian's terms into views of its
result: ``v = out.reshape(dims)`` or ``v = np.einsum('abac->abc', out.reshape(dims))`` (a
diagonal), then ``v += term``.  A JAX array has no views: ``v += term`` would rebind ``v`` and
leave ``out`` unchanged.  ``functional_updates`` rewrites each such pair as
``out = _add_into(out, dims, spec, term)``; ``refuse_aliased_writes`` then refuses any other
in-place write whose effect another name would see, so no NumPy aliasing is silently lost.
"""
from __future__ import annotations

import ast
import string

from ..errors import UnsupportedError

_VIEWS = {"reshape", "transpose", "T", "ravel", "view", "swapaxes"}
_VIEW_CALLS = {"einsum", "reshape", "transpose", "ascontiguousarray", "diagonal", "asarray", "squeeze"}


def functional_updates(fn: ast.FunctionDef) -> ast.FunctionDef:
    """``v = <view of out>; v += t`` (or ``-=``) as ``out = _add_into(out, dims, spec, ±t)``."""
    body = fn.body
    k = 0
    while k + 1 < len(body):
        view = _view_of(body[k])
        update = body[k + 1]
        if view and isinstance(update, ast.AugAssign) and isinstance(update.op, (ast.Add, ast.Sub)) and \
                isinstance(update.target, ast.Name) and update.target.id == view[0] and \
                not _reads(body[k + 2:], view[0]):
            _, out, dims, spec = view
            term = update.value if isinstance(update.op, ast.Add) else ast.UnaryOp(op=ast.USub(), operand=update.value)
            call = ast.Call(func=ast.Name(id="_add_into", ctx=ast.Load()),
                            args=[ast.Name(id=out, ctx=ast.Load()), dims, ast.Constant(spec), term], keywords=[])
            body[k:k + 2] = [ast.Assign(targets=[ast.Name(id=out, ctx=ast.Store())], value=call, lineno=update.lineno)]
        k += 1
    return fn


def _view_of(stmt):
    """(view, out, dims, spec) for ``view = out.reshape(dims)`` (spec 'ab…->ab…') or
    ``view = np.einsum(spec, out.reshape(dims))``; None for anything else."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return None
    value, spec = stmt.value, None
    if _is_np(value, "einsum") and len(value.args) == 2 and isinstance(value.args[0], ast.Constant) \
            and not value.keywords:
        spec, value = value.args[0].value, value.args[1]
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "reshape"
            and isinstance(value.func.value, ast.Name) and len(value.args) == 1 and not value.keywords
            and isinstance(value.args[0], ast.Tuple)):
        return None
    rank = len(value.args[0].elts)
    if spec is None:
        spec = string.ascii_letters[:rank] + "->" + string.ascii_letters[:rank]
    full, _, target = spec.partition("->")
    if len(full) != rank or sorted(set(full)) != sorted(target) or "," in spec:
        return None
    return stmt.targets[0].id, value.func.value.id, value.args[0], spec


def _is_np(node, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name and \
        isinstance(node.func.value, ast.Name) and node.func.value.id == "np"


def _reads(stmts, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
               for s in stmts for n in ast.walk(s))


def refuse_aliased_writes(fn: ast.FunctionDef, backend: str) -> None:
    """Refuse an in-place write (``a += …``, ``np.f(…, out=a)``) whose effect a later read
    would see through another name (a view of ``a``, or ``a`` itself when the write is inside
    an assignment to another name): without views the frameworks would not see it."""
    body = fn.body
    bases: dict = {}
    for k, stmt in enumerate(body):
        for written, itself in _written(stmt):
            group = {bases.get(written)} | {v for v, b in bases.items() if b == written or
                                            (written in bases and b == bases[written])}
            group.discard(None)
            group.discard(written)
            if itself:
                group.add(written)
            for other in sorted(group):
                if _reads(body[k + 1:], other):
                    raise UnsupportedError(f"the generated code writes {written} in place, which {other} "
                                           f"would see; {backend} arrays have no views")
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            for other, b in list(bases.items()):   # views of a rebound name keep the old array
                if b == name or other == name:
                    del bases[other]
            base = _base(stmt.value)
            if base is not None and base != name:
                bases[name] = base


def _base(value):
    """The name whose memory ``value`` may share (a view or the array itself), else None."""
    node = value
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute) and node.attr in _VIEWS:
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _VIEWS:
            node = node.func.value
        elif any(_is_np(node, f) for f in _VIEW_CALLS) and node.args:
            node = node.args[-1] if node.func.attr == "einsum" else node.args[0]
        else:
            return None


def _written(stmt) -> list:
    """(name, itself) for each name the statement writes in place; itself: the write is not
    a rebinding of the name in the translation (an ``out=`` inside another assignment)."""
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        return [(stmt.target.id, False)]
    if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) and \
            isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "_add_into":   # NumPy wrote out's memory
        return [(stmt.targets[0].id, False)]
    if not isinstance(stmt, (ast.Expr, ast.Assign)):
        return []
    rebound = {t.id for t in getattr(stmt, "targets", []) if isinstance(t, ast.Name)}
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):   # np.f(..., out=a): a = f(...)
        rebound |= {k.value.id for k in stmt.value.keywords if k.arg == "out" and isinstance(k.value, ast.Name)}
    out = []
    for node in ast.walk(stmt.value):
        if not isinstance(node, ast.Call):
            continue
        names = [k.value for k in node.keywords if k.arg == "out"]
        if isinstance(node.func, ast.Name) and node.func.id == "_sigmoid" and len(node.args) == 2:
            names.append(node.args[1])
        out += [(n.id, n.id not in rebound) for n in names if isinstance(n, ast.Name)]
    return out
