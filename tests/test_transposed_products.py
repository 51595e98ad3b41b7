"""A product whose transpose the generated code also needs is computed once and read as ``.T``
(matcalc/codegen/transposed.py): the code's form, and every gradient against finite differences."""
import re

import numpy as np
import pytest

import matcalc
from matcalc.codegen import transposed
from sympy import MatrixSymbol, symbols

ATTENTION = "A = softmax(X*Wq*(X*Wk)'); f = norm2(A*X*Wv - Y)^2"
ATTENTION_SHAPES = {"X": ("n", "d"), "Wq": ("d", "d"), "Wk": ("d", "d"), "Wv": ("d", "d"), "Y": ("n", "d")}


def test_attention_reads_forward_products_transposed():
    d = matcalc.derive(ATTENTION, wrt=["Wq", "Wk", "Wv"], shapes=ATTENTION_SHAPES)
    src = d.numpy_source()
    # (A X)ᵀ δ reads the forward's A X; Xᵀ δᵀ X is Xᵀ δ X transposed: two n²d GEMMs saved
    assert "A.T @" not in src and "d_u1.T" not in src
    assert len(re.findall(r"_t\d+\.T @ ", src)) == 2
    assert d.check().passed


@pytest.mark.parametrize("program,shapes,wrt", [
    ("f = sum((X*W) .* Y) + sum((W'*X') .* Z)", {"X": ("n", "d"), "W": ("d", "k"), "Y": ("n", "k"), "Z": ("k", "n")},
     ["W"]),
    ("f = sum(tanh(X*W*V)) + norm2(V'*W'*X' - Z)^2",
     {"X": ("n", "d"), "W": ("d", "k"), "V": ("k", "m"), "Z": ("m", "n")}, ["W", "V"]),
    (ATTENTION, ATTENTION_SHAPES, ["X", "Wq", "Wk", "Wv"]),
    ("A = softmax(X*Wq*(X*Wk)'); f = sum(A*X*Wv)", {"X": ("n", "d"), "Wq": ("d", "d"), "Wk": ("d", "d"),
                                                     "Wv": ("d", "d")}, ["Wq", "Wk", "Wv"]),
])
def test_programs_with_transposed_products_pass_the_check(program, shapes, wrt):
    d = matcalc.derive(program, wrt=wrt, shapes=shapes)
    r = d.check()
    assert r.passed, str(r)
    n = {k: 5 for k in "ndkm"}
    rng = np.random.default_rng(0)
    point = {k: rng.standard_normal(tuple(n[s] for s in v)) / 2 for k, v in shapes.items()}
    got = d.to_numpy()(**point)
    for k in wrt:
        assert got[k].shape == point[k].shape


def test_the_runs_wanted_are_those_needed_both_ways():
    n, d = symbols("n d", integer=True, positive=True)
    X, W, Y = MatrixSymbol("X", n, d), MatrixSymbol("W", d, d), MatrixSymbol("Y", n, d)
    forward, backward, other = X * W * Y.T, Y * W.T * X.T, Y.T * X
    assert transposed.wanted([forward, backward]) == {(X, W, Y.T), (Y, W.T, X.T)}   # the longest run
    assert transposed.wanted([forward, other]) == set()
    # a run whose flip another chain holds only inside a longer run it takes is not named
    longer, inner = X.T * Y * X * W, W.T * X.T * Y
    assert transposed.wanted([longer, inner, X.T * Y.T * X]) == {(X.T, Y, X), (X.T, Y.T, X)}
    assert transposed.flipped((X, W)) == (W.T, X.T)
