"""Every printed result reads back (issue 14 item 15): the Unicode text matcalc prints (ᵀ − ⊙ ⊘
⁻¹ ^∘ ‖·‖ 𝟏 𝕀 ⊗ K_{m,n}, implicit products such as Xw of declared names) and the language form
of --format json parse, with the problem's shapes declared, to the same value."""
import numpy as np
import pytest

import matcalc
from matcalc.lang import printing
from matcalc.lang.build import parse
from matcalc.codegen.numpy_code import NumpyCodegen, compile_source
from matcalc.verify.numeric import DomainSampler
from problem_set import PROBLEMS

KRONECKER = [
    ("A*X*B", ["X"], {"A": (2, 3), "X": (3, 4), "B": (4, 2)}, "jacobian"),
    ("X'", ["X"], {"X": (2, 3)}, "jacobian"),
    ("X .* Y", ["X"], {"X": (2, 3), "Y": (2, 3)}, "jacobian"),
    ("X*X", ["X"], {"X": (3, 3)}, "jacobian"),
    ("inv(X)", ["X"], {"X": (3, 3)}, "jacobian"),
    ("sum(X)", ["X"], {"X": (2, 3)}, "jacobian"),
    ("X*w", ["X"], {"X": (3, 2), "w": (2, 1)}, "jacobian"),
    ("X'*X", ["X"], {"X": (3, 2)}, "jacobian"),
    ("softmax(X)", ["X"], {"X": (3, 4)}, "jacobian"),
    ("tr(X'*A*X)", ["X"], {"X": (3, 2), "A": (3, 3)}, "hessian"),
    ("logdet(X)", ["X"], {"X": (3, 3)}, "hessian"),
    ("sum(X) * tr(X)", ["X"], {"X": (3, 3)}, "hessian"),
    ("norm2(X*w - y)^2", ["X", "w"], {"X": ("n", "d"), "w": ("d", 1), "y": ("n", 1)}, "gradient"),
    ("sum(mean(X,2)'*v)", ["X", "v"], {"X": ("n", "m"), "v": ("n", 1)}, "gradient"),   # v𝟏ᵀ/m: a size
    ("mean(X*w)", ["w"], {"X": ("n", "d"), "w": ("d", 1)}, "gradient"),
    ("sum(sigmoid(x))", ["x"], {"x": (1, 1)}, "hessian"),                                # 1×1: no 𝟏
]


def _case_list():
    for p in PROBLEMS:
        yield pytest.param(p["expr"], p["wrt"], p["shapes"], p["kind"], p.get("layout"), id=p["id"])
    for expr, wrt, shapes, kind in KRONECKER:
        yield pytest.param(expr, wrt, shapes, kind, "numerator", id=f"{kind}:{expr}")


def _derive(expr, wrt, shapes, kind, layout):
    kw = {"layout": layout} if kind == "jacobian" else {"order": 2} if kind == "hessian" else {}
    return matcalc.derive(expr, wrt=wrt, shapes=shapes, **kw)


def _values(program, exprs: dict, point) -> dict:
    src = NumpyCodegen(program.variables, exprs, "values").source()
    with np.errstate(all="ignore"):
        return compile_source(src, "values")(**point)


def _compare(d, text: str, key: str, point, statements: str = ""):
    shapes = {n: tuple(str(s) for s in v.shape) if hasattr(v, "shape") else () for n, v in d.program.variables.items()}
    result = d.gradients[key]
    read = parse(statements + text, shapes, allow_unused=True, size_names=True,
                 result_shape=tuple(result.shape) if hasattr(result, "shape") else None)
    want = np.asarray(_values(d.program, {"r": d.gradients[key]}, point)["r"], dtype=float)
    # evaluated with all the program's variables: a size the text names (v𝟏ᵀ/m) comes from X's shape
    got = np.asarray(_values(d.program, {"r": read.output}, point)["r"], dtype=float)
    got = np.broadcast_to(got, want.shape) if got.size == 1 or got.ndim < 2 else got
    assert got.shape == want.shape, (text, got.shape, want.shape)
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9 * scale), text


@pytest.mark.parametrize("expr,wrt,shapes,kind,layout", list(_case_list()))
def test_printed_results_read_back(expr, wrt, shapes, kind, layout):
    d = _derive(expr, wrt, shapes, kind, layout)
    point = DomainSampler(d.program, seed=3).point()
    for key in d.gradients:
        for style in (printing.UNICODE, printing.LANGUAGE):
            _compare(d, d.result_text(key, style, use_names=False), key, point)
        # with the user's names, the definitions printed under "where" make the program
        defs = d._definitions(printing.UNICODE)
        if defs:
            _compare(d, d.result_text(key), key, point, "; ".join(defs) + "; ")


def test_user_example_reads_back():
    """The issue's example: Xᵀ(Xw − y) with X and w declared."""
    d = matcalc.derive("norm2(X*w - y)^2", wrt=["w"], shapes={"X": ("n", "d"), "w": ("d", 1), "y": ("n", 1)})
    claim = matcalc.check("norm2(X*w - y)^2", ["w"], "2Xᵀ(Xw − y)",
                          {"X": ("n", "d"), "w": ("d", 1), "y": ("n", 1)})
    assert claim.verdict == "correct"
    assert d.result_text("w") == "2Xᵀ(Xw − y)"


@pytest.mark.parametrize("text,expected", [
    ("Xᵀ(Xw − y)", "X'*(X*w - y)"),
    ("(X⁻¹)ᵀ ⊙ A", "inv(X)' .* A"),
    ("x ⊘ y − x^∘2", "x ./ y - x.^2"),
    ("‖Xw − y‖^2 + ‖w‖", "norm2(X*w - y)^2 + norm2(w)"),
    ("𝟏ᵀ(A ⊙ X)𝟏", "ones(1,3)*(A .* X)*ones(3,1)"),
    ("tr(𝕀 ⊙ X)", "tr(eye(3) .* X)"),
    ("2A(Xw)", "2*A*(X*w)"),
])
def test_printed_forms_mean_the_language_forms(text, expected):
    shapes = {"X": (3, 3), "A": (3, 3), "w": (3, 1), "y": (3, 1), "x": (3, 1)}
    a, b = parse(text, shapes, allow_unused=True), parse(expected, shapes, allow_unused=True)
    point = DomainSampler(a, seed=1).point()
    point = {**{n: np.abs(np.random.default_rng(0).normal(size=s)) + 0.5 for n, s in shapes.items()}}
    va = _values(a, {"r": a.output}, {n: point[n] for n in a.variables})["r"]
    vb = _values(b, {"r": b.output}, {n: point[n] for n in b.variables})["r"]
    assert np.allclose(va, vb)


@pytest.mark.parametrize("seed", range(0, 400, 20))
def test_random_programs_results_read_back(seed):
    """Random well-typed programs (tests/program_gen.py): every printed gradient reads back."""
    import random
    from program_gen import generate
    program, shapes = generate(random.Random(seed))
    try:
        d = matcalc.derive(program, shapes=shapes)
        point = DomainSampler(d.program, seed=1).point()
    except matcalc.MatcalcError:
        pytest.skip("outside the generator's domain")
    for key in d.gradients:
        for style in (printing.UNICODE, printing.LANGUAGE):
            _compare(d, d.result_text(key, style, use_names=False), key, point)


def test_unimplied_sizes_are_written():
    """C − C + p leaves the size of 𝟏 and 𝕀 open in the plain text: the printed result writes them."""
    d = matcalc.derive("logdet((C - (C) + p)' * (C - (C) + p) + eye(2))", shapes={"C": (3, 2), "p": (3, 1)})
    assert "𝕀₂" in d.result_text("p")
    _compare(d, d.result_text("p"), "p", DomainSampler(d.program, seed=1).point())
