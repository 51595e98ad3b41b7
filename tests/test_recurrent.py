"""Recurrent programs: BPTT recurrences, generated loops, checks, templates, printers, errors.

The references here are hand-written NumPy (unrolled forward passes and a textbook BPTT),
independent of matcalc's code generator.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import matcalc
from matcalc.errors import MatcalcError
from matcalc.recurrent.models import template

HERE = Path(__file__).parent

RNN = """h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b)
h[0] = h0
f = sum_t(norm2(h[t]*V + c - y[t])^2)"""
RNN_SHAPES = {"x": ("B", "D"), "y": ("B", "K"), "Wx": ("D", "H"), "Wh": ("H", "H"), "b": (1, "H"),
              "V": ("H", "K"), "c": (1, "K"), "h0": ("B", "H")}


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _lsm(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def _rnn_point(rng, T=5, B=3, D=4, H=6, K=2):
    return {"x": rng.standard_normal((T, B, D)), "y": rng.standard_normal((T, B, K)),
            "Wx": 0.4 * rng.standard_normal((D, H)), "Wh": 0.4 * rng.standard_normal((H, H)),
            "b": 0.1 * rng.standard_normal((1, H)), "V": 0.5 * rng.standard_normal((H, K)),
            "c": 0.1 * rng.standard_normal((1, K)), "h0": 0.3 * rng.standard_normal((B, H))}


def _rnn_bptt_by_hand(x, y, Wx, Wh, b, V, c, h0):
    """The textbook BPTT of seed 003 (corrected: δ_t = 2(z_t − y_t)Vᵀ + (δ_{t+1} ⊙ (1 − h_{t+1}²)) Whᵀ)."""
    T = x.shape[0]
    hs = [h0]
    for t in range(T):
        hs.append(np.tanh(x[t] @ Wx + hs[-1] @ Wh + b))
    g = {k: np.zeros_like(v) for k, v in dict(Wx=Wx, Wh=Wh, b=b, V=V, c=c).items()}
    dnext = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        dz = 2 * (hs[t + 1] @ V + c - y[t])
        g["V"] += hs[t + 1].T @ dz
        g["c"] += dz.sum(0, keepdims=True)
        du = (dz @ V.T + dnext) * (1 - hs[t + 1] ** 2)
        g["Wx"] += x[t].T @ du
        g["Wh"] += hs[t].T @ du
        g["b"] += du.sum(0, keepdims=True)
        dnext = du @ Wh.T
    g["h0"] = dnext
    return g


# ---------------------------------------------------------------- the RNN of seed 003
def test_rnn_gradients_match_a_hand_written_bptt():
    d = matcalc.derive(RNN, shapes=RNN_SHAPES)
    assert d.wrt == ["Wx", "Wh", "b", "V", "c", "h0"]
    point = _rnn_point(np.random.default_rng(0))
    got = d.to_numpy()(**point)
    want = _rnn_bptt_by_hand(**point)
    for k in want:
        assert got[k].shape == want[k].shape
        assert np.allclose(got[k], want[k], rtol=1e-12, atol=1e-12), k


def test_rnn_recurrence_reads_like_the_notes():
    d = matcalc.derive(RNN, shapes=RNN_SHAPES)
    text = d.text()
    assert "δ_h[t] = δ_u2[t+1]Whᵀ + δ_u1[t]Vᵀ" in text or "δ_h[t] = δ_u1[t+1]Whᵀ + δ_u2[t]Vᵀ" in text
    assert "δ_u1[t] = δ_h[t] ⊙ (1 − h[t]^∘2)" in text
    assert "∂f/∂Wh = Σ_t h[t-1]ᵀ δ_u1[t]" in text
    assert "∂f/∂b = Σ_t 𝟏ᵀ δ_u1[t]" in text          # summed over the batch rows, unlike seed 003
    assert "δ_h[0] = δ_u1[1]Whᵀ" in text and "∂f/∂h0 = δ_h[0]" in text


@pytest.mark.parametrize("T", [1, 2, 7, 20])
def test_sequence_length_is_read_at_run_time(T):
    d = matcalc.derive(RNN, shapes=RNN_SHAPES)
    fn = d.to_numpy()
    point = _rnn_point(np.random.default_rng(T), T=T)
    got, want = fn(**point), _rnn_bptt_by_hand(**point)
    assert all(np.allclose(got[k], want[k], rtol=1e-11, atol=1e-12) for k in want)


def test_generated_code_rejects_bad_sequences():
    fn = matcalc.derive(RNN, shapes=RNN_SHAPES).to_numpy()
    point = _rnn_point(np.random.default_rng(1))
    with pytest.raises(ValueError, match=r"y must have shape \(T, "):
        fn(**{**point, "y": point["y"][:-1]})
    with pytest.raises(ValueError, match="empty"):
        fn(**{**point, "x": point["x"][:0], "y": point["y"][:0]})


# ---------------------------------------------------------------- templates and checks
@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("loss", ["squared", "xent"])
@pytest.mark.parametrize("initial", ["zeros", "param"])
def test_templates_pass_the_finite_difference_check(model, loss, initial):
    expr, shapes, labels = template(model, loss, initial)
    d = matcalc.derive(expr, shapes=shapes, sum_to_one=labels)
    r = d.check()
    assert r.passed, str(r)
    assert r.max_rel_error < 1e-8


def test_check_catches_a_wrong_recurrence(monkeypatch):
    """The check is not vacuous: a BPTT that drops the carry from t+1 fails it."""
    d = matcalc.derive(RNN, shapes=RNN_SHAPES)
    src = d.numpy_source()
    broken = re.sub(r"(g_h = g_h_next)", r"g_h = 0.0 * g_h_next", src)
    assert broken != src
    from matcalc.codegen.numpy_code import compile_source
    monkeypatch.setattr(type(d), "to_numpy", lambda self, deltas=False: compile_source(broken, "gradients"))
    assert not d.check().passed


@pytest.mark.parametrize("model", ["rnn", "lstm"])
def test_cli_model_check(model):
    out = subprocess.run([sys.executable, "-m", "matcalc", "derive", "--model", model, "--check"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "check passed" in out.stdout
    assert "backward through time" in out.stdout


def test_cli_model_json_check():
    out = subprocess.run([sys.executable, "-m", "matcalc", "derive", "--model", "lstm", "--loss", "xent",
                          "--format", "json", "--check"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["check"]["passed"] is True and data["check"]["max_rel_error"] < 1e-6
    assert data["wrt"]["Wf"]["result"] == "sum_t(h[t-1]'*delta_u1[t])"
    assert data["wrt"]["Wf"]["shape"] == ["H", "H"]
    assert "δ_C[t]" in data["recurrence"]


# ---------------------------------------------------------------- LSTM: the recurrence of seed 003, corrected
LSTM, LSTM_SHAPES, _ = template("lstm", "squared", "param")


def _lstm_loss(p, bump=None):
    """Unrolled LSTM loss; bump = (name, t, E) adds E to h[t] or C[t] right after it is computed."""
    T = p["x"].shape[0]
    h, C, total = p["h0"], p["C0"], 0.0
    for t in range(T):
        x = p["x"][t]
        f = _sig(h @ p["Wf"] + x @ p["Uf"] + p["bf"])
        i = _sig(h @ p["Wi"] + x @ p["Ui"] + p["bi"])
        a = np.tanh(h @ p["Wa"] + x @ p["Ua"] + p["ba"])
        o = _sig(h @ p["Wo"] + x @ p["Uo"] + p["bo"])
        C = C * f + i * a
        if bump and bump[0] == "C" and bump[1] == t:
            C = C + bump[2]
        h = o * np.tanh(C)
        if bump and bump[0] == "h" and bump[1] == t:
            h = h + bump[2]
        total += np.sum((h @ p["V"] + p["c"] - p["y"][t]) ** 2)
    return total


def _lstm_point(rng, T=4, B=2, D=3, H=4, K=2):
    p = {"x": rng.standard_normal((T, B, D)), "y": rng.standard_normal((T, B, K)),
         "V": 0.5 * rng.standard_normal((H, K)), "c": 0.1 * rng.standard_normal((1, K)),
         "h0": 0.3 * rng.standard_normal((B, H)), "C0": 0.3 * rng.standard_normal((B, H))}
    for g in "fiao":
        p["W" + g] = 0.4 * rng.standard_normal((H, H))
        p["U" + g] = 0.4 * rng.standard_normal((D, H))
        p["b" + g] = 0.1 * rng.standard_normal((1, H))
    return p


def test_lstm_recurrence_matches_the_hand_derivation():
    d = matcalc.derive(LSTM, shapes=LSTM_SHAPES)
    text = d.text()
    # δh_t = δs_t Vᵀ + Σ_gates δu_g[t+1] W_gᵀ: every gate of step t+1 sends its delta back through W_g
    line = next(l for l in text.splitlines() if l.strip().startswith("δ_h[t] ="))
    for k, W in ((1, "Wf"), (2, "Wi"), (3, "Wa"), (4, "Wo")):
        assert f"δ_u{k}[t+1]{W}ᵀ" in line
    assert "δ_s[t]Vᵀ" in line
    # δC_t = δC_{t+1} ⊙ f_{t+1} + δh_t ⊙ o_t ⊙ tanh'(C_t)  (seed 003 writes diag(o^t) with the wrong t)
    assert "δ_C[t] = δ_C[t+1] ⊙ f[t+1] + δ_h[t] ⊙ o[t] ⊙ (1 − tanh(C[t])^∘2)" in text
    assert "δ_u1[t] = δ_f[t] ⊙ f[t] ⊙ (1 − f[t])" in text
    assert "δ_f[t] = δ_C[t] ⊙ C[t-1]" in text          # ∂C_t/∂f_t = diag(C_{t-1}), not diag(C ⊙ f)
    assert "δ_i[t] = δ_C[t] ⊙ a[t]" in text and "δ_a[t] = δ_C[t] ⊙ i[t]" in text
    assert "∂f/∂Wf = Σ_t h[t-1]ᵀ δ_u1[t]" in text


def test_lstm_deltas_are_the_total_derivatives_numerically():
    d = matcalc.derive(LSTM, shapes=LSTM_SHAPES)
    rng = np.random.default_rng(3)
    p = _lstm_point(rng)
    got = d.to_numpy(deltas=True)(**p)
    T = p["x"].shape[0]
    for name in ("h", "C"):
        assert got[f"delta:{name}"].shape == (T, 2, 4)
        for t in range(T):
            E, eps = rng.standard_normal((2, 4)), 1e-6
            fd = (_lstm_loss(p, (name, t, eps * E)) - _lstm_loss(p, (name, t, -eps * E))) / (2 * eps)
            assert abs(fd - np.sum(got[f"delta:{name}"][t] * E)) < 1e-6 * max(1.0, abs(fd)), (name, t)
    grads = d.to_numpy()(**p)
    for k in ("Wf", "Uo", "bi", "h0", "C0"):
        E, eps = rng.standard_normal(p[k].shape), 1e-6
        fd = (_lstm_loss({**p, k: p[k] + eps * E}) - _lstm_loss({**p, k: p[k] - eps * E})) / (2 * eps)
        assert abs(fd - np.sum(grads[k] * E)) < 1e-6 * max(1.0, abs(fd)), k


# ---------------------------------------------------------------- user-written recurrences
ELMAN_XENT = """h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b)
p[t] = sigmoid(h[t]*V + c)
f = sum_t(-sum(y[t] .* log(p[t]) + (1 - y[t]) .* log(1 - p[t])))"""


def test_elman_rnn_with_sigmoid_output_and_cross_entropy():
    shapes = {k: v for k, v in RNN_SHAPES.items() if k != "h0"}   # no h0 in this program: its shape is refused
    d = matcalc.derive(ELMAN_XENT, shapes={**shapes, "y": ("B", "K")})
    r = d.check()
    assert r.passed, str(r)
    assert "δ_u2[t] = δ_p[t] ⊙ p[t] ⊙ (1 − p[t])" in d.text()


def test_cli_user_recurrence_check():
    dims = []
    for k, v in RNN_SHAPES.items():
        if k != "h0":
            dims += ["--dim", f"{k}={','.join(map(str, v))}"]
    out = subprocess.run([sys.executable, "-m", "matcalc", "derive", ELMAN_XENT, *dims, "--check",
                          "--format", "json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["check"]["passed"] is True


@pytest.mark.parametrize("expr,extra", [
    # loss on the last state only, plus a regulariser
    ("h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b); f = norm2(h[T]*V - y)^2 + 0.1*norm2(Wh)^2",
     {"y": ("B", "K")}),
    # per-step and last-step terms; a non-state value used at T
    ("h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b); z[t] = h[t]*V; f = 0.5*sum_t(norm2(z[t] - y[t])^2) "
     "+ sum(z[T] .* q) - sum_t(sum(h[t]))/4", {"y": ("B", "K"), "q": ("B", "K")}),
    # an initial value that is an expression of parameters, broadcast over the batch
    ("h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b); h[0] = tanh(r0); f = sum_t(norm2(h[t]*V - y[t])^2)",
     {"r0": (1, "H"), "y": ("B", "K")}),
    # relu, a sequence used at t and at T, loss-level names inlined
    ("h[t] = relu(x[t]*Wx + h[t-1]*Wh + b); L = sum_t(sum(h[t] .* h[t])); f = L + sum(x[T]*Wx)", {}),
    # two coupled states without gates
    ("g[t] = sigmoid(x[t]*Wx + h[t-1]*Wh); h[t] = g[t] .* h[t-1] + (1 - g[t]) .* tanh(x[t]*Wx); "
     "h[0] = h0; f = sum_t(sum(h[t]*V))", {"h0": ("B", "H")}),
])
def test_user_recurrences_pass_the_check(expr, extra):
    shapes = {k: v for k, v in RNN_SHAPES.items() if k in expr.replace("[", " ").replace("(", " ").replace("*", " ")
              .replace(")", " ").replace(";", " ").split() or k == "x"}
    shapes.update(extra)
    names = set(re.findall(r"[A-Za-z_]\w*", expr))
    shapes = {k: v for k, v in shapes.items() if k in names}
    d = matcalc.derive(expr, shapes=shapes)
    r = d.check()
    assert r.passed, (expr, str(r))


def test_gradient_with_respect_to_a_sequence():
    d = matcalc.derive(RNN, wrt=["x", "Wh"], shapes=RNN_SHAPES)
    r = d.check()
    assert r.passed, str(r)
    point = _rnn_point(np.random.default_rng(5))
    assert d.to_numpy()(**point)["x"].shape == point["x"].shape
    assert "∂f/∂x[t] = δ_u1[t]Wxᵀ" in d.text()


def test_gradient_objects_and_steps_verify():
    d = matcalc.derive(RNN, shapes=RNN_SHAPES)
    g = d.gradient("Wh")
    assert g.summand is not None and g.terminal is None and g.initial is None
    assert d.verify_steps() < 1e-8   # the per-step derivation's own steps, numerically
    rules = {s.rule for s in d.steps}
    assert {"definition", "bptt", "sum_over_time"} <= rules
    with pytest.raises(MatcalcError):
        d.gradient("nope")


def test_float32_stays_float32():
    fn = matcalc.derive(RNN, shapes=RNN_SHAPES).to_numpy()
    point = {k: v.astype(np.float32) for k, v in _rnn_point(np.random.default_rng(2)).items()}
    assert all(v.dtype == np.float32 for v in fn(**point).values())


# ---------------------------------------------------------------- printers
def test_latex_markdown_and_json_forms():
    expr, shapes, _ = template("lstm", "xent", "zeros")
    d = matcalc.derive(expr, shapes=shapes, sum_to_one=["y"])
    tex = d.latex(steps=True)
    assert r"\delta_{C_{t}} &= \delta_{C_{t+1}} \odot f_{t+1}" in tex
    doc = d.latex(standalone=True)
    assert doc.startswith(r"\documentclass") and "δ" not in doc and "…" not in doc
    md = d.markdown()
    assert md.count("$$") % 2 == 0 and "### Identities used" in md and "`bptt`" in md
    data = d.to_json(steps=True)
    assert data["method"] == "bptt" and any(s["rule"] == "bptt" for s in data["steps"])


def test_recurrent_documents_typeset(tmp_path):
    if not shutil.which("pdflatex"):
        if os.environ.get("CI"):
            pytest.fail("pdflatex is missing in CI")
        pytest.skip("pdflatex is not installed")
    for model in ("rnn", "lstm", "gru"):
        expr, shapes, labels = template(model, "xent", "param")
        tex = matcalc.derive(expr, shapes=shapes, sum_to_one=labels).latex(standalone=True)
        (tmp_path / f"{model}.tex").write_text(tex, encoding="utf-8")
        r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{model}.tex"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "\n".join(l for l in r.stdout.splitlines() if l.startswith("!"))


def test_recurrent_markdown_renders_with_katex():
    from test_typesetting import _render
    docs = []
    for model in ("rnn", "lstm", "gru"):
        expr, shapes, labels = template(model, "squared", "param")
        docs.append(matcalc.derive(expr, shapes=shapes, sum_to_one=labels).markdown())
    for r in _render(docs):
        assert r["error"] is None and r["math"] > 5


# ---------------------------------------------------------------- errors
BAD = [
    ("h[t] = tanh(x[t]*W + h[t-2]*U); f = sum_t(sum(h[t]))", "unsupported time index h[t-2]"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U)", "the last statement must be the loss"),
    ("h[t] = tanh(x[t]*W + g[t-1]*U); f = sum_t(sum(h[t]))", "g[t-1]: only values defined"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h))", "'h' is a sequence"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum(h[t])", "outside sum_t"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h[t]))^2", "must be a term of the loss"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); h[0] = x; f = sum_t(sum(h[t]))", "initial value is made of parameters"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum_t(sum(h[t])))", "cannot be nested"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h[T]))", "only in the loss"),
    ("h[t] = tanh(h[t-1]*U); f = sum_t(sum(h[t]))", "needs an input sequence"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U + z[t]); z[t] = x[t]; f = sum_t(sum(h[t]))", "used before its definition"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); h[t] = x[t]; f = sum_t(sum(h[t]))", "defined twice"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); h[0] = h0; h[0] = h1; f = sum_t(sum(h[t]))", "given twice"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); g[0] = h0; f = sum_t(sum(h[t]))", "no recurrence g[t]"),
    ("h[t] = tanh(x[t]*W); h[0] = h0; f = sum_t(sum(h[t]))", "h[t-1] is never used"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h[t]), 2)", "takes 1 argument"),
    ("h[T] = x[t]; f = sum_t(sum(h[t]))", "not at [T]"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); h[0] = ones(1,7); f = sum_t(sum(h[t]))", "initial value"),
    ("h[t] = x[t]*W + h[t-1]*U; f = sum_t(sum(h[t]))", "cannot apply '+'"),
    ("sum_t(x)", "needs a recurrence"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h[t[t]]))", "time index"),
]


@pytest.mark.parametrize("expr,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_recurrent_programs_exit_2_with_one_line(expr, message):
    dims = ["--dim", "x=B,D", "--dim", "W=D,H"] + (["--dim", "U=H,H"] if "U" in expr else [])
    if "cannot apply" in (message or ""):
        dims = ["--dim", "x=B,D", "--dim", "W=D,H", "--dim", "U=H,K"]
    out = subprocess.run([sys.executable, "-m", "matcalc", "derive", expr, *dims],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    first = out.stderr.splitlines()[0]
    if message:
        assert message in first, first


def test_recurrent_programs_have_no_jacobian_or_hessian():
    with pytest.raises(MatcalcError, match="gradients only"):
        matcalc.derive(RNN, shapes=RNN_SHAPES, order=2)
    with pytest.raises(MatcalcError, match="backpropagation through time"):
        matcalc.derive(RNN, shapes=RNN_SHAPES, method="trace")


# ---------------------------------------------------------------- regressions found by a stress test
REGRESSIONS = [
    # scalar parameters inside the loop
    ("h[t] = tanh(h[t-1]*W + a*x[t]*U); f = sum_t(sum(h[t])) + a^2",
     {"x": ("B", "D"), "U": ("D", "H"), "W": ("H", "H"), "a": ()}),
    ("h[t] = tanh(a*h[t-1] + x[t]); f = sum_t(a*sum(h[t]))", {"x": ("B", "D"), "a": ()}),
    # column-vector models: the state's open size is 1, or the initial value's
    ("h[t] = tanh(W*h[t-1] + U*x[t]); f = sum_t(sum(h[t]))", {"x": ("D", 1), "W": ("H", "H"), "U": ("H", "D")}),
    ("h[t] = tanh(W*h[t-1] + U*x[t]); h[0] = h0; f = sum_t(sum(h[t]))",
     {"x": ("D", 1), "W": ("H", "H"), "U": ("H", "D"), "h0": ("H", 1)}),
    # the initial value decides the batch size the step leaves open
    ("h[t] = tanh(h[t-1]*W + b); h[0] = h0; f = sum_t(sum(h[t])) + sum_t(sum(x[t]))",
     {"W": ("H", "H"), "b": (1, "H"), "h0": ("B", "H"), "x": ("B", "D")}),
    ("h[t] = tanh(h[t-1]*W + b); h[0] = a*ones(B,H); f = sum_t(sum(h[t])) + sum_t(sum(x[t]))",
     {"W": ("H", "H"), "b": (1, "H"), "a": (), "x": ("B", "H")}),
    # a row initial value and a full one unified through the step
    ("h[t] = tanh((c[t-1]*W1 + h[t-1]*W2) ./ (1 + m[t-1].^2)); c[t] = sigmoid(h[t-1]*W1') .* c[t-1]; "
     "m[t] = tanh(m[t-1]*W5 + h[t-1]*W2); c[0] = tanh(c0); m[0] = m0; f = sum(h[T] .* h[T]) + sum_t(sum(x[t]))",
     {"W1": ("G", "H"), "W2": ("H", "H"), "W5": ("H", "H"), "c0": ("B", "G"), "m0": (1, "H"), "x": ("B", "D")}),
    # a linear value used only at the last step
    ("h[t] = tanh(h[t-1]*W + x[t]*U); o[t] = h[t]*V; f = sum(o[T])",
     {"x": ("B", "D"), "U": ("D", "H"), "W": ("H", "H"), "V": ("H", "K")}),
    # values that cannot reach the loss (left out; their parameters get zero gradients)
    ("h[t] = sigmoid(W1*h[t-1]); C[t] = -exp(sigmoid(W3*C[t-1] + W4*h[t])); out[t] = W7*x[t]; h[0] = h0; "
     "C[0] = C0; loss = sum_t(-sum(y[t] .* logsoftmax(out[t])))",
     {"x": ("D", 1), "y": ("K", 1), "W7": ("K", "D"), "W1": ("H", "H"), "W3": ("H", "H"), "W4": ("H", "H"),
      "h0": ("H", 1), "C0": ("H", 1)}),
]


@pytest.mark.parametrize("program,shapes", REGRESSIONS, ids=[str(i) for i in range(len(REGRESSIONS))])
def test_stress_regressions(program, shapes):
    d = matcalc.derive(program, shapes=shapes, sum_to_one=["y"] if "y[t]" in program else ())
    r = d.check()
    assert r.passed, str(r)
    d.text(steps=True), d.latex(standalone=True), d.markdown(), d.to_json(steps=True)


def test_dead_values_get_zero_gradients():
    program, shapes = REGRESSIONS[-1]
    d = matcalc.derive(program, shapes=shapes, sum_to_one=["y"])
    point = {k: np.random.default_rng(0).standard_normal(((3,) if k in ("x", "y") else ()) + tuple(
        {"D": 2, "K": 3, "H": 4}.get(s, s) for s in v)) for k, v in shapes.items()}
    g = d.to_numpy()(**point)
    assert not np.any(g["W1"]) and not np.any(g["C0"]) and np.any(g["W7"])


@pytest.mark.parametrize("expr,message", [
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(h[t])", "must be a scalar"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h[t])) + h[T]", "must be a scalar"),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h[t])) + x[T]", "must be a scalar"),
])
def test_non_scalar_losses_exit_2(expr, message):
    out = subprocess.run([sys.executable, "-m", "matcalc", "derive", expr, "--dim", "x=B,D", "--dim", "W=D,H",
                          "--dim", "U=H,H"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and message in out.stderr.splitlines()[0], out.stderr


def test_sum_to_one_column_labels_in_the_check():
    program = ("C[t] = tanh(W9*C[t-1] + U*x[t]); o2[t] = W12*C[t] + W14; "
               "L = sum_t(-sum(y[t] .* logsoftmax(o2[t])))")
    d = matcalc.derive(program, shapes={"x": ("D", 1), "y": ("K", 1), "W9": ("H", "H"), "U": ("H", "D"),
                                        "W12": ("K", "H"), "W14": ("K", 1)}, sum_to_one=["y"])
    assert d.check().passed


def test_float32_with_static_values_and_initial_state():
    program = "Q = tanh(W1); h[t] = tanh(h[t-1]*Q + x[t]*U); h[0] = h0; f = sum_t(sum(h[t]))"
    shapes = {"W1": ("H", "H"), "x": ("B", "D"), "U": ("D", "H"), "h0": ("B", "H")}
    d = matcalc.derive(program, shapes=shapes)
    rng = np.random.default_rng(0)
    point = {"W1": rng.standard_normal((3, 3)), "x": rng.standard_normal((4, 2, 2)),
             "U": rng.standard_normal((2, 3)), "h0": rng.standard_normal((2, 3))}
    g = d.to_numpy()(**{k: v.astype(np.float32) for k, v in point.items()})
    assert all(v.dtype == np.float32 for v in g.values())
    src = d.numpy_source()   # static Q and the input projection x[t] U (one GEMM) before the loop
    portable = d.portable_source()
    assert "Q_t = np.tanh(W1)\n    " in src and portable.index("x.reshape(-1, x.shape[2]) @ U") < portable.index("for t in")
