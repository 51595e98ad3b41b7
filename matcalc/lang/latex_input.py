"""LaTeX input: the subset of LaTeX people write in derivation notes -> the contract language.

``W^T``/``W^{\\top}``/``W'`` (transpose), ``W^{-1}``, ``X^{-T}``, ``\\odot``/``\\circ``/``.*``
(Hadamard), ``\\cdot``/``*``/juxtaposition (product), ``\\frac{a}{b}``, ``\\sigma(z)``,
``\\sigma'(z)``, ``sigmoid'(h)``, ``\\tanh``, ``f'(u)`` of a generic activation, ``\\mathrm{diag}``,
``\\operatorname{tr}``, ``tr[...]``, norms ``\\lVert\\cdot\\rVert_F^2``/``||\\cdot||_2^2``, ``\\log``,
``\\exp``, ``e^{z}``, names with sub/superscripts (``W_1`` -> ``W1``, ``Y_{pred}`` -> ``Y_pred``,
``W^{(l)}`` -> ``W_l``, ``h_{t-1}`` -> ``h_tm1``), ``\\left( \\right)``, ``\\big(``, ``[ ]`` and
``\\{ \\}`` as brackets.  Anything else is a ParseError that points at the LaTeX token.

Derivative symbols inside an expression (``\\frac{\\partial f}{\\partial u}``, ``\\nabla_u f``) are
handed to a callback that returns the name standing for them (or raises).
"""
from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass, field

from ..errors import ParseError
from .latex_env import ADD, ATOM, BOLD, MUL, NEG, POW, TEXT, TRANSPOSE, Lang
from .latex_entries import entry_products, entry_row, entry_row_ahead
from .latex_losses import is_named_loss, named_loss
from .latex_env import RELATIONS, ELLIPSES, STOPS, EnvironmentMixin, drop_stray_ampersands, is_extremum, is_zero_vector

# ---------------------------------------------------------------- tokens
_TOKEN = re.compile(r"""
    (?P<ws>\s+|\\[,;:! ]|~|\\q?quad\b)
  | (?P<cmd>\\[A-Za-z]+|\\[{}|\\])
  | (?P<num>\d+(\.\d+)?|\.\d+)
  | (?P<word>[A-Za-z]+(?:\d+(?![.\d]))?)
  | (?P<op>\.\*|\|\||[-+*/^_'(){}\[\]|=,.:;<>!&])
  | (?P<uni>[∂∇⊙∘·×ᵀ′−])
""", re.VERBOSE)


@dataclass(frozen=True)
class Tok:
    kind: str     # cmd num word op uni end
    text: str
    pos: int


# A ⊙ B C read as A ⊙ (B C) (⊙ looser than the matrix product): the second reading of a claim that
# does not multiply as written left to right
HADAMARD_LOOSE: ContextVar = ContextVar("hadamard_loose", default=False)
# a note that says its 1 is an all-ones ROW (其中 1 为全部为1的行向量): 1 is a row, 1^T a column, and a
# bare 1 beside an operand is that row (1 s y^T = s 1y^T)
ONES_ROW: ContextVar = ContextVar("ones_row", default=False)


def tokenize(tex: str) -> list[Tok]:
    out, pos = [], 0
    while pos < len(tex):
        m = _TOKEN.match(tex, pos)
        if m is None:
            raise ParseError(f"unexpected character {tex[pos]!r} in the LaTeX", tex, pos)
        if m.lastgroup == "word" and len(m.group()) > 1 and m.group()[0] == "T" and out and out[-1].text == "^":
            out += [Tok("word", "T", pos), Tok("word", m.group()[1:], pos + 1)]   # X^TX: X^T X, as TeX reads it
        elif m.lastgroup != "ws":
            out.append(Tok(m.lastgroup, m.group(), pos))
        pos = m.end()
    out.append(Tok("end", "", len(tex)))
    return out


SIZING = {r"\left", r"\right", r"\big", r"\Big", r"\bigg", r"\Bigg", r"\bigl", r"\bigr", r"\Bigl",
          r"\Bigr", r"\biggl", r"\biggr", r"\middle", r"\limits", r"\displaystyle", r"\mathopen",
          r"\mathclose"}
OPEN = {"(": ")", "[": "]", "{": "}", r"\{": r"\}", r"\lbrace": r"\rbrace", r"\lbrack": r"\rbrack",
        r"\lparen": r"\rparen"}
CLOSE = set(OPEN.values())
HADAMARD = {r"\odot", r"\circ", ".*", "⊙", "∘", r"\otimes"}
PRODUCT = {"*", r"\cdot", r"\times", "·", "×", r"\ast"}
GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "iota",
         "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "varphi", "chi", "psi",
         "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega", "ell",
         "vartheta"}
# functions written as words (with or without \mathrm / \operatorname); value: language name
FUNCTIONS = {"sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax", "logsoftmax": "logsoftmax",
             "diag": "diag", "tr": "tr", "trace": "tr", "exp": "exp", "log": "log", "ln": "log",
             "relu": "relu", "softplus": "softplus", "sqrt": "sqrt", "abs": "abs", "det": "det",
             "logdet": "logdet", "inv": "inv", "sin": "sin", "cos": "cos", "sigmod": "sigmoid", "step": "step"}
# derivative of an elementwise function, as a language template over the argument text {u}
DERIVATIVES = {"sigmoid": "(sigmoid({u}) .* (1 - sigmoid({u})))",
               "tanh": "(1 - tanh({u}) .^ 2)",
               "exp": "exp({u})",
               "log": "(1 ./ ({u}))",
               "softplus": "sigmoid({u})",
               "sin": "cos({u})",
               "cos": "(-sin({u}))",
               "relu": "step({u})"}
BARE_PRIME_ENDS = {r"\odot", r"\circ", r"\cdot", "*", "+", "-", ")", "]", "}", r"\right", r"\times", "=", ",",
                   r"\\", "&"}
ACCENTS = {r"\hat": "hat", r"\widehat": "hat", r"\bar": "bar", r"\overline": "bar", r"\tilde": "tilde",
           r"\widetilde": "tilde", r"\vec": "", r"\mathbf": "", r"\boldsymbol": "", r"\bm": "",
           r"\mathit": "", r"\mathcal": "", r"\mathbb": "", r"\mathsf": "", r"\dot": "dot"}




def _wrap(node: Lang, prec: int) -> str:
    return node.text if node.prec >= prec else f"({node.text})"


@dataclass
class Result:
    """The translation: language text, the names used (language -> LaTeX) and operator places."""
    text: str
    names: dict                 # language name -> LaTeX as first written
    ops: list                   # (language offset, LaTeX offset, LaTeX operator text)
    ambiguous_one: bool = False  # a bare 1 juxtaposed with a value (a ones vector in some notes)
    bold: set = field(default_factory=set)   # names written in bold
    uncertain: list = field(default_factory=list)
    scalars: set = field(default_factory=set)


def index_text(tex: str) -> str:
    """The identifier part for a sub/superscript: 1 -> 1, pred -> pred, t-1 -> tm1, (l) -> l."""
    tex = tex.strip()
    if tex.startswith(("(", "[")) and tex.endswith((")", "]")):
        tex = tex[1:-1]
    out = []
    for t in tokenize(tex)[:-1]:
        if t.kind in ("num", "word"):
            out.append(t.text)
        elif t.kind == "cmd" and t.text[1:] in GREEK:
            out.append(t.text[1:])
        elif t.text == "+":
            out.append("p")
        elif t.text in ("-", "−"):
            out.append("m")
        elif t.text in ("{", "}", "_", "^", "(", ")", ",") or t.kind == "cmd" and t.text in TEXT:
            continue
        else:
            raise ParseError(f"cannot use {t.text!r} in a name's index", tex, t.pos)
    return "".join(out)


def make_name(base: str, sub: str | None, sup: str | None) -> str:
    """Identifier for base_{sub}^{sup}: W_1 -> W1, Y_{pred} -> Y_pred, W^{(l)} -> W_l."""
    import keyword
    # lambda stays lambda: the language spells it λ (one variable with a λ or lambda typed elsewhere)
    name = base + "_" if keyword.iskeyword(base) and base != "lambda" or base in ("np", "e") and (sub or sup) \
        else base
    for part in (sub, sup):
        if part:
            name += part if (part.isdigit() and name[-1:].isalpha()) else "_" + part
    return name


# ---------------------------------------------------------------- parser
class LatexParser(EnvironmentMixin):
    """Recursive descent over LaTeX tokens, emitting language text."""

    def __init__(self, tex: str, known_names=(), activations=("f", "g", "phi", "varphi", "psi"),
                 generic="tanh", derivative=None, values=()):
        self.tex = tex
        self.toks = _drop_bracketed_breaks(drop_stray_ampersands(tokenize(tex)))
        self.i = 0
        self.known = set(known_names)
        self.activations = set(activations) - set(values)
        self.values = set(values)
        self.entries_summed = []
        self.generic = generic
        self.derivative = derivative
        self.names: dict = {}
        self.bold: set = set()           # names written bold (\\mathbf{x}): vectors or matrices
        self.uncertain: list = []        # readings that could be wrong (a wrong verdict then is not given)
        self.scalars: set = set()        # names used as a denominator: numbers
        self.ops: list = []
        self.depth = 0
        self.ones_row = ONES_ROW.get()
        self.prime_arguments: dict = {}  # activation -> the one argument a bare σ' means

    # -- helpers
    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def peek(self, k=1) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def error(self, msg, tok=None):
        tok = tok or self.tok
        return ParseError(msg, self.tex, tok.pos)

    def expect(self, text):
        if self.tok.text != text:
            what = repr(self.tok.text) if self.tok.kind != "end" else "the end"
            raise self.error(f"expected {text!r}, found {what}")
        return self.take()

    def skip_sizing(self):
        while self.tok.kind == "cmd" and self.tok.text in SIZING:
            self.take()

    # -- entry
    def parse(self) -> str:
        node = self.expression()
        self.skip_sizing()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r} (not part of the LaTeX subset matcalc reads)")
        return node.text

    # -- grammar
    def expression(self) -> Lang:
        self.depth += 1
        if self.depth > 200:
            raise self.error("expression too deeply nested")
        left = self.term()
        while True:
            self.skip_sizing()
            if self.tok.text in ("+", "-", "−"):
                op = "+" if self.take().text == "+" else "-"
                right = self.term()
                left = Lang(left.pos, f"{_wrap(left, ADD)} {op} {_wrap(right, ADD + 1)}", ADD)
            else:
                break
        self.depth -= 1
        return left

    def starts_operand(self) -> bool:
        t = self.tok
        if t.kind in ("num", "word", "uni") and t.text not in HADAMARD | PRODUCT | {"−"}:
            return True
        if t.kind == "cmd":
            if t.text in (r"\|", r"\Vert", r"\vert"):
                return not self.in_norm
            return t.text not in HADAMARD | PRODUCT | CLOSE | STOPS | {r"\right", r"\rVert", r"\rvert", r"\middle", r"\\"}
        return t.text in ("(", "[", "{", "||", "|") and not (t.text in ("||", "|") and self.in_norm)

    in_norm = False

    def factor(self) -> Lang:
        """A unary operand; 1^T A (an all-ones row times what follows) is the column sums of A."""
        node = self.unary()
        if getattr(node, "ones", None) == "row":
            if self.tok.text in PRODUCT:
                self.take()
            if self.tok.kind == "end" or self.tok.text in ("+", "-", "−", ")", "}", "=", "\\right"):
                if self.outer_ones_ok and self.bias_columns:
                    return node                  # b 1^T: term() repeats b in every column
                raise self.error("an all-ones row 1^T is read as summing what follows it (1^T A); an outer "
                                 "product v 1^T is not read: give that claim in the language (v*ones(1,m))", self.tok)
            if self.ones_row:          # 1 s y^T: the row times the whole product after it
                saved_run, self.product_run = self.product_run, True
                try:
                    operand = self._term_rest(self.factor())
                finally:
                    self.product_run = saved_run
            else:
                operand = self.factor()
            return Lang(node.pos, f"sumrows__({operand.text})", ATOM)
        return node

    def term(self) -> Lang:
        saved_outer, self.outer_ones_ok = self.outer_ones_ok, False
        left = self.factor()
        self.outer_ones_ok = True
        try:
            return self._term_rest(left)
        finally:
            self.outer_ones_ok = saved_outer

    def _term_rest(self, left: Lang) -> Lang:
        while True:
            self.skip_sizing()
            t = self.tok
            if t.text in ELLIPSES or t.text == "." and self.peek().text == ".":
                self.ellipsis()
            if t.text in HADAMARD and self.product_run:
                break
            if t.text in HADAMARD:
                self.take()
                op = ".*"
            elif t.text in PRODUCT:
                self.take()
                op = "*"
            elif t.text == "/":
                self.take()
                op = "/"
            elif self.starts_operand():
                op = "*"
            else:
                break
            if op == ".*" and HADAMARD_LOOSE.get() and not self.product_run:
                self.product_run = True          # the product chain after ⊙, up to the next ⊙
                try:
                    right = self.term()
                finally:
                    self.product_run = False
            else:
                right = self.factor()
            if self.entrywise and op == "*":
                op = ".*"
            if t.text in (r"\cdot", "·") and getattr(left, "bold", False) and getattr(right, "bold", False) \
                    and left.text[:1].islower() and right.text[:1].islower():
                left = Lang(left.pos, f"{left.text}' * {right.text}", MUL)     # w · x: the dot product
                self.uncertain.append("'·' between two vectors is read as the dot product (some notes mean "
                                      "the elementwise product)")
                continue
            if getattr(right, "ones", None) == "col" and op == "*":       # A 1: the row sums
                left = Lang(left.pos, f"sumcols__({left.text})", ATOM)
                continue
            if getattr(right, "ones", None) == "row" and op == "*" and not getattr(left, "ones", None):
                left = Lang(left.pos, f"bcast__({left.text})", ATOM)      # b 1^T: b repeated in every column
                continue
            if op == "*" and t.text not in PRODUCT and "1" in (left.text, right.text):
                self.ambiguous_one = True     # "1 x": the number, or a ones vector?
                self.uncertain.append("a bare 1 is read as the number one (if it is an all-ones vector, "
                                      "write \\mathbf{1})")
            if getattr(left, "ones", None) == "col" and op == "*" and not getattr(right, "ones", None):
                left = Lang(left.pos, f"bcast__({right.text})", ATOM)     # 1 b: b repeated in every row
                continue
            if getattr(left, "ones", None) or getattr(right, "ones", None):
                raise self.error("an all-ones vector must multiply a matrix (1^T A or A 1)", t)
            lang_text = f"{_wrap(left, MUL)} {op} "
            self.ops.append((len(lang_text) - len(op) - 1, t.pos, t.text if op != "*" or t.text in PRODUCT else ""))
            left = Lang(left.pos, lang_text + _wrap(right, MUL + 1), MUL)
        return left

    def unary(self) -> Lang:
        self.skip_sizing()
        if self.tok.text in ("-", "−"):
            t = self.take()
            operand = self.unary()
            return Lang(t.pos, f"-{_wrap(operand, NEG)}", NEG)
        if self.tok.text == "+":
            self.take()
            return self.unary()
        return self.postfix()

    def postfix(self, node: Lang | None = None) -> Lang:
        node = node or self.primary()
        bracket = getattr(node, "bracket", False)
        while True:
            t = self.tok
            if t.text in ("'", "′") and f"{node.text}_prime" in self.known and not bracket:
                self.take()                    # x' where the note names x' (x' = Ax): the name, not xᵀ
                self.names[f"{node.text}_prime"] = self.names.get(node.text, node.text) + "'"
                node = Lang(node.pos, f"{node.text}_prime", ATOM)
            elif t.text in ("'", "′", "ᵀ"):
                self.take()
                node = Lang(node.pos, f"{_wrap(node, ATOM)}'", ATOM)
            elif t.text == "^":
                self.take()
                node = self.superscript(node)
            elif t.text == "_" and bracket:
                self.take()
                self.group_text()       # a size annotation under a bracket: [a]^T_{n*1}
            else:
                return node

    def group_text(self) -> str:
        """The raw LaTeX of a {...} group or of one token."""
        if self.tok.text == "{":
            start = self.take()
            depth = 1
            while depth:
                t = self.take()
                if t.kind == "end":
                    raise self.error("unclosed '{'", start)
                depth += t.text == "{"
                depth -= t.text == "}"
            return self.tex[start.pos + 1:self.toks[self.i - 1].pos]
        t = self.take()
        if t.kind == "end":
            raise self.error("missing sub/superscript")
        if t.kind == "cmd" and t.text in (r"\mathsf", r"\mathrm", r"\textsf", r"\text", r"\mathit") and \
                self.tok.text == "{":
            return t.text + self.group_text()          # X^\mathsf{T}: the font's group is the superscript
        if t.kind in ("num", "word") and len(t.text) > 1 and t.text.isalnum():   # x^23 is x^{2}3 in LaTeX
            self.toks.insert(self.i, Tok(t.kind, t.text[1:], t.pos + 1))
            self.toks[self.i - 1] = Tok(t.kind, t.text[0], t.pos)
            return t.text[0]
        return t.text

    def superscript(self, node: Lang) -> Lang:
        start = self.tok
        sup = self.group_text().strip()
        compact = sup.replace(" ", "").replace("{", "").replace("}", "")
        if compact in TRANSPOSE or compact in ("\\top", "\\mathsfT", "\\mathrmT", "\\rmT", "\\intercal", "\\topT"):
            if getattr(node, "ones", None):
                out = Lang(node.pos, node.text, ATOM)
                out.ones = "row" if node.ones == "col" else "col"
                return out
            return Lang(node.pos, f"{_wrap(node, ATOM)}'", ATOM)
        if compact in ("-1", "−1"):
            return Lang(node.pos, f"inv({node.text})", ATOM)
        if compact in ("-T", "-\\top", "−T", "-\\intercal"):
            return Lang(node.pos, f"inv({node.text})'", ATOM)
        if compact == "2" and getattr(node, "norm", False):
            return Lang(node.pos, f"{node.text}^2", POW)
        compact = re.sub(r"^\\(circ|odot)(?=\d)", "", compact)     # A^{\circ 2}: the entrywise power
        if re.fullmatch(r"\d+(\.\d+)?", compact):
            return Lang(node.pos, f"{_wrap(node, POW + 1)} .^ {compact}", POW)
        raise ParseError(f"cannot read the superscript {sup!r} here (transpose ^T, inverse ^{{-1}}, "
                         "a power or a name's index)", self.tex, start.pos)

    # -- primaries
    def primary(self) -> Lang:
        self.skip_sizing()
        t = self.tok
        if t.kind == "num":
            self.take()
            if t.text == "1" and self.tok.text == "^" and self.peek().text in ("T", "{", r"\top", r"\intercal"):
                return self.ones_vector(t)
            if t.text == "1" and self.tok.text == "_" and re.fullmatch(r"\{\s*\w+\s*,\s*\w+\s*\}|\{?\s*\w+\s*\}?",
                                                                    self.upcoming_group()):
                return self.ones_vector(t)                  # 1_{k,1}, 1_n: an all-ones vector
            if t.text == "1" and self.ones_row and self.starts_operand() and self.tok.text != "^":
                return self.ones_vector(t)                  # 1 \ln(s) y^T: the note's row of ones
            return Lang(t.pos, t.text, ATOM)
        if t.text in OPEN and t.text != "{" or t.text == "{":
            return self.bracketed()
        if t.text in ("||", r"\|", r"\Vert", r"\lVert"):
            return self.norm()
        if t.text in ("|", r"\lvert", r"\vert"):
            return self.absolute()
        if t.text == r"\frac" or t.text in (r"\dfrac", r"\tfrac"):
            return self.fraction()
        if t.text in (r"\nabla", "∇") or t.text in (r"\partial", r"\part", "∂"):
            return self.derivative_symbol()
        if t.kind == "cmd" and t.text in TEXT:
            self.take()
            word = self.group_text().strip()
            if is_named_loss(self, word):
                return named_loss(self, Tok("word", word, t.pos))
            if word.replace(" ", "").lower() in FUNCTIONS:
                return self.function(FUNCTIONS[word.replace(" ", "").lower()], t)
            if not re.fullmatch(r"[A-Za-z]+", word):
                raise self.error(f"cannot read {word!r} as a function or a name", t)
            return self.name(word, t)
        if t.kind == "cmd" and t.text == r"\begin":
            return self.environment()
        if t.kind == "cmd" and t.text in ELLIPSES or t.text == "..." or t.text == "." and self.peek().text == ".":
            self.ellipsis()
        if is_zero_vector(self.toks, self.i):
            return self.zero(t)
        if is_extremum(self.toks, self.i):
            self.take()
            return self.extremum(t, is_extremum(self.toks, self.i - 1))
        if t.kind == "word" and t.text == "sum" and self.peek().text == "(":
            self.take()
            return self.function("sum", t)
        if t.kind == "cmd" and t.text in (r"\mathbf", r"\mathbb", r"\boldsymbol", r"\vec", r"\bm") and \
                self.peek().text == "{" and self.toks[self.i + 2].text == "1" and self.toks[self.i + 3].text == "}":
            self.take(), self.take(), self.take(), self.take()
            if self.indicator_ahead():
                return self.indicator(t)
            return self.ones_vector(t)
        if t.kind == "cmd" and t.text in ACCENTS:
            self.take()
            inner = self.group_text().strip()
            suffix = ACCENTS[t.text]
            bold = t.text in BOLD
            # one style or accent inside the other: \tilde{\mathbf{h}}, \mathbf{\hat{y}}
            nested = re.fullmatch(r"(\\[A-Za-z]+)\s*(?:\{\s*(\\?[A-Za-z]+)\s*\}|\s([A-Za-z])|(?<=[^A-Za-z])([A-Za-z]))", inner)
            if nested and nested.group(1) in ACCENTS and not (suffix and ACCENTS[nested.group(1)]):
                inner = nested.group(2) or nested.group(3) or nested.group(4)
                suffix = suffix or ACCENTS[nested.group(1)]
                bold = bold or nested.group(1) in BOLD
            base = inner[1:] if inner.startswith("\\") else inner
            if not re.fullmatch(r"[A-Za-z]+", base):
                raise self.error(f"cannot read {inner!r} as a name", t)
            node = self.name(base + ("_" + suffix if suffix else ""), t, raw_len=None)
            if bold:
                self.bold.add(node.text)
                node.bold = True
            return node
        if t.kind == "cmd" and t.text[1:] in GREEK:
            self.take()
            name = t.text[1:]
            if name == "sigma" and self.is_call():
                return self.function(self.sigma, t)
            if name in self.activations and self.is_call():
                return self.function(self.generic, t)
            return self.name(name, t, taken=True)
        if t.kind == "cmd" and t.text[1:].lower() in FUNCTIONS:
            self.take()
            return self.function(FUNCTIONS[t.text[1:].lower()], t)
        if t.kind == "cmd" and t.text == r"\sum":
            return self.batch_sum()
        if t.kind == "word":
            return self.word()
        if t.kind == "end":
            raise self.error("the expression ends too early")
        raise self.error(f"{t.text!r} is not part of the LaTeX subset matcalc reads")

    def upcoming_group(self) -> str:
        """The raw LaTeX of the {...} group or token after the current '_' (nothing taken)."""
        j = self.i + 1
        if j >= len(self.toks) or self.toks[j].text != "{":
            return self.toks[j].text if j < len(self.toks) else ""
        depth, k = 0, j
        while k < len(self.toks):
            depth += self.toks[k].text == "{"
            depth -= self.toks[k].text == "}"
            if depth == 0:
                break
            k += 1
        return self.tex[self.toks[j].pos:self.toks[min(k, len(self.toks) - 1)].pos + 1]

    def ones_vector(self, tok) -> Lang:
        """1, \\mathbf{1}, 1_n, \\mathbf{1}^T: an all-ones vector (sized by what it multiplies)."""
        node = Lang(tok.pos, "ones", ATOM)
        node.ones = "row" if self.ones_row else "col"
        if self.tok.text == "_":
            self.take()
            size = re.fullmatch(r"\s*(\w+)\s*,\s*(\w+)\s*", self.group_text())
            if size and size.group(1) == "1" and size.group(2) != "1":
                node.ones = "row"                           # 1_{1,k}: a row of ones
            elif size and size.group(2) == "1" and size.group(1) != "1":
                node.ones = "col"                           # 1_{k,1}: a column, whatever the note's 1
        if self.tok.text == "^":
            self.take()
            sup = self.group_text().replace(" ", "")
            if sup not in ("T", r"\top", r"\intercal", "'"):
                raise self.error(f"cannot read the superscript {sup!r} of a ones vector", tok)
            node.ones = "col" if node.ones == "row" else "row"
        return node

    def batch_sum(self) -> Lang:
        """\\sum_i A_i over the samples of a batch: the column sums 1^T A (rows are samples);
        \\sum_i \\sum_j A_{ij} B_{ij}: the sum of every entry of A ⊙ B."""
        t = self.take()
        index = self.sum_index_of(t)
        index, j = index if isinstance(index, tuple) else (index, None)    # \sum_{i,j}: a double sum
        if j is not None and self.sum_index is not None:
            raise self.error("a double sum \\sum_{i,j} inside another sum is not read", t)
        if j is None and self.tok.text == r"\sum" and self.sum_index is None:
            inner = self.take()
            j = self.sum_index_of(inner)
            if isinstance(j, tuple):
                raise self.error("a triple sum is not read", inner)
        if j is not None:
            saved = (self.sum_index, self.entrywise)
            self.sum_index, self.entrywise, self.double_order = (index + j, j + index), True, None
            operand = self.term()
            self.sum_index, self.entrywise = saved
            return Lang(t.pos, f"sum({operand.text})", ATOM)
        saved, self.sum_index = self.sum_index, index
        start = len(self.entries_summed)
        operand = self.term()
        self.sum_index = saved
        if entry_products(self.entries_summed[start:], operand.text):   # Σ_i z_i log(L_i): numbers
            operand = Lang(operand.pos, operand.text.replace(" * ", " .* "), operand.prec)
        kind = "sumcolsi__" if self.batch == "columns" else "sumrowsi__"   # i: over an index
        return Lang(t.pos, f"{kind}({operand.text})", ATOM)

    def sum_index_of(self, t):
        """The index of the \\sum just taken (\\sum_i, \\sum_{i=1}^n), or both of \\sum_{i,j}."""
        index = None
        while self.tok.text in ("_", "^") or self.tok.text == r"\limits":
            mark = self.take().text
            if mark == r"\limits":
                continue
            text = self.group_text()
            if mark == "_":
                pair = re.fullmatch(r"\s*\{?\s*([a-z])\s*,\s*([a-z])\s*\}?\s*", text)
                if pair and pair.group(1) != pair.group(2) and not {"t", "s"} & set(pair.groups()):
                    index = pair.group(1), pair.group(2)       # \sum_{i,j}: both indices
                    continue
                index = re.split(r"[=,<\\]", text.strip())[0].strip().strip("{}()")
        if isinstance(index, tuple):
            return index
        if not index or not re.fullmatch(r"[a-z]|\\?[a-z]+", index):
            raise self.error("\\sum needs its index: \\sum_i or \\sum_{i=1}^n", t)
        if index.lstrip("\\") in ("t", "tau", "s"):
            raise self.error("a sum over time steps: recurrent claims are not checked", t)
        return index.lstrip("\\")

    sum_index = None
    double_order = None              # under \\sum_i \\sum_j: the index order of the entries met (ij or ji)
    entries_summed: list = []        # under a \\sum_i: the base of each name met ('' if not indexed by i)
    product_run = False
    outer_ones_ok = False        # a trailing 1^T may follow a factor (b 1^T), not start a term
    bias_columns = False         # ... in a forward equation only (Z = WX + b1^T); claims refuse it
    entrywise = False
    batch = "rows"
    sigma = "sigmoid"            # what \\sigma means (a note may say its activation is tanh)
    ambiguous_one = False

    def is_call(self) -> bool:
        """At '(' or at a derivative mark ('  ^{'}  ^\\prime) followed by an argument."""
        t = self.tok
        return t.text in ("(", "'", "′") or t.text == "^" and self.prime_ahead() or \
            t.kind == "cmd" and t.text in (r"\left", r"\big", r"\Big", r"\bigl")

    def prime_ahead(self) -> bool:
        if self.tok.text != "^":
            return False
        nxt = self.peek()
        if nxt.text in ("'", r"\prime", "′"):
            return True
        return nxt.text == "{" and self.peek(2).text in ("'", r"\prime", "′") and self.peek(3).text == "}"

    def take_prime(self) -> bool:
        if self.tok.text in ("'", "′"):
            self.take()
            return True
        if self.prime_ahead():
            self.take()
            self.group_text()
            return True
        return False

    def word(self) -> Lang:
        t = self.take()
        low = t.text.lower()
        if is_named_loss(self, t.text):             # CE(z, y): a two-argument loss
            return named_loss(self, t)
        for k in range(len(t.text), 1, -1):          # a function word, possibly glued: "sigmoid" "tr"
            if low[:k] in FUNCTIONS and (k == len(t.text) or True):
                if k < len(t.text):
                    self.toks.insert(self.i, Tok("word", t.text[k:], t.pos + k))
                return self.function(FUNCTIONS[low[:k]], t)
        if len(t.text) > 1 and (t.text in self.known_bases() or t.text.lower() in ("pred",)):
            return self.name(t.text, t, taken=True)
        m = re.fullmatch(r"([A-Za-z]+?)([A-Za-z]\d+)", t.text)
        if m and m.group(1):                                  # XW1: X times W1
            self.toks.insert(self.i, Tok("word", m.group(2), t.pos + len(m.group(1))))
            t = Tok("word", m.group(1), t.pos)
            self.toks[self.i - 1] = t
        if re.fullmatch(r"[A-Za-z]\d+", t.text):
            return self.name(t.text, t)
        if len(t.text) > 2 and (self.tok.text == "(" or re.search(r"[a-z]{3}", t.text)):
            raise self.error(f"unknown word {t.text!r} (not a function or a name matcalc knows)", t)
        if len(t.text) > 1:                          # XW: letters multiply
            self.toks.insert(self.i, Tok("word", t.text[1:], t.pos + 1))
            t = Tok("word", t.text[0], t.pos)
            self.toks[self.i - 1] = t
        if t.text == "e" and self.tok.text == "^" and "e" not in self.known_bases():
            self.take()
            nxt = self.tok
            if nxt.kind == "word" and len(nxt.text) > 1 and nxt.text.isalnum():   # e^z1^T: e^{z} 1^T in LaTeX
                self.toks[self.i:self.i + 1] = [Tok(nxt.kind, nxt.text[0], nxt.pos),
                                                Tok("num" if nxt.text[1:].isdigit() else "word", nxt.text[1:], nxt.pos + 1)]
            arg = self.group_tex_expression()
            return Lang(t.pos, f"exp({arg.text})", ATOM)
        if t.text in self.activations and self.is_call():
            return self.function(self.generic, t)
        return self.name(t.text, t, taken=True)

    def known_bases(self) -> set:
        return {re.split(r"[_^]", k, 1)[0] for k in self.known} | self.known

    def group_tex_expression(self) -> Lang:
        """A sub-expression in a {...} group or a single token (for e^{...})."""
        if self.tok.text == "{":
            return self.bracketed()
        return self.primary()

    def layer_index_ahead(self) -> bool:
        """At ^{(l)T} / ^{[l]} / ^{[l-1]T}: a bracketed index, maybe followed by a transpose."""
        if self.peek().text != "{" or self.peek(2).text not in ("(", "["):
            return False
        j, depth = self.i + 1, 0
        while j < len(self.toks):
            depth += self.toks[j].text == "{"
            depth -= self.toks[j].text == "}"
            if depth == 0:
                break
            j += 1
        inner = self.tex[self.toks[self.i + 1].pos + 1:self.toks[j].pos] if j < len(self.toks) else ""
        return bool(re.fullmatch(r"\s*[(\[][^()\[\]]+[)\]]\s*(T|\\top|'|\\intercal)?\s*", inner))

    def name(self, base: str, tok: Tok, taken=True, raw_len=None) -> Lang:
        sub = sup = None
        transposed = False
        raw_start = tok.pos
        while True:
            if self.tok.text == "_" and sub is None:
                self.take()
                if self.tok.text == "{" and self.peek().text == "}":
                    self.take(), self.take()
                    continue
                raw = self.group_text()
                if re.fullmatch(r"\s*[\w\\]+\s*,\s*[\w\\]+\s*", raw) and not self.sum_index:
                    sub = ""                  # x_{1,m}: a size annotation, not part of the name
                    continue
                sub = index_text(raw)
            elif self.tok.text == "{" and sub is None and self.peek().kind == "word" and \
                    len(self.peek().text) > 1 and self.peek(2).text == "}":     # Y{pred}: a lost underscore
                self.take()
                sub = self.take().text
                self.take()
            elif self.tok.text == "^" and sup is None and self.layer_index_ahead():
                self.take()                   # W^{(2)T}, a^{[l-1]T}: a layer index, then a transpose
                m = re.fullmatch(r"\s*[(\[](.+?)[)\]]\s*(T|\\top|'|\\intercal)?\s*", self.group_text())
                sup = index_text(m.group(1))
                transposed = bool(m.group(2))
            elif self.tok.text == "^" and sup is None and self.index_superscript(base, sub):
                self.take()
                sup = index_text(self.group_text())
            else:
                break
        if isinstance(self.sum_index, tuple) and sub is not None:     # A_{ij} under \\sum_i \\sum_j
            if sub not in self.sum_index:
                raise self.error("a double sum \\sum_i \\sum_j is read over entries A_{ij} only", tok)
            if self.double_order not in (None, sub):      # Σ_i Σ_j A_{ij} B_{ji} is tr(AB), not Σ A ⊙ B
                raise self.error("a double sum over entries indexed in both orders (A_{ij} B_{ji}) is not read: "
                                 "write the transpose (B^T)_{ij}", tok)
            self.double_order = sub
            sub = None
            raw_start = -1          # the entry's name is the matrix's: not registered with its index
        elif self.sum_index and sub is not None:
            if sub == self.sum_index or sub.startswith(self.sum_index) and sub[len(self.sum_index):] in (":", ""):
                sub = None
                self.entries_summed.append(base)
            else:
                self.entries_summed.append("")
        elif self.sum_index:
            self.entries_summed.append("")
        ident = make_name(base, sub, sup)
        if raw_start < 0:
            return Lang(tok.pos, ident + ("'" if transposed else ""), ATOM)
        raw = self.tex[raw_start:self.toks[self.i - 1].pos + len(self.toks[self.i - 1].text)]
        raw = re.sub(r"_\{\s*\w+\s*,\s*\w+\s*\}", "", raw)
        self.names.setdefault(ident, re.sub(r"(\{[(\[][^{}]*[)\]])\s*(T|\\top|'|\\intercal)\}", r"\1}", raw))
        if transposed:
            return Lang(tok.pos, ident + "'", ATOM)
        return Lang(tok.pos, ident, ATOM)

    def indicator_ahead(self) -> bool:
        """After \\mathbb{1}: a bracket or subscript holding a comparison (\\mathbb{1}[z > 0])?"""
        j = self.i + (1 if self.tok.text == "_" else 0)
        if j >= len(self.toks) or self.toks[j].text not in ("[", "(", "{", r"\{", r"\left"):
            return False
        depth = 0
        for tok in self.toks[j:]:
            if tok.text in ("[", "(", "{", r"\{"):
                depth += 1
            elif tok.text in ("]", ")", "}", r"\}"):
                depth -= 1
                if depth == 0:
                    return False
            elif depth == 1 and (tok.text in ("<", ">") or tok.text in RELATIONS):
                return True
        return False

    def indicator(self, start) -> Lang:
        """\\mathbb{1}[z > 0], \\mathbb{1}(z \\leq 0), \\mathbb{1}_{z>0}: the 0/1 mask of the comparison."""
        if self.tok.text == "_":
            self.take()
        self.skip_sizing()
        close = {"[": "]", "(": ")", "{": "}", r"\{": r"\}"}[self.take().text]
        mask = self.condition(start)
        if mask is None:
            raise self.error("an indicator needs a comparison", start)
        self.skip_sizing()
        if self.tok.text != close:
            raise self.error(f"expected {close!r} closing the indicator", self.tok)
        self.take()
        return Lang(start.pos, mask, ATOM)

    def index_superscript(self, base, sub) -> bool:
        """Is the superscript at the cursor part of a name (W^{(l)}, a^L, z^2 when z^2 is a name)?"""
        nxt = self.peek()
        if nxt.text in ("'", r"\prime", "′") or self.prime_ahead():
            return False
        if nxt.text in (r"\mathsf", r"\mathrm", r"\textsf", r"\text", r"\mathit") and self.peek(2).text == "{" \
                and self.peek(3).text == "T" and self.peek(4).text == "}":
            return False                                  # X^\mathrm{T}: a transpose
        if nxt.text == "{":
            j, depth, inner = self.i + 2, 1, []
            while j < len(self.toks) and depth:
                if self.toks[j].text == "{":
                    depth += 1
                elif self.toks[j].text == "}":
                    depth -= 1
                if depth:
                    inner.append(self.toks[j])
                j += 1
            texts = [x.text for x in inner]
        else:
            texts = [nxt.text]
        compact = "".join(texts)
        if compact in TRANSPOSE or compact in ("\\top", "\\intercal", "-1", "-T", "-\\top", "\\mathsfT", "\\mathrmT"):
            return False
        if compact.startswith(("(", "[")) and compact.endswith((")", "]")):
            return True
        try:
            idx = index_text(compact)
        except ParseError:
            return False
        candidate = make_name(base, sub, idx)
        if candidate in self.known:
            return True
        if re.fullmatch(r"[\d.]+", compact):
            return any(k.startswith(base) and k[len(base):].isdigit() for k in self.known)
        return bool(re.fullmatch(r"[A-Za-z\\]+[-+0-9A-Za-z_{}\\]*", compact)) and compact not in ("T",)

    def function(self, fn: str, tok: Tok) -> Lang:
        prime = self.take_prime()
        power = None
        if self.tok.text == "^" and not prime:             # \tanh^2(C) = tanh(C)^2, \tanh^{'}(x)
            self.take()
            p = self.group_text().strip()
            if p in ("'", r"\prime"):
                prime = True
            elif re.fullmatch(r"\d+", p):
                power = p
            else:
                raise self.error(f"cannot read the superscript {p!r} of {fn}", tok)
        if not prime:
            prime = self.take_prime()
        if fn == "diag" and self.tok.text == "_":            # Diag_{n*n}: a size annotation
            self.take()
            self.group_text()
        self.skip_sizing()
        saved_entrywise = self.entrywise
        if fn == "diag" and self.tok.text in (r"\{", "{", "[", "("):
            self.skip_entry_rule()
        if fn == "tr" and self.tok.text in ("[", r"\{", "(", "{"):
            arg = self.bracketed()
        elif self.tok.text in ("(", "[", r"\{", "{") or self.tok.kind == "cmd" and self.tok.text in OPEN:
            arg = self.bracketed()
        elif prime and fn in self.prime_arguments and (self.tok.kind == "end" or self.tok.text in BARE_PRIME_ENDS):
            arg = Lang(tok.pos, self.prime_arguments[fn], ATOM)   # σ' alone: σ'(z) at the one z σ is applied to
        elif fn in ("log", "exp", "tr", "diag", "tanh", "sigmoid", "det", "logdet") and self.tok.kind != "end":
            arg = self.postfix()                            # \log x, \exp x
        else:
            raise self.error(f"{fn} needs an argument in parentheses", tok)
        self.entrywise = saved_entrywise
        if arg.text.count(",") and fn != "ones":
            raise self.error(f"{fn} takes one argument", tok)
        if prime:
            if fn not in DERIVATIVES:
                raise self.error(f"the derivative of {fn} is not supported", tok)
            out = Lang(tok.pos, DERIVATIVES[fn].format(u=arg.text), ATOM)
        else:
            out = Lang(tok.pos, f"{fn}({arg.text})", ATOM)
        if power:
            out = Lang(tok.pos, f"{out.text} .^ {power}", POW)
        return out

    def skip_entry_rule(self) -> None:
        """diag\\{e[i,i] = v_i\\}: drop the 'e[i,i] =' that names the diagonal entry."""
        j, depth = self.i + 1, 0
        while j < len(self.toks):
            t = self.toks[j]
            if t.text in OPEN or t.text == "{":
                depth += 1
            elif t.text in CLOSE:
                if depth == 0:
                    return
                depth -= 1
            elif t.text == "=" and depth == 0:
                head = "".join(x.text for x in self.toks[self.i + 1:j]).replace(" ", "")
                if re.fullmatch(r"[A-Za-z](\[([a-z]),\2\]|_\{?([a-z])\3\}?)", head):
                    del self.toks[self.i + 1:j + 1]
                    self.entrywise = True      # products in an entry's formula are of numbers
                return
            j += 1

    def entry_index(self) -> bool:
        """At ', i)' of f(z, i), the i-th entry of f(z): an elementwise function read whole."""
        return self.tok.text == "," and self.peek().kind == "word" and len(self.peek().text) == 1 and \
            self.peek().text in "ijk" and self.peek(2).text == ")"

    def bracketed(self) -> Lang:
        self.skip_sizing()
        t = self.take()
        close = OPEN.get(t.text)
        if close is None:
            raise self.error(f"expected a bracket, found {t.text!r}", t)
        index = entry_row_ahead(self) if t.text == "[" else ""
        row = entry_row(self, t, index) if index else None        # [-L_i / a_i]_{1 * n}: entries, whole
        if row is not None:
            return row
        saved, self.in_norm = self.in_norm, False
        inner = self.expression()
        self.in_norm = saved
        self.skip_sizing()
        if self.entry_index():
            self.take(), self.take()
        if self.tok.text == "," and t.text == "(":
            raise self.error("a comma: only one-argument functions are supported")
        if self.tok.text != close and not (close == ")" and self.tok.text == r"\rparen"):
            what = repr(self.tok.text) if self.tok.kind != "end" else "the end"
            raise self.error(f"expected {close!r} to close the bracket at column {t.pos + 1}, found {what}")
        self.take()
        node = Lang(t.pos, inner.text, inner.prec)
        node = Lang(t.pos, f"({inner.text})" if inner.prec < ATOM else inner.text, ATOM)
        node.bracket = True
        return node

    def norm(self) -> Lang:
        t = self.take()
        closes = {"||": "||", r"\|": r"\|", r"\Vert": r"\Vert", r"\lVert": r"\rVert"}[t.text]
        saved, self.in_norm = self.in_norm, True
        inner = self.expression()
        self.in_norm = saved
        self.skip_sizing()
        if self.tok.text != closes:
            raise self.error(f"expected {closes!r} to close the norm at column {t.pos + 1}")
        self.take()
        square = False
        while self.tok.text in ("_", "^"):
            mark = self.take().text
            what = self.group_text().strip().replace("{", "").replace("}", "").replace(" ", "")
            if mark == "_" and what not in ("F", "2", "\\mathrmF", "Fro"):
                raise self.error(f"only the Frobenius/2-norm is supported, not the {what!r}-norm", t)
            if mark == "^":
                if what != "2" or square:
                    raise self.error(f"cannot read the power {what!r} of a norm", t)
                square = True
        return Lang(t.pos, f"norm2({inner.text})^2" if square else f"norm2({inner.text})", POW if square else ATOM)

    def absolute(self) -> Lang:
        t = self.take()
        closes = {"|": "|", r"\lvert": r"\rvert", r"\vert": r"\vert"}[t.text]
        saved, self.in_norm = self.in_norm, True
        inner = self.expression()
        self.in_norm = saved
        self.skip_sizing()
        self.expect(closes)
        return Lang(t.pos, f"abs({inner.text})", ATOM)

    def fraction(self) -> Lang:
        t = self.take()
        if self.tok.text == "{" and self.peek().text in (r"\partial", r"\part", "∂", "d"):
            if self.peek().text != "d" or self.peek(2).kind == "word" or self.peek(2).kind == "cmd":
                num = self.group_text()
                den = self.group_text()
                if re.match(r"\s*(\\partial|\\part|∂)", num) or re.match(r"\s*d\b", num):
                    if not strip_derivative_text(num) and self.tok.kind != "end":
                        # ∂/∂w (expression): the operator applied to the term that follows
                        start = self.tok.pos
                        self.term()
                        last = self.toks[self.i - 1]
                        num = r"\partial " + self.tex[start:last.pos + len(last.text)]
                    return self.call_derivative(num, den, t)
                raise self.error("cannot read this fraction", t)
        for _ in range(2):                                  # \frac12: two one-digit arguments
            if self.tok.kind == "num" and self.tok.text.isdigit() and len(self.tok.text) > 1 and \
                    self.tok.pos == self.toks[self.i - 1].pos + len(self.toks[self.i - 1].text):
                tk = self.tok
                self.toks[self.i] = Tok("num", tk.text[0], tk.pos)
                self.toks.insert(self.i + 1, Tok("num", tk.text[1:], tk.pos + 1))
                break
        num = self.group_tex_expression()
        den = self.group_tex_expression()
        if re.fullmatch(r"(\d+ \* )?[A-Za-z]\w*", den.text):       # \frac{1}{2m}: m is a number
            self.scalars.add(den.text.split(" * ")[-1])
        return Lang(t.pos, f"{_wrap(num, MUL)} / {_wrap(den, MUL + 1)}", MUL)

    def derivative_symbol(self) -> Lang:
        t = self.take()
        if t.text in (r"\nabla", "∇"):
            wrt = ""
            if self.tok.text == "_":
                self.take()
                wrt = self.group_text()
            # the function: the next name (with its sub/superscripts)
            start = self.tok.pos
            self.primary()
            fn = self.tex[start:self.toks[self.i - 1].pos + len(self.toks[self.i - 1].text)]
            return self.call_derivative(fn, wrt, t, nabla=True)
        # ∂f/∂x
        start = self.tok.pos
        self.primary()
        fn = self.tex[start:self.toks[self.i - 1].pos + len(self.toks[self.i - 1].text)]
        if self.tok.text != "/":
            raise self.error("a lone ∂: write ∂f/∂x or \\frac{\\partial f}{\\partial x}", t)
        self.take()
        d2 = self.take()
        if d2.text not in (r"\partial", r"\part", "∂"):
            raise self.error("expected ∂ after '/'", d2)
        start = self.tok.pos
        self.primary()
        wrt = self.tex[start:self.toks[self.i - 1].pos + len(self.toks[self.i - 1].text)]
        return self.call_derivative(fn, wrt, t)

    def call_derivative(self, num, den, tok, nabla=False) -> Lang:
        if self.derivative is None:
            raise self.error("a derivative symbol inside the expression: matcalc cannot use it here", tok)
        try:
            name = self.derivative(num, den, nabla)
        except ParseError as err:
            raise self.error(err.message, tok) from None
        return Lang(tok.pos, name, ATOM)


def _drop_bracketed_breaks(toks: list) -> list:
    """A line break inside an open bracket of an aligned block (outside any environment) is only
    spacing: a bracket opened on one row and closed on the next is one bracket."""
    out, depth, env = [], 0, 0
    for t in toks:
        if t.text == r"\begin":
            env += 1
        elif t.text == r"\end":
            env -= 1
        elif t.text in OPEN:
            depth += 1
        elif t.text in CLOSE:
            depth -= 1
        if t.text == "\\\\" and depth > 0 and env <= 0:
            continue
        out.append(t)
    return out


def strip_derivative_text(text: str) -> str:
    r"""'\partial f' -> 'f', '\partial{W_1}' -> 'W_1', '∂ z^2' -> 'z^2'."""
    text = text.strip()
    text = re.sub(r"^(\\partial|\\part|∂|d(?=[\s{\\A-Za-z]))", "", text).strip()
    while text.startswith("{") and text.endswith("}") and balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def balanced(s: str, pair: str = "{}") -> bool:
    """The brackets pair[0] … pair[1] balance at every prefix: '{a}{b}' inside braces is not one group."""
    depth = 0
    for ch in s:
        depth += ch == pair[0]
        depth -= ch == pair[1]
        if depth < 0:
            return False
    return depth == 0


def name_of(tex: str, known=()) -> tuple[str, str]:
    """The identifier and LaTeX of a name written alone (W_1, z^{(l)}, h_{sigmoid}, J(W,b))."""
    tex = strip_derivative_text(tex)
    tex = re.sub(r"\((?:[^()]*,[^()]*)\)\s*$", "", tex).strip()      # J(W,b,x,y) -> J
    p = LatexParser(tex, known_names=known, activations=())
    node = p.primary()
    if p.tok.kind != "end" or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", node.text):
        raise ParseError(f"{tex!r} is not a single name", tex, p.tok.pos)
    return node.text, tex


def _after_call(text: str, k: int) -> int:
    """The index just past the ')' that closes a call whose '(' ends at k."""
    depth = 1
    while depth and k < len(text):
        depth += text[k] == "("
        depth -= text[k] == ")"
        k += 1
    return k


def resolve_sums(text: str, shape_of_text) -> str:
    """sumrows__(E) -> ones(1, rows)*(E), sumcols__(E) -> (E)*ones(cols, 1), sized by shape_of_text(E)."""
    while True:
        m = re.search(r"sum(rows|cols)(i?)__\(", text)
        if m is None:
            return text
        k = _after_call(text, m.end())
        inner = text[m.end():k - 1]
        inner_resolved = resolve_sums(inner, shape_of_text)
        shape = shape_of_text(inner_resolved)
        if not shape:
            raise ParseError("a sum over the samples of a scalar")
        rows = m.group(1) == "rows"
        if m.group(2) and shape[0 if rows else 1] == 1 and shape[1 if rows else 0] != 1:
            rows = not rows            # \sum_i p_i over a vector's entries: its one long side
        if rows:
            out = f"ones(1, {shape[0]}) * ({inner_resolved})"
        else:
            out = f"({inner_resolved}) * ones({shape[1]}, 1)"
        text = text[:m.start()] + "(" + out + ")" + text[k:]


def sums_as_calls(text: str) -> str:
    """sumrows__(E) -> sum(E, 1) (1ᵀE, the column sums), sumcols__(E) -> sum(E, 2) (E1): sizes
    need not be known (a definition such as L = 1ᵀ(e ⊙ e)/n)."""
    while True:
        m = re.search(r"sum(rows|cols)__\(", text)
        if m is None:
            return text
        k = _after_call(text, m.end())
        axis = 1 if m.group(1) == "rows" else 2
        text = f"{text[:m.start()]}sum({text[m.end():k - 1]}, {axis}){text[k:]}"


def translate(tex: str, known_names=(), derivative=None, generic="tanh", values=(), batch="rows",
              sigma="sigmoid", bias_columns=False, prime_arguments=None) -> Result:
    """LaTeX expression -> Result(language text, names, operator places); ``bias_columns``: a
    forward equation, where b 1^T repeats b in every column; ``prime_arguments``: activation ->
    the argument a bare σ' stands for."""
    p = LatexParser(tex, known_names=known_names, derivative=derivative, generic=generic, values=values)
    p.prime_arguments = dict(prime_arguments or {})
    p.bias_columns = bias_columns
    p.batch = batch
    p.sigma = sigma
    text = re.sub(r"(?<![\w.])ones(?![\w(])", "1", p.parse())      # 1 - p: an all-ones vector, broadcast
    return Result(text, p.names, p.ops, p.ambiguous_one, p.bold, p.uncertain, p.scalars)


def latex_to_language(tex: str, known_names=()) -> str:
    """The contract-language text of a LaTeX expression or program (``\\\\``/newline separated)."""
    parts = [s for s in re.split(r"\\\\|\n", tex) if s.strip()]
    out = []
    offset = 0
    for part in parts:
        start = tex.index(part, offset)
        offset = start + len(part)
        lhs, eq, rhs = _split_assignment(part)
        try:
            if eq:
                target, _ = name_of(lhs, known_names)
                out.append(f"{target} = {translate(rhs, known_names).text}")
            else:
                out.append(translate(part, known_names).text)
        except ParseError as err:
            pos = (err.pos or 0) + start + (len(lhs) + 1 if eq and err.source == rhs else 0)
            raise ParseError(err.message, tex, pos) from None
    return "\n".join(out)


def program_to_language(tex: str) -> str:
    """A LaTeX program in the language; a sum over an index (\\sum_i, read in claims as a sum over
    the samples) is refused here with its place, never passed on as an internal name."""
    text = latex_to_language(tex)
    if "__(" in text:
        at = tex.find(r"\sum")
        raise ParseError("a sum over an index (\\sum_i) is read in claims only: write the program in matrix "
                         "form (sum(...), norm2(...)^2, ones(1,n)*...)", tex, max(at, 0))
    return text


def _split_assignment(part: str):
    depth = 0
    for k, ch in enumerate(part):
        depth += ch in "({["
        depth -= ch in ")}]"
        if ch == "=" and depth == 0:
            return part[:k], "=", part[k + 1:]
    return part, "", ""


def shape_probe(program: str, shapes: dict | None):
    """A function: language expression over the program's names -> its shape (size names or ints)."""
    from . import parser as P
    from .build import parse
    from ..ir.nodes import shape_of

    def probe(text: str):
        statements = [st for st in P.parse_program(program) if st.target is not None]
        expr = P.parse_program(text)[0].expr
        statements.append(P.Statement(0, "ones_probe", expr))
        prog = parse(program + "\n" + text, shapes, statements=statements, allow_unused=True)
        shape = shape_of(prog.intermediates["ones_probe"])
        return tuple(int(x) if x.is_Integer else str(x) for x in shape) if shape else ()
    return probe


def claim_to_language(tex: str, program: str, shapes: dict | None = None, known_names=()) -> str:
    """A LaTeX claim about ``program`` in the language, its all-ones sums sized by the program."""
    text = latex_to_language(tex, known_names)
    if "__(" in text:
        text = resolve_sums(text, shape_probe(program, shapes))
    return text
