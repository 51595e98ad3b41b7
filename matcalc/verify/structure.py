"""Declared structure of a variable: symmetric, spd (symmetric positive definite), diagonal.

The function is the same; what changes is the space its gradient lives in.

- symmetric / spd, convention ``"sym"`` (default): the gradient in the space of symmetric
  matrices with the Frobenius inner product, sym(G) = (G + Gᵀ)/2, where G is the gradient with
  all entries independent.  df = ⟨sym(G), dS⟩ for every symmetric dS: the direction an optimizer
  needs (and PyTorch's gradient of a symmetrized parameter).
- convention ``"cookbook"``: the derivative with respect to the independent entries S_ij,
  i ≤ j (Matrix Cookbook §2.8.2): G + Gᵀ − diag(diag(G)).
- diagonal: diag(diag(G)), a diagonal matrix (``diagonal_vector=True``: the vector diag(G)).

Sᵀ = S is used in the results (a substitution on the declared names only).  ``check`` samples
structured points and compares directional finite differences along a basis of the structured
space with the convention's entries.
"""
from __future__ import annotations

import numpy as np
from sympy import Identity, Inverse, Rational
from sympy.matrices.expressions import MatAdd, MatMul, Transpose
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

from ..ir import ops
from ..errors import MatcalcError, ShapeError, UnsupportedError
from ..ir.nodes import is_matrix

KINDS = ("symmetric", "spd", "diagonal")
CONVENTIONS = ("sym", "cookbook")
_ALIASES = {"sym": "symmetric", "psd": "spd", "pd": "spd", "diag": "diagonal"}


def normalize(structure, convention: str) -> dict:
    """Validate ``structure`` (name -> kind) and the convention."""
    from ..lang.parser import canonical_name
    if convention not in CONVENTIONS:
        raise MatcalcError(f"convention must be one of {', '.join(CONVENTIONS)}, not {convention!r}")
    out = {}
    for name, kind in (structure or {}).items():
        kind = _ALIASES.get(kind, kind)
        if kind not in KINDS:
            raise MatcalcError(f"unknown structure {kind!r} for {name}: use one of {', '.join(KINDS)}")
        out[canonical_name(name)] = kind
    return out


def validate(structure: dict, program, order: int, layout, wrt=None) -> None:
    """A structure names square matrix variables; a Jacobian or Hessian may only hold a structured
    variable fixed (its points are then structured), never differentiate with respect to it."""
    for name in structure:
        v = program.variables.get(name)
        if v is None:
            raise MatcalcError(f"a structure is declared for {name!r}, which is not a variable of the expression")
        if not is_matrix(v) or v.shape[0] != v.shape[1] or v.shape == (1, 1):
            raise ShapeError(f"{name} is declared {structure[name]}, so it must be a square matrix, "
                             f"not {v.shape if is_matrix(v) else 'a scalar'}")
    differentiated = [n for n in structure if wrt is None or n in wrt]
    if differentiated and (order != 1 or layout is not None):
        raise UnsupportedError(f"{differentiated[0]} is declared {structure[differentiated[0]]}: a structured "
                               "variable's derivative is supported for gradients (not for Jacobians or Hessians); "
                               "it may appear undifferentiated")


def describe(name: str, kind: str, convention: str, diagonal_vector: bool) -> str:
    """The line saying which convention a structured gradient follows."""
    if kind == "diagonal":
        return (f"{name} diagonal: the gradient is " + ("the vector diag(G) of its diagonal"
                if diagonal_vector else "the diagonal matrix diag(diag(G))") + " (G: all entries independent)")
    if convention == "cookbook":
        return (f"{name} {kind}: gradient w.r.t. the independent entries S_ij, i ≤ j (Matrix Cookbook): "
                "G + Gᵀ − diag(diag(G)) (G: all entries independent)")
    return (f"{name} {kind}: gradient in the space of symmetric matrices, sym(G) = (G + Gᵀ)/2 "
            "(G: all entries independent; convention 'sym', the default; 'cookbook' for G + Gᵀ − diag(diag(G)))")


# ---------------------------------------------------------------- Sᵀ = S
def _symmetric(e, names) -> bool:
    """e is symmetric because of its form: a declared name, I, diag(v), inv/scale/sum of such."""
    if getattr(e, "name", None) in names and is_matrix(e):
        return True
    if isinstance(e, (Identity, DiagMatrix)):
        return True
    if isinstance(e, Inverse):
        return _symmetric(e.arg, names)
    if isinstance(e, MatAdd):
        return all(_symmetric(a, names) for a in e.args)
    if isinstance(e, MatMul):
        c, body = ops.split_coeff(e)
        if body is not e:
            return _symmetric(body, names)
        f = e.args   # a palindrome: A B Aᵀ with B symmetric (A Aᵀ, Xᵀ S X)
        half = len(f) // 2
        return all(f[-1 - i] == ops.transpose(f[i]) for i in range(half)) and \
            (len(f) % 2 == 0 or _symmetric(f[half], names))
    return False


def use_symmetry(expr, names: set, written=frozenset()):
    """expr with Xᵀ = X for every symmetric part X built of the declared names, diag(Aᵀ) =
    diag(A), and u(−u)ᵀ = −u uᵀ (u as the program writes it, ``written``: x − m, not m − x)."""
    from ..differentiate.simplify import rewrite, textbook

    def drop_transpose(node):
        if isinstance(node, Transpose) and _symmetric(node.arg, names):
            return node.arg
        if isinstance(node, DiagonalOf) and isinstance(node.arg, Transpose):
            return DiagonalOf(node.arg.arg)   # diag(Aᵀ) = diag(A)
        return None

    def outer_square(node):
        if not isinstance(node, MatMul):
            return None
        c, body = ops.split_coeff(node)
        factors = list(body.args) if isinstance(body, MatMul) else [body]
        for k in range(len(factors) - 1):
            u, v = factors[k], factors[k + 1]
            if isinstance(u, MatAdd) and u.shape[1] == 1 and v == _negated(ops.transpose(u)):
                w = u if u in written or _negated(u) not in written else _negated(u)
                return ops.scale(-c, ops.matmul(*factors[:k], w, ops.transpose(w), *factors[k + 2:]))
        return None
    return rewrite(textbook(rewrite(expr, [drop_transpose])), [outer_square])


def _negated(e):
    """−e, a sum negated term by term (x − m for m − x)."""
    return ops.add(*[ops.neg(t) for t in e.args]) if isinstance(e, MatAdd) else ops.neg(e)


# ---------------------------------------------------------------- projections
def project(program, name: str, kind: str, G, convention: str, diagonal_vector: bool, sampler_seed: int = 0):
    """The structured gradient of ``name`` from G, its gradient with all entries independent."""
    from ..differentiate.engine import topological
    from ..differentiate.simplify import textbook
    names = set(program.structure)
    written = frozenset(topological(program.output))
    G = use_symmetry(G, names, written)
    if kind == "diagonal":
        diagonal = DiagonalOf(G) if not isinstance(G, DiagMatrix) else G.args[0]
        return use_symmetry(diagonal if diagonal_vector else DiagMatrix(diagonal), names, written)
    Gt = use_symmetry(ops.transpose(G), names, written)
    symmetric = Gt == G or _numerically_equal(program, G, Gt, sampler_seed)
    if convention == "cookbook":
        both = ops.scale(2, G) if symmetric else ops.add(G, Gt)
        return use_symmetry(ops.sub(both, DiagMatrix(DiagonalOf(G))), names, written)
    if symmetric:
        return G
    # sym(G): the terms that are symmetric by their form stay, the others become (B + Bᵀ)/2
    terms = list(G.args) if isinstance(G, MatAdd) else [G]
    kept = [t for t in terms if use_symmetry(ops.transpose(t), names, written) == t]
    rest = ops.add(*[t for t in terms if t not in kept])
    c, body = ops.split_coeff(rest)
    if not c.is_number:
        c, body = 1, rest
    half = ops.scale(c * Rational(1, 2), ops.add(body, use_symmetry(ops.transpose(body), names, written)))
    return textbook(ops.add(*kept, half)) if kept else textbook(half)


def _numerically_equal(program, a, b, seed: int) -> bool:
    """a = b at random structured points (two of them; relative 1e-9): G is already symmetric."""
    from ..codegen.numpy_code import NumpyCodegen, compile_source
    from .numeric import DomainSampler
    try:
        fn = compile_source(NumpyCodegen(program.variables, {"a": a, "b": b}, "pair").source(), "pair")
        sampler = DomainSampler(program, (), seed)
        for _ in range(2):
            with np.errstate(all="ignore"):
                got = fn(**sampler.point())
            x, y = np.asarray(got["a"], dtype=float), np.asarray(got["b"], dtype=float)
            scale = max(1.0, float(np.max(np.abs(x))))
            if not np.all(np.isfinite(x)) or float(np.max(np.abs(x - y))) > 1e-9 * scale:
                return False
        return True
    except MatcalcError:
        return False


# ---------------------------------------------------------------- numbers
def basis(kind: str, n: int):
    """(direction, (i, j)) over a basis of the structured n×n space."""
    for i in range(n):
        for j in range(i, n if kind != "diagonal" else i + 1):
            e = np.zeros((n, n))
            e[i, j] = e[j, i] = 1.0
            yield e, (i, j)


def check(derivation, seed: int = 0, points: int = 2):
    """Structured gradients against directional central differences along a basis of their
    space (symmetric: E_ii and E_ij + E_ji; diagonal: E_ii); other variables entry by entry."""
    from ..codegen.numpy_code import NumpyCodegen, compile_source
    from .numeric import TOLERANCE, CheckResult, DomainSampler, entry_derivative, rel_error
    program = derivation.program
    value_fn = compile_source(NumpyCodegen(program.variables, {"f": program.output}, "value").source(), "value")
    gradient_fn = derivation.to_numpy()
    sampler = DomainSampler(program, derivation.sum_to_one, seed)
    errors: dict = {}
    for _ in range(points):
        point = sampler.point()
        got = gradient_fn(**point)
        for name in derivation.wrt:
            x0 = np.asarray(point[name], dtype=float)
            g = np.asarray(got[name], dtype=float)

            def value(x, name=name, point=point):
                return value_fn(**{**point, name: x})["f"]
            kind = program.structure.get(name)
            if kind is None:
                idx = list(np.ndindex(*x0.shape)) if x0.shape else [()]
                fd = [entry_derivative(value, x0, i, 1e-3) for i in idx[:300]]
                mine = [g[i] for i in idx[:300]] if g.shape == x0.shape else None
            else:
                fd, mine = [], []
                diag_vector = kind == "diagonal" and derivation.diagonal_vector
                if g.shape != ((x0.shape[0], 1) if diag_vector else x0.shape):
                    mine = None
                for e, (i, j) in basis(kind, x0.shape[0]):
                    fd.append(_directional(value, x0, e))
                    if mine is not None:
                        mine.append(_expected(g, i, j, kind, derivation.convention, diag_vector))
                if mine is not None and kind != "diagonal":
                    mine.append(float(np.max(np.abs(g - g.T))))   # in the symmetric space
                    fd.append(0.0)
                if mine is not None and kind == "diagonal" and not diag_vector:
                    mine.append(float(np.max(np.abs(g - np.diag(np.diag(g))))))
                    fd.append(0.0)
            err = float("inf") if mine is None else rel_error(np.array(mine, dtype=float), np.array(fd, dtype=float))
            errors[name] = max(errors.get(name, 0.0), err)
    worst = max(errors.values(), default=0.0)
    return CheckResult(worst, bool(worst <= TOLERANCE), errors, TOLERANCE)


def _directional(value, x0, e, rel_step: float = 1e-3) -> float:
    """d/dt f(x0 + t e) at 0, 4th-order central stencil."""
    from .numeric import _STENCIL
    h = rel_step * max(1.0, float(np.max(np.abs(x0))))
    return float(sum(c * float(np.asarray(value(x0 + k * h * e))) for k, c in _STENCIL) / h)


def _expected(g, i, j, kind, convention, diag_vector) -> float:
    """The directional derivative along the basis direction (i, j) that the result claims."""
    if kind == "diagonal":
        return float(g[i, 0] if diag_vector else g[i, i])
    if i == j or convention == "cookbook":
        return float(g[i, j])
    return float(g[i, j] + g[j, i])


def explain_claim(derivation, claim_text: str, name: str) -> str | None:
    """When a wrong claim about a structured variable is the gradient with all entries independent
    (G) or a projection other than the declared convention's, say which (numerically, at
    structured points)."""
    from ..lang.build import parse
    from ..codegen.numpy_code import NumpyCodegen, compile_source
    from .numeric import DomainSampler
    program = derivation.program
    kind = program.structure.get(name)
    if kind is None:
        return None
    v = program.variables[name]
    shapes = {n: (tuple(str(d) for d in s.shape) if is_matrix(s) else ()) for n, s in program.variables.items()}
    statements = [f"{n} = {printing_language(value)}" for n, value in program.intermediates.items()]
    try:
        target = "claim__"
        while target in program.variables or target in program.intermediates:
            target += "_"
        claim = parse("; ".join(statements + [f"{target} = ({claim_text})"]), shapes, allow_unused=True,
                      result_shape=tuple(v.shape), size_names=True).intermediates[target]
        vector = kind == "diagonal" and derivation.diagonal_vector
        if not is_matrix(claim) or claim.shape not in (v.shape, (v.shape[0], 1)):
            return None
        C = claim.xreplace({p: program.variables[p.name] for p in claim.free_symbols
                            if getattr(p, "name", None) in program.variables})
        if claim.shape != v.shape:   # a vector claim: the diagonal's vector where a matrix is wanted?
            if kind != "diagonal" or vector:
                return None
            candidates = {"vector": DiagMatrix(C)}
        elif vector:                 # a matrix claim where the diagonal's vector is wanted?
            candidates = {"matrix": DiagonalOf(C)}
        else:
            candidates = {"sym": textbook_sym(C), "diagonal": DiagMatrix(DiagonalOf(C)),
                          "cookbook": ops.sub(ops.add(C, ops.transpose(C)), DiagMatrix(DiagonalOf(C)))}
        fn = compile_source(NumpyCodegen(program.variables, {"truth": derivation.gradient(name), **candidates},
                                         "claims").source(), "claims")
        sampler = DomainSampler(program, derivation.sum_to_one, 11)
        agree = set(candidates)
        for _ in range(2):
            with np.errstate(all="ignore"):
                got = fn(**sampler.point())
            truth = np.asarray(got["truth"], dtype=float)
            scale = max(1.0, float(np.max(np.abs(truth))))
            agree = {k for k in agree if np.allclose(np.asarray(got[k], dtype=float), truth, atol=1e-8 * scale)}
    except (MatcalcError, ValueError, TypeError):
        return None
    if "vector" in agree:
        return (f"the claim is the vector of {name}'s diagonal, but the gradient of the diagonal {name} is the "
                "diagonal matrix diag(claim) (--diagonal-vector asks for the vector)")
    if "matrix" in agree:
        return (f"the claim is a diagonal matrix, but with --diagonal-vector the gradient of {name} is the vector "
                "of its diagonal, diag(claim)")
    if kind == "diagonal" and "diagonal" in agree:
        return f"the claim is the gradient with all entries independent: {name} is diagonal, keep its diagonal, diag(diag(claim))"
    if kind != "diagonal" and derivation.convention == "sym" and "sym" in agree:
        return (f"the claim is not symmetric: {name} is {kind}, so the gradient is in the space of symmetric "
                "matrices, (claim + claimᵀ)/2 (convention 'sym'; --convention cookbook for G + Gᵀ − diag(diag(G)))")
    if kind != "diagonal" and derivation.convention == "cookbook" and "cookbook" in agree:
        return ("the claim is the gradient with all entries independent; the Cookbook convention is "
                "claim + claimᵀ − diag(diag(claim))")
    return None


def textbook_sym(C):
    return ops.scale(Rational(1, 2), ops.add(C, ops.transpose(C)))


def printing_language(value) -> str:
    from ..lang.printing import to_language
    return to_language(value)
