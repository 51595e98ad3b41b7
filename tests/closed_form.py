"""Is a SymPy result a closed matrix form of a derivative? (the contract's definition)

closed_form_issues(g, name, shapes, want=None) -> list of reasons it is not ([] = it is):
  * it must be a SymPy object (a mutable Matrix is accepted as its immutable twin);
  * none of its nodes may be element/index machinery (MatrixElement, Indexed, IndexedBase,
    Idx, KroneckerDelta), sums/products/integrals over indices, unevaluated derivatives
    (Derivative, Subs, ArrayDerivative), FunctionMatrix, array expressions or N-d arrays,
    nor a Lambda of more than one variable (an index lambda);
  * its free symbols must all be declared variables;
  * its shape must be `want` (default: the shape of variable `name`); a 1x1 matrix counts
    as a scalar, and a plain scalar expression is only right for a scalar (or if it is 0).
"""
import sympy


def _forbidden():
    from sympy import Derivative, Integral, KroneckerDelta, Product, Subs, Sum
    from sympy.matrices.expressions.funcmatrix import FunctionMatrix
    from sympy.matrices.expressions.matexpr import MatrixElement
    from sympy.tensor.indexed import Idx, Indexed, IndexedBase

    table = [("MatrixElement", MatrixElement), ("Indexed", Indexed),
             ("IndexedBase", IndexedBase), ("Idx", Idx), ("KroneckerDelta", KroneckerDelta),
             ("Sum", Sum), ("Product", Product), ("Integral", Integral),
             ("Derivative", Derivative), ("Subs", Subs), ("FunctionMatrix", FunctionMatrix)]
    optional = [("sympy.tensor.array.array_derivatives", "ArrayDerivative", "ArrayDerivative"),
                ("sympy.tensor.array.expressions.array_expressions", "_ArrayExpr",
                 "array expression"),
                ("sympy.tensor.array.expressions.array_expressions", "_CodegenArrayAbstract",
                 "array expression"),
                ("sympy.tensor.array", "NDimArray", "NDimArray")]
    for module, attr, label in optional:
        try:
            cls = getattr(__import__(module, fromlist=[attr]), attr)
        except (ImportError, AttributeError):
            continue
        table.append((label, cls))
    return table


_FORBIDDEN = _forbidden()


def _nodes(expr):
    """expr and every sub-expression (including the pieces of explicit matrices)."""
    stack, seen = [expr], set()
    while stack:
        node = stack.pop()
        key = id(node)
        if key in seen:
            continue
        seen.add(key)
        yield node
        stack.extend(getattr(node, "args", ()))


def _shape_of(g):
    shape = getattr(g, "shape", None)
    if shape is None:
        return None
    out = []
    for d in shape:
        try:
            out.append(int(d))
        except (TypeError, ValueError):
            out.append(d)
    return tuple(out)


def closed_form_issues(g, name, shapes, want=None):
    if isinstance(g, sympy.MatrixBase) and not isinstance(g, sympy.Basic):
        g = sympy.ImmutableMatrix(g)
    if not isinstance(g, sympy.Basic):
        return [f"not a SymPy object ({type(g).__name__})"]
    issues = []

    bad = set()
    for node in _nodes(g):
        for label, cls in _FORBIDDEN:
            if isinstance(node, cls):
                bad.add(label)
        if isinstance(node, sympy.Lambda) and len(node.variables) != 1:
            bad.add("index Lambda")
    if bad:
        issues.append("contains " + ", ".join(sorted(bad)))

    strangers = sorted({s.name for s in g.free_symbols
                        if isinstance(s, (sympy.Symbol, sympy.MatrixSymbol))
                        and s.name not in shapes})
    if strangers:
        issues.append("free symbols that are not variables: " + ", ".join(strangers[:6]))

    want = tuple(shapes[name]) if want is None else tuple(want)
    have = _shape_of(g)
    if have is None:
        if want != () and not (isinstance(g, sympy.Expr) and g == 0):
            issues.append(f"scalar expression for a variable of shape {want}")
    elif have != want and not (want == () and have == (1, 1)):
        issues.append(f"symbolic shape {have} != {want}")
    return issues
