"""Shape inference: declared shapes, default kinds, unification of sizes.

A shape is ``()`` for a scalar or ``(rows, cols)`` of ``Dim``s.  Sizes are
integers, declared symbols (``--dim X=n,d``) or unknowns that unification
resolves; unknowns left at the end become fresh size symbols.  Undeclared
variables get matrixcalculus.org's default kind from their first letter
(a–g scalar, h–z column vector, A–Z matrix).
"""
from __future__ import annotations

from sympy import Integer, Symbol

from . import parser as P
from ..errors import ShapeError, UnknownNameError
from .language import CONSTRUCTORS, STRUCTURAL, is_function_name


class Dim:
    """A size in a union-find forest: int, declared Symbol, or unknown (None)."""

    __slots__ = ("parent", "value")

    def __init__(self, value=None):
        self.parent = self
        self.value = value

    def root(self) -> "Dim":
        node = self
        while node.parent is not node:
            node.parent = node.parent.parent
            node = node.parent
        return node

    def known(self):
        return self.root().value

    def is_one(self) -> bool:
        return self.known() == 1


def size_symbol(name: str) -> Symbol:
    return Symbol(name, integer=True, positive=True)


def show(shape) -> str:
    if shape == ():
        return "scalar"
    return "(" + ",".join(str(d.known() if d.known() is not None else "?") for d in shape) + ")"


class ShapeInference:
    def __init__(self, source: str, declared: dict):
        self.source = source
        self.declared = declared           # name -> shape of Dims (parsed by declare_shapes)
        self.variables: dict[str, tuple] = {}
        self.intermediates: dict[str, tuple] = {}
        self.order: list[str] = []         # variables in order of appearance
        self.constants: dict = {}          # id(node) -> (node, shape) of sized-by-use constants
        self.defaulted: dict = {}          # undeclared vector/matrix variables -> their default kind

    # ---- unification
    def unify(self, a: Dim, b: Dim, pos: int, what: str):
        ra, rb = a.root(), b.root()
        if ra is rb:
            return
        if ra.value is not None and rb.value is not None and ra.value != rb.value:
            raise ShapeError(f"{what}: size {ra.value} does not match size {rb.value}", self.source, pos)
        if ra.value is None:
            ra.parent = rb
        else:
            rb.parent = ra

    def error(self, message: str, pos: int):
        return ShapeError(message, self.source, pos)

    # ---- names
    def variable(self, name: str, pos: int):
        if name in self.variables:
            return self.variables[name]
        if is_function_name(name):
            raise UnknownNameError(f"{name!r} is a function: call it as {name}(...)", self.source, pos)
        if name in self.declared:
            shape = self.declared[name]
        elif name[0].islower() and name[0] <= "g":
            shape = ()
        elif name[0].islower():
            shape = (Dim(), Dim(1))
            self.defaulted[name] = "column vector"
        elif name[0].isupper():
            shape = (Dim(), Dim())
            self.defaulted[name] = "matrix"
        else:
            raise UnknownNameError(f"cannot infer a shape for {name!r}: declare it with --dim/shapes", self.source, pos)
        self.variables[name] = shape
        self.order.append(name)
        return shape

    # ---- expressions
    def infer(self, node) -> tuple:
        return _chained(self, node, lambda n: getattr(self, "_" + type(n).__name__)(n))

    def _Num(self, node):
        return ()

    sizes: set = frozenset()   # size names read as scalars (see build.parse's size_names)

    def _Name(self, node):
        if node.id in self.intermediates:
            return self.intermediates[node.id]
        if node.id in self.sizes and node.id not in self.declared:
            return ()
        return self.variable(node.id, node.pos)

    def _Unary(self, node):
        return self.infer(node.operand)

    def _Index(self, node):
        raise UnknownNameError(f"{node.id}[{node.at}] is a value of a sequence: only recurrent programs "
                               "(with h[t] = ...) use them", self.source, node.pos)

    def _Transpose(self, node):
        s = self.infer(node.operand)
        return s if s == () else (s[1], s[0])

    @staticmethod
    def scalar_like(s) -> bool:
        return s == () or (s[0].is_one() and s[1].is_one())

    def broadcast(self, a, b, pos, op):
        if a == ():
            return b
        if b == ():
            return a
        out = []
        for da, db in zip(a, b):
            if da.root() is db.root():
                out.append(da)
            elif da.is_one():
                out.append(db)
            elif db.is_one():
                out.append(da)
            else:
                self.unify(da, db, pos, f"cannot apply '{op}' to shapes {show(a)} and {show(b)}")
                out.append(da)
        return tuple(out)

    def _Binary(self, node):
        a, b = self.infer(node.left), self.infer(node.right)
        op = node.op
        if op in ("+", "-", ".*", "./"):
            return self.broadcast(a, b, node.pos, op)
        if op == "*":
            if a == () or b == ():
                return b if a == () else a
            if a[1].root() is not b[0].root() and not (a[1].known() is None or b[0].known() is None) \
                    and a[1].known() != b[0].known():
                if self.scalar_like(a):
                    return b
                if self.scalar_like(b):
                    return a
            self.unify(a[1], b[0], node.pos,
                       f"cannot multiply {show(a)} by {show(b)} (inner sizes differ; use .* for an entrywise product)")
            if a[0].is_one() and b[1].is_one():
                return ()
            return (a[0], b[1])
        if op == "/":
            if not self.scalar_like(b):
                raise self.error(f"'/' divides by a scalar, not by {show(b)}; use ./ for entrywise division or inv()", node.pos)
            return a
        if op == "^":
            if not self.scalar_like(a):
                raise self.error(f"'^' raises a scalar to a power, not {show(a)}; use .^ for an entrywise power "
                                 "(or A*A for a matrix product)", node.pos)
            if not self.scalar_like(b):
                raise self.error(f"the exponent of '^' must be a scalar, not {show(b)}", node.pos)
            return ()
        if op == ".^":
            if not self.scalar_like(b):
                raise self.error(f"the exponent of '.^' must be a scalar, not {show(b)}", node.pos)
            return a
        raise self.error(f"unknown operator {op!r}", node.pos)  # pragma: no cover

    def _Call(self, node):
        name = node.func
        if not is_function_name(name):
            raise UnknownNameError(f"unknown function {name!r}", self.source, node.pos)
        spec = STRUCTURAL.get(name)
        low, high = spec.arities() if spec else (1, 1)
        if not low <= len(node.args) <= high:
            want = f"{low}" if low == high else f"{low} or {high}"
            raise self.error(f"{name}() takes {want} argument{'s' if high != 1 else ''}, got {len(node.args)}",
                             node.pos)
        if name in CONSTRUCTORS:
            dims = [self.size_argument(a, name) for a in node.args]
            if name == "commutation":
                return (self.product(dims, node),) * 2
            if not dims:   # bare eye: square, its size implied by its use
                d = Dim()
                return self.constant(node, (d, d))
            return (dims[0], dims[-1])
        if name in ("vector", "matrix"):
            if not self.scalar_like(self.infer(node.args[0])):
                raise self.error(f"{name}(c) takes a scalar c", node.pos)
            return self.constant(node, (Dim(), Dim(1) if name == "vector" else Dim()))
        if name in ("max", "min"):
            return self.broadcast(self.infer(node.args[0]), self.infer(node.args[1]), node.pos, name)
        if name == "kron":
            a, b = self.infer(node.args[0]), self.infer(node.args[1])
            if a == () or b == ():
                return b if a == () else a
            return (self.product([a[0], b[0]], node), self.product([a[1], b[1]], node))
        s = self.infer(node.args[0])
        if name in ("sum", "mean") and len(node.args) == 2:
            axis = node.args[1]
            if not (isinstance(axis, P.Num) and axis.value in (1.0, 2.0)):
                raise self.error(f"the second argument of {name}() is 1 (down each column) or 2 "
                                 "(along each row)", axis.pos)
            if s == ():
                return ()
            return (Dim(1), s[1]) if axis.value == 1.0 else (s[0], Dim(1))
        if name == "vec":
            return s if s == () else (self.product(list(s), node), Dim(1))
        if spec is None or name in ("softmax", "logsoftmax", "inv", "adj", "sym"):
            if name in ("inv", "adj", "sym"):
                self.require_square(s, node)
            return s
        if name in ("sum", "norm2", "norm1", "mean", "logsumexp"):
            return ()
        if name in ("tr", "det", "logdet"):
            self.require_square(s, node)
            return ()
        if name == "diag":
            if s == () or self.scalar_like(s):
                return ()
            if s[1].is_one():
                return (s[0], s[0])
            if s[0].is_one():
                return (s[1], s[1])
            self.require_square(s, node)
            return (s[0], Dim(1))
        raise self.error(f"unknown function {name!r}", node.pos)  # pragma: no cover

    def constant(self, node, shape):
        """A constant whose size its use implies (vector(1), eye, 𝟏): remembered for the builder."""
        self.constants[id(node)] = (node, shape)
        return shape

    def product(self, dims, node) -> Dim:
        """A size that is the product of sizes (of kron, vec): they must be known here."""
        value = 1
        for d in dims:
            if d.known() is None:
                raise self.error(f"{node.func}() needs arguments of known sizes: declare them with --dim/shapes",
                                 node.pos)
            value = value * d.known()
        return Dim(value)

    def size_argument(self, node, func: str) -> Dim:
        """A size given to ones()/eye()/commutation(): a positive integer or a declared size name."""
        if isinstance(node, P.Num) and node.value.is_integer() and 1 <= node.value <= 10**7:
            return Dim(int(node.value))
        if isinstance(node, P.Name):
            for shape in self.declared.values():
                for d in shape:
                    if getattr(d.known(), "name", None) == node.id:
                        return d
        raise self.error(f"{func}() takes sizes: positive integers or size names declared in shapes", node.pos)

    def require_square(self, s, node):
        if s != ():
            self.unify(s[0], s[1], node.pos, f"{node.func}() needs a square matrix, got {show(s)}")

    # ---- programs
    def run(self, statements) -> None:
        self.last_shape = None
        for st in statements:
            shape = self.infer(st.expr)
            self.last_shape = shape
            if st.target is not None:
                if st.target in self.variables:
                    raise UnknownNameError(f"{st.target!r} is used as a variable before this assignment",
                                           self.source, st.pos)
                if st.target in self.intermediates:
                    raise UnknownNameError(f"{st.target!r} is assigned twice", self.source, st.pos)
                if is_function_name(st.target):
                    raise UnknownNameError(f"cannot assign to {st.target!r}: it is a function", self.source, st.pos)
                self.intermediates[st.target] = shape


# names people give scalar parameters; the default kinds make those from h–z vectors
_SCALAR_LOOKING = {"lam", "lmbda", "reg", "lr", "tau", "rho", "temp", "scale", "mom", "decay", "wd", "nu",
                   "kappa", "mu", "sigma", "theta", "phi", "psi", "omega", "xi", "pi", "iota", "tau", "chi",
                   "λ", "lambd"}


def surprising_kinds(program) -> dict:
    """Undeclared variables whose name looks like a scalar parameter but whose default kind
    (from the first letter) is a vector or a matrix: name -> that kind."""
    out = {}
    for name, kind in getattr(program, "default_kinds", {}).items():
        base = name.rstrip("0123456789_")
        if base in _SCALAR_LOOKING:
            out[name] = kind
    return out


def declare_shapes(shapes: dict | None) -> dict:
    """Validate user shapes into Dims: ints, size names (str/Symbol), () for scalars."""
    out = {}
    symbols: dict[str, Dim] = {}
    for name, shape in (shapes or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ShapeError(f"bad variable name in shapes: {name!r}")
        name = P.canonical_name(name)
        if name in out:
            raise ShapeError(f"the shape of {name} is given twice")
        if isinstance(shape, (int, str)):
            shape = (shape,)
        try:
            shape = tuple(shape)
        except TypeError:
            raise ShapeError(f"shape of {name} must be a tuple, got {shape!r}") from None
        if len(shape) == 1 and shape[0] in (1, "1"):
            shape = ()
        if len(shape) not in (0, 2):
            raise ShapeError(f"shape of {name} must be () or (rows, cols), got {shape!r}")
        dims = []
        for d in shape:
            dims.append(_dim(name, d, symbols))
        out[name] = tuple(dims)
    return out


def _dim(name, d, symbols):
    if isinstance(d, Symbol):
        d = d.name
    if isinstance(d, bool):
        raise ShapeError(f"bad size {d!r} in the shape of {name}")
    if isinstance(d, str):
        d = d.strip()
        if d == "?":   # an unknown size, for internal declarations (inferred from the uses)
            return Dim()
        if d.isascii() and d.isdigit():   # '²' and '３' are digits to str.isdigit, not sizes
            d = int(d)
        elif d.isascii() and d.isidentifier():   # the names of the language
            return symbols.setdefault(d, Dim(size_symbol(d)))
        else:
            raise ShapeError(f"bad size {d!r} in the shape of {name}: use a positive integer or a name")
    try:
        value = int(d)
    except (TypeError, ValueError):
        raise ShapeError(f"bad size {d!r} in the shape of {name}") from None
    if value != d or value < 1:
        raise ShapeError(f"bad size {d!r} in the shape of {name}: sizes are positive integers")
    if value > 10**7:
        raise ShapeError(f"size {value} in the shape of {name} is too large")
    return Dim(value)


def resolve(shape, namer) -> tuple:
    """Dims -> SymPy sizes (Integer or Symbol); unknown sizes get fresh names."""
    out = []
    for d in shape:
        root = d.root()
        if root.value is None:
            root.value = size_symbol(namer())
        v = root.value
        out.append(Integer(v) if isinstance(v, int) else v)
    return tuple(out)


def _chained(walker, node, visit):
    """visit(node), with long left-nested chains (a + b + c + … in 10,000 terms) visited from the
    bottom up first, so that the recursion stays shallow; each node is visited once."""
    memo = walker.__dict__.setdefault("_chain_memo", {})
    hit = memo.get(id(node))
    if hit is not None:
        return hit[1]
    if isinstance(node, P.Binary) and isinstance(node.left, P.Binary):
        chain, n = [], node.left
        while isinstance(n, P.Binary) and id(n) not in memo:
            chain.append(n)
            n = n.left
        for c in reversed(chain[1:]):
            memo[id(c)] = (c, visit(c))
    result = visit(node)
    memo[id(node)] = (node, result)
    return result
