"""Jacobians of vector functions (both layouts), checked against finite differences."""
import pytest

import matcalc

CASES = [
    ("x", {"x": (4, 1)}, ["x"], "𝕀"),
    ("w .* x", {"w": (5, 1), "x": (5, 1)}, ["w", "x"], "diag(x)"),
    ("x + z", {"x": (4, 1), "z": ()}, ["x", "z"], "𝕀"),
    ("softmax(z)", {"z": (1, 4)}, ["z"], "diag(softmax(z)ᵀ) − softmax(z)ᵀ softmax(z)"),
    ("sigmoid(W*x)", {"W": (3, 4), "x": (4, 1)}, ["x"], "diag(sigmoid(Wx) ⊙ (1 − sigmoid(Wx)))W"),
    ("A*x", {"A": (3, 4), "x": (4, 1)}, ["x"], "A"),
    ("x'*A", {"x": (3, 1), "A": (3, 4)}, ["x"], "Aᵀ"),
    ("logsoftmax(z)", {"z": (4, 1)}, ["z"], None),
    ("tanh(x) * (y'*x)", {"x": (3, 1), "y": (3, 1)}, ["x", "y"], None),
    ("exp(x) ./ sum(exp(x))", {"x": (3, 1)}, ["x"], None),
]


@pytest.mark.parametrize("layout", ["numerator", "denominator"])
@pytest.mark.parametrize("expr,shapes,wrt,first", CASES, ids=[c[0] for c in CASES])
def test_jacobian_matches_finite_differences(expr, shapes, wrt, first, layout):
    d = matcalc.derive(expr, wrt=wrt, shapes=shapes, layout=layout)
    result = d.check()
    assert result.passed, str(result)
    if first and layout == "numerator":
        assert d.result_text(wrt[0]) == first


def test_denominator_is_the_transpose():
    num = matcalc.derive("x*z", wrt=["z"], shapes={"x": (3, 1), "z": ()}, layout="numerator")
    den = matcalc.derive("x*z", wrt=["z"], shapes={"x": (3, 1), "z": ()}, layout="denominator")
    assert tuple(num.jacobian("z").shape) == (3, 1) and tuple(den.jacobian("z").shape) == (1, 3)


@pytest.mark.parametrize("expr,shapes,wrt", [
    ("A*X*B", {"A": (2, 3), "X": (3, 4), "B": (4, 2)}, ["X"]),
    ("sigmoid(x*x')*y", {"x": (3, 1), "y": (3, 1)}, ["x"]),
])
def test_matrix_jacobians_through_kronecker_forms(expr, shapes, wrt):
    """Once refused; now vec/Kronecker closed forms, checked against finite differences."""
    d = matcalc.derive(expr, wrt=wrt, shapes=shapes, layout="numerator")
    assert d.check().passed
