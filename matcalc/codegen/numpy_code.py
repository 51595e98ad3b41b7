"""NumPy code generation: one function computing every requested result in one pass.

Shared subexpressions (forward values reused by the backward pass, shared
deltas) are computed once; matrix chains are ordered by cost from the shapes;
ones matrices become sums and broadcasts, ``diag(v) A`` a broadcast product;
softmax, log-softmax and sigmoid use numerically stable forms.
"""
from __future__ import annotations

import keyword

from sympy import (Add, Integer, Mul, MatrixSymbol, Number, Pow, S,
                   Rational, Symbol)
from sympy.matrices.expressions import (HadamardProduct, Inverse, MatMul, OneMatrix, Transpose)
from sympy.matrices.expressions.diagonal import DiagMatrix

from ..ir import ops
from . import removable, transposed
from .. import rules
from ..differentiate.engine import _LEAVES, topological
from .bounds import nonnegative
from ..ir.nodes import Norm2, is_matrix

HELPERS = {
    "_sigmoid": '''_SIGMOID_CONSTANTS = {np.dtype(t): (np.array(cap, t), np.array(1.0, t))
                      for t, cap in (("f8", 700.0), ("f4", 80.0), ("f2", 11.0))}


def _sigmoid(x, out=None):
    """Logistic function without overflow warnings (exp(-x) capped on small arrays, where that is
    cheaper than an errstate, overflow silenced on large ones); written into ``out`` if given.
    The cap and the 1 are 0-d arrays of x's dtype: a Python float costs a promotion per call."""
    if not getattr(x, "shape", ()):
        return 1.0 / (1.0 + np.exp(-max(float(x), -700.0)))
    e = np.negative(x, out=out)
    constants = _SIGMOID_CONSTANTS.get(e.dtype)
    if constants is None:   # another byte order or width: the cap by width
        size = e.dtype.itemsize
        constants = (np.array(700.0 if size >= 8 else 80.0 if size == 4 else 11.0, e.dtype),
                     np.array(1.0, e.dtype))
    cap, one = constants
    if e.size > 4096:
        with np.errstate(over="ignore"):
            np.exp(e, out=e)
    else:
        np.exp(np.minimum(e, cap, out=e), out=e)
    np.add(e, one, out=e)
    return np.reciprocal(e, out=e)''',
    "_softmax": '''def _softmax(x, axis):
    """Softmax along axis, shifted by the maximum for stability."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)''',
    "_logsoftmax": '''def _logsoftmax(x, axis):
    """log(softmax(x)) along axis, via the shifted log-sum-exp."""
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))''',
    "_commutation": '''def _commutation(m, n):
    """K with K @ A.reshape(-1, 1, order="F") == A.T.reshape(-1, 1, order="F") for A of shape (m, n)."""
    i, j = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    K = np.zeros((m * n, m * n))
    K[(j + i * n).ravel(), (i + j * m).ravel()] = 1.0
    return K''',
    "_float": '''def _float(x):
    """An array of a real floating dtype (float32 stays float32, integers become float64);
    complex or non-numeric arrays are refused."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"arguments must be real numbers (one float dtype), got dtype {a.dtype}")
    return a if a.dtype.kind == "f" else a.astype(np.float64)''',
    "_floats": '''def _floats(*xs):
    """The arguments as arrays of one real floating dtype (float32 stays float32, integers become
    float64), so that in-place updates never change a value's precision; complex or non-numeric
    arrays are refused."""
    arrays = [np.asarray(x) for x in xs]
    for a in arrays:
        if a.dtype.kind not in "biuf":
            raise TypeError(f"arguments must be real numbers (one float dtype), got dtype {a.dtype}")
    dtype = np.result_type(*arrays)
    dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
    return tuple(a.astype(dtype, copy=False) for a in arrays)''',
    **removable.HELPERS,
    "_scratch": '''import threading as _threading

_SCRATCH = _threading.local()


def _scratch(key, shape, dtype):
    """An uninitialised array kept between calls (per thread, up to 64 MiB), so that a loop's
    (T, ...) buffers are not fresh pages on every call; the caller writes every element before
    reading it and returns nothing that shares its memory (see _own)."""
    shape = tuple(int(n) for n in shape)
    dtype = np.dtype(dtype)
    cache = _SCRATCH.__dict__
    buf = cache.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype)
        if buf.nbytes <= 1 << 26:
            cache[key] = buf
    return buf''',
    "_own": '''def _own(value, scratch):
    """value, copied if it shares memory with a scratch buffer (which the next call overwrites)."""
    if any(np.may_share_memory(value, b) for b in scratch):
        return np.array(value, copy=True)
    return value''',
    "_product_into": '''def _product_into(key, a, b, c=None):
    """a @ b (+ c) for 2-D a and b, written into the scratch buffer ``key``; else computed afresh."""
    if np.ndim(a) != 2 or np.ndim(b) != 2:
        return a @ b if c is None else (a @ b) + c
    out = _scratch(key, (a.shape[0], b.shape[1]), np.result_type(a, b))
    np.matmul(a, b, out=out)
    if c is None:
        return out
    if np.broadcast_shapes(out.shape, np.shape(c)) != out.shape or np.result_type(out, c) != out.dtype:
        return out + c
    return np.add(out, c, out=out)''',
    "_kept": '''def _kept(key):
    """The scratch buffer ``key`` of this thread (an empty array when there is none)."""
    return _SCRATCH.__dict__.get(key, _NOTHING)


_NOTHING = np.empty(0)''',
    "_shape_error": '''def _shape_error(arrays, shapes):
    """The message for the first argument whose shape disagrees with its declared shape
    (a name stands for a size, which must agree across the arguments)."""
    sizes = {}
    for name, want in shapes.items():
        got = tuple(getattr(arrays[name], "shape", ()))   # NumPy, JAX and torch arrays alike
        if want == ():
            if int(np.prod(got)) != 1:
                return ValueError(f"{name} must be a scalar, got shape {got}")
            continue
        shown = "(" + ", ".join(map(str, want)) + ")"
        if len(got) != len(want):
            return ValueError(f"{name} must have shape {shown}, got {got}")
        for w, g in zip(want, got):
            if isinstance(w, str) and sizes.setdefault(w, g) != g:
                return ValueError(f"{name} must have shape {shown} with {w} = {sizes[w]} "
                                  f"(from the arguments before it), got {got}")
            if isinstance(w, int) and w != g:
                return ValueError(f"{name} must have shape {shown}, got {got}")
    return ValueError("the arguments' shapes disagree with the declared shapes")''',
}

RESERVED = {"np"} | set(keyword.kwlist)
_GUESS = 64  # a symbolic size, for ordering matrix chains


def _num(v) -> str:
    try:
        x = float(int(v)) if isinstance(v, Integer) else float(v)
    except (OverflowError, TypeError):
        x = float("inf") if v.is_extended_positive else (float("-inf") if v.is_extended_negative else float("nan"))
    if x != x:
        return "np.nan"
    if x in (float("inf"), float("-inf")):
        return "np.inf" if x > 0 else "-np.inf"
    return repr(x)


class NumpyCodegen:
    """Builds the source of ``def name(<variables>) -> {output: ndarray}``."""

    def __init__(self, variables: dict, outputs: dict, func_name: str = "gradients"):
        self.variables = variables            # name -> MatrixSymbol | Symbol
        self.outputs = outputs                # key -> IR expression
        self.func_name = func_name
        self.lines: list[str] = []
        self.helpers: set[str] = set()
        self.temps: dict = {}                 # node -> temp name
        self.counter = 0                      # temporaries made so far
        self.sizes = self._size_lookup()

    # ------------------------------------------------------------ sizes
    def _size_lookup(self) -> dict:
        out = {}
        for name, v in self.variables.items():
            if is_matrix(v):
                for i, d in enumerate(v.shape):
                    if isinstance(d, Symbol) and d not in out:
                        out[d] = f"{name}.shape[{i}]"
        return out

    def size(self, d) -> str:
        if isinstance(d, Integer) or isinstance(d, int):
            return str(int(d))
        if d in self.sizes:
            return self.sizes[d]
        if isinstance(d, (Mul, Add)):   # vec sizes such as n*q
            joiner = " * " if isinstance(d, Mul) else " + "
            return "(" + joiner.join(self.size(a) for a in d.args) + ")"
        if isinstance(d, Pow) and isinstance(d.exp, Integer) and d.exp > 0:   # n**2 (vec of an n×n)
            return f"({self.size(d.base)} ** {int(d.exp)})"
        raise ValueError(f"size {d} is not the size of any variable")

    def shape(self, e) -> str:
        r, c = e.shape
        return f"({self.size(r)}, {self.size(c)})"

    @staticmethod
    def _guess(d) -> int:
        return int(d) if isinstance(d, (int, Integer)) else _GUESS

    # ------------------------------------------------------------ driver
    def source(self) -> str:
        """A standalone module defining the function."""
        func = self.function()
        return module_source([func], self.helpers)

    def function(self) -> str:
        """The function's source (the helpers it needs are in ``self.helpers``)."""
        uses: dict = {}
        nodes: list = []
        seen: set = set()
        for expr in self.outputs.values():   # one walk over the shared DAG of all results
            nodes += topological(expr, seen=seen)
        for node in nodes:
            if not isinstance(node, _LEAVES):
                for a in node.args:
                    uses[a] = uses.get(a, 0) + 1
        for key, expr in self.outputs.items():
            uses[expr] = uses.get(expr, 0) + 1
        self.uses = uses
        body = self.validation()
        results = {}
        for key, expr in self.outputs.items():
            results[key] = self.result(key, expr)
        return self.assemble(body, results)

    def result(self, key, expr) -> str:
        """The name holding output ``key`` (a hook for generators that reshape results)."""
        return self.value(expr, top=True)

    def assemble(self, body: list, results: dict) -> str:
        """The function from validation lines, ``self.lines`` and the results' codes."""
        body = body + ["    " + line for line in self.lines]
        ret = ", ".join(f"{k!r}: {v}" for k, v in results.items())
        body.append(f"    return {{{ret}}}")
        params = ", ".join(self.variables)
        return (f"def {self.func_name}({params}):\n"
                f'    """Generated by matcalc: returns {{{", ".join(map(repr, results))}}}."""\n'
                + "\n".join(body) + "\n")

    def validation(self) -> list[str]:
        """Lines that take the arguments as arrays of one float dtype (arrays that already are
        pass with one test) and check every declared size (one test when all agree)."""
        names = list(self.variables)
        if not names:
            return []
        self.helpers |= {"_floats", "_shape_error"}
        check = _wrapped([f"{n}.__class__" for n in names] + ["np.ndarray"], " is ", 12) + \
            "\n            and " + _wrapped([f"{names[0]}.dtype.kind == 'f' and {names[0]}.dtype"]
                                            + [f"{n}.dtype" for n in names[1:]], " is ", 12)
        body = [f"    if not ({check}):",
                f"        ({_wrapped(names, ', ', 9)},) = _floats({_wrapped(names, ', ', 8)})"]
        tests, declared = [], {}
        for n, v in self.variables.items():
            if not is_matrix(v):
                tests.append(f"{n}.size != 1")
                declared[n] = ()
                continue
            declared[n] = tuple(int(d) if isinstance(d, Integer) else str(d) for d in v.shape)
            if all(isinstance(d, Integer) for d in v.shape):
                tests.append(f"{n}.shape != {declared[n]!r}")
                continue
            tests.append(f"{n}.ndim != {len(v.shape)}")
            for i, d in enumerate(v.shape):   # a symbolic size agrees with where it is first read
                if isinstance(d, Integer):
                    tests.append(f"{n}.shape[{i}] != {int(d)}")
                elif isinstance(d, Symbol) and self.sizes[d] != f"{n}.shape[{i}]":
                    tests.append(f"{n}.shape[{i}] != {self.sizes[d]}")
        arrays = _wrapped([f"{n!r}: {n}" for n in names], ", ", 28)
        shapes = _wrapped([f"{n!r}: {d!r}" for n, d in declared.items()], ", ", 28)
        body.append(f"    if ({_wrapped(tests, ' or ', 8)}):")
        body.append(f"        raise _shape_error({{{arrays}}},\n{' ' * 27}{{{shapes}}})")
        body += [f"    {n} = {n}.reshape(())" for n, v in self.variables.items() if not is_matrix(v)]
        return body

    def prepare(self, exprs) -> None:
        """Count the uses of every node of ``exprs`` (shared nodes become temporaries)."""
        uses: dict = {}
        nodes: list = []
        seen: set = set()
        for expr in exprs:
            nodes += topological(expr, seen=seen)
            uses[expr] = uses.get(expr, 0) + 1
        for node in nodes:
            if not isinstance(node, _LEAVES):
                for a in node.args:
                    uses[a] = uses.get(a, 0) + 1
        self.uses = uses
        self.transposed_runs = transposed.wanted(nodes, self.run_rank)   # products needed both ways round
        self.run_temps: dict = {}                          # run -> (temporary, is it the flip?)

    def block(self, assignments) -> list[str]:
        """Lines for ``target op expr`` assignments (op ``=`` or ``+=``), sharing subexpressions."""
        self.prepare([e for _, _, e in assignments])
        start = len(self.lines)
        for target, op, expr in assignments:
            if expr in self.temps or isinstance(expr, (MatrixSymbol, Symbol)) or isinstance(expr, _LEAVES):
                code = self.value(expr)
            else:
                code = self.emit(expr)
            self.lines.append(f"{target} {op} {code}")
            if op == "=":
                self.temps[expr] = target
        return self.lines[start:]

    # ------------------------------------------------------------ values
    def value(self, e, top=False) -> str:
        """Code for e with its exact shape (temps for shared nodes)."""
        if e in self.temps:
            return self.temps[e]
        if isinstance(e, MatrixSymbol) or e in self._variable_values():
            return e.name
        if isinstance(e, Symbol):  # a symbolic size, read off an argument's shape
            return self.size(e)
        code = self.emit(e)
        if isinstance(e, (_LEAVES, Number)):
            return code
        shared = self.uses.get(e, 0) > 1
        if shared or top or _too_deep(code):   # Python's parser/compiler bound an expression's depth
            name = self.fresh()
            self.lines.append(f"{name} = {code}")
            self.temps[e] = name
            return name
        return code

    def _variable_values(self) -> set:
        """The variables' symbols as a set (membership in O(1), not a scan per value)."""
        cached = self.__dict__.get("_variable_set")
        if cached is None or cached[0] is not self.variables or cached[1] != len(self.variables):
            cached = (self.variables, len(self.variables), set(self.variables.values()))
            self._variable_set = cached
        return cached[2]

    def fresh(self) -> str:
        """A new temporary's name."""
        self.counter += 1
        return f"_t{self.counter}"

    def loose(self, e) -> str:
        """Code for a value that broadcasts to e's shape (1_m b -> b)."""
        src = _broadcast_source(e)
        if src is not None:
            return self.operand(src)
        return self.operand(e)

    def operand(self, e) -> str:
        code = self.value(e)
        return code if code.isidentifier() or code.replace(".", "").replace("_", "").isalnum() else f"({code})"

    def emit(self, e) -> str:
        for cls in type(e).__mro__:
            method = getattr(self, "_" + cls.__name__, None)
            if method is not None:
                return method(e)
        from ..errors import UnsupportedError
        if e in (S.ComplexInfinity, S.NaN, S.Infinity, S.NegativeInfinity):   # 0**(-b), 0/0: no finite value
            raise UnsupportedError(f"the derivative divides by zero somewhere ({e}): the function has no finite "
                                   "derivative there")
        raise UnsupportedError(f"no NumPy translation for {type(e).__name__}")

    # ------------------------------------------------------------ leaves
    def _Number(self, e):
        return _num(e)

    def _OneMatrix(self, e):
        return f"np.ones({self.shape(e)})"

    def _Identity(self, e):
        return f"np.eye({self.size(e.shape[0])})"

    def _ZeroMatrix(self, e):
        return f"np.zeros({self.shape(e)})"

    # ------------------------------------------------------------ sums and products
    def _MatAdd(self, e):
        code = self.signed_sum(e.args, loose=True)
        if all(_broadcast_source(t) is not None for t in e.args):
            code = f"np.broadcast_to({code}, {self.shape(e)}).copy()"
        return code

    def signed_sum(self, terms, loose=False) -> str:
        """a + b - c, with negated terms subtracted rather than scaled by -1."""
        pieces = []
        for t in sorted(terms, key=_negative):
            neg = _negative(t)
            body = ops.neg(t) if neg else t
            src = _broadcast_source(body) if loose and is_matrix(body) else None
            code = self.operand(src) if src is not None else self.operand(body)
            pieces.append(("- " if neg else "+ ") + code if pieces else ("-" if neg else "") + code)
        return self.chunked(pieces, " ")

    def chunked(self, pieces, joiner: str) -> str:
        """``joiner.join(pieces)``; a long run of operands is accumulated over several lines
        (``_t = a + b …; _t = _t + c …``) so that no line nests deeper than Python allows."""
        if len(pieces) <= _WIDE:
            return joiner.join(pieces)
        name = self.fresh()
        self.lines.append(f"{name} = {joiner.join(pieces[:_WIDE])}")
        for k in range(_WIDE, len(pieces), _WIDE):
            rest = joiner.join(pieces[k:k + _WIDE])
            self.lines.append(f"{name} = {name}{' ' if joiner == ' ' else joiner}{rest}")
        return name

    def _Add(self, e):
        return self.signed_sum(e.args)

    def _Mul(self, e):
        args = removable.absorb_factors(e.args)   # det(M)·tr(M⁻¹…) → tr(adj(M)…)
        return self.chunked([self.operand(a) for a in args if a != 1], " * ") or "1.0"

    def _Pow(self, e):
        b, p = e.args
        if isinstance(b, Norm2) and p == 2:
            v = self.value(b.arg)
            return f"np.vdot({v}, {v})"
        if p == -1:
            return f"1.0 / {self.operand(b)}"
        if p == Rational(1, 2):
            return f"np.sqrt({self.value(b)})"
        return f"{self.operand(b)} ** {self.operand(p)}"

    def _HadamardProduct(self, e):
        code = self.chunked([self.loose(a) for a in e.args], " * ")
        if all(_broadcast_source(a) is not None for a in e.args):
            code = f"np.broadcast_to({code}, {self.shape(e)}).copy()"
        return code

    def _HadamardPower(self, e):
        b, p = e.args
        x = self.value(b)
        if p == 2:
            return f"np.square({x})"
        if p == -1:
            return f"np.reciprocal({x})"
        if p == Rational(1, 2):
            return f"np.sqrt({x})"
        return f"np.power({x}, {self.value(p)})"

    def _MatMul(self, e):
        coeff, body = ops.split_coeff(e)
        coeff, body = removable.absorb(coeff, body)   # det(M)·M⁻¹ → adj(M), r/‖r‖ → unit(r)
        inner, body = ops.split_coeff(body)   # a scalar the absorption left inside: ‖r‖⁴·unit(r)·A
        coeff = coeff * inner
        mats = list(body.args) if isinstance(body, MatMul) else [body]
        code = self.chain(mats, e.shape)
        if coeff == -1:
            return f"-{self.paren(code)}"
        if coeff != 1:
            code = f"{self.operand(coeff)} * {self.paren(code)}"
        return code

    def chain(self, mats, shape) -> str:
        """A product of matrices: ones become sums, diag() broadcasts, best order."""
        # leading 1_{k×m}: column sums; trailing 1_{m×k}: row sums (then broadcast if k > 1);
        # a sum pushed through a product first: 𝟏ᵀ(A B) = (𝟏ᵀA)B, a GEMV instead of a GEMM
        pushed = self.pushed_sum(mats, shape)
        if pushed is not None:
            return pushed
        through = self.sum_through_broadcast(mats, shape)
        if through is not None:
            return through
        if len(mats) > 1 and isinstance(mats[0], OneMatrix):
            rest = self.chain(mats[1:], (mats[0].shape[1], shape[1]))
            code = f"{_atomic(rest)}.sum(axis=0, keepdims=True)"   # the method: no dispatch cost
            return code if mats[0].shape[0] == 1 else f"np.broadcast_to({code}, {self._shape_of(shape)})"
        if len(mats) > 1 and isinstance(mats[-1], OneMatrix):
            rest = self.chain(mats[:-1], (shape[0], mats[-1].shape[0]))
            code = f"{_atomic(rest)}.sum(axis=1, keepdims=True)"
            return code if mats[-1].shape[1] == 1 else f"np.broadcast_to({code}, {self._shape_of(shape)})"
        for i, m in enumerate(mats):
            if isinstance(m, OneMatrix) and 0 < i < len(mats) - 1:  # A 1 B = (A 1_n)(1_kᵀ B)
                n, k = m.shape
                left = mats[:i] + [OneMatrix(n, 1)]
                right = [OneMatrix(1, k)] + mats[i + 1:]
                return f"({self.chain(left, (shape[0], 1))} @ {self.chain(right, (1, shape[1]))})"
        for i, m in enumerate(mats):
            if isinstance(m, DiagMatrix) and len(mats) > 1:
                v = self.paren(self.value(m.args[0]))
                col = v if m.args[0].shape[1] == 1 else f"{v}.T"
                if i == 0:
                    return f"{col} * {self.paren(self.chain(mats[1:], (m.shape[0], shape[1])))}"
                if i == len(mats) - 1:
                    return f"{self.paren(self.chain(mats[:-1], (shape[0], m.shape[0])))} * {self.paren(col)}.T"
                # Bᵀ diag(v) B with v ≥ 0 is symmetric: (√v B)ᵀ(√v B), a rank-k update in BLAS
                if m.args[0].shape[1] == 1 and len(mats) == 2 * i + 1 and nonnegative(m.args[0]) and \
                        all(ops.transpose(r) == l for l, r in zip(reversed(mats[:i]), mats[i + 1:])):
                    half = self.chain(mats[i + 1:], (m.shape[0], shape[1]))
                    name = self.fresh()
                    self.lines.append(f"{name} = np.sqrt({v}) * {self.paren(half)}")
                    return f"{name}.T @ {name}"
                # A diag(v) B = A (v * B): scale the smaller side's rows, never build diag(v)
                right = self.chain(mats[i + 1:], (m.shape[0], shape[1]))
                left = self.chain(mats[:i], (shape[0], m.shape[0]))
                return f"{self.paren(left)} @ ({col} * {self.paren(right)})"
        if len(mats) == 1:
            return self.value(mats[0])
        solved = self.solved(mats, shape)
        if solved is not None:
            return solved
        codes, shapes = self.shared_runs(mats)
        return self.order(codes, shapes)

    def run_rank(self, mats, i, j):
        """Which run of a chain to read transposed first: the longest, then the costliest product."""
        inner = max(self._guess(m.shape[1]) for m in mats[i:j - 1])
        return (i - j, -self._guess(mats[i].shape[0]) * inner * self._guess(mats[j - 1].shape[1]), i)

    def shared_runs(self, mats) -> tuple[list, list]:
        """(codes, shapes) of the chain's factors, a run whose transpose another chain needs
        (matcalc.codegen.transposed) taken as one factor: its temporary, or that one's ``.T``."""
        codes, shapes = [self.operand(m) for m in mats], [m.shape for m in mats]
        wanted = getattr(self, "transposed_runs", None)
        if not wanted:
            return codes, shapes
        for i, j, run in sorted(transposed.runs(mats), key=lambda r: self.run_rank(mats, r[0], r[1])):
            if codes[i] is None or any(c is None for c in codes[i:j]):
                continue
            flip = transposed.flipped(run)
            known = self.run_temps.get(run) or self.run_temps.get(flip)
            if known is None and run not in wanted and flip not in wanted:
                continue
            rows, cols = mats[i].shape[0], mats[j - 1].shape[1]
            if known is None:
                name = self.fresh()
                self.lines.append(f"{name} = {self.order(codes[i:j], shapes[i:j])}")
                self.run_temps[run] = name
                code = name
            else:
                code = self.run_temps[run] if run in self.run_temps else f"{self.run_temps[flip]}.T"
            codes[i:j] = [code] + [None] * (j - i - 1)
            shapes[i:j] = [(rows, cols)] + [None] * (j - i - 1)
        return [c for c in codes if c is not None], [s for s in shapes if s is not None]

    def solved(self, mats, shape):
        """A⁻¹B as ``solve(A, B)`` and B A⁻¹ as ``solve(Aᵀ, Bᵀ)ᵀ`` when this product is the
        inverse's only reader: an LU solve instead of an inverse and a GEMM, (4/3)d³ fewer
        flops for a d×d A (None when no factor is such an inverse)."""
        for i, m in enumerate(mats):
            inner = m.arg if isinstance(m, Inverse) else (
                ops.transpose(m.arg.arg) if isinstance(m, Transpose) and isinstance(m.arg, Inverse) else None)
            if inner is None or m in self.temps or self.uses.get(m, 0) > 1 or \
                    (isinstance(m, Transpose) and self.uses.get(m.arg, 0) > 1) or not is_matrix(inner):
                continue
            if i == len(mats) - 1:
                left = self.chain(mats[:-1], (shape[0], m.shape[0]))
                return f"np.linalg.solve({self.operand(ops.transpose(inner))}, {self.paren(left)}.T).T"
            right = self.chain(mats[i + 1:], (m.shape[1], shape[1]))
            code = f"np.linalg.solve({self.value(inner)}, {right})"
            if i == 0:
                return code
            return f"{self.paren(self.chain(mats[:i], (shape[0], m.shape[0])))} @ {code}"
        return None

    def sum_through_broadcast(self, mats, shape):
        """Row sums of A ⊙ (𝟏 r) as the GEMV A rᵀ, column sums of A ⊙ (c 𝟏ᵀ) as cᵀA (then
        broadcast): the broadcast operand is never expanded (None unless mats is such a sum)."""
        if len(mats) != 2 or not any(isinstance(m, HadamardProduct) for m in mats):
            return None
        rows = isinstance(mats[1], OneMatrix) and isinstance(mats[0], HadamardProduct)
        if not rows and not (isinstance(mats[0], OneMatrix) and isinstance(mats[1], HadamardProduct)):
            return None
        product = mats[0] if rows else mats[1]
        for k, a in enumerate(product.args):
            c, body = ops.split_coeff(a)
            if not isinstance(body, MatMul) or len(body.args) < 2:
                continue
            ones = body.args[0] if rows else body.args[-1]
            if not isinstance(ones, OneMatrix):
                continue
            rest = list(body.args[1:]) if rows else list(body.args[:-1])
            small = ops.matmul(OneMatrix(1, ones.shape[1]), *rest) if rows else \
                ops.matmul(*rest, OneMatrix(ones.shape[0], 1))         # r (1×n) or c (m×1)
            others = [b for j, b in enumerate(product.args) if j != k]
            other = others[0] if len(others) == 1 else HadamardProduct(*others)
            other = ops.scale(c, other)
            vector = self.paren(self.value(small))
            if rows:
                code = f"{self.operand(other)} @ {vector}.T"
                return code if mats[1].shape[1] == 1 else f"np.broadcast_to({code}, {self._shape_of(shape)})"
            code = f"{vector}.T @ {self.operand(other)}"
            return code if mats[0].shape[0] == 1 else f"np.broadcast_to({code}, {self._shape_of(shape)})"
        return None

    def pushed_sum(self, mats, shape):
        """𝟏ᵀ A B … as (𝟏ᵀA) B … and … A B 𝟏 as … A (B 𝟏): the sum of the outer factor
        first, then the chain in its cheapest order (None unless the rest is a plain product)."""
        plain = len(mats) > 2 and not any(isinstance(m, (OneMatrix, DiagMatrix)) for m in mats[1:-1])
        if not plain:
            return None
        if isinstance(mats[0], OneMatrix) and not isinstance(mats[-1], (OneMatrix, DiagMatrix)):
            first = f"{_atomic(self.value(mats[1]))}.sum(axis=0, keepdims=True)"
            code = self.order([first] + [self.operand(m) for m in mats[2:]],
                              [(1, mats[1].shape[1])] + [m.shape for m in mats[2:]])
            return code if mats[0].shape[0] == 1 else f"np.broadcast_to({code}, {self._shape_of(shape)})"
        if isinstance(mats[-1], OneMatrix) and not isinstance(mats[0], (OneMatrix, DiagMatrix)):
            last = f"{_atomic(self.value(mats[-2]))}.sum(axis=1, keepdims=True)"
            code = self.order([self.operand(m) for m in mats[:-2]] + [last],
                              [m.shape for m in mats[:-2]] + [(mats[-2].shape[0], 1)])
            return code if mats[-1].shape[1] == 1 else f"np.broadcast_to({code}, {self._shape_of(shape)})"
        return None

    def _shape_of(self, shape) -> str:
        return f"({self.size(shape[0])}, {self.size(shape[1])})"

    @staticmethod
    def paren(code: str) -> str:
        return code if code.replace(".", "").replace("_", "").isalnum() else f"({code})"

    def order(self, codes, shapes) -> str:
        """Optimal parenthesisation of a matrix chain (classic O(n³) DP on guessed sizes)."""
        n = len(codes)
        dims = [self._guess(shapes[0][0])] + [self._guess(s[1]) for s in shapes]
        cost = [[0] * n for _ in range(n)]
        split = [[0] * n for _ in range(n)]
        for length in range(2, n + 1):
            for i in range(n - length + 1):
                j = i + length - 1
                cost[i][j] = None
                for k in range(i, j):
                    c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                    if cost[i][j] is None or c < cost[i][j]:
                        cost[i][j], split[i][j] = c, k

        def build(i, j):
            if i == j:
                return codes[i]
            k = split[i][j]
            left, right = build(i, k), build(k + 1, j)
            left = left if i == k else f"({left})"
            right = right if k + 1 == j else f"({right})"
            code = f"{left} @ {right}"
            if j - i >= 2 and _too_deep(code):   # a long chain: its parts on lines of their own
                name = self.fresh()
                self.lines.append(f"{name} = {code}")
                return name
            return code
        return build(0, n - 1)

    # ------------------------------------------------------------ other operations
    def _Transpose(self, e):
        return f"{self.operand(e.arg)}.T"

    def _Inverse(self, e):
        return f"np.linalg.inv({self.value(e.arg)})"

    def _Adjugate(self, e):
        self.helpers.add("_adjugate")
        return f"_adjugate({self.value(e.arg)})"

    def _Unit(self, e):
        self.helpers |= {"_unit", "_norm2"}
        return f"_unit({self.value(e.arg)})"

    def _MatPow(self, e):
        b, p = e.args
        if not p.is_Integer:
            from ..errors import UnsupportedError
            raise UnsupportedError(f"no NumPy translation for the matrix power {p}")
        if p < 0:
            return f"np.linalg.matrix_power(np.linalg.inv({self.value(b)}), {int(-p)})"
        return f"np.linalg.matrix_power({self.value(b)}, {int(p)})"

    def _Determinant(self, e):
        return f"np.linalg.det({self.value(e.arg)})"

    def _LogDet(self, e):
        return f"np.linalg.slogdet({self.value(e.arg)})[1]"

    def _Trace(self, e):
        a = e.arg
        if a.shape == (1, 1):
            return f"{self.operand(a)}[0, 0]"
        if isinstance(a, MatMul) and len(a.args) == 2 and all(is_matrix(x) for x in a.args):
            x, y = a.args
            return f"np.sum({self.operand(x)} * {self.operand(y)}.T)"
        return f"np.trace({self.value(a)})"

    def _SumEntries(self, e):
        return f"np.sum({self.value(e.arg)})"

    def _Norm2(self, e):
        self.helpers.add("_norm2")
        return f"_norm2({self.value(e.arg)})"

    def _normalized(self, e, helper):
        self.helpers.add(helper)
        axis = 0 if e.over_columns else 1
        return f"{helper}({self.value(e.arg)}, {axis})"

    def _Softmax(self, e):
        return self._normalized(e, "_softmax")

    def _LogSoftmax(self, e):
        return self._normalized(e, "_logsoftmax")

    def _function(self, e):
        fn = rules.FUNCTIONS[e.name]
        self.helpers.update(fn.helpers)
        return fn.numpy.format(x=self.value(e.arg))

    _Elementwise = _function
    _ScalarFunction = _function

    def _Abs(self, e):
        return f"np.abs({self.value(e.args[0])})"

    def _Vec(self, e):
        return f"{self.operand(e.arg)}.reshape(-1, 1, order='F')"

    def _KroneckerProduct(self, e):
        code = self.value(e.args[0])
        for a in e.args[1:]:
            code = f"np.kron({code}, {self.value(a)})"
        return code

    def _Commutation(self, e):
        self.helpers.add("_commutation")
        return f"_commutation({self.size(e.m)}, {self.size(e.n)})"

    def _DiagMatrix(self, e):
        return f"np.diagflat({self.value(e.args[0])})"

    def _DiagonalOf(self, e):
        return f"np.diagonal({self.value(e.args[0])}).reshape(-1, 1)"


_WIDE = 32          # operands of one sum/product on one line
_DEEP = 24          # brackets nested in one generated expression
_LONG = 1500        # characters of one generated expression


def _too_deep(code: str) -> bool:
    """Is a generated expression too long or too deeply bracketed to nest inside another?
    (Python's parser allows 200 nested brackets, its compiler about a thousand levels.)"""
    if len(code) > _LONG:
        return True
    if code.count("(") + code.count("[") <= _DEEP:
        return False
    depth = deepest = 0
    for ch in code:
        if ch in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]":
            depth -= 1
    return deepest > _DEEP


def _wrapped(parts, joiner: str, indent: int, width: int = 96) -> str:
    """``joiner.join(parts)``, broken into lines of at most ``width`` characters (continuation
    lines indented by ``indent``; the caller's brackets keep it one expression)."""
    lines, line = [], ""
    for part in parts:
        piece = part if not line else joiner.rstrip() + " " + part if joiner.strip() else joiner + part
        if line and len(line) + len(piece) + indent > width:
            lines.append(line + (joiner.rstrip() if joiner.strip() == "," else ""))
            line = (joiner.lstrip() if joiner.strip() != "," else "") + part
        else:
            line += piece
    lines.append(line)
    return ("\n" + " " * indent).join(lines)


def _atomic(code: str) -> str:
    """``code`` ready for a method call: a name or a subscripted name as is, else in parentheses."""
    return code if code.replace("_", "a").replace(".T", "").isalnum() else f"({code})"


def _negative(t) -> bool:
    c = ops.split_coeff(t)[0] if is_matrix(t) else t.as_coeff_Mul()[0]
    return bool(c.is_number and c < 0)


def _broadcast_source(e):
    """For 1_m b, c 1_nᵀ, s 1 (times a coefficient): the small operand, else None."""
    c, body = ops.split_coeff(e) if is_matrix(e) else (None, None)
    if body is None:
        return None
    if isinstance(body, OneMatrix):
        return c
    if isinstance(body, MatMul) and len(body.args) == 2:
        a, b = body.args
        if isinstance(a, OneMatrix) and a.shape[1] == 1:
            return ops.scale(c, b)
        if isinstance(b, OneMatrix) and b.shape[0] == 1:
            return ops.scale(c, a)
    return None


def module_source(functions: list[str], helpers) -> str:
    """A standalone module: the NumPy import, the helpers used, then the functions."""
    parts = [HELPERS[h] for h in sorted(helpers)] + list(functions)
    return "import numpy as np\n\n\n" + "\n\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def compile_source(source: str, func_name: str):
    """Execute generated source (our own code, never user text) and return the function."""
    namespace: dict = {}
    exec(compile(source, f"<matcalc:{func_name}>", "exec"), namespace)  # noqa: S102
    return namespace[func_name]
