"""The BPTT code's ``for t in range(T)`` loops as ``jax.lax.scan`` (one compiled step, not T).

The generated loops have one shape: per-step reads ``x_t = x[t]`` (sequences, lists kept by an
earlier loop), updates of values that live across steps (states, adjoints, ``grad_W += …``),
``L.append(v)`` (values kept for the backward loop) and ``L[t] += v`` / ``L[t] = v`` (per-step
results, in a list or a ``np.empty((T, ...))`` buffer).  These become the scan's inputs, carry and outputs; ``range(T - 1, -1, -1)`` is a
scan with ``reverse=True``.  A loop of any other shape is left as it is (a Python loop, which
``jax.jit`` unrolls): the conversion never guesses.
"""
from __future__ import annotations

import ast
import copy


class _Skip(Exception):
    """This loop is not of the generated shape: keep the Python loop."""


def loops_to_scan(func: ast.FunctionDef, namespace: str = "jax.lax") -> ast.FunctionDef:
    """``func`` with each top-level ``for t in range(...)`` loop that fits turned into a scan."""
    body, arrays, counter = [], set(), 0   # arrays: lists that became stacked arrays
    for k, stmt in enumerate(func.body):
        if isinstance(stmt, ast.For):
            try:
                counter += 1   # on a copy: a loop left as it is keeps its own statements
                new, made = _convert(copy.deepcopy(stmt), func, body, func.body[k + 1:], arrays, counter, namespace)
            except _Skip:
                body.append(_functional_stores(stmt, body))
                continue
            body += new
            arrays |= made
        else:
            body.append(stmt)
    func.body = body
    return func


def _functional_stores(loop: ast.For, before: list) -> ast.For:
    """A loop left as it is: its ``L[t] = v`` into a buffer made before it (immutable arrays in
    JAX) as ``L = L.at[t].set(v)``."""
    buffers = {s.targets[0].id for s in before if isinstance(s, ast.Assign) and len(s.targets) == 1
               and isinstance(s.targets[0], ast.Name) and isinstance(s.value, ast.Call) and _is_list(s.value)}

    class Stores(ast.NodeTransformer):
        def visit_Assign(self, node):
            target = node.targets[0]
            if len(node.targets) == 1 and isinstance(target, ast.Subscript) and \
                    isinstance(target.value, ast.Name) and target.value.id in buffers:
                name = target.value.id
                return ast.parse(f"{name} = {name}.at[{ast.unparse(target.slice)}].set({ast.unparse(node.value)})").body[0]
            return node
    return ast.fix_missing_locations(Stores().visit(loop))


def _walk(node):
    """ast.walk, not entering nested functions (their names are theirs)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.FunctionDef):
            yield from _walk(child)


def _stored(nodes) -> set:
    return {n.id for stmt in nodes for n in _walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _loaded(nodes) -> set:
    return {n.id for stmt in nodes for n in _walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _exposed(stmts) -> set:
    """Names read before they are written, in statement order (``g += e`` reads g; a loop's
    body counts once, its carried names included)."""
    stored, exposed = set(), set()
    for stmt in stmts:
        if isinstance(stmt, ast.For):
            exposed |= _exposed(stmt.body) - stored
            stored |= _stored(stmt.body)
            continue
        loads = _loaded([stmt])
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            loads.add(stmt.target.id)
        exposed |= loads - stored
        stored |= _stored([stmt])
    return exposed


def _direction(loop: ast.For) -> bool:
    """reverse? for range(T) / range(T - 1, -1, -1); anything else is skipped."""
    it = loop.iter
    if not (isinstance(loop.target, ast.Name) and loop.target.id == "t" and isinstance(it, ast.Call)
            and isinstance(it.func, ast.Name) and it.func.id == "range" and not loop.orelse):
        raise _Skip
    text = [ast.unparse(a) for a in it.args]
    if text == ["T"]:
        return False
    if text == ["T - 1", "-1", "-1"]:
        return True
    raise _Skip


def _is_list(node) -> bool:
    """[], [... for _ in range(T)], [None] * T, or a buffer ``np.empty((T, ...), dtype)`` that a
    loop fills step by step (``L[t] = v``)."""
    if isinstance(node, ast.Call):
        return ast.unparse(node.func) == "np.empty" and bool(node.args) and isinstance(node.args[0], ast.Tuple) \
            and bool(node.args[0].elts) and ast.unparse(node.args[0].elts[0]) == "T"
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, ast.Mult) and isinstance(node.left, ast.List)
    return isinstance(node, (ast.List, ast.ListComp))


def _is_t(node) -> bool:
    return isinstance(node, ast.Name) and node.id == "t"


def _convert(loop: ast.For, func, before: list, after: list, arrays: set, k: int, ns: str):
    reverse = _direction(loop)
    params = {a.arg for a in func.args.args}
    defined = params | _stored(before)
    if "dtype" not in defined or "T" not in defined:
        raise _Skip
    lists = {s.targets[0].id for s in before if isinstance(s, ast.Assign) and len(s.targets) == 1
             and isinstance(s.targets[0], ast.Name) and _is_list(s.value)}
    lists -= arrays
    xs, ys, stmts = {}, [], []     # xs: array name -> slice name
    for stmt in loop.body:
        if any(isinstance(n, (ast.For, ast.While, ast.If, ast.FunctionDef, ast.Return)) for n in ast.walk(stmt)):
            raise _Skip
        # L.append(v): an output, stacked after the loop
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and \
                isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == "append":
            target = stmt.value.func.value
            if not (isinstance(target, ast.Name) and target.id in lists and len(stmt.value.args) == 1):
                raise _Skip
            y = f"_y{k}_{target.id}"
            stmts.append(ast.Assign(targets=[ast.Name(y, ast.Store())], value=stmt.value.args[0]))
            ys.append((y, target.id, "stack"))
            continue
        # L[t] += v / L[t] = v: a per-step output added to / stored in the list
        if isinstance(stmt, (ast.AugAssign, ast.Assign)):
            target = stmt.target if isinstance(stmt, ast.AugAssign) else stmt.targets[0]
            if isinstance(target, ast.Subscript):
                if not (isinstance(target.value, ast.Name) and target.value.id in lists and _is_t(target.slice)
                        and (isinstance(stmt, ast.Assign) or isinstance(stmt.op, ast.Add))):
                    raise _Skip
                y = f"_y{k}_{target.value.id}"
                stmts.append(ast.Assign(targets=[ast.Name(y, ast.Store())], value=stmt.value))
                ys.append((y, target.value.id, "add" if isinstance(stmt, ast.AugAssign) else "set"))
                continue
        stmts.append(stmt)
    # per-step reads a[t] of arrays (arguments, earlier loops' outputs) become the scan's inputs
    def per_step(v):
        """The scan input standing for a per-step read a[t], or None if v is not one."""
        if not (isinstance(v, ast.Subscript) and _is_t(v.slice) and isinstance(v.value, ast.Name)
                and isinstance(v.ctx, ast.Load)):
            return None
        name = v.value.id
        if name not in defined or (name in lists and name not in arrays):
            raise _Skip
        xs.setdefault(name, f"_x{k}_{name}")
        return ast.Name(xs[name], ast.Load())

    for stmt in stmts:
        for node in ast.walk(stmt):
            for field, value in ast.iter_fields(node):
                if isinstance(value, list):
                    for i, v in enumerate(value):
                        value[i] = per_step(v) or v
                elif per_step(value) is not None:
                    setattr(node, field, ast.Name(xs[value.value.id], ast.Load()))
    if "t" in _loaded(stmts):
        raise _Skip   # t used otherwise than as an index
    assigned = _stored(stmts)
    if assigned & lists:
        raise _Skip
    later = _exposed(after)
    carry = sorted(n for n in assigned if n in defined and (n in _exposed(stmts) or n in later))
    last = sorted(n for n in assigned if n not in carry and n in later and not n.startswith("_y"))
    for n in last:
        y = f"_y{k}_{n}"
        stmts.append(ast.Assign(targets=[ast.Name(y, ast.Store())], value=ast.Name(n, ast.Load())))
        ys.append((y, n, "last"))
    body_name = f"_step{k}"
    outs = [y for y, _, _ in ys]
    fn = ast.parse(f"def {body_name}(_carry, _xs):\n"
                   f"    ({', '.join(carry)}{',' if carry else ''}) = _carry\n"
                   f"    ({', '.join(xs.values())}{',' if xs else ''}) = _xs\n"
                   f"    return ({', '.join(carry)}{',' if carry else ''}), ({', '.join(outs)}{',' if outs else ''})\n"
                   ).body[0]
    fn.body[2:2] = stmts
    if not carry:
        fn.body[0] = ast.Pass()
    if not xs:
        fn.body[1] = ast.Pass()
    new = [fn]
    # carried values as arrays of one dtype (a gradient starting at 0.0 becomes the 0-d array it ends as)
    new += [ast.parse(f"{n} = np.asarray({n}, dtype)").body[0] for n in carry]
    results = [f"_ys{k}_{i}" for i in range(len(ys))]
    call = (f"({', '.join(carry)}{',' if carry else ''}), ({', '.join(results)}{',' if results else ''}) = "
            f"{ns}.scan({body_name}, ({', '.join(carry)}{',' if carry else ''}), "
            f"({', '.join(xs)}{',' if xs else ''}), length=T, reverse={reverse})")
    new.append(ast.parse(call).body[0])
    made = set()
    for (y, name, how), r in zip(ys, results):
        if how == "stack" or how == "set":
            new.append(ast.parse(f"{name} = {r}").body[0])
            made.add(name)
        elif how == "add":
            new.append(ast.parse(f"{name} = np.stack({name}) + {r}").body[0])
            made.add(name)
        else:   # a value of the last step the loop ran
            new.append(ast.parse(f"{name} = {r}[{0 if reverse else -1}]").body[0])
    return new, made
