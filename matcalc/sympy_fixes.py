"""A workaround for one SymPy behaviour that breaks matrix expressions inside scalars.

``Pow.__new__`` runs ``factor_terms`` on a non-atomic exponent; ``factor_terms`` rebuilds
every node it meets and turns a matrix product with a coefficient (``V/10``) into a scalar
``Mul``, which ``Trace`` then rejects (``(a^2+1)^tr(0.1*V)``) or which silently loses its
matrix type inside our own scalar nodes.  Expressions holding matrices are left as they are;
everything else goes through SymPy's own function.
"""
from __future__ import annotations

from sympy.core import exprtools
from sympy.matrices.expressions.matexpr import MatrixExpr

_original = exprtools.factor_terms


def _holds_matrix(expr) -> bool:
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, MatrixExpr):
            return True
        stack.extend(getattr(e, "args", ()))
    return False


def factor_terms(expr, *args, **kwargs):
    if _holds_matrix(expr):
        return expr
    return _original(expr, *args, **kwargs)


factor_terms.__doc__ = _original.__doc__


def _install() -> None:
    """Replace SymPy's function wherever a module bound it (``from … import factor_terms``)."""
    import sys
    import sympy  # noqa: F401 - every SymPy module that binds the name is loaded by now
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("sympy") and \
                getattr(module, "factor_terms", None) is _original:
            module.factor_terms = factor_terms


_install()
