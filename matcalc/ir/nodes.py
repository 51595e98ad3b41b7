"""The expression IR: SymPy matrix expressions plus the few classes SymPy lacks.

Matrices are SymPy ``MatrixExpr`` objects (MatrixSymbol, MatMul, MatAdd,
Transpose, HadamardProduct, HadamardPower, Inverse, OneMatrix, Identity,
DiagMatrix, DiagonalOf ...); scalars are SymPy ``Expr`` objects (Symbol, Add,
Mul, Pow, Trace, Determinant ...).  A 1x1 matrix used as a scalar is wrapped in
``Trace`` (exact: tr of a 1x1 matrix is its entry).  Shapes are checked by
SymPy when a node is constructed.
"""
from __future__ import annotations

from functools import cached_property

from sympy import Basic, Expr, Integer, MatrixSymbol, Symbol
from sympy.core.symbol import Str
from sympy.matrices.expressions.matexpr import MatrixExpr

from . import sympy_fixes  # noqa: F401 - installs the factor_terms workaround


def _name(name) -> Str:
    return name if isinstance(name, Str) else Str(name)


class Elementwise(MatrixExpr):
    """A registered scalar function applied to every entry: ``sigmoid(A)``."""

    def __new__(cls, name, arg):
        return Basic.__new__(cls, _name(name), arg)

    @property
    def name(self) -> str:
        return self.args[0].name

    @property
    def arg(self):
        return self.args[1]

    @cached_property
    def shape(self):  # cached: SymPy recomputes shapes recursively, which is quadratic in depth
        return self.arg.shape

    def _sympystr(self, printer):
        return f"{self.name}({printer._print(self.arg)})"


class ScalarFunction(Expr):
    """A registered scalar function of a scalar: ``sigmoid(a)``."""

    is_commutative = True

    def __new__(cls, name, arg):
        return Expr.__new__(cls, _name(name), arg)

    @property
    def name(self) -> str:
        return self.args[0].name

    @property
    def arg(self):
        return self.args[1]

    def _sympystr(self, printer):
        return f"{self.name}({printer._print(self.arg)})"


class _ScalarOf(Expr):
    """Base of scalar-valued operations of one matrix argument."""

    is_commutative = True
    label = ""

    def __new__(cls, arg):
        return Expr.__new__(cls, arg)

    @property
    def arg(self):
        return self.args[0]

    def _sympystr(self, printer):
        return f"{self.label}({printer._print(self.arg)})"


class SumEntries(_ScalarOf):
    """Sum of all entries of a matrix, ``1ᵀ A 1``."""

    label = "sum"


class Norm2(_ScalarOf):
    """Euclidean norm of a vector, Frobenius norm of a matrix."""

    label = "norm2"


class LogDet(_ScalarOf):
    """log det A (det A > 0)."""

    label = "logdet"


class _MatrixOf(MatrixExpr):
    """Base of matrix-valued operations of one matrix argument (same shape unless overridden)."""

    def __new__(cls, arg):
        return Basic.__new__(cls, arg)

    @property
    def arg(self):
        return self.args[0]

    @cached_property
    def shape(self):  # cached: SymPy recomputes shapes recursively, which is quadratic in depth
        return self.arg.shape


class _Normalized(_MatrixOf):
    """Base of softmax/logsoftmax: over all entries of a vector, else per row."""

    @property
    def over_columns(self) -> bool:
        """True for a column vector (normalise down the column), else per row."""
        rows, cols = self.shape
        return cols == 1 and rows != 1

    def _sympystr(self, printer):
        return f"{self.func.__name__.lower()}({printer._print(self.arg)})"


class Softmax(_Normalized):
    """exp(A) normalised to sum one (per row, or over a vector)."""


class LogSoftmax(_Normalized):
    """log(softmax(A)), computed stably."""


def is_matrix(e) -> bool:
    return isinstance(e, MatrixExpr)


def shape_of(e) -> tuple:
    """() for a scalar, (rows, cols) for a matrix expression."""
    return tuple(e.shape) if is_matrix(e) else ()


def is_one(d) -> bool:
    return d == 1 or d == Integer(1)


# ---------------------------------------------------------------- derivation placeholders
class _Placeholder:
    """Mixin: a symbol standing for a quantity of a derivation, named ``role:of``.

    roles: ``delta`` (δ_N = ∂f/∂N of a stage N), ``d`` (dN, a differential),
    ``grad`` (∂f/∂N as a result), ``row`` (∂f/∂N as a row: numerator layout).
    """

    @property
    def role(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def of(self) -> str:
        return self.name.split(":", 1)[1]


class MatrixPlaceholder(_Placeholder, MatrixSymbol):
    pass


class ScalarPlaceholder(_Placeholder, Symbol):
    pass


def placeholder(kind: str, name: str, like=None, shape=None):
    """The ``kind`` placeholder of the value named ``name`` (shaped like ``like`` or ``shape``)."""
    shape = shape if shape is not None else (like.shape if is_matrix(like) else ())
    if shape:
        return MatrixPlaceholder(f"{kind}:{name}", *shape)
    return ScalarPlaceholder(f"{kind}:{name}", real=True)


class DifferentialOf(_MatrixOf):
    """d(A) of an expression, unexpanded (display only)."""


class ScalarDifferentialOf(_ScalarOf):
    """d(a) of a scalar expression, unexpanded (display only)."""

    label = "d"


class NamedMatrix(MatrixSymbol):
    """A named intermediate kept whole (``H`` in ``H = sigmoid(X*W); f = sum(H*V)``)."""


class NamedScalar(Symbol):
    """A named scalar intermediate kept whole."""


def named_symbol(name: str, value):
    if is_matrix(value):
        return NamedMatrix(name, *value.shape)
    return NamedScalar(name, real=True)


# ---------------------------------------------------------------- vec / Kronecker forms (Jacobians)
class Vec(_MatrixOf):
    """vec(A): the columns of A stacked (column-major), an mn×1 column."""

    @cached_property
    def shape(self):
        r, c = self.arg.shape
        return (r * c, Integer(1))

    def _sympystr(self, printer):
        return f"vec({printer._print(self.arg)})"


class Commutation(MatrixExpr):
    """K_{m,n}: the mn×mn permutation with K vec(A) = vec(Aᵀ) for an m×n matrix A."""

    def __new__(cls, m, n):
        return Basic.__new__(cls, Integer(m) if isinstance(m, int) else m, Integer(n) if isinstance(n, int) else n)

    @property
    def m(self):
        return self.args[0]

    @property
    def n(self):
        return self.args[1]

    @cached_property
    def shape(self):
        return (self.m * self.n, self.m * self.n)

    def _sympystr(self, printer):
        return f"K({self.m},{self.n})"


# ---------------------------------------------------------------- recurrent programs (display only)
class TimeSum(_MatrixOf):
    """Σ_t of a per-step matrix value (a gradient of a recurrent program)."""

    def _sympystr(self, printer):
        return f"sum_t({printer._print(self.arg)})"


class ScalarTimeSum(_ScalarOf):
    """Σ_t of a per-step scalar value."""

    label = "sum_t"


def time_sum(expr):
    return TimeSum(expr) if is_matrix(expr) else ScalarTimeSum(expr)
