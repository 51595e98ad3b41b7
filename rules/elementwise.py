"""Entrywise functions: one ``function(...)`` entry each, one generic adjoint rule.

Derivatives are written with the forward value ``y = f(u)`` where that is the
textbook form (σ' = σ(1 − σ), tanh' = 1 − tanh²), so the backward pass reuses it.
Convention at kinks: relu'(0) = 0 and abs'(0) = 0, as in the major frameworks.
"""
from __future__ import annotations

from matcalc.ir import ops
from matcalc.ir.nodes import Elementwise, ScalarFunction

from sympy import Abs

from .registry import FUNCTIONS, function, rule

_V = {"x": (4, 1)}
_M = {"X": (3, 2)}

function("exp", numpy="np.exp({x})", numpy_inplace="np.exp({x}, out={x})",
         latex=r"\exp", derivative=lambda u, y: y,
         identity=r"\exp'(u) = \exp(u)", source="calculus", examples=[("sum(exp(X))", _M)], bounds=(0, None))
function("log", numpy="np.log({x})", numpy_inplace="np.log({x}, out={x})", latex=r"\log",
         derivative=lambda u, y: ops.hpow(u, -1),
         identity=r"\log'(u) = 1/u", source="calculus", examples=[("sum(log(x))", _V)],
         domain="positive")
function("sin", numpy="np.sin({x})", numpy_inplace="np.sin({x}, out={x})",
         latex=r"\sin", derivative=lambda u, y: ops.apply("cos", u),
         identity=r"\sin'(u) = \cos u", source="calculus", examples=[("sum(sin(X))", _M)], bounds=(-1, 1))
function("cos", numpy="np.cos({x})", numpy_inplace="np.cos({x}, out={x})", latex=r"\cos",
         derivative=lambda u, y: ops.neg(ops.apply("sin", u)),
         identity=r"\cos'(u) = -\sin u", source="calculus", examples=[("sum(cos(X))", _M)], bounds=(-1, 1))
function("tanh", numpy="np.tanh({x})", numpy_inplace="np.tanh({x}, out={x})", latex=r"\tanh",
         derivative=lambda u, y: ops.one_minus(ops.hpow(y, 2)),
         identity=r"\tanh'(u) = 1 - \tanh^2 u", source="seed 000 (items 3-4), seed 003 (RNN)",
         examples=[("c'*tanh(W*x)", {"c": (3, 1), "W": (3, 2), "x": (2, 1)})], bounds=(-1, 1))
function("sigmoid", numpy="_sigmoid({x})", numpy_inplace="_sigmoid({x}, {x})", latex=r"\sigma",
         derivative=lambda u, y: ops.hadamard(y, ops.one_minus(y)),
         identity=r"\sigma'(u) = \sigma(u) \odot (1 - \sigma(u))", source="seed 000, seed 004",
         examples=[("sum(sigmoid(X))", _M), ("sigmoid(a)", {"a": ()})],
         helpers=("_sigmoid",), bounds=(0, 1))
function("relu", numpy="np.maximum({x}, 0.0)", numpy_inplace="np.maximum({x}, 0.0, out={x})",
         latex=r"\operatorname{relu}",
         derivative=lambda u, y: ops.apply("step", u),
         identity=r"\operatorname{relu}'(u) = [u > 0]", source="seed 001 (Parr & Howard, sec. 6)",
         examples=[("sum(relu(X))", _M)], kinks=(0.0,),
         note="relu'(0) = 0 (the convention of the major frameworks)", bounds=(0, None))
function("softplus", numpy="np.logaddexp(0.0, {x})", numpy_inplace="np.logaddexp(0.0, {x}, out={x})",
         latex=r"\operatorname{softplus}",
         derivative=lambda u, y: ops.apply("sigmoid", u),
         identity=r"\operatorname{softplus}'(u) = \sigma(u)", source="calculus",
         examples=[("sum(softplus(X))", _M)], bounds=(0, None))
function("sqrt", numpy="np.sqrt({x})", numpy_inplace="np.sqrt({x}, out={x})", latex=r"\sqrt",
         derivative=lambda u, y: ops.scale(0.5, ops.hpow(y, -1)),
         identity=r"\sqrt{u}\,' = \tfrac{1}{2\sqrt u}", source="calculus",
         examples=[("sum(sqrt(x))", _V)], domain="positive", bounds=(0, None))
function("abs", numpy="np.abs({x})", numpy_inplace="np.abs({x}, out={x})", latex=r"\operatorname{abs}",
         derivative=lambda u, y: ops.apply("sign", u),
         identity=r"|u|' = \operatorname{sign}(u)", source="calculus",
         examples=[("sum(abs(X))", _M)], kinks=(0.0,), note="abs'(0) = 0", bounds=(0, None))
# Piecewise-constant functions that appear in derivatives (step = relu', sign = abs').
function("step", numpy="np.heaviside({x}, 0.0)", numpy_inplace="np.heaviside({x}, 0.0, out={x})",
         latex=r"\operatorname{step}",
         derivative=lambda u, y: ops.zeros_like(u),
         identity=r"\operatorname{step}'(u) = 0 \ (u \ne 0)", source="derivative of relu",
         examples=[("sum(step(X) .* X)", _M)], kinks=(0.0,), note="step(0) = 0", bounds=(0, 1))
function("sign", numpy="np.sign({x})", numpy_inplace="np.sign({x}, out={x})", latex=r"\operatorname{sign}",
         derivative=lambda u, y: ops.zeros_like(u),
         identity=r"\operatorname{sign}'(u) = 0 \ (u \ne 0)", source="derivative of abs",
         examples=[("sum(sign(X) .* X)", _M)], kinks=(0.0,), note="sign(0) = 0", bounds=(-1, 1))


@rule("entrywise", (Elementwise, ScalarFunction), r"\bar U = \bar Y \odot f'(U) \quad (Y = f(U))",
      "chain rule, entrywise (seed 000: δ = (Wᵀδ') ⊙ σ'(z)); f' from the function table",
      [("sum(tanh(X))", _M)])
def entrywise_rule(node, G, wanted):
    u = node.arg
    if not wanted(u):
        return []
    return [(u, ops.hadamard(G, FUNCTIONS[node.name].derivative(u, node)))]


@rule("abs_scalar", Abs, r"\bar a = \bar y\,\operatorname{sign}(a) \quad (y = |a|)",
      "SymPy folds sqrt(a^2) and (a^2)^p into |a|: the same derivative as abs",
      [("(a^2)^1.5", {"a": ()}), ("sqrt(b^2)*c", {"b": (), "c": ()})])
def abs_scalar_rule(node, G, wanted):
    a = node.args[0]
    return [(a, G * ops.apply("sign", a))] if wanted(a) else []
