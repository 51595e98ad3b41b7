"""Trigonometric functions of matrixcalculus.org's language: tan and the inverse functions.

Entrywise, like sin and cos; one ``function(...)`` entry each, differentiated by the
generic entrywise rule.  arcsin and arccos are defined on (−1, 1): ``domain="unit"`` makes
``--check`` sample inside it.
"""
from __future__ import annotations

from matcalc.ir import ops

from .registry import function

_V = {"x": (4, 1)}
_M = {"X": (3, 2)}


def _one_minus_square_root_inverse(u):
    """(1 − u²)^(−1/2), entrywise."""
    return ops.hpow(ops.one_minus(ops.hpow(u, 2)), -0.5)


function("tan", numpy="np.tan({x})", numpy_inplace="np.tan({x}, out={x})", latex=r"\tan",
         derivative=lambda u, y: ops.add(ops.ones_like(u), ops.hpow(y, 2)),
         identity=r"\tan'(u) = 1 + \tan^2 u", source="calculus (matrixcalculus.org: tan)",
         examples=[("sum(tan(X))", _M)], domain="unit",
         note="--check samples in (−1, 1), away from the poles at ±π/2")
function("arcsin", numpy="np.arcsin({x})", numpy_inplace="np.arcsin({x}, out={x})", latex=r"\arcsin",
         derivative=lambda u, y: _one_minus_square_root_inverse(u),
         identity=r"\arcsin'(u) = (1 - u^2)^{-1/2}", source="calculus (matrixcalculus.org: arcsin)",
         examples=[("sum(arcsin(x))", _V)], domain="unit", bounds=(-1.5707963267948966, 1.5707963267948966),
         note="defined on [−1, 1]; differentiable inside")
function("arccos", numpy="np.arccos({x})", numpy_inplace="np.arccos({x}, out={x})", latex=r"\arccos",
         derivative=lambda u, y: ops.neg(_one_minus_square_root_inverse(u)),
         identity=r"\arccos'(u) = -(1 - u^2)^{-1/2}", source="calculus (matrixcalculus.org: arccos)",
         examples=[("sum(arccos(x))", _V)], domain="unit", bounds=(0, 3.141592653589793),
         note="defined on [−1, 1]; differentiable inside")
function("arctan", numpy="np.arctan({x})", numpy_inplace="np.arctan({x}, out={x})", latex=r"\arctan",
         derivative=lambda u, y: ops.hpow(ops.add(ops.ones_like(u), ops.hpow(u, 2)), -1),
         identity=r"\arctan'(u) = 1/(1 + u^2)", source="calculus (matrixcalculus.org: arctan)",
         examples=[("sum(arctan(X))", _M)], bounds=(-1.5707963267948966, 1.5707963267948966))
