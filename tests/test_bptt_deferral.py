"""Parameter gradients of generated BPTT loops as one GEMM after the loop
(matcalc/recurrent/deferral.py): the gradients stay right — against central differences of the
unrolled loss at T = 1, 2 and 6, one batch row or several, an initial state, weights shared
within a step or used at the last step too, per-step scalar factors — and the code has the form
claimed (no weight-gradient GEMM left in the backward loop, one buffer per concatenated δ)."""
import re

import numpy as np
import pytest

import matcalc
from matcalc.codegen.numpy_code import compile_source
from matcalc.recurrent.bptt import loss_source
from matcalc.recurrent.models import template
from framework_ref import framework, worst_difference


def _point(d, rng, T, sizes, scale=0.6):
    """Arguments with the given sizes (symbolic dims by name) and T steps."""
    point = {}
    for n, v in d.variables.items():
        shape = tuple(int(s) if s.is_Integer else sizes[str(s)] for s in v.shape) if hasattr(v, "shape") else ()
        full = ((T,) if n in d.seq.sequences else ()) + shape
        point[n] = scale * rng.standard_normal(full) if full else float(scale * rng.standard_normal())
    return point


def _worst_fd_error(d, point, rng, per_variable=8, h=1e-6) -> float:
    """Largest relative error of the generated gradients against central differences of the
    unrolled loss (matcalc's own forward pass, not its BPTT) at random entries."""
    loss = compile_source(loss_source(d), "loss")
    got = d.to_numpy()(**point)
    worst = 0.0
    for n in d.wrt:
        x0 = np.asarray(point[n], dtype=float)
        g = np.asarray(got[n], dtype=float)
        assert g.shape == x0.shape, n
        for flat in rng.choice(x0.size, min(per_variable, x0.size), replace=False):
            idx = np.unravel_index(flat, x0.shape) if x0.shape else ()
            plus, minus = x0.copy(), x0.copy()
            plus[idx] += h
            minus[idx] -= h
            fd = (loss(**{**point, n: plus}) - loss(**{**point, n: minus})) / (2 * h)
            worst = max(worst, abs(g[idx] - fd) / max(1.0, abs(fd)))
    return worst


def _backward_loop(src: str) -> str:
    body = src[[m.end() for m in re.finditer(r"\n    for t in range\(.*\):\n", src)][1]:]
    return body[:re.search(r"\n    \S", body).start()]


MODELS = [(m, loss, init) for m in ("rnn", "lstm", "gru") for loss, init in (("squared", "zeros"), ("xent", "param"))]


@pytest.mark.parametrize("model,loss,initial", MODELS)
@pytest.mark.parametrize("T,B", [(1, 1), (2, 3), (6, 1), (6, 4)])
def test_templates_match_finite_differences(model, loss, initial, T, B):
    expr, shapes, labels = template(model, loss, initial)
    d = matcalc.derive(expr, shapes=shapes, sum_to_one=labels)
    rng = np.random.default_rng(T * 10 + B)
    point = _point(d, rng, T, {"B": B, "D": 3, "H": 4, "K": 3})
    if labels:   # one-hot rows
        y = np.zeros_like(point["y"])
        y[..., 0] = 1.0
        point["y"] = rng.permuted(y, axis=-1)
    assert _worst_fd_error(d, point, rng) < 1e-6


def test_one_function_serves_sequences_of_every_length():
    expr, shapes, labels = template("lstm", "squared", "param")
    d = matcalc.derive(expr, shapes=shapes)
    rng = np.random.default_rng(1)
    for T in (1, 2, 7):
        assert _worst_fd_error(d, _point(d, rng, T, {"B": 2, "D": 3, "H": 4, "K": 2}), rng) < 1e-6


@pytest.mark.parametrize("program,shapes", [
    # one weight on both the state and the input within a step (the two terms of its gradient)
    ("h[t] = tanh(h[t-1]*W + x[t]*W + b); f = sum_t(norm2(h[t] - y[t])^2)",
     {"x": ("B", "H"), "W": ("H", "H"), "b": (1, "H"), "y": ("B", "H")}),
    # a weight used at every step and again at the last step only; a nonzero initial state
    ("h[t] = tanh(x[t]*U + h[t-1]*W); h[0] = h0; f = sum_t(sum(h[t])) + norm2(h[T]*W)^2",
     {"x": ("B", "D"), "U": ("D", "H"), "W": ("H", "H"), "h0": ("B", "H")}),
    # a per-step scalar factor: that term stays in the loop
    ("h[t] = tanh(a[t]*(h[t-1]*W) + x[t]*U); f = sum_t(norm2(h[t])^2)",
     {"a": (), "x": ("B", "D"), "U": ("D", "H"), "W": ("H", "H")}),
    # a gated product the forward pass computes (its weight's gradient reads the kept product)
    ("r[t] = sigmoid(x[t]*U + h[t-1]*Wr); h[t] = tanh((r[t] .* h[t-1])*W + x[t]*U2); h[0] = h0; "
     "f = sum_t(sum(h[t] .* h[t]))",
     {"x": ("B", "D"), "U": ("D", "H"), "Wr": ("H", "H"), "W": ("H", "H"), "U2": ("D", "H"), "h0": (1, "H")}),
    # column-vector states (W h: the gradient is δ hᵀ, kept in the loop), a column softmax output
    ("h[t] = tanh(W*h[t-1] + U*x[t]); f = sum_t(-sum(y[t] .* logsoftmax(V*h[t])))",
     {"x": ("D", 1), "U": ("H", "D"), "W": ("H", "H"), "V": ("B", "H"), "y": ("B", 1)}),
    # outputs after the loop: a row softmax; an output with a per-step scalar factor (stays in the loop)
    ("h[t] = tanh(x[t]*U + h[t-1]*W + b); f = sum_t(-sum(y[t] .* logsoftmax(h[t]*V + c)))",
     {"x": ("B", "D"), "U": ("D", "H"), "W": ("H", "H"), "b": (1, "H"), "V": ("H", "D"), "c": (1, "D"),
      "y": ("B", "D")}),
    ("h[t] = tanh(x[t]*U + h[t-1]*W); o[t] = a[t]*(h[t]*V) + exp(h[t]*V2 - 1); f = sum_t(sum(o[t] .* o[t]))",
     {"a": (), "x": ("B", "D"), "U": ("D", "H"), "W": ("H", "H"), "V": ("H", "D"), "V2": ("H", "D")}),
    # an output that is also used at the last step, and a state's output with a constant of ones
    ("h[t] = sigmoid(x[t]*U + h[t-1]*W); z[t] = h[t]*V; f = sum_t(norm2(z[t] - 1)^2) + sum(z[T] .* q)",
     {"x": ("B", "D"), "U": ("D", "H"), "W": ("H", "H"), "V": ("H", "D"), "q": ("B", "D")}),
])
@pytest.mark.parametrize("T", [1, 5])
def test_user_recurrences_match_finite_differences(program, shapes, T):
    d = matcalc.derive(program, shapes=shapes)
    rng = np.random.default_rng(T)
    point = _point(d, rng, T, {"B": 3, "D": 2, "H": 4})
    assert _worst_fd_error(d, point, rng) < 1e-6


def test_the_backward_loop_keeps_no_weight_gradient_gemm():
    for model in ("lstm", "gru", "rnn"):
        expr, shapes, labels = template(model, "squared", "zeros")
        src = matcalc.derive(expr, shapes=shapes).numpy_source()
        loop = _backward_loop(src)
        assert ".T @" not in loop.replace(".T)", ")") and "+=" not in loop, model
        after = src[src.index(loop) + len(loop):]
        assert after.count(".sum(axis=0, keepdims=True)") == (2 if model == "rnn" else 2)
    # the GRU: one concatenation a step; [δ_z δ_r] and δ_n are views of its buffer
    expr, shapes, _ = template("gru", "squared", "zeros")
    src = matcalc.derive(expr, shapes=shapes).numpy_source()
    loop = _backward_loop(src)
    assert loop.count("np.concatenate") == 1 and src.count("= _scratch('") == 3   # δ_cat; h, r ⊙ h
    assert "prod_t_all.T @ " in src and "d_cat_s[:, :, " in src


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("loss", ["squared", "xent"])
def test_the_output_layer_runs_over_all_steps_at_once(model, loss):
    """s_t = h_t V + c after the forward loop, δ_s and δ_s Vᵀ before the backward loop: no
    product with V inside either loop (matcalc/recurrent/batching.py)."""
    expr, shapes, labels = template(model, loss, "zeros")
    d = matcalc.derive(expr, shapes=shapes, sum_to_one=labels)
    src = d.numpy_source()
    loops = [m.end() for m in re.finditer(r"\n    for t in range\(.*\):\n", src)]
    bodies = [src[k:][:re.search(r"\n    \S", src[k:]).start()] for k in loops]
    assert not any("@ V" in b for b in bodies)
    assert re.search(r"s_ts = s_t_all\.reshape\(T, -1, ", src) and "@ V.T" in d.portable_source()
    assert d.check().passed


def test_a_term_with_a_per_step_factor_stays_in_the_loop():
    program = "h[t] = tanh(a[t]*(h[t-1]*W) + x[t]*U); f = sum_t(norm2(h[t])^2)"
    d = matcalc.derive(program, shapes={"a": (), "x": ("B", "D"), "U": ("D", "H"), "W": ("H", "H")})
    loop = _backward_loop(d.numpy_source())
    assert "grad_W +=" in loop and "grad_U +=" not in loop


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_deferred_gradients_in_the_frameworks(backend):
    framework(backend)
    cases = [template("gru", "squared", "param")[:2],
             ("h[t] = tanh(h[t-1]*W + x[t]*W + b); h[0] = h0; f = sum_t(norm2(h[t] - y[t])^2) + sum(h[T]*W)",
              {"x": ("B", "H"), "W": ("H", "H"), "b": (1, "H"), "y": ("B", "H"), "h0": ("B", "H")})]
    for program, shapes in cases:
        d = matcalc.derive(program, shapes=shapes)
        for T in (1, 4):
            point = _point(d, np.random.default_rng(T), T, {"B": 2, "D": 3, "H": 3, "K": 2})
            worst, where = worst_difference(d, backend, point)
            assert worst <= 1e-9, f"{where}: {worst:.2e} ({program}, T = {T})"
        if backend == "jax":
            assert d.jax_source().count("jax.lax.scan(") == 2 and "for t in" not in d.jax_source()


def test_buffers_become_scan_outputs_or_functional_stores():
    """``L = np.empty((T, ...))`` filled by ``L[t] = v``: a scan output when the loop is a scan,
    ``L = L.at[t].set(v)`` when the loop stays a Python loop (JAX arrays are immutable)."""
    import ast
    from matcalc.codegen.scan import loops_to_scan
    scan = ("def f(x, T, dtype):\n    b = np.empty((T, 2), dtype)\n    for t in range(T):\n"
            "        b[t] = 2.0 * x[t]\n    return b\n")
    out = ast.unparse(ast.fix_missing_locations(loops_to_scan(ast.parse(scan).body[0])))
    assert "jax.lax.scan(" in out and "b[t]" not in out
    loop = scan.replace("b[t] = 2.0 * x[t]", "b[t] = t * x[t]")   # t as a number: no scan
    out = ast.unparse(ast.fix_missing_locations(loops_to_scan(ast.parse(loop).body[0])))
    assert "for t in range(T)" in out and "b = b.at[t].set(t * x[t])" in out
