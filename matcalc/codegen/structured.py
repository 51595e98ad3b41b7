"""Structured code for vec-form results (Hessian blocks, Hessian-vector products).

A closed-form Hessian of a matrix variable is a product of Kronecker products, commutation
matrices, ``diag(vec(·))`` and ones/identity factors.  Materialising them costs O((mn)²) memory
and dense products.  Here every such result is rewritten as a sum of index networks: each
dense matrix becomes a tensor with one index per axis (split where a vec is), identities and
Kronecker factors become shared indices, ``diag(v)`` a repeated index, ``𝟏𝟏ᵀ`` free indices.
Each network is contracted pairwise (order chosen by cost from the shapes) into NumPy
broadcasts, reductions and (batched) GEMMs, and added into the result through a reshaped,
diagonal view — memory O(output + largest intermediate).  Anything else falls back to the
plain generator.

Array operations go through the small ``ArrayOps`` methods, so a framework backend can swap them.
"""
from __future__ import annotations

import itertools
import string

from sympy import Integer, MatAdd, MatMul, cancel, fraction
from sympy.matrices.expressions import (HadamardProduct, Identity, KroneckerProduct, OneMatrix,
                                        Transpose, ZeroMatrix)
from sympy.matrices.expressions.diagonal import DiagMatrix

from .numpy_code import NumpyCodegen
from ..differentiate.engine import topological
from ..ir.nodes import Commutation, Vec, is_matrix

STRUCTURE = (KroneckerProduct, DiagMatrix, Commutation, Vec)
VEC_FORMS = (KroneckerProduct, Commutation, Vec)   # what makes a result worth a network
MAX_TERMS = 64          # more terms than this: the plain generator
_GUESS = 64             # a symbolic size, for choosing contraction orders


class Unstructured(Exception):
    """The expression is outside what index networks express: use the plain generator."""


class Term:
    """coef · Π factors, as a matrix with row indices ``rows`` and column indices ``cols``
    (column-major: the first index varies fastest)."""
    __slots__ = ("coef", "factors", "rows", "cols")

    def __init__(self, coef, factors, rows, cols):
        self.coef, self.factors, self.rows, self.cols = coef, factors, rows, cols

    def substitute(self, old, new: list):
        """Replace index ``old`` by the list ``new`` everywhere (a merge or a split)."""
        def sub(ix):
            out = []
            for i in ix:
                out.extend(new if i == old else (i,))
            return out
        self.factors = [(e, sub(ix)) for e, ix in self.factors]
        self.rows, self.cols = sub(self.rows), sub(self.cols)


class Networks:
    """Converts a matrix expression into a list of ``Term``s over shared index sizes."""

    def __init__(self):
        self.size: dict = {}

    def index(self, n) -> list:
        if n == 1:
            return []
        i = len(self.size)
        self.size[i] = n
        return [i]

    def convert(self, e) -> list:
        if not is_matrix(e):
            raise Unstructured(type(e).__name__)
        terms = self._convert(e)
        if len(terms) > MAX_TERMS:
            raise Unstructured("too many terms")
        return terms

    def _convert(self, e) -> list:
        if isinstance(e, Identity):
            i = self.index(e.shape[0])
            return [Term(Integer(1), [], i, list(i))]
        if isinstance(e, OneMatrix):
            return [Term(Integer(1), [], self.index(e.shape[0]), self.index(e.shape[1]))]
        if isinstance(e, ZeroMatrix):
            return []
        if isinstance(e, Transpose) and has_structure(e.arg):
            return [Term(t.coef, t.factors, t.cols, t.rows) for t in self.convert(e.arg)]
        if isinstance(e, Vec):
            return [Term(t.coef, t.factors, t.rows + t.cols, []) for t in self.convert(e.arg)]
        if isinstance(e, DiagMatrix):
            return [Term(t.coef, t.factors, t.rows + t.cols, t.rows + t.cols) for t in self.convert(e.args[0])]
        if isinstance(e, Commutation):
            i, j = self.index(e.m), self.index(e.n)
            return [Term(Integer(1), [], j + i, i + j)]
        if isinstance(e, MatAdd) and has_structure(e):
            return [t for a in e.args for t in self.convert(a)]
        if isinstance(e, KroneckerProduct):
            out = [Term(Integer(1), [], [], [])]
            for a in e.args:   # A ⊗ B: B's indices vary fastest
                out = [Term(t.coef * u.coef, t.factors + u.factors, u.rows + t.rows, u.cols + t.cols)
                       for t in out for u in self.convert(a)]
                if len(out) > MAX_TERMS:
                    raise Unstructured("too many terms")
            return out
        if isinstance(e, MatMul) and (has_structure(e) or any(isinstance(a, OneMatrix) for a in e.args)):
            coef = Integer(1)
            out = None
            for a in e.args:
                if not is_matrix(a):
                    coef = coef * a
                    continue
                terms = self.convert(a)
                out = terms if out is None else [self.join(t, u, (t.cols, u.rows)) for t in out for u in terms]
                if len(out) > MAX_TERMS:
                    raise Unstructured("too many terms")
            for t in out:
                t.coef = coef * t.coef
            return out
        if isinstance(e, HadamardProduct) and has_structure(e):
            out = None
            for a in e.args:
                terms = self.convert(a)
                out = terms if out is None else [self.join(t, u, (t.rows, u.rows), (t.cols, u.cols))
                                                 for t in out for u in terms]
            return out
        if has_structure(e):
            raise Unstructured(type(e).__name__)
        rows, cols = self.index(e.shape[0]), self.index(e.shape[1])
        if isinstance(e, Transpose):   # Mᵀ as M with its indices swapped: one array, shared
            return [Term(Integer(1), [(e.arg, cols + rows)], rows, cols)]
        return [Term(Integer(1), [(e, rows + cols)], rows, cols)]

    def join(self, t: Term, u: Term, *pairs) -> Term:
        """The product term of t and u with each pair of index lists identified."""
        out = Term(t.coef * u.coef, t.factors + u.factors, list(t.rows), list(u.cols))
        keep = [list(t.rows), list(t.cols), list(u.rows), list(u.cols)]
        for left, right in pairs:
            self.unify(out, list(left), list(right), keep)
        if pairs[0][0] is t.rows:   # Hadamard: rows and columns both of t
            out.rows, out.cols = keep[0], keep[1]
        else:
            out.rows, out.cols = keep[0], keep[3]
        carried = set(out.rows) | set(out.cols) | {i for _, ix in out.factors for i in ix}
        for i in {i for lst in keep for i in lst} - carried:   # summed, and no factor has it: 𝟏ᵀ𝟏 = n
            out.coef = out.coef * self.size[i]
        return out

    def unify(self, term: Term, a: list, b: list, lists: list):
        """Identify index lists a and b (same total size), splitting indices to a common
        refinement; ``lists`` are rewritten along with the term."""
        def sub(old, new):
            term.substitute(old, new)
            for lst in lists + [a, b]:
                lst[:] = [j for i in lst for j in (new if i == old else (i,))]
        p = 0
        while p < len(a) or p < len(b):
            if p >= len(a) or p >= len(b):
                raise Unstructured("index sizes disagree")
            x, y = a[p], b[p]
            if x != y:
                sx, sy = self.size[x], self.size[y]
                if sx == sy:
                    sub(y, [x])
                elif _divides(sx, sy):
                    sub(y, self.index(sx) + self.index(cancel(sy / sx)))
                    continue
                elif _divides(sy, sx):
                    sub(x, self.index(sy) + self.index(cancel(sx / sy)))
                    continue
                else:
                    raise Unstructured("index sizes disagree")
            p += 1


def _divides(s, t) -> bool:
    q = cancel(t / s)
    return q != 1 and fraction(q)[1] == 1 and (not q.is_number or (q.is_integer and q > 1))


def has_structure(e) -> bool:
    return any(isinstance(n, STRUCTURE) for n in topological(e))


def plan(factors: list, keep: set, size) -> list:
    """The cheapest pairwise contraction order (exhaustive for few factors, else greedy):
    a list of index pairs into the shrinking factor list."""
    def cost_of(ixs, steps):
        flops = 0
        ixs = list(ixs)
        for i, j in steps:
            a, b = ixs[i], ixs[j]
            others = set().union(*[ixs[k] for k in range(len(ixs)) if k not in (i, j)]) | keep
            union = set(a) | set(b)
            f = 1
            for x in union:
                f *= size(x)
            out = {x for x in union if x in others}
            r = 1
            for x in out:
                r *= size(x)
            flops += f + 4 * r
            ixs = [ixs[k] for k in range(len(ixs)) if k not in (i, j)] + [out]
        return flops

    def sequences(n):
        if n <= 1:
            yield []
            return
        for i, j in itertools.combinations(range(n), 2):
            for rest in sequences(n - 1):
                yield [(i, j)] + rest

    ixs = [set(ix) for ix in factors]
    if len(ixs) <= 5:
        return min(sequences(len(ixs)), key=lambda s: cost_of(ixs, s))
    steps = []
    while len(ixs) > 1:
        pair = min(itertools.combinations(range(len(ixs)), 2), key=lambda p: cost_of(ixs, [p]))
        steps.append(pair)
        i, j = pair
        others = set().union(*[ixs[k] for k in range(len(ixs)) if k not in pair]) | keep
        ixs = [ixs[k] for k in range(len(ixs)) if k not in pair] + [(ixs[i] | ixs[j]) & others]
    return steps


class StructuredCodegen(NumpyCodegen):
    """NumPy code generator that writes vec-form results through index networks."""

    def function(self) -> str:
        self.networks = {}
        for key, expr in self.outputs.items():
            if is_matrix(expr) and any(isinstance(n, VEC_FORMS) for n in topological(expr)):
                builder = Networks()
                try:
                    self.networks[expr] = (builder, builder.convert(expr))
                except Unstructured:
                    pass
        return super().function()

    matrix_results: dict = {}   # output key -> (rows, cols): a vec-form result returned unvec-ed

    def result(self, key, expr) -> str:
        """A vec-form result named in ``matrix_results`` in its matrix shape (column-major
        unvec): the contracted array itself when one term in the matrix's orientation is
        left, else a view of the vec."""
        shape = self.matrix_results.get(key)
        if shape is None:
            return super().result(key, expr)
        if expr in getattr(self, "networks", {}) and expr not in self.temps:
            self._count_leaves()
            name = self.write_networks(expr, *self.networks[expr], matrix=shape)
        else:
            name = self.value(expr, top=True)
        if name in self.__dict__.get("_unvec_done", ()):
            return name
        rows, cols = shape
        return self.emit_line(f"{name}.reshape(({self.size(cols)}, {self.size(rows)})).T", reuse=False)

    def value(self, e, top=False) -> str:
        if top and e in getattr(self, "networks", {}) and e not in self.temps:
            self._count_leaves()
            name = self.write_networks(e, *self.networks[e])
            self.temps[e] = name
            return name
        return super().value(e, top)

    def _count_leaves(self):
        """Dense factors used by several terms (or results) become temporaries."""
        if getattr(self, "_counted", False):
            return
        self._counted = True
        uses: dict = {}
        for _, terms in self.networks.values():
            for t in terms:
                for f, _ in t.factors:
                    uses[f] = uses.get(f, 0) + 1
        for f, n in uses.items():
            if n > 1:
                self.uses[f] = max(self.uses.get(f, 0), 2)

    # ------------------------------------------------------------ array operations
    def dims(self, builder, ix) -> str:
        return "(" + "".join(f"{self.size(builder.size[i])}, " for i in ix) + ")"

    def emit_line(self, code: str, reuse: bool = True) -> str:
        """A temporary holding ``code`` (the same code twice is computed once)."""
        memo = self.__dict__.setdefault("_emitted", {})
        if reuse and code in memo:
            return memo[code]
        name = self.fresh()
        if reuse:
            memo[code] = name
        self.lines.append(f"{name} = {code}")
        return name

    def write_networks(self, e, builder: Networks, terms: list, matrix=None) -> str:
        """The result: the largest full term's array as the base (no zeros, no copy when its
        axes already run in the result's order), every other term added into a view.  With
        ``matrix`` = (rows, cols) and one fresh term indexed (row, col), that term's array in
        the matrix's orientation (no copy; the caller skips the unvec)."""
        done = self.finish_terms(builder, [(t, self.contract_term(builder, t, defer_last=True)) for t in terms])
        if matrix is not None and len(done) == 1:
            t, code, ix, fresh = done[0]
            labels = t.rows + t.cols
            if fresh and len(labels) == 2 and sorted(labels) == sorted(ix) and \
                    [builder.size[i] for i in labels] == list(matrix):
                code = self.transposed(code, ix, labels)
                if t.coef == -1:
                    code = f"-{self.paren(code)}"
                elif t.coef != 1:
                    code = f"{self.operand(t.coef)} * {self.paren(code)}"
                shared = self.__dict__.get("_emitted", {}).values()
                name = code if code.isidentifier() and code not in shared else self.emit_line(code, reuse=False)
                self.__dict__.setdefault("_unvec_done", set()).add(name)
                return name
        base = None
        for k, (t, code, ix, fresh) in enumerate(done):
            labels = t.rows + t.cols
            if fresh and len(set(labels)) == len(labels) == len(ix):
                if base is None or ix == _c_order(t):
                    base = k
        if base is None:
            out = self.emit_line(f"np.zeros({self.shape(e)})", reuse=False)
        else:
            t, code, ix, _ = done.pop(base)   # C-contiguous, so every later reshape is a view
            code = f"np.ascontiguousarray({self.transposed(code, ix, _c_order(t))})"
            out = self.emit_line(f"{code}.reshape({self.shape(e)})", reuse=False)
            if t.coef == -1:
                self.lines.append(f"np.negative({out}, out={out})")
            elif t.coef != 1:
                self.lines.append(f"{out} *= {self.operand(t.coef)}")
        for t, code, ix, _ in done:
            self.add_term(out, builder, t, code, ix)
        return out

    def finish_terms(self, builder: Networks, pending: list) -> list:
        """(term, code, indices, fresh) of every term.  Terms whose last contraction is with
        the same factor in the same roles are summed before it (Xᵀ A − Xᵀ B = Xᵀ(A − B)):
        one GEMM for all of them."""
        keys = []
        for t, result in pending:
            keys.append([] if result[0] != "pair" else
                        [k for k in (_last_step_key(t, result[1], result[2]), _last_step_key(t, result[2], result[1]))
                         if k is not None])
        counts: dict = {}
        for ks in keys:
            for k in set(ks):
                counts[k] = counts.get(k, 0) + 1
        groups: dict = {}
        done = []
        for (t, result), ks in zip(pending, keys):
            shared = [k for k in ks if counts[k] > 1]
            if shared:
                key = max(shared, key=lambda k: counts[k])
                leaf, partner = (result[1], result[2]) if key == _last_step_key(t, result[1], result[2]) \
                    else (result[2], result[1])
                groups.setdefault(key, []).append((t, leaf, partner, result[3], result[4]))
            elif result[0] == "pair":
                _, a, b, needed, target = result
                code, ix = self.contract(a, b, needed, builder, target, last=True)
                done.append((t, code, ix, True))
            else:
                done.append((t,) + result[1:])
        for members in groups.values():
            t0, leaf, partner0, needed, target = members[0]
            roles0 = _roles(t0, leaf, partner0[1])
            pieces = []
            for t, _, (code, ix), _, _ in members:
                by_role = dict(zip(_roles(t, _leaf_of(members, t), ix), ix))
                code = self.transposed(code, ix, [by_role[r] for r in roles0])
                ratio = t.coef / t0.coef
                pieces.append((ratio, code))
            total = ""
            for ratio, code in pieces:
                if not total:
                    total = code if ratio == 1 else f"{self.operand(ratio)} * {self.paren(code)}"
                elif ratio == -1:
                    total += f" - {self.paren(code)}"
                else:
                    total += f" + {code}" if ratio == 1 else f" + {self.operand(ratio)} * {self.paren(code)}"
            summed = (self.emit_line(total), list(partner0[1]))
            code, ix = self.contract(leaf, summed, needed, builder, target, last=True)
            done.append((t0, code, ix, True))
        return done

    def contract_term(self, builder: Networks, t: Term, defer_last: bool = False):
        """("done", code, indices, fresh) of the term's array, contracted pairwise in the
        cheapest order; with ``defer_last``, ("pair", a, b, needed, target): the last step's
        operands, for ``finish_terms``."""
        size = builder.size

        def guess(i):
            s = size[i]
            return int(s) if isinstance(s, (int, Integer)) else _GUESS
        keep = set(t.rows + t.cols)
        target = list(dict.fromkeys(_c_order(t)))
        factors = [self.diagonal(*self.shaped(self.operand(f), f, builder, ix)) for f, ix in t.factors]
        factors = self.sum_out(factors, keep)
        if not factors:
            return "done", "1.0", [], False
        fresh = False
        for i, j in plan([ix for _, ix in factors], keep, guess):
            a, b = factors[i], factors[j]
            rest = [factors[k] for k in range(len(factors)) if k not in (i, j)]
            needed = keep.union(*[set(ix) for _, ix in rest])
            if defer_last and not rest:
                return "pair", a, b, needed, target
            factors = self.sum_out(rest + [self.contract(a, b, needed, builder, target, last=not rest)], keep)
            fresh = True
        code, ix = factors[0]
        return "done", code, ix, fresh

    def add_term(self, out: str, builder: Networks, t: Term, code: str, ix: list):
        """out += the term, through a view of out with the term's indices (diagonal where an
        index repeats; broadcast over indices no factor carries)."""
        labels = _c_order(t)
        uniq = list(dict.fromkeys(labels))
        view = f"{out}.reshape({self.dims(builder, labels)})"
        letters = {i: string.ascii_letters[k] for k, i in enumerate(uniq)}
        full = "".join(letters[i] for i in labels)
        missing = [i for i in uniq if i not in ix]
        target = "".join(letters[i] for i in missing + ix)
        if full != target:
            view = f"np.einsum('{full}->{target}', {view})"
        op = "+="
        if t.coef == -1:
            op = "-="
        elif t.coef != 1:
            code = f"{self.operand(t.coef)} * {self.paren(code)}"
        self.lines.append(f"{self.emit_line(view, reuse=False)} {op} {code}")

    def shaped(self, code: str, f, builder, ix):
        """The factor's array with one axis per index (column-major split of its entries)."""
        r, c = f.shape
        natural = ([r] if r != 1 else []) + ([c] if c != 1 else [])
        if [builder.size[i] for i in ix] == natural and len(natural) == 2:
            return code, list(ix)
        if len(ix) == 1 and len(natural) == 1:
            return f"{self.paren(code)}.reshape(-1)", list(ix)
        return f"{self.paren(code)}.reshape({self.dims(builder, ix)}, order='F')", list(ix)

    @staticmethod
    def diagonal(code: str, ix: list):
        """A factor whose index repeats: its diagonal (a view)."""
        if len(set(ix)) == len(ix):
            return code, ix
        letters = {i: string.ascii_letters[k] for k, i in enumerate(dict.fromkeys(ix))}
        uniq = list(dict.fromkeys(ix))
        spec = "".join(letters[i] for i in ix) + "->" + "".join(letters[i] for i in uniq)
        return f"np.einsum('{spec}', {code})", uniq

    def sum_out(self, factors: list, keep: set) -> list:
        """Sum each index that only one factor carries and nothing later needs."""
        out = []
        for k, (code, ix) in enumerate(factors):
            others = set().union(*[set(j) for m, (_, j) in enumerate(factors) if m != k])
            axes = [p for p, i in enumerate(ix) if i not in keep and i not in others]
            if axes:
                code = f"{self.paren(code)}.sum(axis={axes[0] if len(axes) == 1 else tuple(axes)})"
                ix = [i for p, i in enumerate(ix) if p not in axes]
            out.append((code, ix))
        return out

    def contract(self, a, b, needed: set, builder, target: list, last: bool = False):
        """One pairwise step: a broadcast product, or a (batched) GEMM over shared indices
        (axes in the result's order where they belong to it)."""
        (ca, ia), (cb, ib) = a, b

        def ordered(ix):
            return sorted(ix, key=lambda i: target.index(i) if i in target else len(target))
        shared = [i for i in ia if i in ib]
        batch = ordered([i for i in shared if i in needed])
        summed = [i for i in shared if i not in needed]
        left = ordered([i for i in ia if i not in ib])
        right = ordered([i for i in ib if i not in ia])
        if not summed or (batch and not (left and right)):   # broadcast product (and row sums)
            result = sorted(ia + right, key=lambda i: target.index(i) if i in target else -1)
            pa = self.arranged(ca, ia, [i for i in result if i in ia], result)
            pb = self.arranged(cb, ib, [i for i in result if i in ib], result)
            code = " * ".join(sorted((pa, pb)))   # one spelling: equal products are shared
            if summed:
                axes = tuple(result.index(i) for i in summed)
                code = f"({code}).sum(axis={axes[0] if len(axes) == 1 else axes})"
                result = [i for i in result if i not in summed]
            return self.emit_line(code, reuse=not last), result
        A = self.matrix(ca, ia, batch, left, summed, builder)
        B = self.matrix(cb, ib, batch, summed, right, builder)
        result = batch + left + right
        code = f"{A} @ {B}"
        if batch or len(left) > 1 or len(right) > 1:
            code = f"({code}).reshape({self.dims(builder, result)})"
        return self.emit_line(code, reuse=not last), result

    def transposed(self, code, ix, order) -> str:
        if order == ix:
            return code
        if len(ix) == 2:
            return f"{self.paren(code)}.T"
        return f"{self.paren(code)}.transpose({tuple(ix.index(i) for i in order)})"

    def arranged(self, code, ix, order, result) -> str:
        """``code`` transposed to ``order`` with new axes where ``result`` has indices it lacks."""
        code = self.transposed(code, ix, order)
        if len(order) != len(result):
            sub = ", ".join(":" if i in order else "None" for i in result)
            code = f"{self.paren(code)}[{sub}]"
        return self.paren(code)

    def matrix(self, code, ix, batch, first, second, builder) -> str:
        """``code`` as a (batch, first, second) array for matmul (vectors stay 1-D)."""
        order = batch + first + second
        code = self.transposed(code, ix, order)
        groups = [g for g in (batch, first, second) if g or batch]   # batched: always 3-D
        if len(groups) != len(order) or any(len(g) != 1 for g in groups):
            shape = ", ".join(self.size(_product(builder, g)) for g in groups)
            code = f"{self.paren(code)}.reshape(({shape},))"
        return self.paren(code)


def _roles(t: Term, leaf, ix) -> tuple:
    """Each index of ix as ('out', its place in the term's result) or ('sum', its place in the
    leaf's indices) — how two terms' last steps are compared."""
    places = {i: k for k, i in enumerate(dict.fromkeys(_c_order(t)))}
    return tuple(("out", places[i]) if i in places else ("sum", leaf[1].index(i)) for i in ix)


def _last_step_key(t: Term, leaf, partner):
    """What must agree for two terms' last steps to share one contraction: the result's index
    pattern, the leaf's code and roles, the partner's set of roles (None: no sharing)."""
    places = {i: k for k, i in enumerate(dict.fromkeys(_c_order(t)))}
    if any(i not in places and i not in leaf[1] for i in partner[1]) or len(set(leaf[1])) != len(leaf[1]):
        return None
    pattern = tuple(places[i] for i in _c_order(t))
    return pattern, leaf[0], _roles(t, leaf, leaf[1]), tuple(sorted(_roles(t, leaf, partner[1])))


def _leaf_of(members, t):
    """The leaf operand recorded for term t in a group."""
    return next(leaf for m, leaf, _, _, _ in members if m is t)


def _c_order(t: Term) -> list:
    """The term's indices in the row-major order of its (rows, cols) matrix."""
    return t.rows[::-1] + t.cols[::-1]


def _product(builder, group):
    p = Integer(1)
    for i in group:
        p = p * builder.size[i]
    return p
