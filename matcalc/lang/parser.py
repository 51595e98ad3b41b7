"""Tokenizer and recursive-descent parser for the contract language.

User text never reaches ``eval``/``sympify``: it becomes a small AST of frozen
dataclasses, each node remembering its offset in the source for error messages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ParseError

MAX_SOURCE_LENGTH = 100_000
MAX_NESTING = 200
MAX_TOKENS = 20_000


# ---------------------------------------------------------------- AST
@dataclass(frozen=True)
class Node:
    pos: int


@dataclass(frozen=True)
class Num(Node):
    value: float
    text: str


@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Unary(Node):
    op: str  # '-' or '+'
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / .* ./ ^ .^
    left: Node
    right: Node


@dataclass(frozen=True)
class Transpose(Node):
    operand: Node


@dataclass(frozen=True)
class Index(Node):
    """A value of a sequence at a time: ``x[t]``, ``h[t-1]``, ``h[0]`` (initial), ``h[T]`` (last)."""
    id: str
    at: str  # "t" | "t-1" | "0" | "T"


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Statement(Node):
    target: str | None  # None for a bare expression
    expr: Node
    at: str | None = None  # "t" for ``h[t] = ...``, "0" for ``h[0] = ...``


# ---------------------------------------------------------------- tokens
_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+)
  | (?P<newline>\n)
  | (?P<num>(?:[0-9]+(?:\.(?![*/^'])[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<commutation>K_\{\s*[A-Za-z0-9_]+\s*,\s*[A-Za-z0-9_]+\s*\})
  | (?P<name>[A-Za-z_\u0391-\u03a9\u03b1-\u03c9][A-Za-z0-9_\u0391-\u03a9\u03b1-\u03c9]*)
  | (?P<op>\.\*|\./|\.\^|\^∘|⁻¹|⁻ᵀ|[-+*/^'(),;=\[\]−⊙⊘ᵀ‖⊗])
  | (?P<ones>𝟏(?:[₀-₉]+|_\{[A-Za-z0-9_]+\})?)
  | (?P<identity>𝕀(?:[₀-₉]+|_\{[A-Za-z0-9_]+\})?)
    """,
    re.VERBOSE,
)


# matcalc's printed (Unicode) results read back: the operators they use, as the language's
_PRINTED_OPERATORS = {"−": "-", "⊙": ".*", "⊘": "./", "ᵀ": "'", "^∘": ".^"}

GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta", "η": "eta",
         "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi",
         "π": "pi", "ρ": "rho", "σ": "sigma", "ς": "sigma", "τ": "tau", "υ": "upsilon", "φ": "phi",
         "χ": "chi", "ψ": "psi", "ω": "omega", "Γ": "Gamma", "Δ": "Delta", "Θ": "Theta", "Λ": "Lambda",
         "Ξ": "Xi", "Π": "Pi", "Σ": "Sigma", "Υ": "Upsilon", "Φ": "Phi", "Ψ": "Psi", "Ω": "Omega"}


def canonical_name(name: str) -> str:
    """The one spelling of a name: Greek letters typed in Unicode become their names (σ -> sigma),
    except lambda, a Python keyword, whose one spelling is λ (typed as lambda or λ)."""
    if any(ch in GREEK for ch in name):
        name = "".join(GREEK.get(ch, ch) for ch in name)
    return "λ" + name[6:] if name.startswith("lambda") and (len(name) == 6 or not name[6].isalpha()) else name


@dataclass(frozen=True)
class Token:
    kind: str  # num name op newline end
    text: str
    pos: int


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_SOURCE_LENGTH:
        raise ParseError(f"program too long ({len(source)} characters; the limit is {MAX_SOURCE_LENGTH})")
    tokens, pos = [], 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            ch = source[pos]
            hint = " (comments and strings are not part of the language)" if ch in "#\"" else ""
            raise ParseError(f"unexpected character {ch!r}{hint}", source, pos)
        kind = m.lastgroup
        if kind != "ws":
            text = m.group()
            if kind == "op":
                text = _PRINTED_OPERATORS.get(text, text)
            elif kind == "name":
                text = canonical_name(text)
            tokens.append(Token(kind, text, pos))
        pos = m.end()
        if len(tokens) > MAX_TOKENS:
            raise ParseError(f"program too large (more than {MAX_TOKENS} tokens)", source, pos)
    tokens.append(Token("end", "", len(source)))
    return tokens


# ---------------------------------------------------------------- parser
class _Parser:
    def __init__(self, source: str, known=()):
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0
        self.norms = 0          # open ‖…‖: a ‖ closes rather than starts a product
        # declared names: read implicit products of them (Xw, X(…)) as matcalc prints them
        self.known = {canonical_name(n) for n in known}

    # -- helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def error(self, message: str, pos: int | None = None) -> ParseError:
        return ParseError(message, self.source, self.tok.pos if pos is None else pos)

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def at(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def expect(self, op: str, context: str) -> Token:
        if not self.at(op):
            found = "the end of the input" if self.tok.kind == "end" else repr(self.tok.text)
            raise self.error(f"expected {op!r} {context}, found {found}")
        return self.take()

    def nest(self):
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"expression nested too deeply (more than {MAX_NESTING} levels)")

    # -- grammar
    def program(self) -> list[Statement]:
        stmts: list[Statement] = []
        while True:
            while self.tok.kind == "newline" or self.at(";"):
                self.take()
            if self.tok.kind == "end":
                break
            stmts.append(self.statement())
            if not (self.tok.kind in ("newline", "end") or self.at(";")):
                raise self.error(f"unexpected {self.tok.text!r} after a complete expression")
        if not stmts:
            raise ParseError("empty expression", self.source, 0)
        return stmts

    def statement(self) -> Statement:
        start = self.tok
        nxt = self.tokens[self.i + 1]
        if start.kind == "name" and nxt.kind == "op" and nxt.text == "=":
            self.take()
            self.take()
            statement = Statement(start.pos, start.text, self.expression())
            self.known.add(start.text)
            return statement
        if start.kind == "name" and nxt.kind == "op" and nxt.text == "[":
            save = self.i
            self.take()
            at = self.index(start.text)
            if self.at("="):
                if at not in ("t", "0"):
                    raise self.error(f"a sequence is defined at [t] (each step) or [0] (initial value), "
                                     f"not at [{at}]", start.pos)
                self.take()
                return Statement(start.pos, start.text, self.expression(), at)
            self.i = save
        return Statement(start.pos, None, self.expression())

    def index(self, name: str) -> str:
        """The time inside ``name[...]``: t, t-1, 0 or T."""
        open_ = self.expect("[", f"after {name}")
        parts = []
        while not self.at("]"):
            if self.tok.kind in ("end", "newline") or len(parts) > 4:
                raise self.error(f"expected ']' to close {name}[", open_.pos)
            parts.append(self.take().text)
        self.take()
        at = "".join(parts)
        if at not in ("t", "t-1", "0", "T"):
            raise self.error(f"unsupported time index {name}[{at}]: use [t], [t-1], [0] (initial value) "
                             f"or [T] (last step)", open_.pos)
        return at

    def expression(self) -> Node:
        self.nest()
        left = self.term()
        while self.at("+", "-"):
            op = self.take()
            left = Binary(op.pos, op.text, left, self.term())
        self.depth -= 1
        return left

    def term(self) -> Node:
        left = self.unary()
        while True:
            if self.at("*", ".*", "./", "/"):
                op = self.take()
                left = Binary(op.pos, op.text, left, self.unary())
            elif self.at("⊗"):
                op = self.take()
                left = Call(op.pos, "kron", (left, self.unary()))
            elif self.starts_operand():   # juxtaposition, as printed: 2Xᵀ(Xw − y), X W1
                left = Binary(self.tok.pos, "*", left, self.power())
            else:
                return left

    def starts_operand(self) -> bool:
        t = self.tok
        if t.kind in ("name", "ones", "identity", "commutation"):
            return True
        return self.at("(") or (self.at("‖") and self.norms == 0)

    def unary(self) -> Node:
        if self.at("-", "+"):
            op = self.take()
            self.nest()
            node = Unary(op.pos, op.text, self.unary())
            self.depth -= 1
            return node
        return self.power()

    def power(self) -> Node:
        base = self.postfix()
        if self.at("^", ".^"):
            op = self.take()
            self.nest()
            node = Binary(op.pos, op.text, base, self.unary())  # right-associative; allows a^-1
            self.depth -= 1
            return node
        return base

    def postfix(self) -> Node:
        node = self.primary()
        while self.at("'", "⁻¹", "⁻ᵀ"):
            t = self.take()
            node = Transpose(t.pos, node) if t.text == "'" else Call(t.pos, "inv", (node,))
            if t.text == "⁻ᵀ":   # X⁻ᵀ, as printed: (X⁻¹)ᵀ
                node = Transpose(t.pos, node)
        return node

    def primary(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.take()
            try:
                value = float(t.text)
            except ValueError:  # pragma: no cover - the regex only admits valid floats
                raise self.error(f"bad number {t.text!r}")
            if value == float("inf"):
                raise self.error(f"number {t.text!r} is too large")
            return Num(t.pos, value, t.text)
        if t.kind in ("ones", "identity"):   # 𝟏, 𝕀 (size by use); 𝟏₃, 𝕀_{n} (sized)
            self.take()
            size = _subscript(t)
            if t.kind == "ones":
                return Call(t.pos, "ones", (size, Num(t.pos, 1.0, "1"))) if size else \
                    Call(t.pos, "vector", (Num(t.pos, 1.0, "1"),))
            return Call(t.pos, "eye", (size,) if size else ())
        if t.kind == "commutation":
            self.take()
            sizes = [part.strip() for part in t.text[3:-1].split(",")]
            return Call(t.pos, "commutation", tuple(
                Num(t.pos, float(v), v) if v.isdigit() else Name(t.pos, v) for v in sizes))
        if self.at("‖"):
            self.take()
            self.norms += 1
            self.nest()
            inner = self.expression()
            self.depth -= 1
            self.norms -= 1
            self.expect("‖", "to close '‖'")
            return Call(t.pos, "norm2", (inner,))
        if t.kind == "name" and t.text == "eye" and not self.tokens[self.i + 1].text == "(":
            self.take()
            return Call(t.pos, "eye", ())   # bare eye: the identity of the size its use implies
        if t.kind == "name" and self.known and t.text not in self.known:
            parts = split_product(t.text, self.known)
            if parts:
                self.take()
                node: Node = Name(t.pos, parts[0])
                offset = len(parts[0])
                for part in parts[1:]:
                    node = Binary(t.pos + offset, "*", node, Name(t.pos + offset, part))
                    offset += len(part)
                return node
        if t.kind == "name":
            self.take()
            if self.at("(") and t.text in self.known:
                return Name(t.pos, t.text)   # X(…): a product, as printed
            if self.at("("):
                self.take()
                args: list[Node] = []
                if not self.at(")"):
                    args.append(self.expression())
                    while self.at(","):
                        self.take()
                        args.append(self.expression())
                self.expect(")", f"to close the call of {t.text}(")
                return Call(t.pos, t.text, tuple(args))
            if self.at("["):
                return Index(t.pos, t.text, self.index(t.text))
            return Name(t.pos, t.text)
        if self.at("("):
            self.take()
            inner = self.expression()
            self.expect(")", "to close '('")
            return inner
        if t.kind == "end":
            raise self.error("unexpected end of input: an operand is missing")
        if t.kind == "newline":
            raise self.error("unexpected end of line: an operand is missing")
        raise self.error(f"unexpected {t.text!r}: an operand is missing")


_SUBSCRIPT_DIGITS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


def _subscript(t: Token):
    """The size written on 𝟏 or 𝕀 (𝕀₃, 𝟏_{n}) as a size argument, or None."""
    sub = t.text[1:].strip("_{}").translate(_SUBSCRIPT_DIGITS)
    if not sub:
        return None
    return Num(t.pos, float(sub), sub) if sub.isdigit() else Name(t.pos, sub)


def parse_program(source: str, known=()) -> list[Statement]:
    """Parse ``name = expr`` statements separated by ';' or newlines.

    ``known``: names declared as variables; with them, matcalc's printed products read back
    (``Xw`` is X*w when X and w are declared and Xw is not, ``X(…)`` is X*(…)).
    """
    if not isinstance(source, str):
        raise ParseError(f"the expression must be a string, not {type(source).__name__}")
    return _Parser(source, known).program()


def split_product(name: str, known) -> list[str] | None:
    """``name`` as a product of known names (XW1 -> [X, W1]) when exactly one split exists."""
    from .language import is_function_name
    if name in known or is_function_name(name) or len(name) > 64:
        return None
    splits: dict[int, list] = {len(name): [[]]}
    for start in range(len(name) - 1, -1, -1):
        found = []
        for end in range(start + 1, len(name) + 1):
            if name[start:end] in known and end in splits:
                found.extend([[name[start:end]] + rest for rest in splits[end]])
        if found:
            splits[start] = found[:2]
    options = splits.get(0, [])
    return options[0] if len(options) == 1 and len(options[0]) > 1 else None
