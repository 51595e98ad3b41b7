"""Regressions of the hostile review of the integrated tree (branch polish): printed results
read back as claims, 1×1 results without a stray 𝟏/𝕀, check's --diagonal-vector, structure with
Hessians, recurrent named results, step names."""
import json

import pytest
from click.testing import CliRunner

import matcalc
from matcalc import printing
from matcalc.cli import main


def _run(*args):
    return CliRunner().invoke(main, list(args))


# ---------------------------------------------------------------- size names read back
@pytest.mark.parametrize("expr,wrt,shapes", [
    ("sum(mean(X,2)'*v)", "X", {}),
    ("sum(mean(X,2)'*v)", "v", {}),
    ("sum(mean(X,1)*v)", "X", {"X": ("n", "d"), "v": ("d", 1)}),
    ("mean(X*w)", "w", {"X": ("n", "d"), "w": ("d", 1)}),
    ("norm2(X*w - y)^2/n", "w", {"X": ("n", "d"), "w": ("d", 1), "y": ("n", 1), "n": ()}),
])
def test_printed_results_with_sizes_read_back_as_claims(expr, wrt, shapes):
    d = matcalc.derive(expr, wrt=[wrt], shapes=shapes)
    for style in (printing.UNICODE, printing.LANGUAGE):
        text = d.result_text(wrt, style, use_names=False)
        assert matcalc.check(expr, [wrt], text, shapes).verdict == "correct", text


def test_a_size_name_in_a_claim_is_the_size_only_when_not_a_variable():
    assert matcalc.check("sum(mean(X,2)'*v)", ["X"], "v*ones(1,m)/m").verdict == "correct"
    assert matcalc.check("sum(mean(X,2)'*v)", ["X"], "v*ones(1,m)/n").verdict == "wrong"
    # m is a variable of this program, so the sizes are named otherwise and m is the vector
    with pytest.raises(matcalc.MatcalcError):
        matcalc.check("sum(mean(X,2)'*v) + m'*m", ["X"], "v*ones(1,m)/m")
    # an unknown name is still refused, never read as a size
    with pytest.raises(matcalc.MatcalcError):
        matcalc.check("sum(mean(X,2)'*v)", ["X"], "v*ones(1,m)/k")


def test_cli_check_reads_back_the_printed_mean_gradient():
    out = _run("derive", "sum(mean(X,2)'*v)", "--wrt", "X", "--format", "json")
    claim = json.loads(out.output)["wrt"]["X"]["result"]
    res = _run("check", "sum(mean(X,2)'*v)", "--wrt", "X", "--claim", claim)
    assert res.exit_code == 0, res.output


# ---------------------------------------------------------------- 1×1 results
ONE_BY_ONE = [
    ("sum(sigmoid(x))", {"x": (1, 1)}),
    ("sum(X)", {"X": (1, 1)}),
    ("x'*A*x", {"x": (1, 1), "A": (1, 1)}),
    ("sum(X*w)", {"X": (3, 1), "w": (1, 1)}),
    ("sum(exp(W*x))", {"W": (2, 1), "x": (1, 1)}),
]


@pytest.mark.parametrize("expr,shapes", ONE_BY_ONE)
@pytest.mark.parametrize("kw", [{}, {"order": 2}, {"layout": "numerator"}])
def test_one_by_one_results_print_without_a_stray_one(expr, shapes, kw):
    d = matcalc.derive(expr, shapes=shapes, **kw)
    for key, value in d.gradients.items():
        if tuple(getattr(value, "shape", ())) != (1, 1):
            continue
        all_scalar = all(s == (1, 1) for s in shapes.values())   # else 𝟏ᵀX (1×3 times 3×1) is right
        for style, marks in ((printing.UNICODE, ("𝟏", "𝕀")), (printing.LATEX, (r"\mathbf{1}", " I"))):
            text = d.result_text(key, style)
            assert not all_scalar or not any(m in text for m in marks), text
        if not kw:   # the printed text is still the gradient
            text = d.result_text(key, printing.UNICODE, use_names=False)
            assert matcalc.check(expr, [key], text, shapes).verdict == "correct", text
    if all(s == (1, 1) for s in shapes.values()):
        assert "𝕀" not in d.markdown() and "𝟏" not in d.text()


def test_a_one_by_one_factor_in_a_wider_product_is_kept_where_it_is_a_column():
    d = matcalc.derive("sum(X*w)", shapes={"X": (3, 1), "w": (1, 1)})
    assert d.result_text("X") == "w 𝟏"          # a (3×1) column of ones: not a 1×1
    assert d.result_text("w") == "sum(X)"
