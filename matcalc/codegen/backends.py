"""Array backends for the generated code: NumPy (what the generators write), JAX and PyTorch.

A backend is a table: the framework's import lines and namespace, how each NumPy call the
generators emit is written there, which methods and attributes are renamed, and the source
of the helper functions (stable sigmoid, softmax, argument conversion, shape errors).
``matcalc.codegen.translate`` applies the table to the generated NumPy module; the NumPy backend is
the identity.  A call missing from a table is refused, never guessed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# NumPy functions whose JAX/PyTorch counterparts take the same positional arguments
_SAME = {"exp", "log", "sin", "cos", "tanh", "sqrt", "abs", "sign", "square", "reciprocal",
         "sum", "trace", "kron", "diagflat", "diagonal", "stack", "zeros_like", "reshape",
         "broadcast_to", "negative", "minimum", "maximum", "power", "heaviside", "logaddexp",
         "vdot", "asarray", "ones", "zeros", "eye", "empty", "result_type",
         "add", "subtract", "multiply", "divide", "matmul", "einsum", "log1p", "expm1", "transpose",
         "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "diag", "max", "min", "concatenate"}


@dataclass(frozen=True)
class Backend:
    """How generated code is written for one array framework."""
    name: str                         # numpy | jax | torch
    header: str                       # the module's import lines
    ns: str                           # the array namespace in generated code
    calls: dict                       # NumPy function -> the backend's (dotted) function
    linalg: str                       # namespace of inv / det / slogdet / norm
    methods: dict = field(default_factory=dict)   # method -> (new name, keyword renames)
    helpers: dict = field(default_factory=dict)   # helper name -> source
    constructors: tuple = ("ones", "zeros", "eye", "empty")  # NumPy calls that get dtype=_dtype
    reserved: tuple = ()              # module names a user variable must not shadow
    tensor_numbers: bool = False      # do its functions need a tensor where NumPy takes a number?
    transposed_dot: str = ""          # helper for a @ b with a transposed operand ("" : a.T @ b)
    scan_loops: str = ""              # the scan for BPTT loops (matcalc.codegen.scan); "": Python loops
    keywords: dict = field(default_factory=dict)  # keyword renames in calls of its functions
    views: bool = True                # can a write through a view reach its base (matcalc.codegen.inplace)?


_JAX_HELPERS = {
    "_norm2": '''def _norm2(x):
    """Euclidean/Frobenius norm scaled by max|x| (no overflow or underflow of the squares)."""
    m = jnp.max(jnp.abs(x))
    ok = (m > 0) & jnp.isfinite(m)
    safe = jnp.where(ok, m, 1)
    return jnp.where(ok, safe * jnp.sqrt(jnp.sum(jnp.square(x / safe))), m)''',
    "_unit": '''def _unit(x):
    """x / ‖x‖ without over/underflow; 0 at x = 0."""
    m = jnp.max(jnp.abs(x))
    ok = (m > 0) & jnp.isfinite(m)
    y = x / jnp.where(ok, m, 1)
    n = jnp.sqrt(jnp.sum(jnp.square(y)))
    return jnp.where(ok, y / jnp.where(ok, n, 1), jnp.where(m == 0, jnp.zeros_like(x), x / m))''',
    "_adjugate": '''def _adjugate(a):
    """adj(a) = det(a)·inv(a), also where a is singular (from the SVD; see matcalc.codegen.removable)."""
    n = a.shape[0]
    if n == 1:
        return jnp.ones_like(a)
    u, s, vt = jnp.linalg.svd(a)
    ones = jnp.ones(1, s.dtype)
    others = jnp.concatenate((ones, jnp.cumprod(s[:-1]))) * jnp.concatenate((jnp.cumprod(s[:0:-1])[::-1], ones))
    sign = jnp.linalg.det(u) * jnp.linalg.det(vt)
    return (sign * vt.T * others) @ u.T''',
    "_sigmoid": '''def _sigmoid(x, out=None):
    """Logistic function (jax.nn.sigmoid: stable, no overflow)."""
    return jax.nn.sigmoid(x)''',
    "_softmax": '''def _softmax(x, axis):
    """Softmax along axis (jax.nn.softmax, shifted by the maximum)."""
    return jax.nn.softmax(x, axis=axis)''',
    "_logsoftmax": '''def _logsoftmax(x, axis):
    """log(softmax(x)) along axis (jax.nn.log_softmax)."""
    return jax.nn.log_softmax(x, axis=axis)''',
    "_commutation": '''def _commutation(m, n, dtype=None):
    """K with K @ vec(A) == vec(A.T) (column-major vec) for A of shape (m, n)."""
    i, j = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    K = np.zeros((m * n, m * n))
    K[(j + i * n).ravel(), (i + j * m).ravel()] = 1.0
    return jnp.asarray(K, dtype)''',
    "_float": '''def _float(x):
    """An array of a floating dtype (float32 stays float32, integers become the default float)."""
    a = jnp.asarray(x)
    return a if jnp.issubdtype(a.dtype, jnp.inexact) else a.astype(jnp.result_type(float))''',
    "_floats": '''def _floats(*xs):
    """The arguments as arrays of one floating dtype (float32 stays float32, integers become
    the default float: float64 with jax_enable_x64)."""
    arrays = [jnp.asarray(x) for x in xs]
    dtype = jnp.result_type(*arrays)
    dtype = dtype if jnp.issubdtype(dtype, jnp.inexact) else jnp.result_type(float)
    return tuple(a.astype(dtype) for a in arrays)''',
    "_dtype_of": '''def _dtype_of(*xs):
    """The floating dtype of the (converted) arguments; the default float without any."""
    return xs[0].dtype if xs else jnp.result_type(float)''',
    "_add_into": '''def _add_into(out, dims, spec, term):
    """out with term added into the view np.einsum(spec, out.reshape(dims)) (where NumPy adds
    in place): term broadcast to the view's axes and embedded, a repeated index through an identity."""
    full, target = spec.split("->")
    size = dict(zip(full, dims))
    uniq = list(dict.fromkeys(full))
    term = jnp.broadcast_to(jnp.asarray(term, out.dtype), tuple(size[c] for c in target))   # NumPy's += keeps out's dtype
    term = jnp.transpose(term, [target.index(c) for c in uniq])
    first = {c: full.index(c) for c in uniq}
    term = term.reshape(tuple(size[c] if first[c] == k else 1 for k, c in enumerate(full)))
    for k, c in enumerate(full):
        if first[c] != k:
            shape = [1] * len(full)
            shape[first[c]] = shape[k] = size[c]
            term = term * jnp.eye(size[c], dtype=term.dtype).reshape(shape)
    return (out.reshape(dims) + term).reshape(out.shape)''',
    "_dot": '''def _dot(a, b, ta, tb):
    """a @ b with a (ta) or b (tb) transposed, as one dot_general: XLA on a CPU would copy a
    transposed operand before multiplying."""
    return jax.lax.dot_general(a, b, (((0 if ta else a.ndim - 1,), (b.ndim - 1 if tb else 0,)), ((), ())))''',
}

_TORCH_HELPERS = {
    "_norm2": '''def _norm2(x):
    """Euclidean/Frobenius norm scaled by max|x| (no overflow or underflow of the squares)."""
    m = torch.amax(torch.abs(x))
    ok = (m > 0) & torch.isfinite(m)
    safe = torch.where(ok, m, torch.ones_like(m))
    return torch.where(ok, safe * torch.sqrt(torch.sum(torch.square(x / safe))), m)''',
    "_unit": '''def _unit(x):
    """x / ‖x‖ without over/underflow; 0 at x = 0."""
    m = torch.amax(torch.abs(x))
    ok = (m > 0) & torch.isfinite(m)
    y = x / torch.where(ok, m, torch.ones_like(m))
    n = torch.sqrt(torch.sum(torch.square(y)))
    return torch.where(ok, y / torch.where(ok, n, torch.ones_like(n)),
                       torch.where(m == 0, torch.zeros_like(x), x / m))''',
    "_adjugate": '''def _adjugate(a):
    """adj(a) = det(a)·inv(a), also where a is singular (from the SVD; see matcalc.codegen.removable)."""
    n = a.shape[0]
    if n == 1:
        return torch.ones_like(a)
    u, s, vt = torch.linalg.svd(a)
    ones = torch.ones(1, dtype=s.dtype)
    after = torch.flip(torch.cumprod(torch.flip(s[1:], (0,)), 0), (0,))
    others = torch.cat((ones, torch.cumprod(s[:-1], 0))) * torch.cat((after, ones))
    sign = torch.linalg.det(u) * torch.linalg.det(vt)
    return (sign * vt.T * others) @ u.T''',
    "_kron": '''def _kron(a, b):
    """np.kron of two matrices as a broadcast product (torch.kron raises on operands with some
    strides: a transposed matrix, a column of stride (1, n))."""
    if a.ndim == 2 and b.ndim == 2:
        return (a[:, None, :, None] * b[None, :, None, :]).reshape(a.shape[0] * b.shape[0], a.shape[1] * b.shape[1])
    return torch.kron(a.clone(memory_format=torch.contiguous_format), b.clone(memory_format=torch.contiguous_format))''',
    "_sigmoid": '''def _sigmoid(x, out=None):
    """Logistic function (torch.sigmoid: stable, no overflow)."""
    return torch.sigmoid(x)''',
    "_softmax": '''def _softmax(x, axis):
    """Softmax along axis (torch.softmax, shifted by the maximum)."""
    return torch.softmax(x, dim=axis)''',
    "_logsoftmax": '''def _logsoftmax(x, axis):
    """log(softmax(x)) along axis (torch.log_softmax)."""
    return torch.log_softmax(x, dim=axis)''',
    "_commutation": '''def _commutation(m, n, dtype=None):
    """K with K @ vec(A) == vec(A.T) (column-major vec) for A of shape (m, n)."""
    i, j = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    K = np.zeros((m * n, m * n))
    K[(j + i * n).ravel(), (i + j * m).ravel()] = 1.0
    return torch.as_tensor(K, dtype=dtype)''',
    "_float": '''def _float(x):
    """A tensor of a floating dtype (float32 stays float32, integers become float64)."""
    a = torch.as_tensor(x)
    return a if a.is_floating_point() else a.to(torch.float64)''',
    "_floats": '''def _floats(*xs):
    """The arguments as tensors of one floating dtype (float32 stays float32, integers and
    Python numbers become float64), so that in-place updates never change a precision."""
    arrays = [x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x)) for x in xs]
    dtype = arrays[0].dtype
    for a in arrays[1:]:
        dtype = torch.promote_types(dtype, a.dtype)
    dtype = dtype if dtype.is_floating_point else torch.float64
    return tuple(a.to(dtype) for a in arrays)''',
    "_dtype_of": '''def _dtype_of(*xs):
    """The floating dtype of the (converted) arguments; float64 without any."""
    return xs[0].dtype if xs else torch.float64''',
    "_result_type": '''def _result_type(*xs):
    """The promoted dtype of tensors."""
    dtype = xs[0].dtype
    for a in xs[1:]:
        dtype = torch.promote_types(dtype, a.dtype)
    return dtype''',
    "_heaviside": '''def _heaviside(x, at_zero):
    """Heaviside step: 0 below zero, 1 above, at_zero at zero."""
    return torch.heaviside(x, torch.as_tensor(at_zero, dtype=x.dtype))''',
    "_logaddexp": '''def _logaddexp(a, b):
    """log(exp(a) + exp(b)) without overflow; a Python number becomes a tensor like the other."""
    a = a if isinstance(a, torch.Tensor) else torch.as_tensor(a, dtype=b.dtype)
    b = b if isinstance(b, torch.Tensor) else torch.as_tensor(b, dtype=a.dtype)
    return torch.logaddexp(a, b)''',
    "_maximum": '''def _maximum(a, b):
    """Entrywise maximum of a tensor and a tensor or number."""
    if not isinstance(b, torch.Tensor):
        return torch.clamp_min(a, b)
    return torch.maximum(a, b)''',
    "_minimum": '''def _minimum(a, b):
    """Entrywise minimum of a tensor and a tensor or number."""
    if not isinstance(b, torch.Tensor):
        return torch.clamp_max(a, b)
    return torch.minimum(a, b)''',
    "_view": '''def _view(spec, x):
    """np.einsum(spec, x) of one operand with nothing summed: a view of x (a diagonal where an
    index repeats, axes permuted), so that writes into it reach x as in NumPy."""
    full, target = spec.split("->")
    letters = list(full)
    for c in dict.fromkeys(full):
        while letters.count(c) > 1:
            p = letters.index(c)
            q = letters.index(c, p + 1)
            x = torch.diagonal(x, 0, p, q)   # drops axes p and q, appends their diagonal
            letters = [a for k, a in enumerate(letters) if k not in (p, q)] + [c]
    return x.permute([letters.index(c) for c in target])''',
    "_broadcast": '''def _broadcast(x, shape, dtype):
    """x (a tensor or number) broadcast to shape."""
    return torch.broadcast_to(torch.as_tensor(x, dtype=dtype), shape)''',
}

# the argument checks read shapes only, so the NumPy helper serves every backend
from .numpy_code import HELPERS as _NUMPY_HELPERS  # noqa: E402
_SHAPE_ERROR = _NUMPY_HELPERS["_shape_error"]

NUMPY = Backend("numpy", "import numpy as np", "np", {n: f"np.{n}" for n in _SAME}, "np.linalg")

JAX = Backend(
    "jax", "import jax\nimport jax.numpy as jnp\nimport numpy as np", "jnp",
    {**{n: f"jnp.{n}" for n in _SAME}, "ascontiguousarray": "jnp.asarray"},
    "jnp.linalg",
    methods={},
    helpers={**_JAX_HELPERS, "_shape_error": _SHAPE_ERROR},
    reserved=("jax", "jnp", "np"),
    transposed_dot="_dot",
    scan_loops="jax.lax",
    views=False,
)

TORCH = Backend(
    "torch", "import numpy as np\nimport torch", "torch",
    {**{n: f"torch.{n}" for n in _SAME},
     "vdot": None,                    # written as torch.sum(a * b): torch.vdot takes 1-D only
     "asarray": "torch.as_tensor", "heaviside": "_heaviside", "logaddexp": "_logaddexp",
     "maximum": "_maximum", "minimum": "_minimum", "broadcast_to": "_broadcast",
     "power": "torch.pow", "result_type": "_result_type", "max": "torch.amax", "min": "torch.amin",
     "concatenate": "torch.cat", "kron": "_kron", "ascontiguousarray": "torch.Tensor.contiguous"},
    "torch.linalg",
    methods={"copy": ("clone", {}), "sum": ("sum", {"axis": "dim", "keepdims": "keepdim"}),
             "transpose": ("permute", {})},   # the generators write x.transpose(axes) only
    helpers={**_TORCH_HELPERS, "_shape_error": _SHAPE_ERROR},
    reserved=("torch", "np"),
    tensor_numbers=True,
    keywords={"axis": "dim", "keepdims": "keepdim"},
)

BACKENDS = {b.name: b for b in (NUMPY, JAX, TORCH)}
