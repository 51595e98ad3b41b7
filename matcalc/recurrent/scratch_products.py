"""Products over all steps written into scratch buffers (the NumPy-only BPTT source).

A batched product such as ``(x.reshape(-1, D) @ Wx).reshape(T, B, -1)`` or ``(h_all @ V) + c``
makes a multi-MB array on every call; once freed, its pages go back to the OS and the next call
page-faults them in again.  Statements at the function's top level (run once per call) whose
value is ``A @ B``, ``(A @ B) + C`` or ``(A @ B).reshape(...)`` instead write the product into a
buffer kept between calls (``_scratch``), one key per statement, so no buffer is read after a
later write in the same call.  The returned values are copied if they share a buffer's memory
(``_kept`` names each buffer for ``_own``)."""
from __future__ import annotations

import ast

def _product(node):
    """(a, b, c) when node is ``a @ b`` or ``(a @ b) + c``; else None."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return node.left, node.right, None
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
            and isinstance(node.left, ast.BinOp) and isinstance(node.left.op, ast.MatMult)):
        return node.left.left, node.left.right, node.right
    return None


def _rewritten(value, key: str):
    """value with its product written into the buffer ``key``, or None when it has none."""
    found = _product(value)
    if found is not None:
        args = [ast.Constant(key), found[0], found[1]] + ([found[2]] if found[2] is not None else [])
        return ast.Call(ast.Name("_product_into", ast.Load()), args, [])
    if (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "reshape"):
        inner = _rewritten(value.func.value, key)
        if inner is not None:
            value.func.value = inner
            return value
    return None


def into_scratch(lines: list[str], indent: str, taken) -> tuple[list[str], list[str]]:
    """lines with each top-level product statement writing into a scratch buffer, and the
    buffers' keys; ``taken`` tells whether a key is already used."""
    out, keys = [], []
    for line in lines:
        new = None
        if line.startswith(indent) and not line.startswith(indent + " ") and " @ " in line:
            try:
                tree = ast.parse(line[len(indent):])
            except SyntaxError:
                tree = None
            stmt = tree.body[0] if tree is not None and len(tree.body) == 1 else None
            if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)):
                key = stmt.targets[0].id + "_buf"
                while taken(key) or key in keys:
                    key += "_"
                value = _rewritten(stmt.value, key)
                if value is not None:
                    stmt.value = value
                    new = indent + ast.unparse(ast.fix_missing_locations(stmt))
                    keys.append(key)
        out.append(line if new is None else new)
    return out, keys
