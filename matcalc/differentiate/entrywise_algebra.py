"""Entrywise islands simplified as scalar algebra.

A maximal entrywise island (Hadamard products and powers, entrywise functions,
sums and scalings of same-shaped operands) is one scalar function applied entry
by entry.  It is translated to a SymPy scalar expression (each non-entrywise
operand a real symbol), simplified there in several canonical forms — plain
(cancel), σ-form (every exp(±u), σ(±u) written with s = σ(u)), tanh-form
(even functions of e^u written with t = tanh(u)) and softmax-form (e^z = Σe^z ·
softmax(z) for a vector z) — and translated back; the shortest printed form
wins, and only when it is shorter than the island as written.

Each substitution is a catalogue identity (rules/simplifications.py).
"""
from __future__ import annotations

import sympy as sp
from sympy import Add, Dummy, Mul, Number, Pow, Rational, S
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul, OneMatrix

from ..ir import ops
from ..errors import MatcalcError
from ..ir.nodes import Elementwise, ScalarFunction, SumEntries, Softmax, is_matrix
from ..lang.printing import language_length

_MAX_OPS = 60          # larger islands are left as written (bounded derivation time)
_MAX_DEGREE = 8       # nor are powers above this (cancel/factor of a degree-37 rational took minutes)
_MAX_TREE = 2000       # nor are islands whose written-out tree (operands included) is larger: a
                       # deep chain shares subexpressions, and measuring by printing would blow up
_DIRECT = {"exp": sp.exp, "log": sp.log, "tanh": sp.tanh}
_OPAQUE: dict = {}     # name -> SymPy undefined function for functions kept whole


def _opaque(name):
    if name not in _OPAQUE:
        _OPAQUE[name] = sp.Function(f"mc_{name}", real=True)
    return _OPAQUE[name]


def _is_entrywise(node) -> bool:
    if isinstance(node, (HadamardProduct, HadamardPower, Elementwise, MatAdd)):
        return True
    if isinstance(node, MatMul):
        return sum(is_matrix(a) for a in node.args) == 1
    return False


class _Translation:
    """Matrix island -> scalar SymPy expression, remembering each leaf."""

    def __init__(self, shape, keep=frozenset()):
        self.shape, self.keep = shape, keep
        self.leaves: dict = {}      # original -> Dummy
        self.back: dict = {}        # Dummy -> original
        self.ops = 0

    def leaf(self, original):
        if original not in self.leaves:
            d = Dummy(f"L{len(self.leaves)}", real=True)
            self.leaves[original] = d
            self.back[d] = original
        return self.leaves[original]

    def matrix(self, e):
        if isinstance(e, OneMatrix):
            return S.One
        c, body = ops.split_coeff(e)
        if c != 1 and isinstance(body, MatMul):
            return self.scalar(c) * self.leaf(body)
        if e.shape != self.shape or not _is_entrywise(e) or e in self.keep:
            return self.leaf(e)
        self.ops += 1
        if isinstance(e, HadamardProduct):
            return Mul(*[self.matrix(a) for a in e.args])
        if isinstance(e, HadamardPower):
            return Pow(self.matrix(e.base), self.scalar(e.exp))
        if isinstance(e, MatAdd):
            return Add(*[self.matrix(a) for a in e.args])
        if isinstance(e, MatMul):
            return Mul(*[self.matrix(a) if is_matrix(a) else self.scalar(a) for a in e.args])
        return self.function(e.name, self.matrix(e.arg))

    def function(self, name, u):
        if name in _DIRECT:
            return _DIRECT[name](u)
        if name == "sqrt":
            return sp.sqrt(u)
        return _opaque(name)(u)

    def scalar(self, e):
        if isinstance(e, Number):
            return e
        if isinstance(e, (Add, Mul)):
            self.ops += 1
            return e.func(*[self.scalar(a) for a in e.args])
        if isinstance(e, Pow):
            self.ops += 1
            return Pow(self.scalar(e.base), self.scalar(e.exp))
        if isinstance(e, ScalarFunction):
            self.ops += 1
            return self.function(e.name, self.scalar(e.arg))
        return self.leaf(e)


def _function_name(x):
    for name, f in _DIRECT.items():
        if isinstance(x, f):
            return name
    name = type(x).__name__
    return name[3:] if name.startswith("mc_") and len(x.args) == 1 else None


class _Back:
    """Scalar SymPy expression -> matrix island of ``shape`` (or a scalar)."""

    def __init__(self, tr: _Translation, extra: dict):
        self.tr, self.extra = tr, extra   # extra: Dummy -> original (σ, tanh, softmax symbols)

    def original(self, d):
        return self.extra[d] if d in self.extra else self.tr.back[d]

    def __call__(self, x):
        if isinstance(x, Dummy):
            return self.original(x)
        if isinstance(x, Number) or x.is_Symbol:
            return x
        if not any(is_matrix(self.original(d)) for d in x.atoms(Dummy)):
            return self.scalar(x)
        if isinstance(x, Add):   # constants last: X*w + b, 1 - y
            terms = sorted(x.args, key=lambda a: not any(is_matrix(self.original(d)) for d in a.atoms(Dummy)))
            return ops.add(*[self.as_matrix(a) for a in terms])
        if isinstance(x, Mul):
            return ops.hadamard(*[self(a) for a in x.args])
        if isinstance(x, Pow):
            base = self(x.base)
            if x.exp == Rational(1, 2):
                return Elementwise("sqrt", base)
            return ops.hpow(base, self.scalar(x.exp))
        name = _function_name(x)
        if name is None:
            raise ValueError(f"cannot translate {x} back")
        return Elementwise(name, self.as_matrix(x.args[0]))

    def scalar(self, x):
        if isinstance(x, Dummy):
            return self.original(x)
        if isinstance(x, Number) or x.is_Symbol or not x.args:
            return x
        if isinstance(x, (Add, Mul, Pow)):
            return x.func(*[self.scalar(a) for a in x.args])
        name = _function_name(x)
        if name is None:
            raise ValueError(f"cannot translate {x} back")
        return ScalarFunction(name, self.scalar(x.args[0]))

    def as_matrix(self, x):
        m = self(x)
        return m if is_matrix(m) else ops.scale(m, OneMatrix(*self.tr.shape))


# ---------------------------------------------------------------- canonical forms
def _canonical(u):
    """(sign, u) with the sign pulled out of u."""
    return (-1, -u) if u.could_extract_minus_sign() else (1, u)


def _classes(x):
    """Arguments u (up to sign and integer multiples) of every exp(k·u) and σ(±u) in x."""
    found = []
    for e in x.atoms(sp.exp):
        k, u = e.args[0].as_coeff_Mul()
        u = u if k.is_Integer else e.args[0]
        found.append(_canonical(u)[1])
    for e in x.atoms(_opaque("sigmoid")):
        found.append(_canonical(e.args[0])[1])
    return list(dict.fromkeys(found))


def _orientations(x, u) -> list:
    """Signs o for which σ(o·u) may be written: those of x's σ(±u), else of its exp(±k·u)."""
    sig = {_canonical(e.args[0])[0] for e in x.atoms(_opaque("sigmoid")) if _canonical(e.args[0])[1] == u}
    if sig:
        return sorted(sig)
    found = set()
    for e in x.atoms(sp.exp):
        k, v = e.args[0].as_coeff_Mul()
        if not k.is_Integer:
            k, v = S.One, e.args[0]
        sign, v = _canonical(v)
        if v == u:
            found.add(1 if sign * k > 0 else -1)
    return sorted(found) or [1]


def _exp_power(e, classes):
    """exp(k·u) as (u, k) for a class u, else None."""
    k, u = e.args[0].as_coeff_Mul()
    if not k.is_Integer:
        k, u = S.One, e.args[0]
    sign, u = _canonical(u)
    return (u, sign * k) if u in classes else None


def _substitute(x, classes, exp_of, sigmoid_of):
    """x with exp(k·u) -> exp_of(u, k) and σ(±u) -> sigmoid_of(u, ±1)."""
    def exp_repl(e):
        found = _exp_power(e, classes)
        return e if found is None else exp_of(*found)

    def sig_repl(e):
        sign, u = _canonical(e.args[0])
        return sigmoid_of(u, sign) if u in classes else e
    x = x.replace(lambda e: isinstance(e, sp.exp), exp_repl)
    return x.replace(lambda e: isinstance(e, _opaque("sigmoid")), sig_repl)


def _positive_factors(y):
    """−s(s − 1) -> s(1 − s): sums inside a product written with fewer minus signs."""
    if isinstance(y, Add):
        return Add(*[_positive_factors(a) for a in y.args])
    if not isinstance(y, Mul):
        return y
    sign, out = 1, []
    for f in y.args:
        base, p = (f.base, f.exp) if isinstance(f, Pow) and f.exp.is_Integer else (f, 1)
        if isinstance(base, Add) and base.could_extract_minus_sign():
            f, sign = (-base) ** p, sign * (-1) ** p
        out.append(f)
    return sign * Mul(*out)


def _function_of(tr, name, u):
    """name(u) back in the IR: entrywise over the island when u has a matrix operand, else a
    scalar function (σ(b) of a scalar b stays a scalar)."""
    back = _Back(tr, {})
    if any(is_matrix(tr.back[d]) for d in u.atoms(Dummy) if d in tr.back):
        return Elementwise(name, back.as_matrix(u))
    return ScalarFunction(name, back.scalar(u))


def _tidy(y):
    """Factored forms of y (products are kept as products: σ(1 − σ), not σ − σ²)."""
    f = sp.factor(sp.cancel(y))
    yield _positive_factors(f)
    if isinstance(f, Mul):   # a product of sums only, expanded: (1 − t)(1 + t) -> 1 − t²
        c, rest = f.as_coeff_Mul()
        if all(isinstance(a.base if isinstance(a, Pow) else a, Add) for a in Mul.make_args(rest)):
            yield c * sp.expand(rest)


def _plain_forms(x, tr):
    """cancel / factor with each exp(k·u) a power of one symbol (exp(u + b) kept whole)."""
    classes = _classes(x)
    symbols = {u: Dummy("E", positive=True) for u in classes}
    y = _substitute(x, classes, lambda u, k: symbols[u] ** k, lambda u, sign: _opaque("sigmoid")(sign * u))
    back = {E: sp.exp(u) for u, E in symbols.items()}
    for z in _tidy(y):
        yield z.xreplace(back), {}


def _sigma_forms(x, tr):
    """Every exp(±u), σ(±u) written with s = σ(u) (or s = σ(−u)): e^u = s/(1 − s)."""
    classes = _classes(x)
    if not classes or len(classes) > 3:
        return
    import itertools
    for signs in itertools.product(*[_orientations(x, u) for u in classes]):
        extra, sym = {}, {}
        for u, o in zip(classes, signs):
            s_ = Dummy("s", positive=True)
            sym[u] = (s_, o)
            extra[s_] = _function_of(tr, "sigmoid", o * u)

        def exp_of(u, k):
            s_, o = sym[u]
            ratio = s_ / (1 - s_) if o == 1 else (1 - s_) / s_
            return ratio ** k

        def sigmoid_of(u, sign):
            s_, o = sym[u]
            return s_ if sign == o else 1 - s_
        y = _substitute(x, classes, exp_of, sigmoid_of)
        for z in _tidy(y):
            if not _saturating_division(z, extra, x):
                yield z, extra


def _tanh_forms(x, tr):
    """Even functions of e^u written with t = tanh(u): e^{2u} = (1 + t)/(1 − t)."""
    classes = [u for u in _classes(x)]
    if not classes or x.has(_opaque("sigmoid")):
        return
    symbols = {u: Dummy("Q", positive=True) for u in classes}
    y = _substitute(x, classes, lambda u, k: sp.sqrt(symbols[u]) ** k, None)
    y = sp.cancel(y)
    if any(p.exp.is_Rational and p.exp.q != 1 for p in y.atoms(Pow)):
        return
    extra, subs = {}, {}
    for u, Q in symbols.items():
        t = Dummy("t", real=True)
        extra[t] = _function_of(tr, "tanh", u)
        subs[Q] = (1 + t) / (1 - t)
    for z in _tidy(y.subs(subs)):
        if not _saturating_division(z, extra, x, complements=False):   # 1 − tanh(u)² is the textbook's sech²
            yield z, extra


def _saturating_division(z, symbols, original, complements=True) -> bool:
    """Does z divide by a sum of s = σ(u) or t = tanh(u) (1 − s, 1 − t²) where the original x
    divides by no sum of σ or tanh?  Such a sum is 0 in floating point once σ(u) or tanh(u)
    rounds to 1 (u ≳ 37 or 19), where e^u is still finite (u < 709): e^u as s/(1 − s) would be
    inf, and loses digits long before.  With ``complements``: or does z subtract s from a number
    where x does not (σ(u) − 1 for −1/(1 + e^u), which is −σ(−u))?"""
    def divides(expr, atoms) -> bool:
        return any(p.exp.is_number and p.exp < 0 and any(isinstance(a, Add) and a.has(*atoms)
                                                          for a in sp.preorder_traversal(p.base))
                   for p in expr.atoms(Pow))
    functions = [f for f in original.atoms(sp.Function) if isinstance(f, (sp.tanh, _opaque("sigmoid")))]
    return divides(z, list(symbols)) and not (functions and divides(original, functions)) or \
        complements and _complements(z, list(symbols)) and not (functions and _complements(original, functions))


def _complements(expr, atoms) -> bool:
    """Does expr hold c(1 − s) for an s of ``atoms`` (1 − σ(u), σ(u) − 1)?  That difference is
    tiny where σ(u) is near 1 and keeps only its absolute accuracy (1 − σ(30) has 3 correct
    digits; times e^u it is 1 ± 1e-3): 1/(1 + e^u) is σ(−u), not 1 − σ(u)."""
    for a in expr.atoms(Add):
        if len(a.args) == 2 and a.args[0].is_Number and any(a.args[1] == -a.args[0] * s for s in atoms):
            return True
    return False


def _softmax_forms(x, tr):
    """e^z = S·softmax(z) where S = Σe^z is a scalar of the island and z a column vector;
    a scalar aᵀe^z of the island is S·aᵀsoftmax(z)."""
    shape = tr.shape
    if shape[1] != 1 or shape[0] == 1:
        return
    extra, subs = {}, {}
    for original, d in list(tr.leaves.items()):
        if isinstance(original, SumEntries) and isinstance(original.arg, Elementwise) \
                and original.arg.name == "exp" and original.arg.shape == shape:
            z = original.arg.arg
            m = Dummy("m", positive=True)
            extra[m] = Softmax(z)
            subs[sp.exp(tr.matrix(z))] = d * m
            for other, e in list(tr.leaves.items()):
                folded = _fold_linear(other, original.arg, Softmax(z))
                if folded is not None:
                    f = Dummy("F", real=True)
                    extra[f] = folded
                    subs[e] = d * f
    if subs:
        for z in _tidy(x.subs(subs)):
            yield z, extra


def _fold_linear(scalar, exp_z, softmax_z):
    """aᵀe^z (a scalar of one product with one factor e^z or (e^z)ᵀ) with softmax(z) for e^z."""
    from sympy import Trace, Transpose
    if not isinstance(scalar, Trace) or not isinstance(scalar.arg, MatMul):
        return None
    args = list(scalar.arg.args)
    hits = [i for i, a in enumerate(args) if a == exp_z or (isinstance(a, Transpose) and a.arg == exp_z)]
    if len(hits) != 1 or any(exp_z in a.atoms(Elementwise) for i, a in enumerate(args) if i != hits[0]
                             if is_matrix(a)):
        return None
    i = hits[0]
    args[i] = softmax_z if args[i] == exp_z else ops.transpose(softmax_z)
    return ops.as_scalar(ops.matmul(*args))


def _may_simplify(x) -> bool:
    """Could scalar algebra shorten x?  Not when every operand and function application occurs
    once and nothing is divided (a product of distinct factors is already simplest)."""
    seen = set()
    for node in sp.preorder_traversal(x):
        if isinstance(node, Pow) and node.exp.is_number and (node.exp < 0 or not node.exp.is_Integer):
            return True
        if isinstance(node, (Dummy, sp.exp, sp.log, sp.tanh)) or type(node).__name__.startswith("mc_"):
            if node in seen:
                return True
            seen.add(node)
    return False


def _with_content(candidates):
    """Each candidate preceded by its numeric content taken out of a sum, 2(a − b) for 2a − 2b
    (SymPy distributes numbers over sums; on equal length the factored form wins)."""
    for cand, extra in candidates:
        if isinstance(cand, Add):
            c, rest = cand.as_content_primitive()
            if c != 1 and isinstance(rest, Add):
                yield Mul(c, rest, evaluate=False), extra
        yield cand, extra


def simplify_island(node, length, keep=frozenset()):
    """The shortest equal form of an entrywise island (by ``length``), or None; values in
    ``keep`` are operands, never simplified into their surroundings."""
    if not is_matrix(node) or not _is_entrywise(node) or isinstance(node, Elementwise) \
            and not _is_entrywise(node.arg):
        return None
    if ops.tree_size(node, _MAX_TREE) > _MAX_TREE:
        return None
    tr = _Translation(node.shape, keep)
    x = tr.matrix(node)
    if tr.ops < 2 or tr.ops > _MAX_OPS:
        return None
    best, best_len = None, length(node)
    candidates = [(x, {})]   # SymPy's automatic simplification alone ((√x)² = x)
    forms = (_plain_forms, _sigma_forms, _tanh_forms, _softmax_forms) \
        if _may_simplify(x) and _degree(x) <= _MAX_DEGREE else ()
    for form in forms:
        try:
            candidates.extend(form(x, tr))
        except (sp.PolynomialError, ValueError, TypeError):
            pass
    for cand, extra in _with_content(candidates):
        try:
            m = _Back(tr, extra).as_matrix(cand)
        except (ValueError, TypeError):
            continue
        if m.atoms(Dummy):   # never a symbol of the translation in a result
            continue
        n = length(m)
        if n < best_len:
            best, best_len = m, n
    return best


def _degree(x) -> int:
    """The largest |numeric exponent| of a power in the scalar expression x (0 if none)."""
    exponents = [abs(p.exp) for p in x.atoms(Pow) if p.exp.is_Number]
    return int(max(exponents, default=0))


_CACHE: dict = {}        # island -> simplified island or None (a pure function of the node)
_CACHE_SIZE = 4096


def entrywise_islands(node, keep=frozenset()):
    """Rewrite: an entrywise island replaced by its shortest equal scalar-algebra form."""
    key = (node, keep)
    if key in _CACHE:
        return _CACHE[key]
    try:
        out = simplify_island(node, language_length, keep)
    except MatcalcError:   # a time limit
        raise
    except Exception:  # noqa: BLE001 - best effort: the island as written is always right
        out = None
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    _CACHE[key] = out
    return out


def _member(node) -> bool:
    return is_matrix(node) and _is_entrywise(node)


def _nonlinear(expr) -> frozenset:
    """The entrywise functions, scalar functions and negative powers in expr: a cancellation or
    recombination changes them; rearranging signs or factors does not."""
    seen, found, stack = set(), set(), [expr]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, (Elementwise, ScalarFunction)) or \
                isinstance(node, (HadamardPower, Pow)) and getattr(node.args[1], "is_negative", False):
            found.add(node)
        stack.extend(getattr(node, "args", ()))
    return frozenset(found)


def maximal_islands(expr, memo: dict | None = None, keep=frozenset(), changed: list | None = None):
    """expr with each maximal entrywise island simplified (islands inside its operands first);
    sub-islands are not simplified on their own (the whole island is one scalar function)."""
    from .engine import _LEAVES
    memo = {} if memo is None else memo

    def visit(node, inside):
        key = (node, inside)
        if key in memo:
            return memo[key]
        if isinstance(node, _LEAVES) or not node.args or node in keep:
            out = node
        else:
            member = _member(node)
            args = [visit(a, member and _member(a) and a.shape == node.shape) for a in node.args]
            out = ops.rebuild(node, args)
            if member and not inside:
                simpler = entrywise_islands(out, keep)
                if simpler is not None and simpler != out:
                    if changed is not None and _nonlinear(simpler) != _nonlinear(out):
                        changed.append(out)   # functions cancelled or recombined: the caller learns of it
                    out = simpler
        memo[key] = out
        return out
    try:
        return visit(expr, False)
    except RecursionError:
        return expr
