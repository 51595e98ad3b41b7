"""Workarounds for two SymPy behaviours that break matrix expressions inside scalars.

``Pow.__new__`` runs ``factor_terms`` on a non-atomic exponent and ``abs(exponent)``, whose
``Abs.eval`` runs ``signsimp``; both rebuild every node they meet and turn a matrix product
with a coefficient (``V/10``) into a scalar ``Mul``, which ``Trace``/``MatMul`` then reject
(``(a^2+1)^tr(0.1*V)``, ``(…)^(y'*(r/2))``) or which silently loses its matrix type inside our
own scalar nodes.  Expressions holding matrices are left as they are; everything else goes
through SymPy's own functions.
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

import importlib  # noqa: E402

_simplify_module = importlib.import_module("sympy.simplify.simplify")

_original_signsimp = _simplify_module.signsimp


def signsimp(expr, *args, **kwargs):
    if _holds_matrix(expr):
        return expr
    return _original_signsimp(expr, *args, **kwargs)


signsimp.__doc__ = _original_signsimp.__doc__


def _install() -> None:
    """Replace SymPy's function wherever a module bound it (``from … import factor_terms``)."""
    import sys
    import sympy  # noqa: F401 - every SymPy module that binds the name is loaded by now
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("sympy"):
            continue
        if getattr(module, "factor_terms", None) is _original:
            module.factor_terms = factor_terms
        if getattr(module, "signsimp", None) is _original_signsimp:
            module.signsimp = signsimp
    _simplify_module.signsimp = signsimp


_install()


def _cache_shapes() -> None:
    """SymPy recomputes the shape of a nested product or sum by walking down its arguments
    on every access, which is quadratic in the depth of a deep network's expressions.
    Expressions are immutable, so each node keeps its shape once computed."""
    from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul, Transpose

    def cached(prop):
        def shape(self):
            try:
                return self.__dict__["_matcalc_shape"]
            except KeyError:
                value = prop.fget(self)
                self.__dict__["_matcalc_shape"] = value
                return value
        return property(shape, doc=prop.__doc__)

    for cls in (MatMul, MatAdd, HadamardProduct, HadamardPower, Transpose):
        prop = cls.__dict__.get("shape")
        if isinstance(prop, property) and not getattr(prop.fget, "_matcalc", False):
            new = cached(prop)
            new.fget._matcalc = True
            cls.shape = new


_cache_shapes()
