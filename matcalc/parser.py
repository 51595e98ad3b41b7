"""Tokenizer and recursive-descent parser for the contract language.

User text never reaches ``eval``/``sympify``: it becomes a small AST of frozen
dataclasses, each node remembering its offset in the source for error messages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ParseError

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
  | (?P<num>(?:\d+(?:\.(?![*/^'])\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\.\*|\./|\.\^|[-+*/^'(),;=\[\]])
    """,
    re.VERBOSE,
)


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
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
        if len(tokens) > MAX_TOKENS:
            raise ParseError(f"program too large (more than {MAX_TOKENS} tokens)", source, pos)
    tokens.append(Token("end", "", len(source)))
    return tokens


# ---------------------------------------------------------------- parser
class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

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
            return Statement(start.pos, start.text, self.expression())
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
        while self.at("*", ".*", "./", "/"):
            op = self.take()
            left = Binary(op.pos, op.text, left, self.unary())
        return left

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
        while self.at("'"):
            node = Transpose(self.take().pos, node)
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
        if t.kind == "name":
            self.take()
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


def parse_program(source: str) -> list[Statement]:
    """Parse ``name = expr`` statements separated by ';' or newlines."""
    if not isinstance(source, str):
        raise ParseError(f"the expression must be a string, not {type(source).__name__}")
    return _Parser(source).program()
