"""Issue 16: matrixcalculus.org's language (every example of its documentation page, with
--check), the reductions and products people use, declared structure (symmetric, spd,
diagonal) and Greek names."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import matcalc
from matcalc.cli import main

# http://www.matrixcalculus.org/documentation: "Valid input examples" (default kinds: a–g
# scalars, h–z vectors, A–Z matrices); A*exp(x) is a vector function, so a Jacobian.
DOCUMENTATION_EXAMPLES = [
    ("0.5*x'*A*x", []),
    ("A*exp(x)", ["--layout", "numerator"]),
    ("(y.*v)'*x", []),
    ("a^b", []),
    ("norm1(A*x-y)", []),
    ("norm2(A*x-y)^2", []),
    ("sum(log(exp(-y.*(X*w)) + vector(1)))", []),
    ("tr(A*X'*B*X*C)", []),
    ("log(det(inv(X)))", []),
]


def _cli(*args):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("expr,extra", DOCUMENTATION_EXAMPLES, ids=[e for e, _ in DOCUMENTATION_EXAMPLES])
def test_documentation_examples_derive_and_check(expr, extra):
    r = _cli("derive", expr, "--check", *extra)
    assert r.exit_code == 0, r.output
    assert "check passed" in r.output


FUNCTIONS = [   # (program, shapes, NumPy reference of the value)
    ("sum(tan(X))", {"X": (3, 2)}, lambda X: np.sum(np.tan(X))),
    ("sum(arcsin(x))", {"x": (4, 1)}, lambda x: np.sum(np.arcsin(x))),
    ("sum(arccos(x) .* y)", {"x": (4, 1), "y": (4, 1)}, lambda x, y: np.sum(np.arccos(x) * y)),
    ("sum(arctan(X*w))", {"X": (3, 2), "w": (2, 1)}, lambda X, w: np.sum(np.arctan(X @ w))),
    ("sign(a)*a + sum(sign(x) .* x)", {"a": (), "x": (3, 1)}, lambda a, x: np.sign(a) * a + np.sum(np.abs(x))),
    ("norm1(X*w - y)", {"X": (3, 2), "w": (2, 1), "y": (3, 1)}, lambda X, w, y: np.sum(np.abs(X @ w - y))),
    ("tr(adj(X)*A)", {"X": (3, 3), "A": (3, 3)}, lambda X, A: np.trace(np.linalg.det(X) * np.linalg.inv(X) @ A)),
    ("x'*(X + eye)*x", {"x": (3, 1), "X": (3, 3)}, lambda x, X: (x.T @ (X + np.eye(3)) @ x).item()),
    ("sum((X + matrix(2)).^2)", {"X": (3, 2)}, lambda X: np.sum((X + 2) ** 2)),
    ("norm2(sum(X, 1))^2 + norm2(sum(X, 2))^2", {"X": (3, 4)},
     lambda X: np.sum(X.sum(0) ** 2) + np.sum(X.sum(1) ** 2)),
    ("mean(X.^2) + sum(mean(X, 1)) * sum(mean(X, 2).^3)", {"X": (3, 4)},
     lambda X: np.mean(X ** 2) + np.sum(X.mean(0)) * np.sum(X.mean(1) ** 3)),
    ("sum(max(X, Y) .* Z) + sum(min(X, 0.2))", {"X": (3, 2), "Y": (3, 2), "Z": (3, 2)},
     lambda X, Y, Z: np.sum(np.maximum(X, Y) * Z) + np.sum(np.minimum(X, 0.2))),
    ("logsumexp(W*x)", {"W": (3, 2), "x": (2, 1)}, lambda W, x: np.log(np.sum(np.exp(W @ x)))),
    ("sum(kron(A, B) .* C)", {"A": (2, 2), "B": (2, 3), "C": (4, 6)}, lambda A, B, C: np.sum(np.kron(A, B) * C)),
    ("vec(X)'*y", {"X": (2, 3), "y": (6, 1)}, lambda X, y: (X.reshape(-1, 1, order="F").T @ y).item()),
    ("y'*commutation(2, 3)*vec(X)", {"X": (2, 3), "y": (6, 1)},
     lambda X, y: (y.T @ X.T.reshape(-1, 1, order="F")).item()),
]


@pytest.mark.parametrize("expr,shapes,ref", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_extension_values_and_gradients(expr, shapes, ref):
    from matcalc.codegen.numpy_code import NumpyCodegen, compile_source
    from matcalc.verify.numeric import DomainSampler
    d = matcalc.derive(expr, shapes=shapes)
    assert d.check().passed, (expr, d.check())
    program = d.program
    point = DomainSampler(program, seed=2).point()
    value = compile_source(NumpyCodegen(program.variables, {"f": program.output}, "v").source(), "v")
    assert np.allclose(float(np.asarray(value(**point)["f"]).reshape(())), ref(**point))


def test_logsumexp_is_stable():
    d = matcalc.derive("logsumexp(X)", shapes={"X": (2, 3)})
    X = np.array([[1000.0, 2, 3], [4, 1000, 6]])
    g = d.to_numpy()(X=X)["X"]
    assert np.allclose(g, [[0.5, 0, 0], [0, 0.5, 0]])
    v = matcalc.derive("logsumexp(x)", shapes={"x": (3, 1)})
    assert v.result_text("x") == "softmax(x)"
    assert np.allclose(v.to_numpy()(x=np.array([[800.0], [800.0], [-800.0]]))["x"], [[0.5], [0.5], [0]])


def test_kron_and_vec_gradients_and_clear_limits():
    d = matcalc.derive("norm2(vec(A*X) - y)^2 + sum(kron(A, X) .* C)",
                       shapes={"A": (2, 3), "X": (3, 4), "y": (8, 1), "C": (6, 12)})
    assert d.check().passed
    with pytest.raises(matcalc.UnsupportedError):   # Hessians through vec: no Jacobian rule yet
        matcalc.derive("norm2(vec(X) - y)^2", shapes={"X": (2, 3), "y": (6, 1)}, order=2)


def test_max_min_tie_convention_splits_the_gradient():
    g = matcalc.derive("sum(max(x, y))", shapes={"x": (2, 1), "y": (2, 1)}).to_numpy()
    out = g(x=np.array([[1.0], [3.0]]), y=np.array([[1.0], [0.0]]))
    assert np.allclose(out["x"], [[0.5], [1.0]]) and np.allclose(out["y"], [[0.5], [0.0]])


@pytest.mark.parametrize("expr,message", [
    ("sum(vector(1))", "cannot tell the size of vector"),
    ("sum(eye)", "cannot tell the size of eye"),
    ("sum(X, 3)", "is 1 (down each column) or 2"),
    ("vector(x)", "takes a scalar"),
    ("sum(max(x))", "takes 2 arguments"),
    ("sigmod(x)", "unknown function 'sigmod'"),
    ("x^2", "'^' raises a scalar"),
])
def test_extension_errors_are_one_line_exit_2(expr, message):
    r = _cli("derive", expr)
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output


# ------------------------------------------------------------ declared structure
GAUSSIAN = "0.5*logdet(S) + 0.5*(x - m)'*inv(S)*(x - m)"


@pytest.mark.parametrize("kind", ["--sym", "--spd"])
@pytest.mark.parametrize("expr,form", [
    (GAUSSIAN, "(1/2)(S⁻¹ − S⁻¹(x − m)(x − m)ᵀ S⁻¹)"),
    ("tr(A*S)", "sym(A)"),
    ("x'*S*x", "x xᵀ"),
    ("logdet(S)", "S⁻¹"),
])
def test_symmetric_gradients_take_the_textbook_form(expr, form, kind):
    r = _cli("derive", expr, "--wrt", "S", kind, "S", "--check")
    assert r.exit_code == 0, r.output
    assert f"∂f/∂S = {form}   (n×n)" in r.output and "sym(G) = (G + Gᵀ)/2" in r.output
    assert "check passed" in r.output


def test_cookbook_convention():
    r = _cli("derive", "tr(A*S)", "--wrt", "S", "--sym", "S", "--convention", "cookbook", "--check")
    assert r.exit_code == 0 and "∂f/∂S = Aᵀ + A − diag(diag(A))" in r.output and "Cookbook" in r.output
    d = matcalc.derive(GAUSSIAN, wrt=["S"], structure={"S": "spd"}, convention="cookbook")
    assert d.check().passed


def test_symmetric_check_catches_a_wrong_convention():
    """The unconstrained gradient Aᵀ is not the gradient in the symmetric space: the check fails."""
    from matcalc.verify import structure
    d = matcalc.derive("tr(A*S)", wrt=["S"], structure={"S": "symmetric"}, shapes={"A": (3, 3), "S": (3, 3)})
    d._results["S"] = d.program.variables["A"].T
    d._function = None
    assert not structure.check(d).passed
    d2 = matcalc.derive("tr(A*S)", wrt=["S"], structure={"S": "symmetric"}, convention="cookbook",
                        shapes={"A": (3, 3), "S": (3, 3)})
    d2._results["S"] = d.program.variables["A"] + d.program.variables["A"].T   # forgot − diag
    d2._function = None
    assert not structure.check(d2).passed


def test_symmetric_gradient_matches_a_projected_finite_difference():
    """sym(G) at a symmetric point: ⟨sym(G), E⟩ = directional derivative for a random symmetric E."""
    d = matcalc.derive(GAUSSIAN, wrt=["S"], structure={"S": "spd"}, shapes={"x": (3, 1), "m": (3, 1), "S": (3, 3)})
    rng = np.random.default_rng(5)
    r = rng.normal(size=(3, 3))
    S = r @ r.T + 3 * np.eye(3)
    x, m = rng.normal(size=(3, 1)), rng.normal(size=(3, 1))
    f = lambda S: 0.5 * np.linalg.slogdet(S)[1] + 0.5 * ((x - m).T @ np.linalg.inv(S) @ (x - m)).item()
    E = rng.normal(size=(3, 3))
    E = E + E.T
    h = 1e-5
    fd = (f(S + h * E) - f(S - h * E)) / (2 * h)
    G = d.to_numpy()(S=S, x=x, m=m)["S"]
    assert np.allclose(G, G.T) and abs(np.sum(G * E) - fd) < 1e-7


def test_diagonal_variable():
    d = matcalc.derive("tr(A*D) + x'*D*x", wrt=["D"], structure={"D": "diagonal"})
    assert d.result_text("D").startswith("diag(diag(") and d.check().passed
    v = matcalc.derive("tr(A*D) + x'*D*x", wrt=["D"], structure={"D": "diagonal"}, diagonal_vector=True)
    assert v.check().passed and "(n×1)" in v.text()
    out = v.to_numpy()(A=np.eye(2), D=np.diag([1.0, 2.0]), x=np.array([[1.0], [2.0]]))["D"]
    assert np.allclose(out, [[2.0], [5.0]])


def test_structure_errors():
    for args, message in [(["x'*S*x", "--sym", "S", "--dim", "S=3,4"], "square"),
                          (["x'*S*x", "--sym", "S", "--order", "2"], "not for Jacobians or Hessians"),
                          (["x'*S*x", "--sym", "T"], "not a variable"),
                          (["x'*S*x", "--sym", "S", "--diagonal", "S"], "two structures")]:
        r = _cli("derive", *args)
        assert r.exit_code == 2 and message in r.output, r.output


def test_structure_in_json():
    r = _cli("derive", "tr(A*S)", "--wrt", "S", "--spd", "S", "--format", "json", "--check")
    out = json.loads(r.output)
    assert out["structure"] == {"S": {"kind": "spd", "convention": "sym"}} and out["check"]["passed"]
    assert out["wrt"]["S"]["result"] in ("(1/2)*(A + A')", "(1/2)*(A' + A)", "(A + A')/2", "(A' + A)/2")


# ------------------------------------------------------------ Greek names
def test_lambda_and_unicode_greek_are_one_variable():
    d = matcalc.derive("norm2(X*w - y)^2 + lambda*w'*w", shapes={"λ": ()}, wrt=["lambda", "w"])
    assert d.wrt == ["λ", "w"] and d.check().passed
    same = matcalc.derive("norm2(X*w - y)^2 + λ*w'*w", shapes={"lambda": ()})
    assert "λ" in same.program.variables
    assert r"\frac{\partial f}{\partial \lambda}" in d.latex()
    g = matcalc.derive("σ*sum(μ) + theta*sigma", shapes={"sigma": (), "θ": ()})
    assert set(g.program.variables) == {"sigma", "mu", "theta"}


def test_sigma_variable_is_not_sigmoid_in_latex():
    d = matcalc.derive("sum(sigmoid(X*w)) + sigma*sum(w)", shapes={"sigma": ()})
    tex = d.latex()
    assert r"\operatorname{sigmoid}" in tex and r"\sigma" in tex
    plain = matcalc.derive("sum(sigmoid(X*w))").latex()
    assert r"\sigma\left(" in plain


def test_surprising_default_kind_is_noted():
    r = _cli("derive", "norm2(X*w - y)^2 + lambda*w'*w")
    assert r.exit_code == 2 and "λ is a column vector by the default kind" in r.output
    r = _cli("derive", "sum(theta .* x)", "--wrt", "theta")
    assert r.exit_code == 0 and "note: theta is a column vector" in r.output


def test_check_claims_about_structured_variables():
    ok = _cli("check", "logdet(S)", "--wrt", "S", "--sym", "S", "--claim", "inv(S)")
    assert ok.exit_code == 0, ok.output
    wrong = _cli("check", "tr(A*S)", "--wrt", "S", "--sym", "S", "--claim", "A'")
    assert wrong.exit_code == 1 and "the claim is not symmetric" in wrong.output
    cookbook = matcalc.check("tr(A*S)", ["S"], "A + A' - diag(diag(A))", structure={"S": "symmetric"},
                             convention="cookbook")
    assert cookbook.verdict == "correct"
    forgot = matcalc.check("tr(A*D)", ["D"], "A'", structure={"D": "diagonal"})
    assert forgot.verdict == "wrong" and "keep its diagonal" in forgot.diagnosis[0]
    unstructured = _cli("check", "tr(A*S)", "--wrt", "S", "--claim", "A'")
    assert unstructured.exit_code == 0
