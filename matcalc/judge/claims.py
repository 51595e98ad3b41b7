"""``matcalc check``: verify a hand-derived gradient (or Jacobian) and say what is wrong.

The claim is an expression in the language (it may use the program's named values).  It is
compared numerically with matcalc's closed form at random points inside the domain; when
it is wrong, the usual mistakes are tried one by one — wrong shape (a batch not summed),
transposed, a constant factor or the sign, a missing or an extra term, a misplaced
transpose, ⊙ where a matrix product belongs or the reverse, only the diagonal of a
Jacobian, the other layout — and each diagnosis that explains the claim exactly is
reported, with the correct form and the smallest counterexample.
"""
from __future__ import annotations

import contextvars
from dataclasses import dataclass, field, replace

import numpy as np
from sympy import Add, MatAdd, expand
from sympy.matrices.expressions import OneMatrix
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

from ..ir import ops
from ..lang import printing
from ..lang import parser as P
from ..lang.build import parse
from ..codegen.numpy_code import NumpyCodegen, compile_source
from ..errors import LimitError, MatcalcError, UnknownNameError
from ..ir.nodes import is_matrix, shape_of
from ..differentiate.memory import DEFAULT_MEMORY_LIMIT, guard
from ..verify.numeric import DomainSampler

#: while true, the diagnosis searches return nothing (a caller only tests variants of a claim)
QUICK_SEARCH = contextvars.ContextVar("matcalc_quick_search", default=False)

MAX_EDITS = 40          # nodes of the claim tried for single edits
TOLERANCE = 1e-9   # relative to the larger of the two; both are exact formulas in float64


@dataclass
class ClaimResult:
    verdict: str                       # "correct" | "wrong"
    diagnosis: list = field(default_factory=list)
    max_rel_error: float = 0.0
    expected: str = ""                 # the correct closed form (contract language)
    expected_unicode: str = ""
    counterexample: dict | None = None
    what: str = ""                     # "∂f/∂W" or "∂f/∂x (numerator layout)"

    def to_json(self) -> dict:
        out = {"verdict": self.verdict, "diagnosis": list(self.diagnosis),
               "max_rel_error": float(self.max_rel_error), "expected": self.expected}
        if self.counterexample is not None:
            out["counterexample"] = self.counterexample
        return out

    def text(self) -> str:
        if self.verdict == "correct":
            return f"correct: the claim equals {self.what} = {self.expected_unicode} " \
                   f"(max relative error {self.max_rel_error:.1e})"
        lines = [f"wrong: the claim is not {self.what} (max relative error {self.max_rel_error:.2g})"]
        lines += [f"  - {d}" for d in self.diagnosis]
        lines.append(f"correct form: {self.what} = {self.expected_unicode}")
        if self.counterexample:
            ce = self.counterexample
            sizes = ", ".join(f"{k} = {v}" for k, v in ce["sizes"].items())
            lines.append(f"counterexample ({sizes}):" if sizes else "counterexample:")
            for name, value in ce["point"].items():
                lines.append(f"  {name} = {value}")
            lines.append(f"  claim    = {ce['claim']}")
            lines.append(f"  expected = {ce['expected']}")
        return "\n".join(lines)


def _rel(a, b) -> float:
    """max |a − b| relative to the larger of max |a|, max |b| (a 1×1 value and a scalar compare)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == b.size == 1:
        a, b = a.reshape(()), b.reshape(())
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return float("inf")
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return 0.0 if scale == 0.0 else float(np.max(np.abs(a - b), initial=0.0) / scale)


def _evaluate(fn, point):
    """The value at ``point``; NaN where it has none (a claim that inverts a singular matrix)."""
    try:
        return np.asarray(fn(**point)["v"], dtype=float)
    except np.linalg.LinAlgError:
        return np.asarray(np.nan)


def _same_shape(a, b) -> bool:
    sa, sb = shape_of(a), shape_of(b)
    return sa == sb or {sa, sb} <= {(), (1, 1)}


class _Claims:
    """The program, the true result and the claim's variants, evaluated at shared points."""

    def __init__(self, d, claim_text: str, name: str):
        self.d = d
        self.program = d.program
        self.name = name
        self.truth = d.gradient(name)
        self.claim_text = claim_text
        try:
            self.claim_stmts = P.parse_program(claim_text, known=list(d.program.variables) +
                                               list(d.program.intermediates))
        except MatcalcError:
            raise
        if len(self.claim_stmts) != 1 or self.claim_stmts[0].target is not None:
            raise MatcalcError("the claim is one expression (it may use the program's named values)",
                               claim_text, self.claim_stmts[0].pos)
        self.claim_ast = self.claim_stmts[0].expr
        self.claim = self.build(self.claim_ast, user=True)
        if not is_matrix(self.claim) and self.claim == 0 and is_matrix(self.truth):
            from sympy import ZeroMatrix   # "0" is the zero of every shape (printed so for a zero gradient)
            self.claim = ZeroMatrix(*self.truth.shape)
        sampler = DomainSampler(self.program, d.sum_to_one, seed=0,
                                memory_limit=getattr(d, "memory_limit", DEFAULT_MEMORY_LIMIT))
        self.points = []
        size_sets = ((3, 4, 5, 2, 6), (2, 5, 3, 4, 2), (4, 2, 6, 3, 5))
        # a piecewise claim (cases: step masks) needs points on every side of its kinks
        count = 12 if "step(" in claim_text else 3
        for k in range(count):                                              # sizes differ per point
            sizes = size_sets[k % 3]
            sampler.sizes = {s: sizes[(i + k) % len(sizes)] for i, s in enumerate(self.program.size_symbols)}
            self.points.append(sampler.point())
        self._cache: dict = {}

    # ---------------------------------------------------------- building variants
    def build(self, node, user=False):
        """IR of an expression over the program's variables and named values (None if ill-typed)."""
        shapes = {n: (tuple(str(s) if not s.is_Integer else int(s) for s in shape_of(v)) if is_matrix(v) else ())
                  for n, v in self.program.variables.items()}
        statements = [st for st in P.parse_program(self.program.source) if st.target is not None
                      and st.target in self.program.intermediates]
        target = "claim__"
        while target in self.program.variables or target in self.program.intermediates:
            target += "_"
        statements.append(P.Statement(node.pos, target, node))
        try:
            prog = parse(self.claim_text, shapes, statements=statements, allow_unused=True, size_names=True,
                         result_shape=shape_of(self.truth) if is_matrix(self.truth) else None)
        except LimitError:
            raise
        except MatcalcError as err:
            if user:
                raise type(err)(f"in the claim: {err.message}", self.claim_text, err.pos) from None
            return None
        extra = [n for n in prog.variables if n not in self.program.variables]
        if extra:
            if user:
                raise UnknownNameError(f"the claim uses {extra[0]!r}, which is not a variable or a named value "
                                       f"of the program", self.claim_text, _position(node, extra[0]))
            return None
        value = prog.intermediates[target]
        return value.xreplace({prog.variables[n]: self.program.variables[n] for n in prog.variables})

    # ---------------------------------------------------------- numbers
    def values(self, expr, points=None):
        key = (expr, id(points))
        if points is None and key in self._cache:
            return self._cache[key]
        bound = {s: 6 for s in self.program.size_symbols}   # the largest size a point draws
        guard({"v": expr}, bound, getattr(self.d, "memory_limit", DEFAULT_MEMORY_LIMIT),
              {"v": "a value the check evaluates"}, " at the check's sizes")
        fn = compile_source(NumpyCodegen(self.program.variables, {"v": expr}, "value").source(), "value")
        with np.errstate(all="ignore"):
            out = [_evaluate(fn, p) for p in (points or self.points)]
        if points is None:
            self._cache[key] = out
        return out

    def error(self, expr, target=None) -> float:
        if expr is None:
            return float("inf")
        if not _same_shape(expr, self.truth if target is None else target):
            return float("inf")
        a = self.values(expr)
        b = self.values(self.truth if target is None else target)
        return max(_rel(x, y) for x, y in zip(a, b))

    def matches(self, expr) -> bool:
        return self.error(expr) <= TOLERANCE


def _position(node, name) -> int:
    from ..lang.sequence import walk
    for n in walk(node):
        if isinstance(n, P.Name) and n.id == name:
            return n.pos
    return node.pos


def _terms(expr) -> list:
    """The terms of a sum as written, then as expanded (2X'(XW − Y) -> 2X'XW, −2X'Y)."""
    split = (lambda e: MatAdd.make_args(e)) if is_matrix(expr) else (lambda e: Add.make_args(e))
    out = list(split(expr))
    for t in split(expand(expr)):
        if t not in out:
            out.append(t)
    return out


def _uni(expr) -> str:
    return printing.to_unicode(expr)


# ---------------------------------------------------------------- diagnoses
def _shape_diagnoses(c: _Claims) -> list[str]:
    claim, truth = c.claim, c.truth
    cs, ts = shape_of(claim), shape_of(truth)
    out = []
    if len(cs) == 2 and len(ts) == 2:
        m, n = cs
        if ts == (1, n) and m != 1 and c.matches(ops.matmul(OneMatrix(1, m), claim)):
            out.append(f"wrong shape: the claim is {m}×{n} but the gradient of {c.name} is 1×{n} — "
                       f"sum over the batch rows: 1ᵀ(claim), i.e. ones(1,{m})*({c.claim_text})")
        elif ts == (m, 1) and n != 1 and c.matches(ops.matmul(claim, OneMatrix(n, 1))):
            out.append(f"wrong shape: the claim is {m}×{n} but the gradient of {c.name} is {m}×1 — "
                       f"sum over the columns: (claim)·1, i.e. ({c.claim_text})*ones({n},1)")
        elif (n, m) == ts and c.matches(ops.transpose(claim)):
            out.append(f"transposed: the claim is {m}×{n}, the gradient {ts[0]}×{ts[1]}; its transpose is right")
    if len(cs) == 2 and ts == () and all(_rel(np.sum(x), y) < TOLERANCE
                                         for x, y in zip(c.values(claim), c.values(truth))):
        out.append(f"wrong shape: the claim is {cs[0]}×{cs[1]} but the gradient of {c.name} is a scalar — "
                   f"sum over the batch rows: the sum of the claim's entries, i.e. sum({c.claim_text})")
    if not out:
        out.append(f"wrong shape: the claim is {_shape_text(cs)} but the gradient of {c.name} is {_shape_text(ts)}")
    return out


def _shape_text(s) -> str:
    return "a scalar" if s == () else f"{s[0]}×{s[1]}"


def _scalar_factor(c: _Claims, ratios: list, a: list, b: list) -> list[str]:
    """The claim is s × (or 1/s ×) the gradient, s a scalar variable (1/N dropped, an extra N)."""
    for name, var in c.program.variables.items():
        if is_matrix(var):
            continue
        vals = [float(np.asarray(p[name])) for p in c.points]
        for power in (1, -1):
            if all(abs(k - v ** power) <= 1e-8 * max(1.0, abs(k)) for k, v in zip(ratios, vals)) and \
                    all(_rel(x, (v ** power) * y) < TOLERANCE for x, y, v in zip(a, b, vals)):
                if power == 1:
                    return [f"off by a factor {name}: the claim is {name} × the gradient (a factor 1/{name} is missing)"]
                return [f"off by a factor {name}: the claim is 1/{name} × the gradient (a factor {name} is missing)"]
    return []


def _dropped_factor(c: _Claims) -> list[str]:
    """The gradient is A ⊙ B and the claim is A alone (tanh' or σ' left out of a backward step)."""
    from sympy import DiagMatrix, HadamardProduct, MatMul, preorder_traversal
    truth = c.truth
    inner = [e for e in preorder_traversal(truth) if isinstance(e, HadamardProduct)][:MAX_EDITS]
    for node in inner:           # Xᵀ(δ ⊙ σ'(Z)) claimed as Xᵀδ: the factor dropped inside a product
        drops = [[k] for k in range(len(node.args))]
        if len(node.args) > 2:   # δ ⊙ a ⊙ (1 − a) claimed as δ: σ' = a ⊙ (1 − a) dropped whole
            drops += [[j for j in range(len(node.args)) if j != k] for k in range(len(node.args))]
        for drop in drops:
            rest = [a for j, a in enumerate(node.args) if j not in drop]
            factor = node.args[drop[0]] if len(drop) == 1 else HadamardProduct(*[node.args[j] for j in drop])
            kept = rest[0] if len(rest) == 1 else HadamardProduct(*rest)
            try:
                whole = kept if node is truth else truth.xreplace({node: kept})
            except (TypeError, ValueError):
                continue
            if _same_shape(c.claim, whole) and c.matches(whole) is False and c.error(c.claim, whole) <= TOLERANCE:
                return [f"missing factor: ⊙ {_uni(factor)} (a factor of the gradient the claim does not have)"]
    products = [e for e in preorder_traversal(truth) if isinstance(e, MatMul)][:MAX_EDITS]
    for node in products:        # δᵀ diag(σ'(z)) A claimed as δᵀA: a diagonal Jacobian left out
        for k, factor in enumerate(node.args):
            if not isinstance(factor, DiagMatrix):
                continue
            try:
                kept = MatMul(*[a for j, a in enumerate(node.args) if j != k]).doit()
                whole = kept if node is truth else truth.xreplace({node: kept})
            except (TypeError, ValueError):       # what is left is not a product of matrices
                continue
            if _same_shape(c.claim, whole) and c.matches(whole) is False and c.error(c.claim, whole) <= TOLERANCE:
                return [f"missing factor: {_uni(factor)} (a factor of the gradient the claim does not have)"]
    return []


def _value_diagnoses(c: _Claims) -> list[str]:
    if QUICK_SEARCH.get():
        return []
    claim, truth = c.claim, c.truth
    out = []
    if is_matrix(claim) and claim.shape[0] == claim.shape[1] and c.matches(ops.transpose(claim)):
        out.append("transposed: the transpose of the claim is the gradient")
    # a constant factor (the same at every point)
    a, b = c.values(claim), c.values(truth)
    ratios = []
    for x, y in zip(a, b):
        den = float(np.sum(y * y))
        ratios.append(float(np.sum(x * y)) / den if den > 1e-300 else float("nan"))
    if all(np.isfinite(ratios)) and max(ratios) - min(ratios) < 1e-8 * max(1.0, abs(ratios[0])):
        k = ratios[0]
        if all(_rel(x, k * y) < TOLERANCE for x, y in zip(a, b)):
            if abs(k + 1) < 1e-9:
                out.append("wrong sign: the claim is −1 × the gradient")
            elif abs(k) > 1e-12:
                out.append(f"off by a constant factor: the claim is {_number(k)} × the gradient"
                           + (f" (a factor {_number(1 / k)} is missing)" if abs(k) < 1 else
                              f" (a factor {_number(k)} too many)"))
    elif all(np.isfinite(ratios)) and abs(ratios[0]) > 1e-12:
        out += _scalar_factor(c, ratios, a, b)
    # a missing, an extra or a doubled term
    truth_terms = _terms(truth)
    if len(truth_terms) > 1 or len(_terms(claim)) > 1:
        for t in truth_terms:
            if c.matches(ops.add(claim, t)):
                out.append(f"missing term: {_uni(t)} (a term of the gradient the claim does not have)")
            elif c.matches(ops.add(claim, ops.neg(t))):
                out.append(f"a term counted twice: {_uni(t)}")
    claim_terms = _terms(claim)
    if len(claim_terms) > 1:
        for u in claim_terms:
            if c.matches(ops.add(claim, ops.neg(u))):
                out.append(f"extra term: {_uni(u)} does not belong to the gradient")
            elif c.matches(ops.add(claim, ops.scale(-2, u))):
                out.append(f"wrong sign of the term {_uni(u)}")
        if not out:
            out += _term_factor(c, claim, claim_terms)
    out += _edit_diagnoses(c)
    return out


def _term_factor(c: _Claims, claim, terms: list) -> list[str]:
    """One term of the claim off by a factor (Xᵀ(Xθ − y) where (1/m)Xᵀ(Xθ − y) belongs)."""
    from sympy import Integer, Rational
    factors = [(Integer(2), "2"), (Rational(1, 2), "1/2")]
    for name, var in c.program.variables.items():
        if not is_matrix(var):
            factors += [(var, name), (1 / var, f"1/{name}")]
    for u in terms[:8]:
        for k, shown in factors:
            if c.matches(ops.add(claim, ops.scale(k - 1, u))):
                return [f"off by a factor in one term: the term {_uni(u)} needs a factor {shown}"]
    return []


def _number(k: float) -> str:
    for q in range(1, 13):
        if abs(k * q - round(k * q)) < 1e-9:
            p = round(k * q)
            return str(p) if q == 1 else f"{p}/{q}"
    return f"{k:.6g}"


def _edit_diagnoses(c: _Claims) -> list[str]:
    """Single edits of the claim's text that make it right: a transpose, ⊙ ↔ matrix product."""
    from ..lang.sequence import walk
    out = []
    nodes = list(walk(c.claim_ast))[:MAX_EDITS]
    col = lambda n: n.pos + 1  # noqa: E731
    for node in nodes:
        if isinstance(node, P.Binary) and node.op in ("*", ".*"):
            other = ".*" if node.op == "*" else "*"
            variant = _replace(c.claim_ast, node, replace(node, op=other))
            if c.matches(c.build(variant)):
                if node.op == ".*":
                    out.append(f"a Hadamard product (.*) at column {col(node)} where a matrix product (*) belongs")
                else:
                    out.append(f"a matrix product (*) at column {col(node)} where a Hadamard product (.*) belongs")
        if isinstance(node, P.Transpose):
            if c.matches(c.build(_replace(c.claim_ast, node, node.operand))):
                out.append(f"a transpose too many at column {col(node)}")
        elif isinstance(node, (P.Name, P.Call, P.Binary)) and node is not c.claim_ast or \
                isinstance(node, P.Name):
            variant = _replace(c.claim_ast, node, P.Transpose(node.pos, node))
            built = c.build(variant)
            if built is not None and c.matches(built):
                out.append(f"a transpose is missing at column {col(node)} ({_text(c.claim_text, node)}ᵀ)")
    out = list(dict.fromkeys(out))
    transposes = [d for d in out if "transpose" in d]
    return [d for d in out if "transpose" not in d] + transposes[:1]   # one fix about transposes suffices


def _text(source: str, node) -> str:
    if isinstance(node, P.Name):
        return node.id
    return "…"


def _replace(root, old, new):
    """``root`` with the node ``old`` (by identity) replaced by ``new``."""
    if root is old:
        return new
    if isinstance(root, P.Call):
        return replace(root, args=tuple(_replace(a, old, new) for a in root.args))
    if isinstance(root, P.Binary):
        return replace(root, left=_replace(root.left, old, new), right=_replace(root.right, old, new))
    if isinstance(root, (P.Unary, P.Transpose)):
        return replace(root, operand=_replace(root.operand, old, new))
    return root


def _jacobian_diagnoses(c: _Claims, layout: str) -> list[str]:
    out = []
    claim, truth = c.claim, c.truth
    if shape_of(claim) == shape_of(ops.transpose(truth)) and c.matches(ops.transpose(claim)):
        other = "denominator" if layout == "numerator" else "numerator"
        out.append(f"this is the Jacobian in {other} layout (the transpose); {layout} layout was asked")
    if is_matrix(truth) and shape_of(claim) == shape_of(truth) and truth.shape[0] == truth.shape[1]:
        off = [v - np.diag(np.diag(v)) for v in c.values(claim)]
        true_off = [v - np.diag(np.diag(v)) for v in c.values(truth)]
        if all(not np.any(o) for o in off) and any(np.any(np.abs(o) > 1e-12) for o in true_off):
            out.append("a diagonal matrix where the full Jacobian belongs: the Jacobian has nonzero entries "
                       "off the diagonal (outputs depend on other inputs than their own)")
    if is_matrix(truth) and truth.shape[0] == truth.shape[1] and shape_of(claim) == shape_of(truth):
        diagonal = DiagMatrix(DiagonalOf(truth))
        if c.error(claim, diagonal) <= TOLERANCE:
            out.append("only the diagonal: the claim is diag(∂f_i/∂x_i), but the Jacobian has off-diagonal "
                       f"entries too (a diagonal Jacobian means f_i depends on x_i only); the full form is "
                       f"{_uni(truth)}")
    return out


# ---------------------------------------------------------------- counterexample
def _counterexample(c: _Claims) -> dict | None:
    if QUICK_SEARCH.get():
        return None
    """The smallest sizes at which the claim and the truth differ, with rounded values."""
    program = c.program
    syms = list(program.size_symbols)
    choices = [{s: k for s in syms} for k in (1, 2, 3)] + \
        [{s: 2 + (i + k) % 3 for i, s in enumerate(syms)} for k in range(3)]
    for sizes in choices:
        sampler = DomainSampler(program, c.d.sum_to_one, seed=7,
                                memory_limit=getattr(c.d, "memory_limit", DEFAULT_MEMORY_LIMIT))
        sampler.sizes = sizes
        for _ in range(5):
            try:
                point = sampler.point()
            except MatcalcError:
                break
            point = {k: (np.round(v, 1) if isinstance(v, np.ndarray) else round(float(v), 1))
                     for k, v in point.items()}
            if not sampler.valid(point):
                continue
            try:
                (a,), (b,) = c.values(c.claim, [point]), c.values(c.truth, [point])
            except LimitError:
                raise
            except Exception:  # noqa: BLE001 - the claim may not evaluate at these sizes
                continue
            if _rel(a, b) > 1e-6:
                return {"sizes": {str(s): v for s, v in sizes.items()},
                        "point": {k: np.asarray(v).tolist() for k, v in point.items()},
                        "claim": np.round(a, 4).tolist(), "expected": np.round(b, 4).tolist()}
    return None


# ---------------------------------------------------------------- entry point
def check_claim(expr: str, wrt, claim: str, shapes: dict | None = None, layout: str | None = None,
                sum_to_one=(), structure: dict | None = None, convention: str = "sym",
                memory_limit=DEFAULT_MEMORY_LIMIT, diagonal_vector: bool = False) -> ClaimResult:
    """Verify ``claim`` as ∂f/∂wrt (or the Jacobian in ``layout``) of the program ``expr``;
    ``structure``/``convention``/``diagonal_vector`` as in ``derive`` (the claim is then judged at structured points
    against the structured gradient); arrays over ``memory_limit`` bytes are refused before they
    are built."""
    from ..derivation import derive
    names = [wrt] if isinstance(wrt, str) else list(wrt or [])
    if len(names) != 1:
        raise MatcalcError("check one variable at a time: --wrt NAME")
    if not isinstance(claim, str) or not claim.strip():
        raise MatcalcError("the claim is empty: --claim \"EXPR\"")
    d = derive(expr, wrt=names, shapes=shapes, layout=layout, sum_to_one=sum_to_one, structure=structure,
               convention=convention, memory_limit=memory_limit, diagonal_vector=diagonal_vector)
    if getattr(d, "recurrent", False):
        raise MatcalcError("claims about recurrent programs are not supported yet")
    from ..derivation import _refuse_size_clash
    _refuse_size_clash(shapes, d.program)   # a claim's n would be the variable or the size: say which
    name = d.wrt[0]   # its one spelling (lambda -> λ)
    with np.errstate(all="ignore"), printing.variables_named(d.program.variables):   # warnings; Xw vs X w
        result = _check(d, claim, name, layout)
    if result.verdict == "wrong" and name in getattr(d.program, "structure", {}):
        from ..verify.structure import explain_claim
        why = explain_claim(d, claim, name)
        if why:
            result.diagnosis.insert(0, why)
    return result


def _check(d, claim: str, name: str, layout) -> ClaimResult:
    c = _Claims(d, claim, name)
    what = (f"∂f/∂{name}" if layout is None else f"∂f/∂{name} ({layout} layout)")
    expected = printing.to_language(c.truth)
    result = ClaimResult("correct", [], 0.0, expected, printing.to_unicode(c.truth), None, what)
    if not _same_shape(c.claim, c.truth):
        result.verdict = "wrong"
        result.max_rel_error = float("inf")
        result.diagnosis = (_jacobian_diagnoses(c, layout) if layout else []) or _shape_diagnoses(c)
    else:
        err = c.error(c.claim)
        result.max_rel_error = err
        if err > TOLERANCE:
            result.verdict = "wrong"
            found = (_jacobian_diagnoses(c, layout) if layout else []) + _value_diagnoses(c)
            found = found or _dropped_factor(c)
            result.diagnosis = found or [f"the claim differs from {what} (relative error {err:.2g}); "
                                         "no single usual mistake explains it"]
    if result.verdict == "wrong":
        result.counterexample = _counterexample(c)
    if not np.isfinite(result.max_rel_error):
        result.max_rel_error = 1e308
    return result
