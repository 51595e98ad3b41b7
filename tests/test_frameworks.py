"""The JAX and PyTorch backends against jax.grad / torch.autograd (1e-10 in float64).

Every problem of the problem set, random programs (the property generator) and the
recurrent models; plus jit / vmap / torch.compile, dtypes, shape errors and the sharded run.
Without a framework these tests skip; in CI (env CI set) they fail instead.
``MATCALC_FRAMEWORK_PROGRAMS=1000`` runs the property over more random programs,
``MATCALC_FRAMEWORK_POINTS=2`` each problem at both of its points.
"""
import functools
import os
import random
import subprocess
import sys

import numpy as np
import pytest

import matcalc
from matcalc.errors import MatcalcError, UnsupportedError
from fd import points
from framework_ref import framework, generated, inputs, reference, rel, to_numpy, worst_difference
from problem_set import PROBLEMS
from program_gen import generate, point_for

TOL = 1e-10
BACKENDS = ["jax", "torch"]
PROGRAMS = int(os.environ.get("MATCALC_FRAMEWORK_PROGRAMS", "12"))
POINTS = int(os.environ.get("MATCALC_FRAMEWORK_POINTS", "1"))   # points per problem
IDS = [p["id"] for p in PROBLEMS]


@functools.lru_cache(maxsize=None)
def _derived(id):
    return _derive(next(p for p in PROBLEMS if p["id"] == id))


def _derive(problem):
    return matcalc.derive(problem["expr"], wrt=problem["wrt"], shapes=problem["shapes"],
                          layout=problem.get("layout"), order=2 if problem["kind"] == "hessian" else 1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("problem", PROBLEMS, ids=IDS)
def test_problem_matches_autodiff(problem, backend):
    framework(backend)
    d = _derived(problem["id"])   # one derivation for both backends
    for point in points(problem)[:POINTS]:
        worst, where = worst_difference(d, backend, point)
        assert worst <= TOL, f"{where}: {worst:.2e}"
        want = d.to_numpy()(**point)   # and the NumPy function's results
        got = generated(d, backend, point)
        assert max(rel(got[k], np.asarray(want[k])) for k in want) <= TOL


# Hessians (the problem set has gradients and Jacobians only): matrix variables take the
# structured code path, whose NumPy adds terms into views of the result (matcalc.codegen.inplace)
HESSIANS = [
    ("-sum(Y .* logsoftmax(X*W))", ["W"], {"X": (7, 3), "W": (3, 4), "Y": (7, 4)}),
    ("logdet(X)", ["X"], {"X": (4, 4)}),
    ("tr(X'*A*X)", ["X"], {"X": (4, 3), "A": (4, 4)}),
    ("tr(X'*A*X*B)", ["X"], {"X": (4, 3), "A": (4, 4), "B": (3, 3)}),
    ("logdet(S) + tr(inv(S)*M)", ["S"], {"S": (4, 4), "M": (4, 4)}),
    ("sum(softplus(X*w)) - y'*X*w", ["w"], {"X": (9, 4), "w": (4, 1), "y": (9, 1)}),
    ("tr(A*X*B*X')", ["X", "B"], {"A": (3, 3), "X": (3, 2), "B": (2, 2)}),
]


def _hessian_point(shapes, seed=0):
    """Random arrays; square ones symmetric positive definite (logdet, inverses)."""
    rng = np.random.default_rng(seed)
    point = {}
    for name, shape in shapes.items():
        a = rng.standard_normal(shape)
        point[name] = a @ a.T + np.eye(shape[0]) if shape[0] == shape[1] and name in ("X", "S") else a
    return point


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", HESSIANS, ids=[c[0] for c in HESSIANS])
def test_hessians_match_autodiff(case, backend):
    framework(backend)
    expr, wrt, shapes = case
    d = matcalc.derive(expr, wrt=wrt, order=2, shapes=shapes)
    point = _hessian_point(shapes)
    worst, where = worst_difference(d, backend, point)
    assert worst <= TOL, f"{where}: {worst:.2e}"
    rng = np.random.default_rng(1)
    directions = {n: rng.standard_normal(np.shape(point[n])) for n in d.wrt}
    want = reference(d, backend, point, directions)
    got = generated(d, backend, point, hvp=True, directions=directions)
    for n in d.wrt:   # a matrix variable's product comes as vec (column-major), as in NumPy
        assert rel(got[n].reshape(-1, order="F"), want[n].reshape(-1, order="F")) <= TOL, n


def test_writes_through_views_become_functional_updates():
    """``v = einsum('abac->abc', out.reshape(..)); v += t`` adds t to out's diagonal in JAX too;
    any other in-place write a later read would see through another name is refused."""
    framework("jax")
    from matcalc.codegen.numpy_code import compile_source
    from matcalc.codegen.translate import translate
    src = ("import numpy as np\n\n\ndef gradients(x):\n    out = x.reshape((4, 1)) * x.reshape((1, 4))\n"
           "    v = np.einsum('abac->cab', out.reshape((2, 2, 2, 2)))\n    v -= x[None, :, :]\n"
           "    w = out.reshape((2, 2, 2, 2))\n    w += x[:, :, None, None]\n    return {'x': out}\n")
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    want = compile_source(src, "gradients")(x.copy())["x"]
    for backend in BACKENDS:
        fn = compile_source(translate(src, backend), "gradients")
        assert rel(to_numpy(fn(**inputs(backend, {"x": x}))["x"]), want) <= TOL, backend
    aliased = ("import numpy as np\n\n\ndef gradients(x):\n    u = x * 2.0\n    v = u.T\n    u += 1.0\n"
               "    return {'x': v}\n")
    with pytest.raises(UnsupportedError, match="in place"):
        translate(aliased, "jax")
    hidden = ("import numpy as np\n\n\ndef gradients(x):\n    u = x * 2.0\n    s = _sigmoid(u, u)\n"
              "    return {'x': s + u}\n")
    with pytest.raises(UnsupportedError, match="in place"):
        translate(hidden, "jax")
    through = ("import numpy as np\n\n\ndef gradients(x):\n    t = x * 2.0\n    out = t.reshape((4, 1))\n"
               "    v = out.reshape((2, 2))\n    v += x\n    return {'x': t}\n")   # NumPy changes t as well
    with pytest.raises(UnsupportedError, match="in place"):
        translate(through, "jax")


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_programs_match_autodiff(backend):
    framework(backend)
    rnd = random.Random(2026)
    compared = 0
    for k in range(PROGRAMS):
        program, shapes = generate(rnd, rnd.randint(2, 5))
        try:
            d = matcalc.derive(program, shapes=shapes)
        except UnsupportedError:
            continue
        point = point_for(shapes, np.random.default_rng(k))
        with np.errstate(all="ignore"):
            f0 = float(np.asarray(d.to_numpy()(**point)[d.wrt[0]]).sum())
        if not np.isfinite(f0):
            continue
        worst, where = worst_difference(d, backend, point)
        if not np.isfinite(worst):   # the framework's own autodiff is not finite there (a kink)
            continue
        assert worst <= 1e-9, f"{where}: {worst:.2e}\n{program}\n{shapes}"
        compared += 1
    assert compared >= PROGRAMS // 2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("loss", ["squared", "xent"])
def test_recurrent_models_match_autodiff(model, loss, backend):
    framework(backend)
    from matcalc.recurrent.bptt import sample
    from matcalc.recurrent.models import template
    expr, shapes, labels = template(model, loss, "param" if loss == "squared" else "zeros")
    shapes = {**shapes, **{k: tuple(3 if isinstance(s, str) else s for s in v) for k, v in shapes.items()}}
    d = matcalc.derive(expr, shapes=shapes, sum_to_one=labels)
    point = sample(d, np.random.default_rng(0), 4, 0.7)
    worst, where = worst_difference(d, backend, point)
    assert worst <= TOL, f"{where}: {worst:.2e}"
    if backend == "jax":   # both loops as scans: one compiled step each, whatever T
        assert d.jax_source().count("jax.lax.scan(") == 2 and "for t in" not in d.jax_source()


def test_a_loop_of_another_shape_stays_a_loop():
    import ast
    from matcalc.codegen.scan import loops_to_scan
    src = ("def f(x, T, dtype):\n    s = 0.0\n    for t in range(T):\n        s = s + t * x[t]\n"
           "    return s\n")   # t used as a number: no scan
    func = loops_to_scan(ast.parse(src).body[0])
    assert isinstance(func.body[1], ast.For)


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_recurrent_programs_match_autodiff(backend):
    framework(backend)
    from matcalc.recurrent.bptt import sample
    from recurrent_gen import RecurrentGenerator
    rnd = random.Random(7)
    for k in range(max(3, PROGRAMS // 4)):
        program, shapes, _ = RecurrentGenerator(rnd).recurrent()
        try:
            d = matcalc.derive(program, shapes=shapes)
        except UnsupportedError:
            continue
        point = sample(d, np.random.default_rng(k), 3, 0.5)
        worst, where = worst_difference(d, backend, point)
        assert worst <= 1e-9, f"{where}: {worst:.2e}\n{program}\n{shapes}"


# ---------------------------------------------------------------- compilers, dtypes, shapes
_MLP = ("H = tanh(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2",
        {"X": ("n", 3), "W1": (3, 4), "b1": (1, 4), "W2": (4, 2), "b2": (1, 2), "Y": ("n", 2)})


def _mlp_point(n=5, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"X": (n, 3), "W1": (3, 4), "b1": (1, 4), "W2": (4, 2), "b2": (1, 2), "Y": (n, 2)}
    return {k: rng.standard_normal(s) for k, s in shapes.items()}


def test_jax_jit_and_vmap():
    jax = framework("jax")
    d = matcalc.derive(*_MLP[:1], shapes=_MLP[1])
    f = d.to_jax()
    point = _mlp_point()
    want = d.to_numpy()(**point)
    jitted = jax.jit(f)(**inputs("jax", point))
    assert all(rel(jitted[k], want[k]) <= TOL for k in want)
    batch = [_mlp_point(seed=s) for s in range(3)]   # a batch of problems: vmap over a leading axis
    stacked = {k: np.stack([p[k] for p in batch]) for k in batch[0]}
    out = jax.vmap(f)(**inputs("jax", stacked))
    for s, p in enumerate(batch):
        one = d.to_numpy()(**p)
        assert all(rel(out[k][s], one[k]) <= TOL for k in one)


def test_torch_compile():
    """One graph without breaks (dynamo, AOTAutograd); the inductor's C++ build only with
    MATCALC_TORCH_INDUCTOR=1 (about a minute on a small machine)."""
    torch = framework("torch")
    d = matcalc.derive(*_MLP[:1], shapes=_MLP[1])
    point = _mlp_point()
    want = d.to_numpy()(**point)
    backend = "inductor" if os.environ.get("MATCALC_TORCH_INDUCTOR") else "aot_eager"
    torch._dynamo.reset()
    compiled = torch.compile(d.to_torch(), backend=backend, fullgraph=True)
    got = compiled(**inputs("torch", point))
    assert all(rel(to_numpy(got[k]), want[k]) <= TOL for k in want)
    expr, wrt, shapes = HESSIANS[0]   # a structured Hessian: writes through diagonal views
    d = matcalc.derive(expr, wrt=wrt, order=2, shapes=shapes)
    point = _hessian_point(shapes)
    torch._dynamo.reset()
    got = torch.compile(d.to_torch(), backend=backend, fullgraph=True)(**inputs("torch", point))
    assert rel(to_numpy(got["W"]), d.to_numpy()(**point)["W"]) <= TOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_stays_float32(backend):
    framework(backend)
    d = matcalc.derive("sum(log(1 + exp(-y .* (X*w)))) + 0.5*norm2(w)^2 + sum(diag(X'*X))",
                       shapes={"X": (6, 3), "y": (6, 1), "w": (3, 1)})
    point = {"X": np.ones((6, 3)), "y": np.ones((6, 1)), "w": np.ones((3, 1))}
    out = generated(d, backend, point)
    fn = d.to_jax() if backend == "jax" else d.to_torch()
    got = fn(**inputs(backend, point, dtype="float32"))
    for k, v in got.items():
        assert str(v.dtype).endswith("float32"), (k, v.dtype)
        assert rel(to_numpy(v), out[k]) < 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_shape_is_a_clear_error(backend):
    framework(backend)
    d = matcalc.derive(*_MLP[:1], shapes=_MLP[1])
    point = _mlp_point()
    point["Y"] = np.ones((4, 2))
    fn = d.to_jax() if backend == "jax" else d.to_torch()
    with pytest.raises(ValueError, match="Y must have shape"):
        fn(**inputs(backend, point))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_variable_named_like_the_framework_is_refused(backend):
    framework(backend)
    name = "jnp" if backend == "jax" else "torch"
    d = matcalc.derive(f"sum(exp({name}))", shapes={name: (2, 1)})
    with pytest.raises(UnsupportedError, match=name):
        d.to_jax() if backend == "jax" else d.to_torch()


def test_translation_refuses_unknown_numpy_calls():
    from matcalc.codegen.translate import translate
    src = "import numpy as np\n\n\ndef gradients(x):\n    return {'x': np.fft.fft(x)}\n"
    with pytest.raises(UnsupportedError, match="np.fft.fft"):
        translate(src, "jax")
    assert translate(src, "numpy") == src


def test_missing_framework_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)   # import jax now raises ImportError
    d = matcalc.derive("sum(x)", shapes={"x": (2, 1)})
    with pytest.raises(MatcalcError, match=r"matcalc\[jax\]"):
        d.to_jax()
    assert "import jax" in d.jax_source()   # the source needs no framework


# ---------------------------------------------------------------- beyond one device
def _data_parallel(*flags):
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "data_parallel.py")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "PYTHONPATH": os.pathsep.join([os.path.join(os.path.dirname(__file__), ".."),
                                          os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, script, "--check", "--batch", "256", *flags], env=env,
                         capture_output=True, text=True, timeout=300)   # XLA_FLAGS: before jax loads
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_sharded_batch_gradient_equals_single_device():
    framework("jax")
    out = _data_parallel()
    assert "devices: 4" in out and "(equal)" in out, out


def test_torch_distributed_gradient_equals_single_process():
    framework("torch")
    out = _data_parallel("--torch", "--no-jax")
    assert "gloo, 2 processes" in out and "DIFFERENT" not in out, out


@pytest.mark.parametrize("fmt, imports", [("jax", "import jax.numpy as jnp"), ("torch", "import torch")])
def test_cli_format_prints_the_module(fmt, imports):
    from click.testing import CliRunner
    from matcalc.cli import main
    out = CliRunner().invoke(main, ["derive", "sum(sigmoid(X*w))", "--dim", "X=n,d", "--dim", "w=d,1",
                                    "--format", fmt])
    assert out.exit_code == 0, out.output
    assert imports in out.stdout and "def gradients(X, w):" in out.stdout
    compile(out.stdout, "<cli>", "exec")   # stdout only: the default-wrt note goes to stderr
    bad = CliRunner().invoke(main, ["derive", "sum(exp(torch))", "--dim", "torch=2,1", "--format", "torch"])
    assert bad.exit_code == 2 and "torch" in bad.output and "Traceback" not in bad.output


REGRESSIONS = [   # found by the long property run
    ("z1 = a - a; f = z1", {"a": ()}),   # a constant function
    ("z1 = 0.5; f = sin((c - det((Q)' * (Q) + eye(2))) * (exp(z1)))", {"c": (), "Q": (1, 2)}),
    ("h[t] = tanh(h[t-1]*a + x[t]); f = sum_t(h[t].^2)", {"a": (), "x": (), "h": ()}),   # a scalar state
    # a scalar inside a nested product (c·((sum(unit(S))·S)) crashed the NumPy generator
    ("f = (sin(((sum(S)) / ((b)^2 + 1)) * (exp(norm2(S))))) * (det((log(exp(D)))' * (log(exp(D))) + eye(2)))",
     {"S": (1, 2), "b": (), "D": (4, 2)}),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("program, shapes", REGRESSIONS)
def test_regressions(program, shapes, backend):
    framework(backend)
    from matcalc.recurrent.bptt import sample
    d = matcalc.derive(program, shapes=shapes)
    rng = np.random.default_rng(0)
    point = sample(d, rng, 3, 0.5) if hasattr(d, "loss_source") else point_for(shapes, rng)
    worst, where = worst_difference(d, backend, point)
    assert worst <= TOL, f"{where}: {worst:.2e}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_update_in_place_becomes_an_assignment(backend):
    framework(backend)
    from matcalc.codegen.numpy_code import compile_source
    from matcalc.codegen.translate import translate
    src = ("import numpy as np\n\n\ndef gradients(x):\n    u = x * 2.0\n    np.exp(u, out=u)\n"
           "    np.add(u, x, out=u)\n    return {'x': u}\n")
    fn = compile_source(translate(src, backend), "gradients")
    x = np.array([[0.5], [-1.0]])
    got = to_numpy(fn(**inputs(backend, {"x": x}))["x"])
    assert rel(got, np.exp(2.0 * x) + x) <= TOL


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_calls_of_the_table_run_in_the_framework(backend):
    """Each NumPy function the table knows, on a small matrix, equals NumPy's value."""
    framework(backend)
    from matcalc.codegen.numpy_code import compile_source
    from matcalc.codegen.translate import translate
    exprs = ["np.tan(x)", "np.arcsin(x)", "np.arccos(x)", "np.arctan(x)", "np.sinh(x)", "np.cosh(x)",
             "np.max(x, axis=1, keepdims=True)", "np.min(x, axis=0, keepdims=True)", "np.log1p(x * x)",
             "np.expm1(x)", "np.diag(np.diag(x))", "np.add(x, 1.0)", "np.multiply(x, x)",
             "np.matmul(x, x.T)", "np.einsum('ij,kj->ik', x, x)", "np.heaviside(x, 0.0)",
             "np.logaddexp(0.0, x)", "np.maximum(x, 0.0)", "np.vdot(x, x)", "np.power(x * x, 1.5)"]
    x = np.array([[0.3, -0.4], [0.1, 0.2]])
    for e in exprs:
        src = f"import numpy as np\n\n\ndef gradients(x):\n    return {{'v': {e}}}\n"
        fn = compile_source(translate(src, backend), "gradients")
        want = compile_source(src, "gradients")(x)["v"]
        got = to_numpy(fn(**inputs(backend, {"x": x}))["v"])
        assert rel(got, want) <= TOL, e


def test_a_loop_that_reuses_a_temporary_name_is_still_a_scan():
    framework("jax")
    program = ("h[t] = sigmoid(x[t]*U + h[t-1]*W + C2); h[0] = h0; "
               "f = sum_t(((a) / ((a)^2 + 1)) / (exp(.5))) + det((W2)' * (W2) + eye(2)) + sum_t(sum(h[t]))")
    shapes = {"x": (1, 2), "U": (2, 3), "W": (3, 3), "C2": (1, 3), "h0": (1, 3), "a": (), "W2": (2, 2)}
    d = matcalc.derive(program, shapes=shapes)
    assert d.jax_source().count("jax.lax.scan(") == 2   # _t1 = A + B before the loop is no list
    from matcalc.recurrent.bptt import sample
    worst, where = worst_difference(d, "jax", sample(d, np.random.default_rng(0), 3, 0.5))
    assert worst <= TOL, f"{where}: {worst:.2e}"


def test_a_hoisted_transpose_is_one_dot_general_in_jax():
    """``t = X.T`` then ``t @ Y``: one dot_general of X (XLA on a CPU would copy the transpose);
    not where X is bound again after t."""
    framework("jax")
    from matcalc.codegen.numpy_code import compile_source
    from matcalc.codegen.translate import translate
    x = np.array([[0.5, -1.0, 2.0], [2.0, 3.0, 1.5]])
    for rebound in ("", "    x = x * 2.0\n"):
        src = (f"import numpy as np\n\n\ndef gradients(x):\n    t = x.T\n    u = t @ x\n{rebound}"
               "    v = t @ x\n    return {'u': u, 'v': v}\n")
        out = translate(src, "jax")
        assert ("u = t @ x" in out) == bool(rebound) and ("u = _dot(x, x, True, False)" in out) != bool(rebound)
        want = compile_source(src, "gradients")(x)
        got = compile_source(out, "gradients")(**inputs("jax", {"x": x}))
        assert all(rel(got[k], want[k]) <= TOL for k in want)
