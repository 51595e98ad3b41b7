"""Problems with NumPy references for matcalc's numerical tests (self-contained: NumPy only).

``PROBLEMS`` is a list of dicts in the format of the public problem set:

  id        unique slug (the points of a problem are drawn from an rng seeded by its crc32)
  category  quadratic | trace | inverse_det | elementwise | nn | jacobian | hessian
  expr      the function in the contract language (a program: statements ';'-separated)
  wrt       variables to differentiate with respect to
  shapes    name -> shape: () scalar, (n,1) column, (1,n) row, (m,n) matrix
  kind      "gradient" | "jacobian" | "hessian"
  layout    jacobian problems only: "numerator" (size F x size X, column-major vec) or
            "denominator" (its transpose)
  ref       ref(**arrays, xp=numpy) -> value of expr; hand-written NumPy, independent of expr
  gen       gen(rng) -> {name: value} inside the domain (scalars as Python floats)
  analytic  analytic(**arrays) -> {name: derivative in the problem's kind/layout}, worked
            out by hand; used only to validate this file (FD of ref must agree with it)
  note      where the problem comes from / what it exercises

The first block restates the public seed problems (same expressions, shapes and refs);
the rest are further problems of the same families.
"""
import numpy as np

CATEGORIES = ("quadratic", "trace", "inverse_det", "elementwise", "nn", "jacobian", "hessian")


# ============================================================== NumPy building blocks
def _sigmoid(z, xp=np):
    return 1.0 / (1.0 + xp.exp(-z))


def _relu(z, xp=np):
    return xp.maximum(z, 0.0)


def _softplus(z, xp=np):
    return xp.logaddexp(0.0, z)


def _logsoftmax_rows(Z, xp=np):
    """log-softmax of each row (one sample per row)."""
    Z = Z - xp.max(Z, axis=1, keepdims=True)
    return Z - xp.log(xp.sum(xp.exp(Z), axis=1, keepdims=True))


def _logsoftmax_vec(v, xp=np):
    """log-softmax over all entries of a vector (either orientation)."""
    v = v - xp.max(v)
    return v - xp.log(xp.sum(xp.exp(v)))


def _softmax_rows(Z):
    return np.exp(_logsoftmax_rows(Z))


def _softmax_vec(v):
    return np.exp(_logsoftmax_vec(v))


def _inv(X):
    return np.linalg.inv(X)


def _ones(m, n=1):
    return np.ones((m, n))


# ============================================================== random points
def _n(rng, r, c, s=1.0):
    return s * rng.standard_normal((r, c))


def _u(rng, r, c, lo, hi):
    return rng.uniform(lo, hi, size=(r, c))


def _scalar(rng, lo=None, hi=None):
    return float(rng.normal()) if lo is None else float(rng.uniform(lo, hi))


def _onehot(rng, m, k):
    Y = np.zeros((m, k))
    Y[np.arange(m), rng.integers(0, k, size=m)] = 1.0
    return Y


def _labels01(rng, m):
    """(m,1) 0/1 labels with both classes present."""
    while True:
        y = rng.integers(0, 2, size=(m, 1)).astype(float)
        if 0 < y.sum() < m:
            return y


def _signs(rng, m):
    """(m,1) +-1 labels with both signs present."""
    return 2.0 * _labels01(rng, m) - 1.0


def _spd(rng, n):
    """Symmetric positive definite, eigenvalues >= 0.5 (well conditioned)."""
    M = rng.standard_normal((n, n))
    return M @ M.T / n + 0.5 * np.eye(n)


def _invertible(rng, n, positive_det=False):
    """A non-symmetric, well-conditioned square matrix (smallest singular value >= 0.4)."""
    while True:
        X = 1.5 * np.eye(n) + 0.5 * rng.standard_normal((n, n))
        if np.linalg.svd(X, compute_uv=False).min() < 0.4:
            continue
        if positive_det and np.linalg.det(X) <= 0:
            continue
        return X


def _away_from_zero(z, margin):
    return float(np.min(np.abs(z))) > margin


def _redraw(draw, ok):
    """Draw points until ok(point) holds (keeps points away from kinks)."""
    def gen(rng):
        for _ in range(10000):
            d = draw(rng)
            if ok(d):
                return d
        raise RuntimeError("no point satisfies the constraint")
    return gen


# ============================================================== registration
PROBLEMS = []


def _add(id, category, expr, wrt, shapes, ref, gen, analytic, note="",
         kind="gradient", layout=None):
    p = dict(id=id, category=category, expr=expr, wrt=list(wrt),
             shapes={k: tuple(v) for k, v in shapes.items()}, kind=kind,
             ref=ref, gen=gen, analytic=analytic, note=note)
    if kind == "jacobian":
        p["layout"] = layout or "numerator"
    PROBLEMS.append(p)


# ============================================================== public seed problems
_add("seed_linear_layer", "quadratic", "u'*W*x", ["W", "x"],
     {"u": (3, 1), "W": (3, 4), "x": (4, 1)},
     ref=lambda u, W, x, xp=np: xp.sum(u.T @ W @ x),
     gen=lambda rng: dict(u=_n(rng, 3, 1), W=_n(rng, 3, 4), x=_n(rng, 4, 1)),
     analytic=lambda u, W, x: dict(W=u @ x.T, x=W.T @ u),
     note="linear layer y = W x under an upstream gradient u (seed note 000)")


def _activation_layer_grad(c, W, x):
    g = c * (1.0 - np.tanh(W @ x) ** 2)
    return dict(W=g @ x.T, x=W.T @ g)


_add("seed_activation_layer", "elementwise", "c'*tanh(W*x)", ["W", "x"],
     {"c": (5, 1), "W": (5, 3), "x": (3, 1)},
     ref=lambda c, W, x, xp=np: xp.sum(c * xp.tanh(W @ x)),
     gen=lambda rng: dict(c=_n(rng, 5, 1), W=_n(rng, 5, 3, 0.6), x=_n(rng, 3, 1)),
     analytic=_activation_layer_grad,
     note="affine map then tanh, weighted by c (seed note 000)")


def _mlp_column_sigmoid_grad(x, W1, b1, W2, b2, y):
    h = _sigmoid(W1 @ x + b1)
    o = _sigmoid(W2 @ h + b2)
    d2 = (o - y) * o * (1 - o)
    d1 = (W2.T @ d2) * h * (1 - h)
    return dict(W1=d1 @ x.T, b1=d1, W2=d2 @ h.T, b2=d2)


_add("seed_mlp_column_sigmoid", "nn",
     "0.5*norm2(sigmoid(W2*sigmoid(W1*x + b1) + b2) - y)^2", ["W1", "b1", "W2", "b2"],
     {"x": (4, 1), "W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "y": (3, 1)},
     ref=lambda x, W1, b1, W2, b2, y, xp=np: 0.5 * xp.sum(
         (_sigmoid(W2 @ _sigmoid(W1 @ x + b1, xp) + b2, xp) - y) ** 2),
     gen=lambda rng: dict(x=_n(rng, 4, 1), W1=_n(rng, 5, 4), b1=_n(rng, 5, 1),
                          W2=_n(rng, 3, 5), b2=_n(rng, 3, 1), y=_n(rng, 3, 1, 0.5)),
     analytic=_mlp_column_sigmoid_grad,
     note="two sigmoid layers, column convention, half squared error (seed note 000)")


def _relu_neuron_ok(d):
    z = d["X"] @ d["w"] + d["b"]
    return _away_from_zero(z, 0.1) and (z > 0).sum() >= 2 and (z < 0).sum() >= 1


def _relu_neuron_grad(X, w, b, y):
    z = X @ w + b
    e = (_relu(z) - y) * (z > 0)
    return dict(w=2.0 * X.T @ e / 6.0, b=2.0 * float(e.sum()) / 6.0)


_add("seed_relu_neuron_mse", "nn", "sum((y - relu(X*w + b)).^2)/6", ["w", "b"],
     {"X": (6, 4), "w": (4, 1), "b": (), "y": (6, 1)},
     ref=lambda X, w, b, y, xp=np: xp.sum((y - _relu(X @ w + b, xp)) ** 2) / 6.0,
     gen=_redraw(lambda rng: dict(X=_n(rng, 6, 4), w=_n(rng, 4, 1), b=_scalar(rng),
                                  y=_n(rng, 6, 1)), _relu_neuron_ok),
     analytic=_relu_neuron_grad,
     note="MSE of one ReLU neuron with a broadcast scalar bias (seed note 001)")

_add("seed_scalar_poly", "quadratic", "3*x^2*y", ["x", "y"], {"x": (), "y": ()},
     ref=lambda x, y, xp=np: 3.0 * x * x * y,
     gen=lambda rng: dict(x=_scalar(rng), y=_scalar(rng)),
     analytic=lambda x, y: dict(x=6.0 * x * y, y=3.0 * x * x),
     note="scalar polynomial in two scalars (seed note 001)")

_add("seed_sum_gradient", "elementwise", "sum(x)", ["x"], {"x": (5, 1)},
     ref=lambda x, xp=np: xp.sum(x),
     gen=lambda rng: dict(x=_n(rng, 5, 1)),
     analytic=lambda x: dict(x=np.ones_like(x)),
     note="gradient of a sum is all ones (seed note 001)")

_add("seed_identity_jacobian", "jacobian", "x", ["x"], {"x": (4, 1)},
     ref=lambda x, xp=np: x,
     gen=lambda rng: dict(x=_n(rng, 4, 1)),
     analytic=lambda x: dict(x=np.eye(4)),
     kind="jacobian", layout="numerator",
     note="identity Jacobian (seed note 001)")

_add("seed_hadamard_jacobian", "jacobian", "w .* x", ["w", "x"],
     {"w": (5, 1), "x": (5, 1)},
     ref=lambda w, x, xp=np: w * x,
     gen=lambda rng: dict(w=_n(rng, 5, 1), x=_n(rng, 5, 1)),
     analytic=lambda w, x: dict(w=np.diag(x.ravel()), x=np.diag(w.ravel())),
     kind="jacobian", layout="numerator",
     note="elementwise product: diagonal Jacobians (seed note 001)")

_add("seed_scalar_add_jacobian", "jacobian", "x + z", ["x", "z"], {"x": (4, 1), "z": ()},
     ref=lambda x, z, xp=np: x + z,
     gen=lambda rng: dict(x=_n(rng, 4, 1), z=_scalar(rng)),
     analytic=lambda x, z: dict(x=np.eye(4), z=np.ones((4, 1))),
     kind="jacobian", layout="numerator",
     note="vector plus broadcast scalar (seed note 001)")

_add("seed_scalar_mul_jacobian", "jacobian", "x*z", ["x", "z"], {"x": (3, 1), "z": ()},
     ref=lambda x, z, xp=np: z * x,
     gen=lambda rng: dict(x=_n(rng, 3, 1), z=_scalar(rng)),
     analytic=lambda x, z: dict(x=z * np.eye(3), z=x.T.copy()),
     kind="jacobian", layout="denominator",
     note="vector times scalar, denominator layout (seed note 001)")


def _row_dnn_grad(a, W1, b1, W2, b2, l):
    h = _sigmoid(a @ W1 + b1)
    p = _softmax_rows(h @ W2 + b2)
    d2 = p * l.sum() - l
    d1 = (d2 @ W2.T) * h * (1 - h)
    return dict(W1=a.T @ d1, b1=d1, W2=h.T @ d2, b2=d2)


_add("seed_row_dnn_softmax_ce", "nn",
     "-sum(l .* log(softmax(sigmoid(a*W1 + b1)*W2 + b2)))", ["W1", "b1", "W2", "b2"],
     {"a": (1, 4), "W1": (4, 5), "b1": (1, 5), "W2": (5, 3), "b2": (1, 3), "l": (1, 3)},
     ref=lambda a, W1, b1, W2, b2, l, xp=np: -xp.sum(
         l * _logsoftmax_rows(_sigmoid(a @ W1 + b1, xp) @ W2 + b2, xp)),
     gen=lambda rng: dict(a=_n(rng, 1, 4), W1=_n(rng, 4, 5), b1=_n(rng, 1, 5),
                          W2=_n(rng, 5, 3), b2=_n(rng, 1, 3), l=_onehot(rng, 1, 3)),
     analytic=_row_dnn_grad,
     note="row-vector sample, sigmoid layer, softmax cross-entropy (seed note 002)")


def _row_output_grad(a, W, b, y):
    o = _sigmoid(a @ W + b)
    d = (o - y) * o * (1 - o)
    return dict(W=a.T @ d, b=d)


_add("seed_row_output_layer", "nn", "0.5*norm2(sigmoid(a*W + b) - y)^2", ["W", "b"],
     {"a": (1, 4), "W": (4, 3), "b": (1, 3), "y": (1, 3)},
     ref=lambda a, W, b, y, xp=np: 0.5 * xp.sum((_sigmoid(a @ W + b, xp) - y) ** 2),
     gen=lambda rng: dict(a=_n(rng, 1, 4), W=_n(rng, 4, 3), b=_n(rng, 1, 3),
                          y=_n(rng, 1, 3, 0.5)),
     analytic=_row_output_grad,
     note="row-convention output layer with half squared error (seed note 003)")

_add("seed_affine_backward", "nn", "sum(G .* (X*W + b))", ["X", "W", "b"],
     {"X": (5, 4), "W": (4, 3), "b": (1, 3), "G": (5, 3)},
     ref=lambda X, W, b, G, xp=np: xp.sum(G * (X @ W + b)),
     gen=lambda rng: dict(X=_n(rng, 5, 4), W=_n(rng, 4, 3), b=_n(rng, 1, 3),
                          G=_n(rng, 5, 3)),
     analytic=lambda X, W, b, G: dict(X=G @ W.T, W=X.T @ G, b=G.sum(axis=0, keepdims=True)),
     note="batched affine layer under upstream gradient G (seed note 003)")

_add("seed_softmax_regression_sample", "nn", "-log(softmax(x*W))*y", ["W"],
     {"x": (1, 4), "W": (4, 3), "y": (3, 1)},
     ref=lambda x, W, y, xp=np: -xp.sum(_logsoftmax_rows(x @ W, xp) @ y),
     gen=lambda rng: dict(x=_n(rng, 1, 4), W=_n(rng, 4, 3), y=_onehot(rng, 1, 3).T.copy()),
     analytic=lambda x, W, y: dict(W=x.T @ (_softmax_rows(x @ W) * y.sum() - y.T)),
     note="softmax regression, one row sample, one-hot column label (seed note 003)")

_add("seed_softmax_regression_batch", "nn", "-sum(Y .* log(softmax(X*W)))", ["W"],
     {"X": (6, 4), "W": (4, 3), "Y": (6, 3)},
     ref=lambda X, W, Y, xp=np: -xp.sum(Y * _logsoftmax_rows(X @ W, xp)),
     gen=lambda rng: dict(X=_n(rng, 6, 4), W=_n(rng, 4, 3), Y=_onehot(rng, 6, 3)),
     analytic=lambda X, W, Y: dict(
         W=X.T @ (_softmax_rows(X @ W) * Y.sum(axis=1, keepdims=True) - Y)),
     note="softmax regression over a batch, one sample per row (seed note 003)")


def _softmax_jac(z):
    s = _softmax_rows(z)
    return dict(z=np.diag(s.ravel()) - s.T @ s)


_add("seed_softmax_jacobian", "jacobian", "softmax(z)", ["z"], {"z": (1, 4)},
     ref=lambda z, xp=np: xp.exp(_logsoftmax_rows(z, xp)),
     gen=lambda rng: dict(z=_n(rng, 1, 4)),
     analytic=_softmax_jac,
     kind="jacobian", layout="numerator",
     note="softmax Jacobian diag(s) - s's of a row vector (seed note 003)")


def _two_layer_frob_grad(X, W1, b1, W2, b2, Y):
    H = _sigmoid(X @ W1 + b1)
    E = 2.0 * (H @ W2 + b2 - Y)
    G = (E @ W2.T) * H * (1 - H)
    return dict(W1=X.T @ G, b1=G.sum(axis=0, keepdims=True),
                W2=H.T @ E, b2=E.sum(axis=0, keepdims=True))


_add("seed_two_layer_frobenius", "nn", "norm2(Y - (sigmoid(X*W1 + b1)*W2 + b2))^2",
     ["W1", "b1", "W2", "b2"],
     {"X": (6, 4), "W1": (4, 5), "b1": (1, 5), "W2": (5, 3), "b2": (1, 3), "Y": (6, 3)},
     ref=lambda X, W1, b1, W2, b2, Y, xp=np: xp.sum(
         (Y - (_sigmoid(X @ W1 + b1, xp) @ W2 + b2)) ** 2),
     gen=lambda rng: dict(X=_n(rng, 6, 4), W1=_n(rng, 4, 5, 0.7), b1=_n(rng, 1, 5),
                          W2=_n(rng, 5, 3), b2=_n(rng, 1, 3), Y=_n(rng, 6, 3)),
     analytic=_two_layer_frob_grad,
     note="two-layer sigmoid net on a batch, broadcast row biases (seed note 004)")

N_SEED_PROBLEMS = len(PROBLEMS)


# ============================================================== quadratic forms
_add("quad_xAx", "quadratic", "x'*A*x", ["x", "A"], {"x": (4, 1), "A": (4, 4)},
     ref=lambda x, A, xp=np: xp.sum(x * (A @ x)),
     gen=lambda rng: dict(x=_n(rng, 4, 1), A=_n(rng, 4, 4)),
     analytic=lambda x, A: dict(x=(A + A.T) @ x, A=x @ x.T),
     note="quadratic form with a non-symmetric A: gradient (A + A')x")

_add("quad_least_squares", "quadratic", "norm2(A*x - b)^2", ["A", "x", "b"],
     {"A": (5, 3), "x": (3, 1), "b": (5, 1)},
     ref=lambda A, x, b, xp=np: xp.sum((A @ x - b) ** 2),
     gen=lambda rng: dict(A=_n(rng, 5, 3), x=_n(rng, 3, 1), b=_n(rng, 5, 1)),
     analytic=lambda A, x, b: dict(A=2 * (A @ x - b) @ x.T, x=2 * A.T @ (A @ x - b),
                                   b=-2 * (A @ x - b)),
     note="least squares residual; b declared as a vector (its default kind is scalar)")

_add("quad_bilinear", "quadratic", "a'*X*b", ["X", "a", "b"],
     {"a": (4, 1), "X": (4, 3), "b": (3, 1)},
     ref=lambda a, X, b, xp=np: xp.sum(a * (X @ b)),
     gen=lambda rng: dict(a=_n(rng, 4, 1), X=_n(rng, 4, 3), b=_n(rng, 3, 1)),
     analytic=lambda a, X, b: dict(X=a @ b.T, a=X @ b, b=X.T @ a),
     note="bilinear form with a rectangular X")

_add("quad_ridge", "quadratic", "norm2(X*w - y)^2 + lam*norm2(w)^2", ["w", "lam"],
     {"X": (6, 3), "w": (3, 1), "y": (6, 1), "lam": ()},
     ref=lambda X, w, y, lam, xp=np: xp.sum((X @ w - y) ** 2) + lam * xp.sum(w ** 2),
     gen=lambda rng: dict(X=_n(rng, 6, 3), w=_n(rng, 3, 1), y=_n(rng, 6, 1),
                          lam=_scalar(rng, 0.1, 2.0)),
     analytic=lambda X, w, y, lam: dict(w=2 * X.T @ (X @ w - y) + 2 * lam * w,
                                        lam=float(np.sum(w ** 2))),
     note="ridge regression; the scalar lam is also a variable")

_add("quad_ridge_mean", "quadratic", "norm2(X*w - y)^2/6 + 0.5*lam*w'*w", ["w", "X"],
     {"X": (6, 3), "w": (3, 1), "y": (6, 1), "lam": ()},
     ref=lambda X, w, y, lam, xp=np: xp.sum((X @ w - y) ** 2) / 6 + 0.5 * lam * xp.sum(w * w),
     gen=lambda rng: dict(X=_n(rng, 6, 3), w=_n(rng, 3, 1), y=_n(rng, 6, 1),
                          lam=_scalar(rng, 0.1, 2.0)),
     analytic=lambda X, w, y, lam: dict(w=X.T @ (X @ w - y) / 3 + lam * w,
                                        X=(X @ w - y) @ w.T / 3),
     note="mean squared error plus 0.5*lam*w'*w ((0.5*lam*w')*w is a 1x1 scalar)")

_add("quad_weighted_ls_matrix", "quadratic", "(X*w - y)'*D*(X*w - y)", ["w", "D"],
     {"X": (6, 3), "w": (3, 1), "y": (6, 1), "D": (6, 6)},
     ref=lambda X, w, y, D, xp=np: xp.sum((X @ w - y) * (D @ (X @ w - y))),
     gen=lambda rng: dict(X=_n(rng, 6, 3), w=_n(rng, 3, 1), y=_n(rng, 6, 1),
                          D=np.diag(rng.uniform(0.5, 2.0, 6)) + _n(rng, 6, 6, 0.1)),
     analytic=lambda X, w, y, D: dict(w=X.T @ (D + D.T) @ (X @ w - y),
                                      D=(X @ w - y) @ (X @ w - y).T),
     note="weighted least squares with a weight matrix (all its entries independent)")

_add("quad_weighted_ls_vector", "quadratic", "sum(v .* (X*w - y).^2)", ["w", "v"],
     {"X": (6, 3), "w": (3, 1), "y": (6, 1), "v": (6, 1)},
     ref=lambda X, w, y, v, xp=np: xp.sum(v * (X @ w - y) ** 2),
     gen=lambda rng: dict(X=_n(rng, 6, 3), w=_n(rng, 3, 1), y=_n(rng, 6, 1),
                          v=_u(rng, 6, 1, 0.5, 2.0)),
     analytic=lambda X, w, y, v: dict(w=2 * X.T @ (v * (X @ w - y)), v=(X @ w - y) ** 2),
     note="weighted least squares with per-sample weights v")

_add("quad_affine_scalar", "quadratic", "x'*A*x + b'*x + c", ["x", "b", "c"],
     {"x": (4, 1), "A": (4, 4), "b": (4, 1), "c": ()},
     ref=lambda x, A, b, c, xp=np: xp.sum(x * (A @ x)) + xp.sum(b * x) + c,
     gen=lambda rng: dict(x=_n(rng, 4, 1), A=_n(rng, 4, 4), b=_n(rng, 4, 1), c=_scalar(rng)),
     analytic=lambda x, A, b, c: dict(x=(A + A.T) @ x + b, b=x.copy(), c=1.0),
     note="quadratic + linear + constant; gradient in the scalar c is 1")

_add("quad_matrix_ls", "quadratic", "norm2(X*B - C)^2", ["X", "B"],
     {"X": (5, 4), "B": (4, 3), "C": (5, 3)},
     ref=lambda X, B, C, xp=np: xp.sum((X @ B - C) ** 2),
     gen=lambda rng: dict(X=_n(rng, 5, 4), B=_n(rng, 4, 3), C=_n(rng, 5, 3)),
     analytic=lambda X, B, C: dict(X=2 * (X @ B - C) @ B.T, B=2 * X.T @ (X @ B - C)),
     note="Frobenius least squares in both factors")

_add("quad_quartic", "quadratic", "(x'*x)^2", ["x"], {"x": (4, 1)},
     ref=lambda x, xp=np: xp.sum(x * x) ** 2,
     gen=lambda rng: dict(x=_n(rng, 4, 1)),
     analytic=lambda x: dict(x=4 * float(np.sum(x * x)) * x),
     note="a 1x1 product used as a scalar under ^")

_add("quad_rayleigh", "quadratic", "(x'*A*x)/(x'*x)", ["x", "A"],
     {"x": (4, 1), "A": (4, 4)},
     ref=lambda x, A, xp=np: xp.sum(x * (A @ x)) / xp.sum(x * x),
     gen=lambda rng: dict(x=_n(rng, 4, 1) + 0.5, A=_n(rng, 4, 4)),
     analytic=lambda x, A: dict(
         x=((A + A.T) @ x - 2 * (np.sum(x * (A @ x)) / np.sum(x * x)) * x) / np.sum(x * x),
         A=x @ x.T / np.sum(x * x)),
     note="Rayleigh quotient: division by a 1x1 value")

_add("quad_half_quadratic", "quadratic", "0.5*x'*A*x - b'*x", ["x", "b"],
     {"x": (5, 1), "A": (5, 5), "b": (5, 1)},
     ref=lambda x, A, b, xp=np: 0.5 * xp.sum(x * (A @ x)) - xp.sum(b * x),
     gen=lambda rng: dict(x=_n(rng, 5, 1), A=_spd(rng, 5), b=_n(rng, 5, 1)),
     analytic=lambda x, A, b: dict(x=0.5 * (A + A.T) @ x - b, b=-x),
     note="the energy of a linear system A x = b")

_add("quad_product_of_forms", "quadratic", "(u'*v)*(u'*A*v)", ["u", "v"],
     {"u": (3, 1), "v": (3, 1), "A": (3, 3)},
     ref=lambda u, v, A, xp=np: xp.sum(u * v) * xp.sum(u * (A @ v)),
     gen=lambda rng: dict(u=_n(rng, 3, 1), v=_n(rng, 3, 1), A=_n(rng, 3, 3)),
     analytic=lambda u, v, A: dict(u=float(np.sum(u * (A @ v))) * v + float(np.sum(u * v)) * (A @ v),
                                   v=float(np.sum(u * (A @ v))) * u + float(np.sum(u * v)) * (A.T @ u)),
     note="product of two 1x1 values")

_add("quad_scaled_difference", "quadratic", "2*x'*A*y - 3*y'*y", ["y", "A"],
     {"x": (4, 1), "A": (4, 3), "y": (3, 1)},
     ref=lambda x, A, y, xp=np: 2 * xp.sum(x * (A @ y)) - 3 * xp.sum(y * y),
     gen=lambda rng: dict(x=_n(rng, 4, 1), A=_n(rng, 4, 3), y=_n(rng, 3, 1)),
     analytic=lambda x, A, y: dict(y=2 * A.T @ x - 6 * y, A=2 * x @ y.T),
     note="scaled bilinear minus a squared norm")

_add("quad_diag_weights", "quadratic", "x'*diag(d)*x", ["x", "d"],
     {"x": (4, 1), "d": (4, 1)},
     ref=lambda x, d, xp=np: xp.sum(d * x * x),
     gen=lambda rng: dict(x=_n(rng, 4, 1), d=_n(rng, 4, 1)),
     analytic=lambda x, d: dict(x=2 * d * x, d=x * x),
     note="diag of a vector inside a quadratic form")

_add("quad_norm_not_squared", "quadratic", "norm2(A*x - b)", ["x"],
     {"A": (5, 3), "x": (3, 1), "b": (5, 1)},
     ref=lambda A, x, b, xp=np: xp.sqrt(xp.sum((A @ x - b) ** 2)),
     gen=lambda rng: dict(A=_n(rng, 5, 3), x=_n(rng, 3, 1), b=_n(rng, 5, 1) + 1.0),
     analytic=lambda A, x, b: dict(x=A.T @ (A @ x - b) / np.sqrt(np.sum((A @ x - b) ** 2))),
     note="Euclidean norm (not squared) of a residual")

_add("quad_frobenius_norm", "quadratic", "norm2(X)", ["X"], {"X": (3, 4)},
     ref=lambda X, xp=np: xp.sqrt(xp.sum(X * X)),
     gen=lambda rng: dict(X=_n(rng, 3, 4)),
     analytic=lambda X: dict(X=X / np.sqrt(np.sum(X * X))),
     note="Frobenius norm of a matrix")


# ============================================================== traces
_add("trace_AX", "trace", "tr(A*X)", ["X", "A"], {"A": (4, 3), "X": (3, 4)},
     ref=lambda A, X, xp=np: xp.trace(A @ X),
     gen=lambda rng: dict(A=_n(rng, 4, 3), X=_n(rng, 3, 4)),
     analytic=lambda A, X: dict(X=A.T.copy(), A=X.T.copy()),
     note="tr(A X): gradient A'")

_add("trace_XtAX", "trace", "tr(X'*A*X)", ["X", "A"], {"A": (5, 5), "X": (5, 3)},
     ref=lambda A, X, xp=np: xp.trace(X.T @ A @ X),
     gen=lambda rng: dict(A=_n(rng, 5, 5), X=_n(rng, 5, 3)),
     analytic=lambda A, X: dict(X=(A + A.T) @ X, A=X @ X.T),
     note="matrix quadratic form with a non-symmetric A")

_add("trace_AXBXt", "trace", "tr(A*X*B*X')", ["X", "A", "B"],
     {"A": (4, 4), "X": (4, 3), "B": (3, 3)},
     ref=lambda A, X, B, xp=np: xp.trace(A @ X @ B @ X.T),
     gen=lambda rng: dict(A=_n(rng, 4, 4), X=_n(rng, 4, 3), B=_n(rng, 3, 3)),
     analytic=lambda A, X, B: dict(X=A.T @ X @ B.T + A @ X @ B, A=X @ B.T @ X.T,
                                   B=X.T @ A.T @ X),
     note="X appears twice; gradient A'XB' + AXB")

_add("trace_squared", "trace", "tr(X)^2", ["X"], {"X": (4, 4)},
     ref=lambda X, xp=np: xp.trace(X) ** 2,
     gen=lambda rng: dict(X=_n(rng, 4, 4)),
     analytic=lambda X: dict(X=2 * np.trace(X) * np.eye(4)),
     note="square of a trace (function application binds tighter than ^)")

_add("trace_sum_hadamard_square", "trace", "sum(X.*X)", ["X"], {"X": (3, 5)},
     ref=lambda X, xp=np: xp.sum(X ** 2),
     gen=lambda rng: dict(X=_n(rng, 3, 5)),
     analytic=lambda X: dict(X=2 * X),
     note="squared Frobenius norm written as sum(X.*X)")

_add("trace_XX", "trace", "tr(X*X)", ["X"], {"X": (4, 4)},
     ref=lambda X, xp=np: xp.trace(X @ X),
     gen=lambda rng: dict(X=_n(rng, 4, 4)),
     analytic=lambda X: dict(X=2 * X.T),
     note="tr(X^2): gradient 2X'")

_add("trace_XtX", "trace", "tr(X'*X)", ["X"], {"X": (4, 3)},
     ref=lambda X, xp=np: xp.trace(X.T @ X),
     gen=lambda rng: dict(X=_n(rng, 4, 3)),
     analytic=lambda X: dict(X=2 * X),
     note="tr(X'X) = squared Frobenius norm")

_add("trace_XXtA", "trace", "tr(X*X'*A)", ["X", "A"], {"X": (4, 3), "A": (4, 4)},
     ref=lambda X, A, xp=np: xp.trace(X @ X.T @ A),
     gen=lambda rng: dict(X=_n(rng, 4, 3), A=_n(rng, 4, 4)),
     analytic=lambda X, A: dict(X=(A + A.T) @ X, A=X @ X.T),
     note="cyclic variant of tr(X'AX)")

_add("trace_exp", "trace", "tr(exp(X))", ["X"], {"X": (3, 3)},
     ref=lambda X, xp=np: xp.trace(xp.exp(X)),
     gen=lambda rng: dict(X=_n(rng, 3, 3)),
     analytic=lambda X: dict(X=np.diag(np.exp(np.diag(X)))),
     note="trace of an elementwise exp: only the diagonal matters")

_add("trace_product_of_traces", "trace", "tr(A*X)*tr(B*X)", ["X"],
     {"A": (3, 4), "B": (3, 4), "X": (4, 3)},
     ref=lambda A, B, X, xp=np: xp.trace(A @ X) * xp.trace(B @ X),
     gen=lambda rng: dict(A=_n(rng, 3, 4), B=_n(rng, 3, 4), X=_n(rng, 4, 3)),
     analytic=lambda A, B, X: dict(X=np.trace(B @ X) * A.T + np.trace(A @ X) * B.T),
     note="product rule on two traces")

_add("trace_sum_AXB", "trace", "sum(A*X*B)", ["X"], {"A": (3, 4), "X": (4, 5), "B": (5, 2)},
     ref=lambda A, X, B, xp=np: xp.sum(A @ X @ B),
     gen=lambda rng: dict(A=_n(rng, 3, 4), X=_n(rng, 4, 5), B=_n(rng, 5, 2)),
     analytic=lambda A, X, B: dict(X=A.T @ np.ones((3, 1)) @ np.ones((1, 2)) @ B.T),
     note="sum of all entries of a matrix product")

_add("trace_frobenius_distance", "trace", "tr((X - A)'*(X - A))", ["X", "A"],
     {"X": (4, 3), "A": (4, 3)},
     ref=lambda X, A, xp=np: xp.sum((X - A) ** 2),
     gen=lambda rng: dict(X=_n(rng, 4, 3), A=_n(rng, 4, 3)),
     analytic=lambda X, A: dict(X=2 * (X - A), A=-2 * (X - A)),
     note="squared Frobenius distance as a trace")

_add("trace_AtXB", "trace", "tr(A'*X*B)", ["X", "A", "B"],
     {"A": (4, 3), "X": (4, 5), "B": (5, 3)},
     ref=lambda A, X, B, xp=np: xp.trace(A.T @ X @ B),
     gen=lambda rng: dict(A=_n(rng, 4, 3), X=_n(rng, 4, 5), B=_n(rng, 5, 3)),
     analytic=lambda A, X, B: dict(X=A @ B.T, A=X @ B, B=X.T @ A),
     note="linear trace form with a transposed factor")

_add("trace_diag_squares", "trace", "sum(diag(X).^2)", ["X"], {"X": (4, 4)},
     ref=lambda X, xp=np: xp.sum(xp.diagonal(X) ** 2),
     gen=lambda rng: dict(X=_n(rng, 4, 4)),
     analytic=lambda X: dict(X=2 * np.diag(np.diag(X))),
     note="diag of a square matrix is a column of its diagonal")

_add("trace_XtAXB_sym", "trace", "tr(X'*A*X*B)", ["X"], {"A": (5, 5), "X": (5, 2), "B": (2, 2)},
     ref=lambda A, X, B, xp=np: xp.trace(X.T @ A @ X @ B),
     gen=lambda rng: dict(A=_spd(rng, 5), X=_n(rng, 5, 2), B=_spd(rng, 2)),
     analytic=lambda A, X, B: dict(X=A @ X @ B + A.T @ X @ B.T),
     note="generalised quadratic trace with symmetric-valued (but unconstrained) A, B")


# ============================================================== inverse / determinant
def _X_invT(X):
    return np.linalg.inv(X).T


_add("invdet_logdet", "inverse_det", "logdet(X)", ["X"], {"X": (4, 4)},
     ref=lambda X, xp=np: xp.log(xp.linalg.det(X)),
     gen=lambda rng: dict(X=_invertible(rng, 4, positive_det=True)),
     analytic=lambda X: dict(X=_X_invT(X)),
     note="log det of a non-symmetric X with det > 0: gradient inv(X)'")

_add("invdet_logdet_spd", "inverse_det", "logdet(S)", ["S"], {"S": (5, 5)},
     ref=lambda S, xp=np: xp.log(xp.linalg.det(S)),
     gen=lambda rng: dict(S=_spd(rng, 5)),
     analytic=lambda S: dict(S=_X_invT(S)),
     note="log det at a symmetric positive definite point")

_add("invdet_det", "inverse_det", "det(X)", ["X"], {"X": (3, 3)},
     ref=lambda X, xp=np: xp.linalg.det(X),
     gen=lambda rng: dict(X=_invertible(rng, 3)),
     analytic=lambda X: dict(X=np.linalg.det(X) * _X_invT(X)),
     note="Jacobi's formula: det(X) inv(X)'")

_add("invdet_trace_invXA", "inverse_det", "tr(inv(X)*A)", ["X", "A"],
     {"X": (4, 4), "A": (4, 4)},
     ref=lambda X, A, xp=np: xp.trace(xp.linalg.inv(X) @ A),
     gen=lambda rng: dict(X=_invertible(rng, 4), A=_n(rng, 4, 4)),
     analytic=lambda X, A: dict(X=-_X_invT(X) @ A.T @ _X_invT(X), A=_X_invT(X)),
     note="trace of inv(X) A: gradient -inv(X)' A' inv(X)'")

_add("invdet_bilinear_inverse", "inverse_det", "a'*inv(X)*b", ["X", "a", "b"],
     {"a": (3, 1), "X": (3, 3), "b": (3, 1)},
     ref=lambda a, X, b, xp=np: xp.sum(a * (xp.linalg.inv(X) @ b)),
     gen=lambda rng: dict(a=_n(rng, 3, 1), X=_invertible(rng, 3), b=_n(rng, 3, 1)),
     analytic=lambda a, X, b: dict(X=-_X_invT(X) @ a @ b.T @ _X_invT(X),
                                   a=np.linalg.inv(X) @ b, b=_X_invT(X) @ a),
     note="bilinear form in the inverse")

_add("invdet_logdet_gram", "inverse_det", "logdet(X'*X)", ["X"], {"X": (5, 3)},
     ref=lambda X, xp=np: xp.log(xp.linalg.det(X.T @ X)),
     gen=_redraw(lambda rng: dict(X=_n(rng, 5, 3)),
                 lambda d: np.linalg.svd(d["X"], compute_uv=False).min() > 0.5),
     analytic=lambda X: dict(X=2 * X @ np.linalg.inv(X.T @ X)),
     note="log det of a Gram matrix (X of full column rank)")

_add("invdet_mahalanobis", "inverse_det", "x'*inv(S)*x", ["x", "S"],
     {"x": (4, 1), "S": (4, 4)},
     ref=lambda x, S, xp=np: xp.sum(x * (xp.linalg.inv(S) @ x)),
     gen=lambda rng: dict(x=_n(rng, 4, 1), S=_spd(rng, 4)),
     analytic=lambda x, S: dict(x=(np.linalg.inv(S) + _X_invT(S)) @ x,
                                S=-_X_invT(S) @ x @ x.T @ _X_invT(S)),
     note="Mahalanobis form at an SPD point; entries of S are independent")

_add("invdet_trace_inverse", "inverse_det", "tr(inv(X))", ["X"], {"X": (4, 4)},
     ref=lambda X, xp=np: xp.trace(xp.linalg.inv(X)),
     gen=lambda rng: dict(X=_invertible(rng, 4)),
     analytic=lambda X: dict(X=-_X_invT(X) @ _X_invT(X)),
     note="trace of the inverse: gradient -inv(X)'^2")

_add("invdet_precision_mle", "inverse_det", "logdet(X) - tr(S*X)", ["X"],
     {"X": (4, 4), "S": (4, 4)},
     ref=lambda X, S, xp=np: xp.log(xp.linalg.det(X)) - xp.trace(S @ X),
     gen=lambda rng: dict(X=_spd(rng, 4), S=_spd(rng, 4)),
     analytic=lambda X, S: dict(X=_X_invT(X) - S.T),
     note="Gaussian log-likelihood in the precision matrix")

_add("invdet_solve_norm", "inverse_det", "norm2(inv(X)*b)^2", ["X", "b"],
     {"X": (3, 3), "b": (3, 1)},
     ref=lambda X, b, xp=np: xp.sum((xp.linalg.inv(X) @ b) ** 2),
     gen=lambda rng: dict(X=_invertible(rng, 3), b=_n(rng, 3, 1)),
     analytic=lambda X, b: dict(X=-2 * _X_invT(X) @ (np.linalg.inv(X) @ b) @ (np.linalg.inv(X) @ b).T,
                                b=2 * _X_invT(X) @ (np.linalg.inv(X) @ b)),
     note="squared norm of the solution of X y = b")


def _gauss_nll_grad(S, x, m):
    r = x - m
    Si, SiT = np.linalg.inv(S), _X_invT(S)
    return dict(S=0.5 * SiT - 0.5 * SiT @ r @ r.T @ SiT, m=-0.5 * (Si + SiT) @ r)


_add("invdet_gaussian_nll", "inverse_det", "0.5*logdet(S) + 0.5*(x - m)'*inv(S)*(x - m)",
     ["S", "m"], {"S": (4, 4), "x": (4, 1), "m": (4, 1)},
     ref=lambda S, x, m, xp=np: 0.5 * xp.log(xp.linalg.det(S)) + 0.5 * xp.sum(
         (x - m) * (xp.linalg.inv(S) @ (x - m))),
     gen=lambda rng: dict(S=_spd(rng, 4), x=_n(rng, 4, 1), m=_n(rng, 4, 1)),
     analytic=_gauss_nll_grad,
     note="Gaussian negative log-likelihood in covariance and mean")

_add("invdet_log_of_det", "inverse_det", "log(det(X))", ["X"], {"X": (3, 3)},
     ref=lambda X, xp=np: xp.log(xp.linalg.det(X)),
     gen=lambda rng: dict(X=_invertible(rng, 3, positive_det=True)),
     analytic=lambda X: dict(X=_X_invT(X)),
     note="log(det(X)) written with the scalar log")

_add("invdet_det_product", "inverse_det", "det(A*X)", ["X", "A"], {"A": (3, 3), "X": (3, 3)},
     ref=lambda A, X, xp=np: xp.linalg.det(A @ X),
     gen=lambda rng: dict(A=_invertible(rng, 3), X=_invertible(rng, 3)),
     analytic=lambda A, X: dict(X=np.linalg.det(A @ X) * _X_invT(X),
                                A=np.linalg.det(A @ X) * _X_invT(A)),
     note="determinant of a product")

_add("invdet_sum_inverse", "inverse_det", "sum(inv(X))", ["X"], {"X": (3, 3)},
     ref=lambda X, xp=np: xp.sum(xp.linalg.inv(X)),
     gen=lambda rng: dict(X=_invertible(rng, 3)),
     analytic=lambda X: dict(X=-_X_invT(X) @ np.ones((3, 3)) @ _X_invT(X)),
     note="sum of the entries of the inverse")


# ============================================================== elementwise
_add("ew_sum_exp", "elementwise", "sum(exp(X))", ["X"], {"X": (3, 4)},
     ref=lambda X, xp=np: xp.sum(xp.exp(X)),
     gen=lambda rng: dict(X=_n(rng, 3, 4)),
     analytic=lambda X: dict(X=np.exp(X)))

_add("ew_sum_log", "elementwise", "sum(log(x))", ["x"], {"x": (5, 1)},
     ref=lambda x, xp=np: xp.sum(xp.log(x)),
     gen=lambda rng: dict(x=_u(rng, 5, 1, 0.5, 2.0)),
     analytic=lambda x: dict(x=1.0 / x),
     note="positive points")

_add("ew_sum_sqrt", "elementwise", "sum(sqrt(x))", ["x"], {"x": (5, 1)},
     ref=lambda x, xp=np: xp.sum(xp.sqrt(x)),
     gen=lambda rng: dict(x=_u(rng, 5, 1, 0.5, 2.0)),
     analytic=lambda x: dict(x=0.5 / np.sqrt(x)),
     note="positive points")

_add("ew_softplus", "elementwise", "sum(softplus(A*x))", ["A", "x"],
     {"A": (4, 3), "x": (3, 1)},
     ref=lambda A, x, xp=np: xp.sum(_softplus(A @ x, xp)),
     gen=lambda rng: dict(A=_n(rng, 4, 3), x=_n(rng, 3, 1)),
     analytic=lambda A, x: dict(A=_sigmoid(A @ x) @ x.T, x=A.T @ _sigmoid(A @ x)),
     note="softplus' = sigmoid")


def _tanh_affine_grad(W, x, u):
    g = 1.0 - np.tanh(W @ x + u) ** 2
    return dict(W=g @ x.T, x=W.T @ g, u=g)


_add("ew_tanh_affine", "elementwise", "sum(tanh(W*x + u))", ["W", "x", "u"],
     {"W": (4, 3), "x": (3, 1), "u": (4, 1)},
     ref=lambda W, x, u, xp=np: xp.sum(xp.tanh(W @ x + u)),
     gen=lambda rng: dict(W=_n(rng, 4, 3, 0.6), x=_n(rng, 3, 1), u=_n(rng, 4, 1)),
     analytic=_tanh_affine_grad)

_add("ew_sin_cos", "elementwise", "sum(sin(x) .* cos(y))", ["x", "y"],
     {"x": (4, 1), "y": (4, 1)},
     ref=lambda x, y, xp=np: xp.sum(xp.sin(x) * xp.cos(y)),
     gen=lambda rng: dict(x=_n(rng, 4, 1), y=_n(rng, 4, 1)),
     analytic=lambda x, y: dict(x=np.cos(x) * np.cos(y), y=-np.sin(x) * np.sin(y)))

_add("ew_abs", "elementwise", "sum(abs(x))", ["x"], {"x": (6, 1)},
     ref=lambda x, xp=np: xp.sum(xp.abs(x)),
     gen=_redraw(lambda rng: dict(x=_n(rng, 6, 1)),
                 lambda d: _away_from_zero(d["x"], 0.1)),
     analytic=lambda x: dict(x=np.sign(x)),
     note="points away from the kink at 0")

_add("ew_l1_regression", "elementwise", "sum(abs(A*x - b))", ["x", "A"],
     {"A": (6, 3), "x": (3, 1), "b": (6, 1)},
     ref=lambda A, x, b, xp=np: xp.sum(xp.abs(A @ x - b)),
     gen=_redraw(lambda rng: dict(A=_n(rng, 6, 3), x=_n(rng, 3, 1), b=_n(rng, 6, 1)),
                 lambda d: _away_from_zero(d["A"] @ d["x"] - d["b"], 0.1)),
     analytic=lambda A, x, b: dict(x=A.T @ np.sign(A @ x - b), A=np.sign(A @ x - b) @ x.T),
     note="L1 residual, points away from kinks")

_add("ew_divide", "elementwise", "sum(x./y)", ["x", "y"], {"x": (5, 1), "y": (5, 1)},
     ref=lambda x, y, xp=np: xp.sum(x / y),
     gen=lambda rng: dict(x=_n(rng, 5, 1), y=_u(rng, 5, 1, 0.5, 2.0)),
     analytic=lambda x, y: dict(x=1.0 / y, y=-x / y ** 2),
     note="y kept positive")

_add("ew_cube", "elementwise", "sum(x.^3)", ["x"], {"x": (5, 1)},
     ref=lambda x, xp=np: xp.sum(x ** 3),
     gen=lambda rng: dict(x=_n(rng, 5, 1)),
     analytic=lambda x: dict(x=3 * x ** 2))


def _sum_sigmoid_grad(A, x):
    s = _sigmoid(A @ x)
    return dict(A=(s * (1 - s)) @ x.T, x=A.T @ (s * (1 - s)))


_add("ew_sum_sigmoid", "elementwise", "sum(sigmoid(A*x))", ["A", "x"],
     {"A": (4, 3), "x": (3, 1)},
     ref=lambda A, x, xp=np: xp.sum(_sigmoid(A @ x, xp)),
     gen=lambda rng: dict(A=_n(rng, 4, 3), x=_n(rng, 3, 1)),
     analytic=_sum_sigmoid_grad)


def _relu_layer_grad(c, W, x):
    g = c * (W @ x > 0)
    return dict(W=g @ x.T, x=W.T @ g)


_add("ew_relu_layer", "elementwise", "c'*relu(W*x)", ["W", "x"],
     {"c": (5, 1), "W": (5, 3), "x": (3, 1)},
     ref=lambda c, W, x, xp=np: xp.sum(c * _relu(W @ x, xp)),
     gen=_redraw(lambda rng: dict(c=_n(rng, 5, 1), W=_n(rng, 5, 3), x=_n(rng, 3, 1)),
                 lambda d: _away_from_zero(d["W"] @ d["x"], 0.1)
                 and 0 < (d["W"] @ d["x"] > 0).sum() < 5),
     analytic=_relu_layer_grad,
     note="points away from the ReLU kink, both sides present")

_add("ew_gaussian_bump", "elementwise", "sum(exp(-x.^2/2))", ["x"], {"x": (5, 1)},
     ref=lambda x, xp=np: xp.sum(xp.exp(-0.5 * x * x)),
     gen=lambda rng: dict(x=_n(rng, 5, 1)),
     analytic=lambda x: dict(x=-x * np.exp(-0.5 * x * x)),
     note="unary minus binds looser than .^")

_add("ew_log1p_exp", "elementwise", "sum(log(1 + exp(X)))", ["X"], {"X": (3, 3)},
     ref=lambda X, xp=np: xp.sum(xp.log(1.0 + xp.exp(X))),
     gen=lambda rng: dict(X=_n(rng, 3, 3)),
     analytic=lambda X: dict(X=_sigmoid(X)),
     note="softplus written out; scalar 1 broadcast over a matrix")

_add("ew_chi_square", "elementwise", "sum((x - y).^2 ./ y)", ["x", "y"],
     {"x": (5, 1), "y": (5, 1)},
     ref=lambda x, y, xp=np: xp.sum((x - y) ** 2 / y),
     gen=lambda rng: dict(x=_u(rng, 5, 1, 0.5, 2.0), y=_u(rng, 5, 1, 0.5, 2.0)),
     analytic=lambda x, y: dict(x=2 * (x - y) / y, y=-2 * (x - y) / y - (x - y) ** 2 / y ** 2),
     note="y kept positive")

_add("ew_fractional_power", "elementwise", "sum(X.^1.5)", ["X"], {"X": (3, 4)},
     ref=lambda X, xp=np: xp.sum(X ** 1.5),
     gen=lambda rng: dict(X=_u(rng, 3, 4, 0.5, 2.0)),
     analytic=lambda X: dict(X=1.5 * np.sqrt(X)),
     note="positive points")

_add("ew_power_scalar_exponent", "elementwise", "sum(x.^a)", ["x", "a"],
     {"x": (5, 1), "a": ()},
     ref=lambda x, a, xp=np: xp.sum(x ** a),
     gen=lambda rng: dict(x=_u(rng, 5, 1, 0.5, 2.0), a=_scalar(rng, 1.0, 2.5)),
     analytic=lambda x, a: dict(x=a * x ** (a - 1), a=float(np.sum(x ** a * np.log(x)))),
     note="a scalar variable as the exponent of .^")

_add("ew_exp_scaled", "elementwise", "sum(exp(a*x))", ["a", "x"], {"a": (), "x": (4, 1)},
     ref=lambda a, x, xp=np: xp.sum(xp.exp(a * x)),
     gen=lambda rng: dict(a=_scalar(rng, -1.0, 1.0), x=_n(rng, 4, 1)),
     analytic=lambda a, x: dict(a=float(np.sum(x * np.exp(a * x))), x=a * np.exp(a * x)),
     note="a scalar variable scaling a vector")

_add("ew_scalar_functions", "elementwise", "a^3 + sin(a)*b - exp(b)/a", ["a", "b"],
     {"a": (), "b": ()},
     ref=lambda a, b, xp=np: a ** 3 + xp.sin(a) * b - xp.exp(b) / a,
     gen=lambda rng: dict(a=_scalar(rng, 0.5, 1.5), b=_scalar(rng)),
     analytic=lambda a, b: dict(a=3 * a ** 2 + np.cos(a) * b + np.exp(b) / a ** 2,
                                b=np.sin(a) - np.exp(b) / a),
     note="all-scalar program; a kept away from 0")

_add("ew_hadamard_weighted", "elementwise", "sum(X .* A .* X)", ["X", "A"],
     {"X": (3, 4), "A": (3, 4)},
     ref=lambda X, A, xp=np: xp.sum(A * X * X),
     gen=lambda rng: dict(X=_n(rng, 3, 4), A=_n(rng, 3, 4)),
     analytic=lambda X, A: dict(X=2 * A * X, A=X * X))

_add("ew_tanh_squared", "elementwise", "sum(tanh(X).^2)", ["X"], {"X": (3, 3)},
     ref=lambda X, xp=np: xp.sum(xp.tanh(X) ** 2),
     gen=lambda rng: dict(X=_n(rng, 3, 3)),
     analytic=lambda X: dict(X=2 * np.tanh(X) * (1 - np.tanh(X) ** 2)))

_add("ew_cos_of_inner", "elementwise", "cos(u'*x)", ["u", "x"], {"u": (4, 1), "x": (4, 1)},
     ref=lambda u, x, xp=np: xp.cos(xp.sum(u * x)),
     gen=lambda rng: dict(u=_n(rng, 4, 1, 0.5), x=_n(rng, 4, 1)),
     analytic=lambda u, x: dict(u=-np.sin(np.sum(u * x)) * x, x=-np.sin(np.sum(u * x)) * u),
     note="elementwise function of a 1x1 value")

_add("ew_smooth_norm", "elementwise", "sqrt(x'*x + 1)", ["x"], {"x": (4, 1)},
     ref=lambda x, xp=np: xp.sqrt(xp.sum(x * x) + 1.0),
     gen=lambda rng: dict(x=_n(rng, 4, 1)),
     analytic=lambda x: dict(x=x / np.sqrt(np.sum(x * x) + 1.0)))

_add("ew_log_sum_exp", "elementwise", "log(sum(exp(x)))", ["x"], {"x": (5, 1)},
     ref=lambda x, xp=np: xp.log(xp.sum(xp.exp(x))),
     gen=lambda rng: dict(x=_n(rng, 5, 1)),
     analytic=lambda x: dict(x=_softmax_vec(x)),
     note="gradient is softmax(x)")


# ============================================================== neural networks
def _bce(X, w, y, b=0.0, xp=np):
    p = _sigmoid(X @ w + b, xp)
    return -xp.sum(y * xp.log(p) + (1 - y) * xp.log(1 - p))


_add("nn_logistic_regression", "nn",
     "-sum(y.*log(sigmoid(X*w)) + (1-y).*log(1-sigmoid(X*w)))", ["w"],
     {"X": (8, 3), "w": (3, 1), "y": (8, 1)},
     ref=lambda X, w, y, xp=np: _bce(X, w, y, xp=xp),
     gen=lambda rng: dict(X=_n(rng, 8, 3), w=_n(rng, 3, 1, 0.5), y=_labels01(rng, 8)),
     analytic=lambda X, w, y: dict(w=X.T @ (_sigmoid(X @ w) - y)),
     note="binary cross-entropy of logistic regression: X'(sigmoid(Xw) - y)")

_add("nn_logistic_regression_bias", "nn",
     "-sum(y.*log(sigmoid(X*w + b)) + (1 - y).*log(1 - sigmoid(X*w + b)))", ["w", "b"],
     {"X": (8, 3), "w": (3, 1), "b": (), "y": (8, 1)},
     ref=lambda X, w, b, y, xp=np: _bce(X, w, y, b, xp=xp),
     gen=lambda rng: dict(X=_n(rng, 8, 3), w=_n(rng, 3, 1, 0.5), b=_scalar(rng, -0.5, 0.5),
                          y=_labels01(rng, 8)),
     analytic=lambda X, w, b, y: dict(w=X.T @ (_sigmoid(X @ w + b) - y),
                                      b=float(np.sum(_sigmoid(X @ w + b) - y))),
     note="logistic regression with a scalar bias broadcast over the samples")

_add("nn_logistic_l2", "nn",
     "-sum(y.*log(sigmoid(X*w)) + (1-y).*log(1-sigmoid(X*w))) + 0.5*lam*norm2(w)^2",
     ["w", "lam"], {"X": (8, 3), "w": (3, 1), "y": (8, 1), "lam": ()},
     ref=lambda X, w, y, lam, xp=np: _bce(X, w, y, xp=xp) + 0.5 * lam * xp.sum(w ** 2),
     gen=lambda rng: dict(X=_n(rng, 8, 3), w=_n(rng, 3, 1, 0.5), y=_labels01(rng, 8),
                          lam=_scalar(rng, 0.1, 1.0)),
     analytic=lambda X, w, y, lam: dict(w=X.T @ (_sigmoid(X @ w) - y) + lam * w,
                                        lam=0.5 * float(np.sum(w ** 2))),
     note="L2-regularised logistic regression; lam declared a scalar (default kind: vector)")

_add("nn_logistic_softplus_pm1", "nn", "sum(softplus(-y .* (X*w)))", ["w"],
     {"X": (8, 3), "w": (3, 1), "y": (8, 1)},
     ref=lambda X, w, y, xp=np: xp.sum(_softplus(-y * (X @ w), xp)),
     gen=lambda rng: dict(X=_n(rng, 8, 3), w=_n(rng, 3, 1), y=_signs(rng, 8)),
     analytic=lambda X, w, y: dict(w=X.T @ (-y * _sigmoid(-y * (X @ w)))),
     note="logistic loss with +-1 labels")


def _softmax_ce_grad_Z(Z, Y):
    return _softmax_rows(Z) * Y.sum(axis=1, keepdims=True) - Y


def _softmax_bias_grad(X, W, b, Y):
    G = _softmax_ce_grad_Z(X @ W + b, Y)
    return dict(W=X.T @ G, b=G.sum(axis=0, keepdims=True))


_add("nn_softmax_regression_bias", "nn", "-sum(Y .* log(softmax(X*W + b)))", ["W", "b"],
     {"X": (7, 4), "W": (4, 3), "b": (1, 3), "Y": (7, 3)},
     ref=lambda X, W, b, Y, xp=np: -xp.sum(Y * _logsoftmax_rows(X @ W + b, xp)),
     gen=lambda rng: dict(X=_n(rng, 7, 4), W=_n(rng, 4, 3), b=_n(rng, 1, 3),
                          Y=_onehot(rng, 7, 3)),
     analytic=_softmax_bias_grad,
     note="softmax regression with a bias row broadcast over the samples")


def _softmax_l2_grad(X, W, b, Y, lam):
    g = _softmax_bias_grad(X, W, b, Y)
    g["W"] = g["W"] + lam * W
    g["lam"] = 0.5 * float(np.sum(W ** 2))
    return g


_add("nn_softmax_l2", "nn", "-sum(Y .* logsoftmax(X*W + b)) + 0.5*lam*norm2(W)^2",
     ["W", "b", "lam"], {"X": (7, 4), "W": (4, 3), "b": (1, 3), "Y": (7, 3), "lam": ()},
     ref=lambda X, W, b, Y, lam, xp=np: -xp.sum(Y * _logsoftmax_rows(X @ W + b, xp))
     + 0.5 * lam * xp.sum(W ** 2),
     gen=lambda rng: dict(X=_n(rng, 7, 4), W=_n(rng, 4, 3), b=_n(rng, 1, 3),
                          Y=_onehot(rng, 7, 3), lam=_scalar(rng, 0.1, 1.0)),
     analytic=_softmax_l2_grad,
     note="L2-regularised softmax regression with logsoftmax")

_add("nn_logsoftmax_batch", "nn", "-sum(Y .* logsoftmax(X*W))", ["W"],
     {"X": (6, 4), "W": (4, 3), "Y": (6, 3)},
     ref=lambda X, W, Y, xp=np: -xp.sum(Y * _logsoftmax_rows(X @ W, xp)),
     gen=lambda rng: dict(X=_n(rng, 6, 4), W=_n(rng, 4, 3), Y=_onehot(rng, 6, 3)),
     analytic=lambda X, W, Y: dict(W=X.T @ _softmax_ce_grad_Z(X @ W, Y)),
     note="row-wise logsoftmax of a matrix")


def _logsoftmax_vec_grad(W, x, y):
    g = _softmax_vec(W @ x) * y.sum() - y
    return dict(W=g @ x.T, x=W.T @ g)


_add("nn_logsoftmax_column", "nn", "-y'*logsoftmax(W*x)", ["W", "x"],
     {"W": (4, 3), "x": (3, 1), "y": (4, 1)},
     ref=lambda W, x, y, xp=np: -xp.sum(y * _logsoftmax_vec(W @ x, xp)),
     gen=lambda rng: dict(W=_n(rng, 4, 3), x=_n(rng, 3, 1), y=_onehot(rng, 1, 4).T.copy()),
     analytic=_logsoftmax_vec_grad,
     note="logsoftmax of a column vector runs over all its entries")


def _softmax_col_grad(W, x, c, y):
    g = _softmax_vec(W @ x + c) * y.sum() - y
    return dict(W=g @ x.T, c=g)


_add("nn_softmax_column_bias", "nn", "-y'*log(softmax(W*x + c))", ["W", "c"],
     {"W": (4, 3), "x": (3, 1), "c": (4, 1), "y": (4, 1)},
     ref=lambda W, x, c, y, xp=np: -xp.sum(y * _logsoftmax_vec(W @ x + c, xp)),
     gen=lambda rng: dict(W=_n(rng, 4, 3), x=_n(rng, 3, 1), c=_n(rng, 4, 1),
                          y=_onehot(rng, 1, 4).T.copy()),
     analytic=_softmax_col_grad,
     note="column-convention softmax classifier with a column bias")


def _tanh_mlp_grad(X, W1, b1, W2, b2, Y):
    H = np.tanh(X @ W1 + b1)
    E = 2.0 * (H @ W2 + b2 - Y)
    G = (E @ W2.T) * (1 - H ** 2)
    return dict(W1=X.T @ G, b1=G.sum(axis=0, keepdims=True),
                W2=H.T @ E, b2=E.sum(axis=0, keepdims=True))


_TANH_MLP_SHAPES = {"X": (6, 3), "W1": (3, 5), "b1": (1, 5), "W2": (5, 2), "b2": (1, 2),
                    "Y": (6, 2)}


def _tanh_mlp_ref(X, W1, b1, W2, b2, Y, xp=np):
    return xp.sum((xp.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)


def _tanh_mlp_gen(rng):
    return dict(X=_n(rng, 6, 3), W1=_n(rng, 3, 5, 0.7), b1=_n(rng, 1, 5, 0.5),
                W2=_n(rng, 5, 2), b2=_n(rng, 1, 2), Y=_n(rng, 6, 2))


_add("nn_mlp_tanh", "nn", "norm2(tanh(X*W1 + b1)*W2 + b2 - Y)^2", ["W1", "b1", "W2", "b2"],
     _TANH_MLP_SHAPES, ref=_tanh_mlp_ref, gen=_tanh_mlp_gen, analytic=_tanh_mlp_grad,
     note="two-layer tanh MLP, broadcast row biases")

_add("nn_program_mlp_tanh", "nn", "H = tanh(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2",
     ["W1", "b1", "W2", "b2"], _TANH_MLP_SHAPES,
     ref=_tanh_mlp_ref, gen=_tanh_mlp_gen, analytic=_tanh_mlp_grad,
     note="the same MLP as a program with a named intermediate")


def _relu_mlp_ok(d):
    Z = d["X"] @ d["W1"] + d["b1"]
    return _away_from_zero(Z, 0.05) and (Z > 0).mean() > 0.25


def _relu_mlp_gen(rng):
    return dict(X=_n(rng, 8, 4), W1=_n(rng, 4, 5), b1=_n(rng, 1, 5, 0.5),
                W2=_n(rng, 5, 2), b2=_n(rng, 1, 2), Y=_n(rng, 8, 2))


def _relu_mlp_mse_grad(X, W1, b1, W2, b2, Y):
    Z = X @ W1 + b1
    H = _relu(Z)
    E = 2.0 * (H @ W2 + b2 - Y) / 8.0
    G = (E @ W2.T) * (Z > 0)
    return dict(W1=X.T @ G, b1=G.sum(axis=0, keepdims=True),
                W2=H.T @ E, b2=E.sum(axis=0, keepdims=True))


_add("nn_mlp_relu_mse", "nn", "sum((relu(X*W1 + b1)*W2 + b2 - Y).^2)/8",
     ["W1", "b1", "W2", "b2"],
     {"X": (8, 4), "W1": (4, 5), "b1": (1, 5), "W2": (5, 2), "b2": (1, 2), "Y": (8, 2)},
     ref=lambda X, W1, b1, W2, b2, Y, xp=np: xp.sum(
         (_relu(X @ W1 + b1, xp) @ W2 + b2 - Y) ** 2) / 8.0,
     gen=_redraw(_relu_mlp_gen, _relu_mlp_ok),
     analytic=_relu_mlp_mse_grad,
     note="ReLU MLP with mean squared error, points away from the kinks")


def _relu_mlp_ce_grad(X, W1, b1, W2, b2, Y):
    Z = X @ W1 + b1
    H = _relu(Z)
    E = _softmax_ce_grad_Z(H @ W2 + b2, Y)
    G = (E @ W2.T) * (Z > 0)
    return dict(W1=X.T @ G, b1=G.sum(axis=0, keepdims=True),
                W2=H.T @ E, b2=E.sum(axis=0, keepdims=True))


_add("nn_mlp_relu_softmax_ce", "nn", "-sum(Y .* logsoftmax(relu(X*W1 + b1)*W2 + b2))",
     ["W1", "b1", "W2", "b2"],
     {"X": (8, 4), "W1": (4, 5), "b1": (1, 5), "W2": (5, 3), "b2": (1, 3), "Y": (8, 3)},
     ref=lambda X, W1, b1, W2, b2, Y, xp=np: -xp.sum(
         Y * _logsoftmax_rows(_relu(X @ W1 + b1, xp) @ W2 + b2, xp)),
     gen=_redraw(lambda rng: dict(X=_n(rng, 8, 4), W1=_n(rng, 4, 5), b1=_n(rng, 1, 5, 0.5),
                                  W2=_n(rng, 5, 3), b2=_n(rng, 1, 3), Y=_onehot(rng, 8, 3)),
                 _relu_mlp_ok),
     analytic=_relu_mlp_ce_grad,
     note="ReLU MLP classifier with softmax cross-entropy")


def _column_mlp_grad(x, W1, b1, W2, b2, y):
    h = np.tanh(W1 @ x + b1)
    e = W2 @ h + b2 - y
    g = (W2.T @ e) * (1 - h ** 2)
    return dict(W1=g @ x.T, b1=g, W2=e @ h.T, b2=e)


_add("nn_mlp_column_tanh", "nn", "0.5*norm2(W2*tanh(W1*x + b1) + b2 - y)^2",
     ["W1", "b1", "W2", "b2"],
     {"x": (4, 1), "W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "y": (3, 1)},
     ref=lambda x, W1, b1, W2, b2, y, xp=np: 0.5 * xp.sum(
         (W2 @ xp.tanh(W1 @ x + b1) + b2 - y) ** 2),
     gen=lambda rng: dict(x=_n(rng, 4, 1), W1=_n(rng, 5, 4, 0.6), b1=_n(rng, 5, 1, 0.5),
                          W2=_n(rng, 3, 5), b2=_n(rng, 3, 1), y=_n(rng, 3, 1)),
     analytic=_column_mlp_grad,
     note="column-convention MLP for one sample")


def _column_batch_mlp_grad(X, W1, c1, W2, c2, Y):
    H = np.tanh(W1 @ X + c1)
    E = 2.0 * (W2 @ H + c2 - Y)
    G = (W2.T @ E) * (1 - H ** 2)
    return dict(W1=G @ X.T, c1=G.sum(axis=1, keepdims=True),
                W2=E @ H.T, c2=E.sum(axis=1, keepdims=True))


_add("nn_mlp_column_batch", "nn", "norm2(W2*tanh(W1*X + c1) + c2 - Y)^2",
     ["W1", "c1", "W2", "c2"],
     {"X": (4, 6), "W1": (5, 4), "c1": (5, 1), "W2": (2, 5), "c2": (2, 1), "Y": (2, 6)},
     ref=lambda X, W1, c1, W2, c2, Y, xp=np: xp.sum(
         (W2 @ xp.tanh(W1 @ X + c1) + c2 - Y) ** 2),
     gen=lambda rng: dict(X=_n(rng, 4, 6), W1=_n(rng, 5, 4, 0.6), c1=_n(rng, 5, 1, 0.5),
                          W2=_n(rng, 2, 5), c2=_n(rng, 2, 1), Y=_n(rng, 2, 6)),
     analytic=_column_batch_mlp_grad,
     note="column convention on a batch (one sample per column): column biases (m,1) "
          "broadcast over the samples, gradients are row sums")

_add("nn_linear_column_bias", "nn", "norm2(W*X + c - Y)^2", ["W", "c"],
     {"W": (3, 4), "X": (4, 6), "c": (3, 1), "Y": (3, 6)},
     ref=lambda W, X, c, Y, xp=np: xp.sum((W @ X + c - Y) ** 2),
     gen=lambda rng: dict(W=_n(rng, 3, 4), X=_n(rng, 4, 6), c=_n(rng, 3, 1), Y=_n(rng, 3, 6)),
     analytic=lambda W, X, c, Y: dict(W=2 * (W @ X + c - Y) @ X.T,
                                      c=2 * (W @ X + c - Y).sum(axis=1, keepdims=True)),
     note="column bias broadcast over a matrix")


def _program_softmax_grad(X, W, b, Y):
    return _softmax_bias_grad(X, W, b, Y)


_add("nn_program_softmax", "nn", "Z = X*W + b; P = softmax(Z); f = -sum(Y .* log(P))",
     ["W", "b"], {"X": (7, 4), "W": (4, 3), "b": (1, 3), "Y": (7, 3)},
     ref=lambda X, W, b, Y, xp=np: -xp.sum(Y * _logsoftmax_rows(X @ W + b, xp)),
     gen=lambda rng: dict(X=_n(rng, 7, 4), W=_n(rng, 4, 3, 0.7), b=_n(rng, 1, 3),
                          Y=_onehot(rng, 7, 3)),
     analytic=_program_softmax_grad,
     note="three statements with named intermediates")


def _three_layer_ref(X, W1, b1, W2, b2, W3, b3, Y, xp=np):
    H1 = _sigmoid(X @ W1 + b1, xp)
    H2 = xp.tanh(H1 @ W2 + b2)
    return -xp.sum(Y * _logsoftmax_rows(H2 @ W3 + b3, xp))


def _three_layer_grad(X, W1, b1, W2, b2, W3, b3, Y):
    H1 = _sigmoid(X @ W1 + b1)
    H2 = np.tanh(H1 @ W2 + b2)
    E3 = _softmax_ce_grad_Z(H2 @ W3 + b3, Y)
    E2 = (E3 @ W3.T) * (1 - H2 ** 2)
    E1 = (E2 @ W2.T) * H1 * (1 - H1)
    col = dict(axis=0, keepdims=True)
    return dict(W1=X.T @ E1, b1=E1.sum(**col), W2=H1.T @ E2, b2=E2.sum(**col),
                W3=H2.T @ E3, b3=E3.sum(**col))


_add("nn_program_three_layers", "nn",
     "H1 = sigmoid(X*W1 + b1)\nH2 = tanh(H1*W2 + b2)\nloss = -sum(Y .* logsoftmax(H2*W3 + b3))",
     ["W1", "b1", "W2", "b2", "W3", "b3"],
     {"X": (6, 4), "W1": (4, 5), "b1": (1, 5), "W2": (5, 4), "b2": (1, 4), "W3": (4, 3),
      "b3": (1, 3), "Y": (6, 3)},
     ref=_three_layer_ref,
     gen=lambda rng: dict(X=_n(rng, 6, 4), W1=_n(rng, 4, 5), b1=_n(rng, 1, 5),
                          W2=_n(rng, 5, 4, 0.7), b2=_n(rng, 1, 4, 0.5), W3=_n(rng, 4, 3),
                          b3=_n(rng, 1, 3), Y=_onehot(rng, 6, 3)),
     analytic=_three_layer_grad,
     note="newline-separated program; the last statement (not named f) is the function")


def _l2_mlp_grad(X, W1, b1, W2, Y, lam):
    H = np.tanh(X @ W1 + b1)
    E = 2.0 * (H @ W2 - Y)
    G = (E @ W2.T) * (1 - H ** 2)
    return dict(W1=X.T @ G + lam * W1, W2=H.T @ E + lam * W2)


_add("nn_mlp_l2", "nn",
     "norm2(tanh(X*W1 + b1)*W2 - Y)^2 + 0.5*lam*norm2(W1)^2 + 0.5*lam*norm2(W2)^2",
     ["W1", "W2"],
     {"X": (6, 3), "W1": (3, 4), "b1": (1, 4), "W2": (4, 2), "Y": (6, 2), "lam": ()},
     ref=lambda X, W1, b1, W2, Y, lam, xp=np: xp.sum((xp.tanh(X @ W1 + b1) @ W2 - Y) ** 2)
     + 0.5 * lam * (xp.sum(W1 ** 2) + xp.sum(W2 ** 2)),
     gen=lambda rng: dict(X=_n(rng, 6, 3), W1=_n(rng, 3, 4, 0.7), b1=_n(rng, 1, 4, 0.5),
                          W2=_n(rng, 4, 2), Y=_n(rng, 6, 2), lam=_scalar(rng, 0.1, 1.0)),
     analytic=_l2_mlp_grad,
     note="weight decay on both layers with a scalar lam")

_add("nn_scalar_linear_regression", "nn", "norm2(a*x + b - y)^2", ["a", "b"],
     {"a": (), "b": (), "x": (7, 1), "y": (7, 1)},
     ref=lambda a, b, x, y, xp=np: xp.sum((a * x + b - y) ** 2),
     gen=lambda rng: dict(a=_scalar(rng), b=_scalar(rng), x=_n(rng, 7, 1), y=_n(rng, 7, 1)),
     analytic=lambda a, b, x, y: dict(a=2 * float(np.sum(x * (a * x + b - y))),
                                      b=2 * float(np.sum(a * x + b - y))),
     note="scalar slope and scalar bias broadcast over a vector")


def _scalar_logistic_grad(a, b, x, y):
    s = _sigmoid(-y * (a * x + b))
    dz = -y * s
    return dict(a=float(np.sum(dz * x)), b=float(np.sum(dz)))


_add("nn_scalar_logistic", "nn", "sum(softplus(-y .* (a*x + b)))", ["a", "b"],
     {"a": (), "b": (), "x": (8, 1), "y": (8, 1)},
     ref=lambda a, b, x, y, xp=np: xp.sum(_softplus(-y * (a * x + b), xp)),
     gen=lambda rng: dict(a=_scalar(rng), b=_scalar(rng), x=_n(rng, 8, 1), y=_signs(rng, 8)),
     analytic=_scalar_logistic_grad,
     note="1-D logistic regression with scalar parameters")


def _autoencoder_grad(X, W):
    H = _sigmoid(X @ W)
    R = H @ W.T - X
    return dict(W=2 * R.T @ H + X.T @ ((2 * R @ W) * H * (1 - H)))


_add("nn_tied_autoencoder", "nn", "norm2(sigmoid(X*W)*W' - X)^2", ["W"],
     {"X": (6, 4), "W": (4, 3)},
     ref=lambda X, W, xp=np: xp.sum((_sigmoid(X @ W, xp) @ W.T - X) ** 2),
     gen=lambda rng: dict(X=_n(rng, 6, 4), W=_n(rng, 4, 3, 0.7)),
     analytic=_autoencoder_grad,
     note="tied weights: W appears as W and as W'")


def _attention_grad(X, A, V):
    P = _softmax_rows(X @ A @ X.T)
    dZ = P * (V - np.sum(P * V, axis=1, keepdims=True))
    return dict(A=X.T @ dZ @ X)


_add("nn_attention_scores", "nn", "sum(softmax(X*A*X') .* V)", ["A"],
     {"X": (4, 3), "A": (3, 3), "V": (4, 4)},
     ref=lambda X, A, V, xp=np: xp.sum(xp.exp(_logsoftmax_rows(X @ A @ X.T, xp)) * V),
     gen=lambda rng: dict(X=_n(rng, 4, 3), A=_n(rng, 3, 3, 0.5), V=_n(rng, 4, 4)),
     analytic=_attention_grad,
     note="row-wise softmax of a square score matrix")


def _hinge_ok(d):
    return _away_from_zero(1 - d["y"] * (d["X"] @ d["w"]), 0.05) and \
        (1 - d["y"] * (d["X"] @ d["w"]) > 0).sum() >= 2


_add("nn_hinge", "nn", "sum(relu(1 - y .* (X*w))) + 0.5*lam*w'*w", ["w"],
     {"X": (8, 3), "w": (3, 1), "y": (8, 1), "lam": ()},
     ref=lambda X, w, y, lam, xp=np: xp.sum(_relu(1 - y * (X @ w), xp)) + 0.5 * lam * xp.sum(w * w),
     gen=_redraw(lambda rng: dict(X=_n(rng, 8, 3), w=_n(rng, 3, 1), y=_signs(rng, 8),
                                  lam=_scalar(rng, 0.1, 1.0)), _hinge_ok),
     analytic=lambda X, w, y, lam: dict(
         w=X.T @ (-y * (1 - y * (X @ w) > 0)) + lam * w),
     note="soft-margin SVM, points away from the hinge")


# ============================================================== edge cases of the language
_add("quad_row_vector_form", "quadratic", "x*A*x'", ["x", "A"], {"x": (1, 4), "A": (4, 4)},
     ref=lambda x, A, xp=np: xp.sum((x @ A) * x),
     gen=lambda rng: dict(x=_n(rng, 1, 4), A=_n(rng, 4, 4)),
     analytic=lambda x, A: dict(x=x @ (A + A.T), A=x.T @ x),
     note="quadratic form of a row vector")

_add("quad_scalar_times_form", "quadratic", "a*(x'*x) + a^2", ["a", "x"],
     {"a": (), "x": (3, 1)},
     ref=lambda a, x, xp=np: a * xp.sum(x * x) + a * a,
     gen=lambda rng: dict(a=_scalar(rng), x=_n(rng, 3, 1)),
     analytic=lambda a, x: dict(a=float(np.sum(x * x)) + 2 * a, x=2 * a * x),
     note="scalar variable times a 1x1 value")

_add("ew_scalar_shift_matrix", "elementwise", "sum(exp(X + a))", ["X", "a"],
     {"X": (3, 4), "a": ()},
     ref=lambda X, a, xp=np: xp.sum(xp.exp(X + a)),
     gen=lambda rng: dict(X=_n(rng, 3, 4, 0.7), a=_scalar(rng, -0.5, 0.5)),
     analytic=lambda X, a: dict(X=np.exp(X + a), a=float(np.sum(np.exp(X + a)))),
     note="scalar broadcast over a matrix: its gradient sums over all entries")

_add("ew_divide_by_scalar_variable", "elementwise", "sum(X.^2)/a", ["X", "a"],
     {"X": (3, 3), "a": ()},
     ref=lambda X, a, xp=np: xp.sum(X * X) / a,
     gen=lambda rng: dict(X=_n(rng, 3, 3), a=_scalar(rng, 0.5, 2.0)),
     analytic=lambda X, a: dict(X=2 * X / a, a=-float(np.sum(X * X)) / a ** 2),
     note="division by a scalar variable")

_add("ew_smooth_l1", "elementwise", "sum(sqrt(x.^2 + 1))", ["x"], {"x": (5, 1)},
     ref=lambda x, xp=np: xp.sum(xp.sqrt(x * x + 1.0)),
     gen=lambda rng: dict(x=_n(rng, 5, 1)),
     analytic=lambda x: dict(x=x / np.sqrt(x * x + 1.0)),
     note="pseudo-Huber / smooth absolute value")

_add("trace_diag_of_vector", "trace", "tr(diag(x)*A)", ["x", "A"], {"x": (4, 1), "A": (4, 4)},
     ref=lambda x, A, xp=np: xp.sum(x.ravel() * xp.diagonal(A)),
     gen=lambda rng: dict(x=_n(rng, 4, 1), A=_n(rng, 4, 4)),
     analytic=lambda x, A: dict(x=np.diag(A).reshape(-1, 1).copy(), A=np.diag(x.ravel())),
     note="diag of a vector is a diagonal matrix; its gradient is diag of a matrix")

_add("trace_gram_quartic", "trace", "norm2(X'*X)^2", ["X"], {"X": (4, 3)},
     ref=lambda X, xp=np: xp.sum((X.T @ X) ** 2),
     gen=lambda rng: dict(X=_n(rng, 4, 3)),
     analytic=lambda X: dict(X=4 * X @ X.T @ X),
     note="squared Frobenius norm of a Gram matrix: 4 X X'X")

_add("invdet_inverse_transposed", "inverse_det", "a'*inv(X)'*b", ["X", "a", "b"],
     {"a": (3, 1), "X": (3, 3), "b": (3, 1)},
     ref=lambda a, X, b, xp=np: xp.sum(a * (xp.linalg.inv(X).T @ b)),
     gen=lambda rng: dict(a=_n(rng, 3, 1), X=_invertible(rng, 3), b=_n(rng, 3, 1)),
     analytic=lambda a, X, b: dict(X=-_X_invT(X) @ b @ a.T @ _X_invT(X),
                                   a=_X_invT(X) @ b, b=np.linalg.inv(X) @ a),
     note="transpose of an inverse")


def _logdet_quadform_grad(X, A):
    Mi = np.linalg.inv(X.T @ A @ X)
    return dict(X=A @ X @ Mi + A.T @ X @ Mi.T)


_add("invdet_logdet_quadform", "inverse_det", "logdet(X'*A*X)", ["X"],
     {"X": (5, 3), "A": (5, 5)},
     ref=lambda X, A, xp=np: xp.log(xp.linalg.det(X.T @ A @ X)),
     gen=_redraw(lambda rng: dict(X=_n(rng, 5, 3), A=_spd(rng, 5)),
                 lambda d: np.linalg.svd(d["X"], compute_uv=False).min() > 0.5),
     analytic=_logdet_quadform_grad,
     note="log det of X'AX with an SPD-valued (unconstrained) A")

_add("nn_program_reused_intermediate", "nn", "Z = X*W; f = sum(Z.*Z) + sum(Z)", ["W"],
     {"X": (5, 3), "W": (3, 2)},
     ref=lambda X, W, xp=np: xp.sum((X @ W) ** 2) + xp.sum(X @ W),
     gen=lambda rng: dict(X=_n(rng, 5, 3), W=_n(rng, 3, 2)),
     analytic=lambda X, W: dict(W=X.T @ (2 * X @ W + 1)),
     note="an intermediate used twice")

_add("nn_centering_row", "nn", "norm2(X - m)^2", ["m"], {"X": (6, 4), "m": (1, 4)},
     ref=lambda X, m, xp=np: xp.sum((X - m) ** 2),
     gen=lambda rng: dict(X=_n(rng, 6, 4), m=_n(rng, 1, 4)),
     analytic=lambda X, m: dict(m=-2 * (X - m).sum(axis=0, keepdims=True)),
     note="a row subtracted from every row of X (m's default kind is a column vector)")


def _softmax_weighted_grad(c, W, x):
    s = _softmax_vec(W @ x)
    g = s * (c - float(np.sum(s * c)))
    return dict(W=g @ x.T, x=W.T @ g)


_add("nn_softmax_weighted", "nn", "c'*softmax(W*x)", ["W", "x"],
     {"c": (4, 1), "W": (4, 3), "x": (3, 1)},
     ref=lambda c, W, x, xp=np: xp.sum(c * xp.exp(_logsoftmax_vec(W @ x, xp))),
     gen=lambda rng: dict(c=_n(rng, 4, 1), W=_n(rng, 4, 3), x=_n(rng, 3, 1)),
     analytic=_softmax_weighted_grad,
     note="softmax (not log) of a column under a linear functional: (diag(s) - s s') c")


assert len({p["id"] for p in PROBLEMS}) == len(PROBLEMS), "duplicate problem ids"
