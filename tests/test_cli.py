"""The command line (CONTRACT.md, "CLI"), driven in-process with click's CliRunner.

`matcalc derive EXPR --wrt W [--dim X=n,d ...] [--scalar a] [--format text|latex|markdown|
numpy|json] [--steps] [--check] [--sum-to-one Y]` and `matcalc rules [--check]`.
"""
import ast
import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import matcalc
from matcalc.cli import main

LSQ = "norm2(X*w - y)^2"
NET = "H = sigmoid(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2"
NET_DIMS = ["--dim", "X=n,d", "--dim", "W1=d,h", "--dim", "b1=1,h", "--dim", "W2=h,k",
            "--dim", "b2=1,k", "--dim", "Y=n,k"]
SOFTMAX_CE = "-sum(Y .* log(softmax(X*W)))"


def run(*args):
    """Invoke the CLI in-process; stdout and stderr are kept apart (click >= 8.2)."""
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the CLI raised {result.exception!r}") from result.exception
    return result


def ok(*args):
    result = run(*args)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def load_module(source, tmp_path, name="grad_module"):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ help / entry point
def test_python_dash_m_help_subprocess():
    proc = subprocess.run([sys.executable, "-m", "matcalc", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "derive" in proc.stdout and "rules" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_derive_help_lists_options():
    out = ok("derive", "--help").stdout
    for option in ("--wrt", "--dim", "--scalar", "--format", "--steps", "--check", "--sum-to-one"):
        assert option in out


# ------------------------------------------------------------------ text (default)
def test_least_squares_text():
    result = ok("derive", LSQ, "--wrt", "w")
    assert "2Xᵀ(Xw − y)" in result.stdout
    assert "∂f/∂w" in result.stdout
    assert result.stderr == ""


def test_least_squares_check_exit_zero():
    result = ok("derive", LSQ, "--wrt", "w", "--check")
    assert "2Xᵀ(Xw − y)" in result.stdout
    assert "passed" in result.output


def test_net_check_exit_zero_all_variables():
    result = ok("derive", NET, *NET_DIMS, "--check")
    for name in ("X", "W1", "b1", "W2", "b2", "Y"):
        assert f"∂f/∂{name} =" in result.stdout
    assert "∂f/∂W2=2Hᵀ(HW2+b2−Y)" in result.stdout.replace(" ", "")
    assert "passed" in result.output


def test_wrt_repeatable_and_default_all():
    both = ok("derive", "u'*W*x", "--wrt", "W", "--wrt", "x").stdout
    assert "∂f/∂W" in both and "∂f/∂x" in both and "∂f/∂u" not in both
    every = ok("derive", "u'*W*x").stdout
    assert all(f"∂f/∂{n}" in every for n in "uWx")


# ------------------------------------------------------------------ json
def test_json_keys_without_check():
    data = json.loads(ok("derive", LSQ, "--wrt", "w", "--format", "json").stdout)
    assert data["function"] == LSQ
    assert set(data["wrt"]) == {"w"}
    entry = data["wrt"]["w"]
    assert {"shape", "result", "latex"} <= set(entry)
    assert isinstance(entry["shape"], list) and len(entry["shape"]) == 2 and entry["shape"][1] == 1
    assert isinstance(entry["result"], str) and entry["result"]
    assert isinstance(entry["latex"], str) and "X^{T}" in entry["latex"].replace("^T", "^{T}")
    assert "check" not in data


def test_json_with_check():
    result = ok("derive", LSQ, "--wrt", "w", "--dim", "X=8,3", "--format", "json", "--check")
    data = json.loads(result.stdout)  # stdout is exactly one JSON object
    assert data["wrt"]["w"]["shape"] == [3, 1]
    check = data["check"]
    assert isinstance(check["max_rel_error"], float) and check["max_rel_error"] < 1e-6
    assert check["passed"] is True


def test_json_scalar_shape_and_symbolic_sizes():
    data = json.loads(ok("derive", "norm2(X*w - y)^2 + lam*w'*w", "--wrt", "w", "--wrt", "lam",
                         "--scalar", "lam", "--dim", "X=n,d", "--format", "json").stdout)
    assert data["wrt"]["lam"]["shape"] == []
    assert data["wrt"]["w"]["shape"] == ["d", 1]


def test_json_result_is_contract_language_that_evaluates_correctly():
    """The "result" string means the gradient under the contract language."""
    from expr_eval import evaluate
    data = json.loads(ok("derive", LSQ, "--wrt", "w", "--dim", "X=6,3", "--format", "json").stdout)
    rng = np.random.default_rng(1)
    X, w, y = rng.normal(size=(6, 3)), rng.normal(size=(3, 1)), rng.normal(size=(6, 1))
    got = evaluate(data["wrt"]["w"]["result"], {"X": X, "w": w, "y": y})
    np.testing.assert_allclose(got, 2 * X.T @ (X @ w - y), rtol=1e-10, atol=1e-12)


def test_json_multiple_wrt():
    data = json.loads(ok("derive", NET, *NET_DIMS, "--wrt", "W2", "--wrt", "b2",
                         "--format", "json", "--check").stdout)
    assert list(data["wrt"]) == ["W2", "b2"]
    assert data["wrt"]["W2"]["shape"] == ["h", "k"]
    assert data["wrt"]["b2"]["shape"] == [1, "k"]
    assert data["check"]["passed"] is True


# ------------------------------------------------------------------ numpy
def _numpy_source(*args):
    result = ok("derive", *args, "--format", "numpy")
    return result.stdout


def _only_numpy_imports(source):
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] == "numpy" for a in node.names), ast.dump(node)
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] in ("numpy", "__future__"), ast.dump(node)


def test_numpy_least_squares_matches_hand_gradient(tmp_path):
    source = _numpy_source(LSQ, "--wrt", "w", "--dim", "X=7,3")
    _only_numpy_imports(source)
    module = load_module(source, tmp_path)
    funcs = [v for k, v in vars(module).items() if callable(v) and not k.startswith("_")
             and getattr(v, "__module__", None) == module.__name__]
    assert funcs, "no public function in the generated module"
    fn = getattr(module, "gradients", funcs[0])
    rng = np.random.default_rng(0)
    X, w, y = rng.normal(size=(7, 3)), rng.normal(size=(3, 1)), rng.normal(size=(7, 1))
    out = fn(X=X, w=w, y=y)
    assert set(out) == {"w"}
    assert out["w"].shape == (3, 1)
    np.testing.assert_allclose(out["w"], 2 * X.T @ (X @ w - y), rtol=1e-10, atol=1e-12)


def test_numpy_two_layer_net_matches_hand_backprop(tmp_path):
    source = _numpy_source(NET, *NET_DIMS)
    _only_numpy_imports(source)
    fn = load_module(source, tmp_path, "net_grad").gradients
    rng = np.random.default_rng(3)
    n, d, h, k = 5, 4, 3, 2
    X, W1, b1 = rng.normal(size=(n, d)), rng.normal(size=(d, h)), rng.normal(size=(1, h))
    W2, b2, Y = rng.normal(size=(h, k)), rng.normal(size=(1, k)), rng.normal(size=(n, k))
    out = fn(X=X, W1=W1, b1=b1, W2=W2, b2=b2, Y=Y)
    # hand-written backprop
    H = sigmoid(X @ W1 + b1)
    R = H @ W2 + b2 - Y
    G2 = 2 * R
    D1 = (G2 @ W2.T) * H * (1 - H)
    want = {"X": D1 @ W1.T, "W1": X.T @ D1, "b1": D1.sum(axis=0, keepdims=True),
            "W2": H.T @ G2, "b2": G2.sum(axis=0, keepdims=True), "Y": -G2}
    for name, value in want.items():
        assert out[name].shape == value.shape, name
        np.testing.assert_allclose(out[name], value, rtol=1e-9, atol=1e-12, err_msg=name)


def test_numpy_source_runs_in_a_fresh_interpreter(tmp_path):
    source = _numpy_source(LSQ, "--wrt", "w", "--dim", "X=4,2")
    (tmp_path / "grad.py").write_text(source)
    script = ("import numpy as np, grad\n"
              "X = np.arange(8.).reshape(4, 2); w = np.array([[1.], [-2.]]); y = np.ones((4, 1))\n"
              "g = grad.gradients(X=X, w=w, y=y)['w']\n"
              "assert np.allclose(g, 2 * X.T @ (X @ w - y)), g\n"
              "import sys; assert 'matcalc' not in sys.modules\n"
              "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# ------------------------------------------------------------------ latex / markdown
def test_latex_format():
    out = ok("derive", LSQ, "--wrt", "w", "--format", "latex").stdout
    assert out.strip()
    assert "X^{T}" in out
    assert r"\left(X w - y\right)" in out
    assert r"\partial f" in out and r"\partial w" in out


def test_latex_format_softmax_and_names():
    out = ok("derive", NET, *NET_DIMS, "--wrt", "W2", "--format", "latex").stdout
    assert "W_{2}" in out and "H^{T}" in out
    assert r"\sigma" in out  # the definition of H


def test_markdown_format():
    out = ok("derive", LSQ, "--wrt", "w", "--format", "markdown").stdout
    assert out.strip()
    assert "$$" in out
    assert "X^{T}" in out
    assert r"\left\|" in out or r"\|" in out


def test_markdown_with_steps_names_rules():
    out = ok("derive", LSQ, "--wrt", "w", "--format", "markdown", "--steps").stdout
    assert "`matmul`" in out and "`norm2`" in out


# ------------------------------------------------------------------ steps
def test_steps_show_rule_ids():
    out = ok("derive", LSQ, "--wrt", "w", "--steps").stdout
    used = _step_tags(out)
    assert {"norm2", "matmul", "add"} <= used
    assert "δ_u = 2u" in out and "∂f/∂w = Xᵀ δ_u" in out
    assert "2Xᵀ(Xw − y)" in out


def _step_tags(out) -> set:
    return {t for tag in re.findall(r"\[([a-z_:0-9, ]+)\]", out) for t in tag.split(", ")}


def test_steps_for_net_show_entrywise_rule():
    out = ok("derive", NET, *NET_DIMS, "--wrt", "W1", "--steps").stdout
    assert {"entrywise", "matmul"} <= _step_tags(out)


# ------------------------------------------------------------------ dims / scalars
def test_symbolic_dims_in_text():
    out = ok("derive", LSQ, "--wrt", "w", "--dim", "X=n,d", "--dim", "w=d,1", "--dim", "y=n,1").stdout
    assert "2Xᵀ(Xw − y)" in out
    assert "(d×1)" in out


def test_numeric_dims_in_text():
    out = ok("derive", LSQ, "--wrt", "w", "--dim", "X=8,3").stdout
    assert "(3×1)" in out


def test_scalar_option():
    # `lam` would default to a column vector (first letter l) and make f a vector.
    out = ok("derive", "norm2(X*w - y)^2 + lam*w'*w", "--wrt", "w", "--wrt", "lam",
             "--scalar", "lam", "--check").stdout
    assert "∂f/∂lam" in out and "(scalar)" in out
    assert "2Xᵀ(Xw − y)" in out


def test_dim_empty_means_scalar():
    out = ok("derive", "norm2(X*w - y)^2 + lam*w'*w", "--wrt", "lam", "--dim", "lam=",
             "--check").stdout
    assert "(scalar)" in out


def test_without_scalar_declaration_lam_is_a_vector():
    result = run("derive", "norm2(X*w - y)^2 + lam*w'*w", "--wrt", "w")
    assert result.exit_code == 2
    assert result.stderr.startswith("matcalc:")


# ------------------------------------------------------------------ sum-to-one
def test_sum_to_one_softmax_regression():
    result = ok("derive", "--wrt", "W", "--sum-to-one", "Y", "--check", "--", SOFTMAX_CE)
    assert "softmax(XW) − Y" in result.stdout
    assert "Xᵀ(softmax(XW) − Y)" in result.stdout


def test_without_sum_to_one_softmax_regression_is_general():
    result = ok("derive", "--wrt", "W", "--check", "--", SOFTMAX_CE)
    # exact for any Y: the row sums of Y stay in the result
    assert "Xᵀ(softmax(XW) − Y)" not in result.stdout
    assert "passed" in result.output


def test_expression_with_leading_minus_as_documented():
    result = run("derive", SOFTMAX_CE, "--wrt", "W", "--sum-to-one", "Y", "--format", "latex")
    assert result.exit_code == 0, result.output
    assert r"\operatorname{softmax}" in result.stdout or "softmax" in result.stdout


# ------------------------------------------------------------------ rules
def _rule_ids(out):
    return {line.split()[0] for line in out.splitlines() if line.strip() and not line[0].isspace()}


def test_rules_lists_ids():
    ids = _rule_ids(ok("rules").stdout)
    for rule in ("matmul", "add", "transpose", "hadamard", "trace", "inverse", "logdet", "norm2",
                 "softmax", "fn:sigmoid", "fn:exp", "fn:relu", "fn:tanh"):
        assert rule in ids, rule


def test_rules_check_passes():
    result = ok("rules", "--check")
    assert "FAILED" not in result.stdout
    assert "self-test: ok" in result.stdout


def test_rules_used_by_steps_are_in_the_catalogue():
    ids = _rule_ids(ok("rules").stdout)
    for method in ("backprop", "trace"):
        out = ok("derive", NET, *NET_DIMS, "--steps", "--method", method).stdout
        used = _step_tags(out)
        assert used and used <= ids, used - ids


def evaluate_result(result, shapes, arrays, shape):
    """Numbers of a contract-language RESULT, through matcalc itself: the gradient of
    sum(Gprobe .* (RESULT)) (gprobe*(RESULT) for a scalar) w.r.t. the probe is RESULT."""
    used = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", result))
    sub_shapes = {k: v for k, v in shapes.items() if k in used}
    sub_arrays = {k: v for k, v in arrays.items() if k in used}
    if shape == ():
        pname, probe, value = "gprobe", f"gprobe * ({result})", 0.0
    else:
        pname, probe, value = "Gprobe", f"sum(Gprobe .* ({result}))", np.zeros(shape)
    d = matcalc.derive(probe, wrt=[pname], shapes={**sub_shapes, pname: shape})
    got = d.to_numpy()(**{pname: value}, **sub_arrays)[pname]
    return np.asarray(got, dtype=float).reshape(shape)


def test_json_results_parse_back_and_mean_the_gradient():
    """Every "result" is in the contract language (with the ones()/eye() extensions the README
    documents): fed back to matcalc as sum(G .* (RESULT)), its gradient w.r.t. G is RESULT
    itself, whose numbers must equal the gradient's."""
    shapes = {"X": (6, 4), "W1": (4, 3), "b1": (1, 3), "W2": (3, 2), "b2": (1, 2), "Y": (6, 2)}
    dims = [a for k, s in shapes.items() for a in ("--dim", f"{k}={s[0]},{s[1]}")]
    data = json.loads(ok("derive", NET, *dims, "--format", "json").stdout)
    rng = np.random.default_rng(7)
    arrays = {k: rng.normal(size=s) for k, s in shapes.items()}
    want = matcalc.derive(NET, shapes=shapes).to_numpy()(**arrays)
    for name, entry in data["wrt"].items():
        got = evaluate_result(entry["result"], shapes, arrays, shapes[name])
        np.testing.assert_allclose(got, want[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_json_scalar_result_parses_back():
    expr = "norm2(X*w - y)^2 + lam*w'*w"
    shapes = {"X": (5, 3), "w": (3, 1), "y": (5, 1), "lam": ()}
    data = json.loads(ok("derive", expr, "--dim", "X=5,3", "--dim", "w=3,1", "--dim", "y=5,1",
                         "--scalar", "lam", "--format", "json").stdout)
    rng = np.random.default_rng(8)
    arrays = {"X": rng.normal(size=(5, 3)), "w": rng.normal(size=(3, 1)), "y": rng.normal(size=(5, 1)),
              "lam": 0.7}
    X, w, y, lam = arrays["X"], arrays["w"], arrays["y"], arrays["lam"]
    want = {"w": 2 * X.T @ (X @ w - y) + 2 * lam * w, "lam": float((w.T @ w)[0, 0]), "X": 2 * (X @ w - y) @ w.T,
            "y": -2 * (X @ w - y)}
    assert set(data["wrt"]) == set(want)
    for name, entry in data["wrt"].items():
        got = evaluate_result(entry["result"], shapes, arrays, shapes[name])
        np.testing.assert_allclose(got, want[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_conflicting_declarations_are_errors():
    for args in (["--dim", "x=3,1", "--dim", "x=4,1"], ["--scalar", "x", "--dim", "x=3,1"]):
        result = run("derive", "x'*x", *args)
        assert result.exit_code == 2 and "twice" in result.output


def test_default_wrt_notes_the_data_on_stderr():
    r = run("derive", LSQ, "--format", "json")
    assert r.exit_code == 0
    assert set(json.loads(r.stdout)["wrt"]) == {"X", "w", "y"}     # the library's default is kept
    assert "--wrt w" in r.stderr and "data X, y" in r.stderr
    r = run("derive", LSQ, "--wrt", "w")
    assert r.exit_code == 0 and "note:" not in r.stderr
