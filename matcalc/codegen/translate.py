"""The generated NumPy module, rewritten for another array backend (``matcalc.codegen.backends``).

The code generators (codegen, backprop_code, bptt) are shared: they decide what is computed
— named deltas, shared subexpressions, matrix-chain order, broadcasts instead of ones
matrices and diagonals — and write it in NumPy.  This module rewrites that module's syntax
tree call by call with a backend's table: ``np.exp(u, out=u)`` becomes ``jnp.exp(u)``,
``d.sum(axis=0, keepdims=True)`` becomes ``d.sum(dim=0, keepdim=True)``, constants get the
arguments' dtype, the NumPy helpers give way to the backend's.  A call that is not in the
table is refused with UnsupportedError, never passed through.
"""
from __future__ import annotations

import ast

from .backends import BACKENDS, Backend, NUMPY
from ..errors import UnsupportedError

_DTYPE = "_dtype"   # the local holding the arguments' dtype (user names never start with _)


def translate(source: str, backend: Backend | str) -> str:
    """``source`` (a module from the NumPy generators) written for ``backend``."""
    backend = BACKENDS[backend] if isinstance(backend, str) else backend
    if backend is NUMPY:
        return source
    tree = ast.parse(source)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    _refuse_shadowing(functions, backend)
    functions = [_stores_from_out(f) for f in functions]
    if not backend.views:   # NumPy's writes through views, made explicit (matcalc.codegen.inplace)
        from .inplace import functional_updates, refuse_aliased_writes
        functions = [functional_updates(f) for f in functions]
        for f in functions:
            refuse_aliased_writes(f, backend.name)
    if backend.scan_loops:
        from .scan import loops_to_scan
        functions = [loops_to_scan(f, backend.scan_loops) for f in functions]
    rewriter = _Rewriter(backend)
    functions = [rewriter.visit(f) for f in functions]
    used = {n.id for f in functions for n in ast.walk(f) if isinstance(n, ast.Name)}
    helpers = [backend.helpers[h] for h in sorted(backend.helpers) if h in used]
    missing = sorted(n for n in used if n.startswith("_") and n != _DTYPE and n not in backend.helpers
                     and not _is_local(n, functions))
    if missing:
        raise UnsupportedError(f"no {backend.name} version of the helper {missing[0]}")
    body = [ast.unparse(ast.fix_missing_locations(f)) for f in functions]
    return backend.header + "\n\n\n" + "\n\n\n".join(helpers + body) + "\n"


def _stores_from_out(fn: ast.FunctionDef) -> ast.FunctionDef:
    """``v = np.f(..., out=L[t])`` (NumPy computing a value into its slot of a buffer) as
    ``v = np.f(...)`` then ``L[t] = v``: the store the frameworks make (a scan output in JAX)."""
    for node in ast.walk(fn):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        k = 0
        while k < len(body):
            st = body[k]
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name) \
                    and isinstance(st.value, ast.Call):
                out = next((kw for kw in st.value.keywords if kw.arg == "out"), None)
                if out is not None and isinstance(out.value, ast.Subscript):
                    st.value.keywords.remove(out)
                    store = ast.Assign(targets=[ast.Subscript(value=out.value.value, slice=out.value.slice,
                                                              ctx=ast.Store())],
                                       value=_name(st.targets[0].id), lineno=st.lineno)
                    body.insert(k + 1, store)
            k += 1
    return ast.fix_missing_locations(fn)


def _is_local(name: str, functions) -> bool:
    """Is ``name`` assigned inside a generated function (a temporary such as _t1 or _out_0)?"""
    for f in functions:
        for node in ast.walk(f):
            if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
                return True
            if isinstance(node, ast.FunctionDef) and (node.name == name or name in {a.arg for a in node.args.args}):
                return True
    return False


def _refuse_shadowing(functions, backend: Backend) -> None:
    for f in functions:
        names = {a.arg for a in f.args.args} | {n.id for n in ast.walk(f) if isinstance(n, ast.Name)
                                                 and isinstance(n.ctx, ast.Store)}
        clash = sorted(names & set(backend.reserved))
        if clash:
            raise UnsupportedError(f"the variable name {clash[0]!r} would hide the {clash[0]} module in "
                                   f"the generated {backend.name} code; rename it")


def _name(id: str, store: bool = False) -> ast.Name:
    return ast.Name(id=id, ctx=ast.Store() if store else ast.Load())


def _dotted(path: str) -> ast.expr:
    parts = path.split(".")
    node: ast.expr = _name(parts[0])
    for p in parts[1:]:
        node = ast.Attribute(value=node, attr=p, ctx=ast.Load())
    return node


def _np_path(node) -> list[str] | None:
    """['linalg', 'inv'] for ``np.linalg.inv``; None for anything not under ``np``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "np" and parts:
        return parts[::-1]
    return None


def _has_kw(call: ast.Call, name: str) -> bool:
    return any(k.arg == name for k in call.keywords)


class _Rewriter(ast.NodeTransformer):
    """Rewrites one generated function for a backend."""

    def __init__(self, backend: Backend):
        self.b = backend
        self.transposes = {}   # name -> the name it is the transpose of (``_t1 = X.T``)
        self.results = set()   # names the generated function returns
        self.numbers = set()   # names bound to arithmetic on numbers only

    # ------------------------------------------------------------ function level
    depth = 0

    def visit_FunctionDef(self, node: ast.FunctionDef):
        if not self.depth and self.b.transposed_dot:
            self.transposes = _plain_transposes(node)
        if not self.depth:
            self.results, self.numbers = _returned_names(node), set()
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1
        if self.depth:   # a function inside the generated one (a scan's step): no prologue
            return node
        self.transposes = {}
        body = node.body
        params = [a.arg for a in node.args.args]
        header = next((i + 1 for i, s in enumerate(body) if _assigns(s, "dtype")), None)
        if header is not None and params and not any(_converts(s) for s in body):
            # the BPTT header converts each argument alone: one dtype for all, as the frameworks'
            # matmuls need (NumPy would promote)
            body.insert(header, ast.parse(f"({', '.join(params)},) = _floats({', '.join(params)})").body[0])
        uses_dtype = any(isinstance(n, ast.Name) and n.id == _DTYPE for n in ast.walk(node))
        if uses_dtype and not any(_assigns(s, _DTYPE) for s in body):
            at = next((i + 1 for i, s in enumerate(body) if _converts(s)), None)
            if at is not None:   # after the arguments' conversion: their one dtype
                line = f"{_DTYPE} = {params[0]}.dtype"
            else:
                at = 1 if _is_docstring(body[0]) else 0
                line = f"{_DTYPE} = _dtype_of({', '.join(params)})"
            body.insert(at, ast.parse(line).body[0])
        return node

    def visit_If(self, node: ast.If):
        """The fast path ``if not (all ndarrays of one float dtype): (...) = _floats(...)``
        tests NumPy types: the arguments are always converted (a no-op when they already are)."""
        if len(node.body) == 1 and isinstance(node.body[0], ast.Assign) and \
                isinstance(node.body[0].value, ast.Call) and \
                isinstance(node.body[0].value.func, ast.Name) and node.body[0].value.func.id == "_floats":
            return node.body[0]
        self.generic_visit(node)
        return node

    def visit_Expr(self, node: ast.Expr):
        """``np.f(..., out=a)`` as a statement writes a: in a functional backend ``a = f(...)``."""
        call = node.value
        out = next((k.value for k in call.keywords if k.arg == "out"), None) if isinstance(call, ast.Call) else None
        if out is None:
            self.generic_visit(node)
            return node
        if not isinstance(out, ast.Name):
            raise UnsupportedError(f"no {self.b.name} translation for an update of {ast.unparse(out)} in place")
        return ast.Assign(targets=[_name(out.id, store=True)], value=self.visit(call), lineno=node.lineno)

    def visit_Assign(self, node: ast.Assign):
        """``z1 = 0.5`` (a named constant, a scalar state's zero start) is a tensor of the
        arguments' dtype where the backend's functions take no numbers."""
        self.generic_visit(node)
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return node
        name = node.targets[0].id
        numbers = _number_expression(node.value, self.numbers)
        if self.depth == 1:
            (self.numbers.add if numbers else self.numbers.discard)(name)
        if (self.b.tensor_numbers and _constant(node.value)) or (numbers and name in self.results):
            node.value = self._tensor(node.value)   # a result that is a number: the arguments' dtype too
        return node

    # ------------------------------------------------------------ calls
    def visit_Call(self, node: ast.Call):
        node.args = [self.visit(a) for a in node.args]
        for k in node.keywords:
            k.value = self.visit(k.value)
        node.keywords = [k for k in node.keywords if k.arg != "out"]   # functional updates
        path = _np_path(node.func)
        if path is not None:
            return self._numpy_call(path, node)
        if isinstance(node.func, ast.Name):
            return self._name_call(node)
        if isinstance(node.func, ast.Attribute):
            node.func.value = self.visit(node.func.value)
            return self._method_call(node)
        node.func = self.visit(node.func)
        return node

    def _numpy_call(self, path, node: ast.Call):
        b = self.b
        if len(path) == 2 and path[0] == "linalg" and path[1] in ("inv", "det", "slogdet", "norm", "solve"):
            node.func = _dotted(f"{b.linalg}.{path[1]}")
            return node
        name = path[0] if len(path) == 1 else None
        if name not in b.calls:
            raise UnsupportedError(f"no {b.name} translation for np.{'.'.join(path)} in the generated code")
        target = b.calls[name]
        if name == "einsum" and b.views and _is_view_spec(node.args):   # NumPy returns a view: so must we
            target = "_view"
        if b.tensor_numbers and name not in b.constructors and name not in ("asarray", "broadcast_to") \
                and node.args and _constant(node.args[0]):   # exp(0.5): a tensor of the arguments' dtype
            node.args[0] = self._tensor(node.args[0])
        if target is None and name == "vdot":    # real arrays: <a, b> = sum(a * b)
            return ast.Call(func=_dotted(f"{b.ns}.sum"),
                            args=[ast.BinOp(left=node.args[0], op=ast.Mult(), right=node.args[1])], keywords=[])
        node.func = _dotted(target)
        for k in node.keywords:
            k.arg = b.keywords.get(k.arg, k.arg)
        if name in b.constructors or name == "asarray":   # constants take the arguments' dtype
            if len(node.args) == 2:
                node.keywords.append(ast.keyword(arg="dtype", value=node.args.pop()))
            if name != "asarray" and not _has_kw(node, "dtype"):
                node.keywords.append(ast.keyword(arg="dtype", value=_name(_DTYPE)))
        if target == "_broadcast":
            node.args.append(_name(_DTYPE))
        return node

    def _tensor(self, value):
        return ast.Call(func=_dotted(self.b.calls["asarray"]), args=[value],
                        keywords=[ast.keyword(arg="dtype", value=_name(_DTYPE))])

    def _name_call(self, node: ast.Call):
        f = node.func.id
        if f == "_sigmoid":            # _sigmoid(x, out): no out in a functional backend
            node.args = node.args[:1]
            if self.b.tensor_numbers and _constant(node.args[0]):
                node.args[0] = self._tensor(node.args[0])
        elif f == "_commutation":
            node.args.append(_name(_DTYPE))
        elif f == "float" and len(node.args) == 1:   # the loss as an array: differentiable, jit-able
            return node.args[0]
        return node

    def _method_call(self, node: ast.Call):
        attr = node.func
        if attr.attr == "reshape" and _has_kw(node, "order"):
            order = next(k for k in node.keywords if k.arg == "order")
            if not (isinstance(order.value, ast.Constant) and order.value.value in ("C", "F")):
                raise UnsupportedError("a reshape order the backends do not know")
            if self.b.name == "torch" and order.value.value == "F":   # column-major of a 2-D x: rows of x.T
                node.keywords = [k for k in node.keywords if k.arg != "order"]
                attr.value = ast.Attribute(value=attr.value, attr="T", ctx=ast.Load())
                dims = node.args[0].elts if len(node.args) == 1 and isinstance(node.args[0], ast.Tuple) else node.args
                if sum(not (isinstance(d, ast.Constant) and d.value == 1) for d in dims) > 1:
                    # several axes: x.reshape(s, order='F') == x.T.reshape(reversed s) with its axes reversed
                    node.args = [ast.Tuple(elts=list(dims)[::-1], ctx=ast.Load())]
                    return ast.Call(func=ast.Attribute(value=node, attr="permute", ctx=ast.Load()),
                                    args=[ast.Constant(k) for k in reversed(range(len(dims)))], keywords=[])
            return node
        if attr.attr in self.b.methods:
            new, renames = self.b.methods[attr.attr]
            attr.attr = new
            for k in node.keywords:
                k.arg = renames.get(k.arg, k.arg)
        return node

    def visit_BinOp(self, node: ast.BinOp):
        """``a.T @ b`` as the backend's transposed product where it has one (no transpose copy)."""
        node.left, node.right = self.visit(node.left), self.visit(node.right)
        if not (isinstance(node.op, ast.MatMult) and self.b.transposed_dot):
            return node
        ta, tb = self._transposed(node.left), self._transposed(node.right)
        if not (ta or tb):
            return node
        a = self._untransposed(node.left) if ta else node.left
        b = self._untransposed(node.right) if tb else node.right
        return ast.Call(func=_name(self.b.transposed_dot),
                        args=[a, b, ast.Constant(ta), ast.Constant(tb)], keywords=[])

    def _transposed(self, node) -> bool:
        return _transposed(node) or (isinstance(node, ast.Name) and node.id in self.transposes)

    def _untransposed(self, node):
        """X for ``X.T``, and for a name bound once to ``X.T`` (a hoisted transpose)."""
        return node.value if _transposed(node) else _name(self.transposes[node.id])

    # ------------------------------------------------------------ attributes
    def visit_Attribute(self, node: ast.Attribute):
        path = _np_path(node)
        if path is not None:
            if path in (["nan"], ["inf"]):
                return ast.Call(func=_name("float"), args=[ast.Constant(path[0])], keywords=[])
            raise UnsupportedError(f"no {self.b.name} translation for np.{'.'.join(path)}")
        node.value = self.visit(node.value)
        if self.b.name == "torch" and node.attr == "size":   # ndarray.size: tensor.numel()
            return ast.Call(func=ast.Attribute(value=node.value, attr="numel", ctx=ast.Load()),
                            args=[], keywords=[])
        return node


def _number_expression(node, numbers) -> bool:
    """Is ``node`` arithmetic on numbers and names bound to such (``-1.0 * d_z1``)?"""
    return all(isinstance(n, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.Load))
               or (isinstance(n, ast.Name) and n.id in numbers) for n in ast.walk(node))


def _returned_names(fn: ast.FunctionDef) -> set:
    """The names the function's ``return {...}`` statements return (not those of nested functions),
    and the names those are plain copies of."""
    out, stack = set(), list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
            out |= {v.id for v in node.value.values if isinstance(v, ast.Name)}
        elif not isinstance(node, (ast.FunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    aliases = [(st.targets[0].id, st.value.id) for st in fn.body if isinstance(st, ast.Assign)
               and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name) and isinstance(st.value, ast.Name)]
    for name, value in reversed(aliases):   # _out_0 = d_z1: d_z1 is returned too
        if name in out:
            out.add(value)
    return out


def _is_view_spec(args) -> bool:
    """Is this einsum a view of its one operand (axes permuted or a diagonal, nothing summed)?"""
    if len(args) != 2 or not (isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)):
        return False
    full, arrow, target = args[0].value.partition("->")
    return bool(arrow) and "," not in full and set(full) == set(target)


def _plain_transposes(fn: ast.FunctionDef) -> dict:
    """{t: x} for each ``t = x.T`` of the function's body where neither name is bound again."""
    def stored(stmts):
        return {n.id for st in stmts for n in ast.walk(st) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    out = {}
    for k, st in enumerate(fn.body):
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name) \
                and _transposed(st.value) and isinstance(st.value.value, ast.Name):
            t, x = st.targets[0].id, st.value.value.id
            if t not in stored(fn.body[:k]) | stored(fn.body[k + 1:]) and x not in stored(fn.body[k + 1:]):
                out[t] = x
    return out


def _transposed(node) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "T"


def _constant(node) -> bool:
    """An expression of numbers only (not an array): 0.5, -2.0, 1.0 / 3.0, float('inf')."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _constant(node.left) and _constant(node.right)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float" and \
        len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)


def _assigns(stmt, name: str) -> bool:
    return isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)


def _converts(stmt) -> bool:
    """Is this the ``(...) = _floats(...)`` conversion of the arguments?"""
    return isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) and \
        isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "_floats"


def _is_docstring(stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)
