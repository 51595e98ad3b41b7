"""AST -> IR: SymPy matrix expressions with broadcasting made explicit.

Runs shape inference first, so every variable has a SymPy shape, then builds
the program's statements into one expression per name.  A row ``b`` added to an
(m, n) matrix becomes ``1_m b`` (so its gradient comes out as ``1ᵀ G``), a scalar
``s`` becomes ``s 1_{m×n}``, and a 1x1 product used as a value is a scalar.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sympy import Determinant, Identity, Integer, Inverse, MatrixSymbol, OneMatrix, Pow, Rational, S, Symbol, Trace
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

from . import extensions
from ..ir import ops
from . import parser as P
from ..errors import ShapeError, UnknownNameError
from ..ir.nodes import LogDet, LogSoftmax, Norm2, Softmax, SumEntries, is_matrix, named_symbol, shape_of
from .shapes import ShapeInference, _chained, declare_shapes, resolve, show, size_symbol

_SIZE_NAMES = ("n", "m", "k", "p", "q", "r", "s", "t", "u", "v")


@dataclass
class Program:
    """A parsed, shape-checked program: its variables and named values as IR."""

    source: str
    variables: dict            # name -> MatrixSymbol | Symbol (in order of appearance)
    intermediates: dict        # name -> IR expression (user-named statements)
    output: object             # the function's IR expression
    output_name: str | None
    size_symbols: list = field(default_factory=list)
    # the same program with each named intermediate kept as an opaque symbol (for step-by-step
    # derivations: SymPy cannot absorb a use of H into X*W*V when H is a symbol)
    named: dict = field(default_factory=dict)         # name -> NamedMatrix | NamedScalar
    definitions: dict = field(default_factory=dict)   # name -> value in variables and earlier names
    opaque_output: object = None

    def shape(self, name: str) -> tuple:
        return shape_of(self.variables[name])


def _namer(taken: set):
    fresh = iter([n for n in _SIZE_NAMES if n not in taken] +
                 [f"n{i}" for i in range(1, 10_000) if f"n{i}" not in taken])
    return lambda: next(fresh)


def parse(source: str, shapes: dict | None = None, statements=None, links=(), allow_unused: bool = False,
          square=(), result_shape=None, size_names: bool = False) -> Program:
    """Parse and shape-check ``source`` (or already parsed ``statements`` of it).

    ``size_names`` (a result read back, whose variables are all declared): a name that is a
    symbolic size of a declared shape and neither a declared variable nor a named value is that
    size, a scalar (the m of v𝟏ᵀ/m).

    ``links`` (variable, named value, position, default shape or None) gives a variable the shape
    of a named value (a recurrent state's previous value and the state); a size left open
    (touched only by broadcasting) takes the default's, else 1.
    """
    if statements is None:
        statements = P.parse_program(source, known=shapes or ())
    declared = declare_shapes(shapes)
    inference = ShapeInference(source, declared)
    if size_names:
        inference.sizes = {str(d) for shape in (shapes or {}).values() for d in shape
                           if isinstance(d, str) and d.isidentifier()} - set(shapes)
    for name in square:
        shape = declared.get(name)
        if shape is not None and len(shape) == 2:
            inference.unify(shape[0], shape[1], 0, f"{name} is declared symmetric, spd or diagonal, so square")
    inference.run(statements)
    out = inference.last_shape
    if result_shape is not None and out is not None and len(out) == len(tuple(result_shape)) == 2:
        # a result read back (a claim, a printed Jacobian): its shape is known, so is 𝕀's in it
        dims = [str(d) for d in result_shape]
        plain = [d.isdigit() or d.isidentifier() for d in dims]   # m*n (a Jacobian's vec size): left open
        want = declare_shapes({"_result": tuple(d if k else "1" for d, k in zip(dims, plain))})["_result"]
        for have, expected, k in zip(out, want, plain):
            if k and (have.known() is None or expected.known() is None or have.known() == expected.known()):
                inference.unify(have, expected, 0, "the result's shape")
    for name in square:   # declared symmetric / diagonal: rows = columns
        shape = inference.variables.get(name)
        if shape:
            inference.unify(shape[0], shape[1], 0, f"{name} is declared square (symmetric, spd or diagonal)")
    for var, name, pos, _ in links:
        a, b = inference.variables.get(var), inference.intermediates.get(name)
        if a is None or b is None:
            continue
        if (a == ()) != (b == ()):
            raise ShapeError(f"{name} changes shape between steps: {show(b)} from {show(a)}", source, pos)
        for da, db in zip(a, b):
            inference.unify(da, db, pos, f"{name} changes shape between steps: {show(b)} from {show(a)}")
    def priority(link):   # initial values with full sizes first (a row h0 broadcasts over the batch)
        default = link[3]
        return (default is None, sum(1 for v in default if v == 1) if default else 0)
    for var, name, pos, default in sorted(links, key=priority):
        # a size only broadcasting touched: the initial value's, else 1
        for k, dim in enumerate(inference.variables.get(var, ())):
            if dim.root().value is None:
                want = default[k] if default else 1
                dim.root().value = size_symbol(want) if isinstance(want, str) else int(want)
    unused = sorted(set(declared) - set(inference.variables) - set(inference.intermediates))
    if unused and not allow_unused:
        raise UnknownNameError(f"a shape is given for {unused[0]!r}, which is not a variable of the expression")
    taken = set(inference.variables) | set(inference.intermediates)
    taken |= {d.known().name for s in declared.values() for d in s if d.known() is not None and not isinstance(d.known(), int)}
    namer = _namer(taken)
    variables = {}
    for name in inference.order:
        shape = resolve(inference.variables[name], namer)
        variables[name] = Symbol(name, real=True) if shape == () else MatrixSymbol(name, *shape)
    constants = {}
    for key, (node, shape) in inference.constants.items():
        if any(d.root().value is None for d in shape):
            what = "eye" if node.func == "eye" else f"{node.func}(…)"
            raise ShapeError(f"cannot tell the size of {what} from its use: declare the sizes of the "
                             "variables around it, or write ones(m,n)/eye(n)", source, node.pos)
        constants[key] = resolve(shape, namer)
    builder, opaque = _Builder(source, variables, constants), _Builder(source, variables, constants)
    builder.sizes = opaque.sizes = inference.sizes
    output, output_name, opaque_output = None, None, None
    named, definitions = {}, {}
    for st in statements:
        value = builder.build(st.expr)
        definition = opaque.build(st.expr)
        if st.target is not None:
            builder.env[st.target] = value
            builder.intermediates[st.target] = value
            named[st.target] = named_symbol(st.target, value)
            definitions[st.target] = definition
            opaque.env[st.target] = named[st.target]
        if output_name != "f":
            output, output_name, opaque_output = value, st.target, definition
    sizes = sorted({d for v in variables.values() for d in shape_of(v) if isinstance(d, Symbol)},
                   key=lambda s: s.name)
    program = Program(source, variables, builder.intermediates, output, output_name, sizes,
                      named, definitions, opaque_output)
    program.default_kinds = {n: k for n, k in inference.defaulted.items() if n in variables}
    return program


class _Builder:
    def __init__(self, source: str, variables: dict, constants: dict | None = None):
        self.source = source
        self.env = dict(variables)
        self.intermediates: dict = {}
        self.constants = constants or {}   # id(node) -> SymPy shape of a sized-by-use constant

    def error(self, message, pos):
        return ShapeError(message, self.source, pos)

    def build(self, node):
        return _chained(self, node, lambda n: getattr(self, "_" + type(n).__name__)(n))

    # values are scalars or matrices; a 1x1 product is a scalar
    def value(self, node):
        return ops.as_scalar(self.build(node))

    def _Num(self, node):
        v = node.value
        if v.is_integer() and abs(v) < 1e15:
            return Integer(int(v))
        return Rational(node.text) if len(node.text) < 30 else S(v)

    sizes: set = frozenset()   # size names read as scalars (see parse's size_names)

    def _Name(self, node):
        if node.id not in self.env and node.id in self.sizes:
            return size_symbol(node.id)
        return ops.as_scalar(self.env[node.id])

    def _Unary(self, node):
        v = self.value(node.operand)
        return ops.neg(v) if node.op == "-" else v

    def _Transpose(self, node):
        return ops.transpose(self.value(node.operand))

    def _common_shape(self, a, b, node):
        sa, sb = shape_of(a), shape_of(b)
        if sa == ():
            return sb
        if sb == ():
            return sa
        out = []
        for da, db in zip(sa, sb):
            if da == db or db == 1:
                out.append(da)
            elif da == 1:
                out.append(db)
            else:  # pragma: no cover - inference rejects this first
                raise self.error(f"cannot apply '{node.op}' to shapes {sa} and {sb}", node.pos)
        return tuple(out)

    def _entrywise_operands(self, node):
        a, b = self.value(node.left), self.value(node.right)
        shape = self._common_shape(a, b, node)
        if shape == ():
            return a, b
        def widen(v):
            return v if not is_matrix(v) or shape_of(v) == shape else ops.broadcast(v, shape)
        # a scalar operand of .* / ./ scales; of + - it broadcasts
        if node.op in ("+", "-"):
            return ops.broadcast(a, shape) if not is_matrix(a) else widen(a), \
                   ops.broadcast(b, shape) if not is_matrix(b) else widen(b)
        return widen(a), widen(b)

    def _broadcast_pair(self, a, b, node):
        """Two entrywise operands extended to their common shape (a scalar stays a scalar)."""
        sa, sb = shape_of(a), shape_of(b)
        if sa == sb:
            return a, b
        shape = sb if sa == () else sa if sb == () else tuple(db if da == 1 else da for da, db in zip(sa, sb))
        return (a if sa == shape else ops.broadcast(a, shape)), (b if sb == shape else ops.broadcast(b, shape))

    def _Binary(self, node):
        op = node.op
        if op in ("+", "-"):
            a, b = self._entrywise_operands(node)
            return ops.add(a, b) if op == "+" else ops.sub(a, b)
        if op == ".*":
            a, b = self._entrywise_operands(node)
            return ops.hadamard(a, b)
        if op == "./":
            a, b = self._entrywise_operands(node)
            self._nonzero(b, node)
            if not is_matrix(b):
                return ops.scale(Pow(b, -1), a)
            return ops.hadamard(a, ops.hpow(b, -1))
        a, b = self.value(node.left), self.value(node.right)
        if op == "*":
            return ops.as_scalar(ops.matmul(a, b))
        if op == "/":
            self._nonzero(b, node)
            return ops.scale(Pow(b, -1), a)
        if op == "^":
            if a == 0 and not is_matrix(b) and b.is_number and b.is_negative:
                raise self.error("division by zero: zero to a negative power", node.pos)
            return Pow(a, b)
        if op == ".^":
            return ops.hpow(a, b)
        raise self.error(f"unknown operator {op!r}", node.pos)  # pragma: no cover

    def _nonzero(self, b, node):
        if not is_matrix(b) and b.is_number and b == 0:
            raise self.error("division by zero", node.pos)

    def _size(self, node):
        if isinstance(node, P.Num):
            return Integer(int(node.value))
        return size_symbol(node.id)

    def _Call(self, node):
        name = node.func
        if name == "ones":
            return OneMatrix(*[self._size(a) for a in node.args])
        if name == "eye" and node.args:
            return Identity(self._size(node.args[0]))
        if id(node) in self.constants:   # bare eye, vector(c), matrix(c)
            args = [self.value(a) for a in node.args] if name in ("vector", "matrix") else []
            return extensions.constant(name, self.constants[id(node)], *args)
        if name == "commutation":
            return extensions.commutation(*[self._size(a) for a in node.args])
        if name in ("max", "min"):
            a, b = self._broadcast_pair(self.value(node.args[0]), self.value(node.args[1]), node)
            return extensions.extremum(a, b, name == "max")
        axis = int(node.args[1].value) if name in ("sum", "mean") and len(node.args) == 2 else None
        if name == "sum" and axis is not None:
            return extensions.axis_sum(self.value(node.args[0]), axis)
        if name in extensions.BUILDERS:
            return extensions.BUILDERS[name]([self.value(a) for a in node.args[:1 if axis else None]], axis)
        a = self.value(node.args[0])
        scalar = not is_matrix(a)
        if name == "sum":
            return a if scalar else SumEntries(a)
        if name == "tr":
            return a if scalar else Trace(a)
        if name == "det":
            return a if scalar else Determinant(a)
        if name == "logdet":
            return ops.apply("log", a) if scalar else LogDet(a)
        if name == "inv":
            if ops.is_zero(a):
                raise self.error("inv() of zero: it has no inverse", node.pos)
            return Pow(a, -1) if scalar else Inverse(a)
        if name == "norm2":
            return ops.apply("abs", a) if scalar else Norm2(a)
        if name == "softmax":
            return S.One if scalar else Softmax(a)
        if name == "logsoftmax":
            return S.Zero if scalar else LogSoftmax(a)
        if name == "diag":
            if scalar:
                return a
            rows, cols = a.shape
            return DiagMatrix(a) if rows == 1 or cols == 1 else DiagonalOf(a)
        # registered entrywise function; log(softmax(Z)) is log-softmax
        if name == "log" and isinstance(a, Softmax):
            return LogSoftmax(a.arg)
        return ops.apply(name, a)
