"""A note's problem: its names, definitions (in force line by line), aliases and conventions."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ParseError
from ..lang.latex_input import LatexParser, strip_derivative_text, sums_as_calls, translate
from .note_reader import read_rows

SCALAR_GREEK = {"eta", "lambda", "alpha", "beta", "gamma", "epsilon", "varepsilon", "mu", "rho", "kappa"}
_DERIV = re.compile(r"\\frac\s*\{\s*(\\partial|\\part|∂)|\\nabla|∇|∂")


# ---------------------------------------------------------------- names
def _lhs_name(tex: str, known) -> str | None:
    """The identifier of a definition's left side (h, Y_{pred}, z^{(l)}, J(W,b)) or None."""
    tex = _strip_partial(tex)
    primed = re.fullmatch(r"\s*(\\(?:mathbf|boldsymbol)\s*\{\s*[A-Za-z]\s*\}|[A-Za-z])(_\{?\w+\}?)?\s*'\s*", tex)
    if primed:                    # x' = Ax, ∂f/∂x': a name of its own
        base = _lhs_name(primed.group(1) + (primed.group(2) or ""), known)
        return base and f"{base}_prime"
    tex = re.sub(r"\s*\((?:[^()]*)\)\s*$", "", tex).strip() if not re.fullmatch(r"\(.*\)", tex) else tex
    if not tex:
        return None
    try:
        p = LatexParser(tex, known_names=known, activations=())
        p.index_superscript = lambda base, sub: p.peek().text not in ("T",) and not p.prime_ahead() \
            and p.peek().text != "{" or _index_group(p)   # every superscript of a lone name is an index
        node = p.primary()
    except (ParseError, IndexError):
        return None
    if p.tok.kind != "end" or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", node.text):
        return None
    return node.text


def _strip_partial(tex: str) -> str:
    tex = re.sub(r"^\s*(\\partial|\\part|∂)", "", tex.strip()).strip()
    while tex.startswith("{") and tex.endswith("}") and "{" not in tex[1:-1]:
        tex = tex[1:-1].strip()
    return tex


def _index_group(p) -> bool:
    if p.peek().text != "{":
        return False
    inner = p.peek(2).text
    return inner not in ("T", r"\top", "-", "'", r"\prime")


def _is_derivative(tex: str) -> bool:
    return bool(_DERIV.search(tex))


def _split_derivative(tex: str):
    """(function, variable) of a lone derivative symbol, else None."""
    t = tex.strip()
    t = re.sub(r"^\(\s*(.*)\s*\)(_\{[^}]*\})?$", r"\1", t)
    m = re.fullmatch(r"\\[dt]?frac\s*(\{.*\})\s*(\{.*\})", t, re.S)
    if m:
        groups = _groups(t[t.index("{"):])
        if groups and len(groups) == 2 and groups[1][1] == len(t[t.index("{"):]):
            num, den = groups[0][0], groups[1][0]
            if re.match(r"\s*(\\partial|\\part|∂)", num) and re.match(r"\s*(\\partial|\\part|∂)", den):
                return strip_derivative_text(num), strip_derivative_text(den)
        return None
    m = re.fullmatch(r"(\\nabla|∇)\s*_\s*(\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\}|\\?[A-Za-z]+)\s*(.+)", t, re.S)
    if m:
        wrt = m.group(2)
        if wrt.startswith("{"):
            wrt = wrt[1:-1]
        elif not wrt.startswith("\\") and len(wrt) > 1:
            return wrt[0], wrt[1:] + m.group(3)
        return m.group(3).strip(), wrt.strip()
    m = re.fullmatch(r"(∂|\\partial)\s*(.+?)\s*/\s*(∂|\\partial)\s*(.+)", t)
    if m:
        return m.group(2), m.group(4)
    return None


def _groups(s: str):
    """Top-level {...} groups of s: [(inner, end offset)]."""
    out, depth, start = [], 0, 0
    for k, ch in enumerate(s):
        if ch == "{" and (k == 0 or s[k - 1] != "\\"):
            if depth == 0:
                start = k
            depth += 1
        elif ch == "}" and (k == 0 or s[k - 1] != "\\"):
            depth -= 1
            if depth == 0:
                out.append((s[start + 1:k], k + 1))
        elif depth == 0 and not ch.isspace():
            return None
    return out


# ---------------------------------------------------------------- the note's program
@dataclass
class _Definition:
    name: str
    text: str        # language
    line: int
    names: dict
    uncertain: list = field(default_factory=list)
    display: bool = True      # from a displayed equation ($$…$$), not one inline in the prose
    alternates: list = field(default_factory=list)   # the chain's later forms (= σ(z^l)W + b)


class _Note:
    def __init__(self, text: str, dims: dict | None, convention: str | None = None):
        self.text = text
        self.dims = dict(dims or {})
        self.rows = read_rows(text)
        self.line = 0                        # the line being judged
        self.bold = _bold_names(text)        # names written \\mathbf{x}: the note's vectors
        self.scalars: set = set()            # names the equations divide by (\\frac{1}{N})
        self.size_names: set = set()         # sizes named in X \\in R^{n \\times d}
        self.layout = _stated_layout(text)   # "numerator" | "denominator" | None
        self.vector_leaves: set = set()      # capital leaves found to be vectors
        self.sigma_sections = self._sigma_sections()
        self.chains = self._chains()
        self.latex_names: dict = {}          # language name -> LaTeX
        self.known: set = set()
        self.values: set = set()             # names defined by an equation
        self.definitions: dict = {}          # name -> _Definition (latest wins)
        self.history: list = []              # every _Definition, in the note's order
        self.aliases: dict = {}              # δ name -> (function, variable) identifiers
        self.unread_aliases: dict = {}       # δ name -> (function, variable LaTeX): ∂L/∂(an expression not read)
        self.alias_lines: dict = {}          # δ name -> the line defining it
        self._collect_names()
        self._collect_definitions()
        self.convention = convention or self._convention()
        self.declared = self._declarations()
        self._broadcasts()
        self.symmetric = self._symmetric_names()
        self._defined_forms()

    def _defined_forms(self):
        """z^{l+1} = a^l W + b = σ(z^l) W + b with a^l never defined: the form in defined names."""
        defined = set(self.definitions) | set(self.declared)
        for d in list(self.definitions.values()):
            leaves = _words(d.text) - defined
            if not leaves or not d.alternates:
                continue
            for text, names in d.alternates:
                if not (_words(text) - defined - _words(d.text)) and len(_words(text) - defined) < len(leaves) \
                        and d.name not in _words(text) and "__" not in text:
                    d.text = text
                    self.latex_names.update({k: v for k, v in names.items() if k not in self.latex_names})
                    break

    def _broadcasts(self):
        """In a forward equation, 1b (a row repeated) and b1 (a scalar repeated) are b, broadcast."""
        def scalar(n):
            return self.declared.get(n) == () or n in self.scalars
        for d in self.definitions.values():
            text = re.sub(r"bcast__\((\w+'?)\)", r"\1", d.text)
            text = re.sub(r"sum(?:cols|rows)__\((\w+)\)", lambda m: m.group(1) if scalar(m.group(1)) else m.group(0), text)
            d.text = re.sub(r"(?<![\w.])ones(?![\w(])", "1", text)

    def _chains(self):
        chains, last = [], None
        for row in self.rows:
            links = [(s, row.line) for s in row.links]
            if row.continued and last is not None:
                last["links"] += links[1:]
            elif last is not None and last["open"]:
                last["links"] = last["links"][:-1] + links
            else:
                last = {"line": row.line, "links": links, "end": row.end_line, "display": row.display}
                chains.append(last)
            last["end"] = row.end_line
            last["open"] = bool(row.links) and row.links[-1] == "" and len(row.links) > 1
        for c in chains:
            c["links"] = [(s, ln) for s, ln in c["links"] if s.strip()]
        return [c for c in chains if c["links"]]

    def _collect_names(self):
        for chain in self.chains:
            for tex, _ in chain["links"]:
                d = _split_derivative(tex)
                if d:
                    for part in d:
                        n = _lhs_name(part, ())
                        if n:
                            self.known.add(n)
            if len(chain["links"]) > 1:
                n = _lhs_name(chain["links"][0][0], ())
                if n:
                    self.known.add(n)
                    if not _is_derivative(chain["links"][0][0]):
                        self.values.add(n)

    def _collect_definitions(self):
        for chain in self.chains:
            links = chain["links"]
            if len(links) < 2:
                continue
            first = links[0][0]
            if _is_derivative(first):
                continue
            name = _lhs_name(first, self.known)
            if name is None:
                continue
            if _split_derivative(links[1][0]) is not None:      # δ = ∂L/∂z (= ...)
                f, v = _split_derivative(links[1][0])
                fn, vn = _lhs_name(f, self.known), _lhs_name(v, self.known)
                if fn and not vn:       # δ_t = ∂L/∂(W h_{t-1} + U x_t): by an expression of the equations
                    vn = self._expression_name(name, v, links[0][1])
                if fn and vn:
                    self.aliases[name] = (fn, vn)
                    self.alias_lines[name] = links[0][1]
                    self.latex_names.setdefault(name, first.strip())
                elif fn and name not in self.aliases:
                    self.unread_aliases[name] = (f, v)
                continue
            if any(_is_derivative(t) for t, _ in links[1:]) or name in self.aliases or name in self.unread_aliases:
                continue
            texts = []
            for k, (tex, line) in enumerate(links[1:]):
                try:
                    r = translate(tex, self.known, derivative=None, values=self.values, sigma=self.sigma_at(line),
                                  bias_columns=True)
                except ParseError:
                    if k == 0:
                        self._step_summand(name, tex, line, chain.get("display", True))
                        break
                    continue
                texts.append((r, line))
            if not texts:
                continue
            r, line = texts[0]
            earlier = self.definitions.get(name)
            if earlier is not None and earlier.display and not chain.get("display", True) and earlier.text != r.text:
                continue          # an aside in the prose ($h = max(Z, 0)$) does not redefine the problem
            self.latex_names.update({k: v for k, v in r.names.items() if k not in self.latex_names})
            lhs = re.sub(r"\s*\([^()]*\)\s*$", "", first.strip()) or first.strip()
            self.latex_names.setdefault(name, re.sub(r"(?<=[A-Za-z])\{(?=[A-Za-z]{2,}\})", "_{", lhs))
            self.definitions.pop(name, None)
            self.definitions[name] = _Definition(name, sums_as_calls(r.text), line, r.names, list(r.uncertain),
                                                 chain.get("display", True), [(o.text, o.names) for o, _ in texts[1:]])
            self.scalars |= r.scalars
            self.history.append(self.definitions[name])
            # σ(z) = σ(aW + b): the inner name is defined by the inner expression
            for other, _ in texts[1:]:
                m1 = re.fullmatch(r"(\w+)\((\w+)\)", r.text)
                m2 = re.fullmatch(r"(\w+)\((.+)\)", other.text)
                if m1 and m2 and m1.group(1) == m2.group(1) and m1.group(2) not in self.definitions \
                        and m1.group(2) != name:
                    inner = m1.group(2)
                    self.definitions[inner] = _Definition(inner, m2.group(2), line, other.names,
                                                          display=chain.get("display", True))
                    self.history.append(self.definitions[inner])
                    self.latex_names.update({k: v for k, v in other.names.items() if k not in self.latex_names})

    def _expression_name(self, alias: str, tex: str, line: int):
        """A name (pre_<alias>) for the bracketed expression tex where the equations so far write it
        whole as an operand (h_t = tanh(W h_{t-1} + U x_t)); the equations then use the name. None
        when tex is no bracketed expression or no equation writes it."""
        t = re.sub(r"\\(left|right|big|Big|bigg|Bigg)\s*", "", tex.strip())
        if len(t) < 3 or t[0] not in "([" or t[-1] not in ")]":
            return None
        try:
            text = translate(t[1:-1], self.known, derivative=None, values=self.values,
                             sigma=self.sigma_at(line), bias_columns=True).text.strip()
        except ParseError:
            return None
        if not re.search(r"[+\-*]", text):
            return None
        text = sums_as_calls(text)
        pattern = rf"\(\s*{re.escape(text)}\s*\)"
        spots = [d for d in self.history if re.search(pattern, d.text)]
        if not spots:
            return None
        name = f"pre_{alias}"
        for d in spots:
            d.text = re.sub(pattern, f"({name})", d.text)
        first = min(d.line for d in spots)
        self.definitions[name] = _Definition(name, text, first, {})
        self.history.append(self.definitions[name])
        self.known.add(name)
        self.latex_names[name] = f"({t[1:-1].strip()})"
        if name.endswith("_t"):            # its next step, written with every index moved on
            def on(m):
                return m.group(1) + ("{t}" if "-" in m.group(2) else "{t+1}")
            self.latex_names[name + "p1"] = re.sub(r"([_^])\s*(\{\s*t\s*-\s*1\s*\}|\{\s*t\s*\}|t(?![A-Za-z]))",
                                                   on, self.latex_names[name])
        return name

    def _step_summand(self, name: str, tex: str, line: int, display: bool) -> None:
        """L = \\sum_t ½‖o_t − y_t‖² (a sum over the steps of a term written inline): L_t is that
        term, as if the note wrote L = Σ_t L_t and L_t = ½‖o_t − y_t‖²."""
        m = re.match(
            r"\s*\\sum(?:\\limits)?\s*_\s*(?:t|\{\s*t\s*(?:=[^{}]*)?\})\s*(?:\^\s*(?:\w|\{[^{}]*\}))?", tex)
        step = f"{name}_t"
        if m is None or step in self.definitions or step in self.known and step != name:
            return
        body = tex[m.end():].strip()
        if not re.search(r"[_^]\s*\{?\s*t\b", body):
            return
        try:
            r = translate(body, self.known, derivative=None, values=self.values, sigma=self.sigma_at(line),
                          bias_columns=True)
        except ParseError:
            return
        if re.fullmatch(r"\s*\(?\s*\w+\s*\)?\s*", r.text):      # L = Σ_t L_t: the note names its summand
            return
        self.known.add(step)
        self.latex_names.update({k: v for k, v in r.names.items() if k not in self.latex_names})
        self.latex_names.setdefault(step, f"{self.latex_names.get(name, name)}_t")
        self.definitions[step] = _Definition(step, sums_as_calls(r.text), line, r.names, list(r.uncertain), display)
        self.scalars |= r.scalars
        self.history.append(self.definitions[step])
        self.summed_steps = getattr(self, "summed_steps", set()) | {name}

    def sigma_at(self, line: int) -> str:
        """What \\sigma means at ``line``: tanh/relu where the section says so, else sigmoid."""
        for start, end, fn in self.sigma_sections:
            if start <= line <= end:
                return fn
        return "sigmoid"

    def _sigma_sections(self) -> list:
        lines = self.text.split("\n")
        heads = [k + 1 for k, ln in enumerate(lines) if re.match(r"\s{0,3}#", ln)] + [len(lines) + 1]
        out = []
        for k, ln in enumerate(lines, start=1):
            m = re.search(r"(激活函数|activation(?: function)?|\\sigma)[^$\n]{0,12}?(为|是|is|=|:|：)\s*\$?\s*\\?"
                          r"(tanh|relu|sigmoid)", ln, re.I)
            if m:
                start = max([h for h in heads if h <= k], default=1)
                end = min([h for h in heads if h > k]) - 1
                out.append((start, end, m.group(3).lower()))
        # "a_t = σ(z_t), 输出为 Softmax 激活函数" / "the output uses softmax": σ on that line only
        for k, ln in enumerate(lines, start=1):
            m = re.search(r"(输出|output)[^$\n]{0,12}?(为|是|is|uses?|:|：)\s*(?:an?\s+|the\s+)?\$?\s*\\?"
                          r"(softmax|sigmoid|tanh)\b", ln, re.I)
            if m and re.search(r"\\sigma\s*\(", ln):
                out.insert(0, (k, k, m.group(3).lower()))
        return out

    def ones_row_at(self, line: int) -> bool:
        """Does the note say its 1 is an all-ones row (其中$1$为全部为1的行向量) in the section of
        ``line``, or in an earlier section up to which no heading of a higher level intervenes?"""
        lines = self.text.split("\n")
        heads = [(k + 1, len(re.match(r"\s{0,3}(#+)", ln).group(1))) for k, ln in enumerate(lines)
                 if re.match(r"\s{0,3}#", ln)]
        said = re.compile(r"\$\s*(?:\\mathbf\{1\}|\\mathbb\{1\}|1)\s*\$\s*(?:为|是|is|denotes)\s*"
                          r"(?:全部?为\s*1\s*的\s*行向量|全\s*1\s*的?\s*行向量|(?:an?|the)\s+(?:all[- ]ones?\s+row"
                          r"|row\s+(?:vector\s+)?of\s+(?:all\s+)?ones))", re.I)
        for k, ln in enumerate(lines, start=1):
            if not said.search(ln):
                continue
            start, level = max([(h, lv) for h, lv in heads if h <= k], default=(1, 0))
            if line < start:
                continue
            if all(lv >= level for h, lv in heads if start < h <= line) and level or \
                    not any(start < h <= line for h, _ in heads):
                return True
        return False

    def defs_at(self, line: int) -> dict:
        """The definitions in force at ``line``: the latest at or before it, less the names a later
        sentence declares afresh (假设 $y,z$ 为行向量, "let $z$ be a row vector"): leaves again."""
        out = {}
        for d in self.history:
            if d.line <= line:
                out.pop(d.name, None)
                out[d.name] = d
        for at, names, _, supposed in self._fresh_declarations():
            if at <= line and supposed:
                for n in names:
                    if n in out and out[n].line < at:
                        del out[n]
        for name, text, at in self._activated_in_prose(line, out):
            out.setdefault(name, _Definition(name, text, at, {}, [f"{name} is read as {text} from the prose"],
                                             display=False))
            self.latex_names.setdefault(name, name)
        return out

    def _activated_in_prose(self, line: int, defs: dict) -> list:
        """(name, text, line) for "$a$ 为经过激活函数的行向量" / "$a$ is the activated output" in the
        section of ``line``: a is the one activation the section's equations apply to a name."""
        lines = self.text.split("\n")
        heads = [k + 1 for k, ln in enumerate(lines) if re.match(r"\s{0,3}#", ln)]
        start = max([h for h in heads if h <= line], default=1)
        end = min([h for h in heads if h > line], default=len(lines) + 1)
        said = re.compile(r"\$\s*([^$]+?)\s*\$\s*(?:为|是|is|denotes)\s*(?:the\s+)?(?:经过激活函数(?:之?后)?的|"
                          r"激活(?:函数)?之?后的|activated\b|output of the activation|activation output)", re.I)
        calls = {m.group(0) for d in defs.values() if start <= d.line < end
                 for m in re.finditer(r"(?<![\w.])(?:softmax|sigmoid|tanh|relu)\(\w+\)", d.text)}
        out = []
        for k in range(start, end):
            for m in said.finditer(lines[k - 1]):
                name = _lhs_name(m.group(1), self.known)
                if name and len(calls) == 1 and name not in defs:
                    out.append((name, next(iter(calls)), k))
        return out

    def _fresh_declarations(self) -> list:
        """(line, names, shape, supposed) of the sentences that declare names as row or column
        vectors, vectors, matrices or scalars (假设，$y,z$ 为行向量; "$b$ is a scalar"); supposed: the
        sentence supposes them afresh (假设, 设, let, suppose, assume), so they are leaves again."""
        if not hasattr(self, "_fresh"):
            self._fresh = []
            said = re.compile(r"\$([^$]+)\$\s*(?:为|是|are|is|be)\s*(?:an?\s+)?(行向量|列向量|向量|标量|矩阵|"
                              r"row[- ]vectors?|column[- ]vectors?|vectors?|scalars?|matri(?:x|ces))", re.I)
            for k, ln in enumerate(self.text.split("\n"), start=1):
                for m in said.finditer(ln):
                    word = m.group(2).lower()
                    shape = (1, "?") if word.startswith(("行", "row")) else ("?", 1) if word.startswith(("列", "col")) \
                        else () if word.startswith(("标", "scalar")) else ("?", "?") if word.startswith(("矩", "matri")) \
                        else None
                    names = [_lhs_name(part, self.known) for part in re.split(r",(?![^{]*\})", m.group(1))]
                    supposed = bool(re.search(r"(假设|设|令|\blet\b|\bsuppose\b|\bassume\b)[^$]{0,6}$",
                                              ln[:m.start()], re.I))
                    self._fresh.append((k, [n for n in names if n], shape, supposed))
        return self._fresh

    def declarations_at(self, line: int) -> dict:
        """Shapes declared at or before ``line`` (X \\in R^{n \\times d}, x_{1,m}, "$z$ 为行向量"), --dim
        last; a size stated in symbols wins over a kind said in words at the same place."""
        events = [(at, 1, name, shape) for at, name, shape in self.declaration_list]
        events += [(at, 0, name, shape) for at, names, shape, _ in self._fresh_declarations() if shape is not None
                   for name in names]
        out = {}
        for at, _, name, shape in sorted(events, key=lambda e: (e[0], e[1])):
            if at <= line:
                out[name] = shape
        out.update(self.dims)
        return out

    # -- conventions and shapes
    def _convention(self) -> str:
        row = col = 0
        for d in self.definitions.values():
            for a, b in re.findall(r"(\w+)'? \* (\w+)", d.text):
                if a[:1].islower() and b[:1].isupper():
                    row += 1
                elif a[:1].isupper() and b[:1].islower():
                    col += 1
                elif a[:1].isupper() and _weight(b) and not _weight(a):
                    row += 1
                elif b[:1].isupper() and _weight(a) and not _weight(b):
                    col += 1
                elif a[:1].isupper() and b[:1].isupper() and (a in self.definitions) != (b in self.definitions):
                    row, col = (row + 1, col) if a in self.definitions else (row, col + 1)
        prose = self.text
        row += 2 * len(re.findall(r"行向量|row[- ]vectors?|one sample per row|rows? (are|is) (a )?samples?", prose, re.I))
        col += 2 * len(re.findall(r"列向量|column[- ]vectors?", prose, re.I))
        return "row" if row > col else "column"

    def _leaf_kind_guess(self, name: str) -> str:
        if name in self.definitions:
            return "value"
        base = name.split("_")[0]
        if base in SCALAR_GREEK or name in self.scalars or name in self.size_names:
            return "scalar"
        if self.bold and name not in self.bold and name[:1].islower():
            return "scalar"          # a note that writes vectors bold: plain small letters are numbers
        return "matrix" if name[:1].isupper() else "vector"

    def _declarations(self) -> dict:
        found = []
        for m in re.finditer(r"(?<![\\A-Za-z])([A-Za-z]|\\[a-zA-Z]+)_\{\s*(\w+)\s*,\s*(\w+)\s*\}", self.text):
            name = _lhs_name(m.group(1), self.known)
            if name:
                found.append((m.start(), name, (m.group(2), m.group(3))))
        pattern = re.compile(r"([A-Za-z\\][A-Za-z_{}^()\\0-9]*)\s*\\in\s*\\?(?:mathbb\{R\}|mathbf\{R\}|R|ℝ)"
                             r"\s*(?:\^\s*\{([^}]*)\}|\^\s*(\w))?")
        for m in pattern.finditer(self.text):
            name = _lhs_name(m.group(1), self.known)
            if not name:
                continue
            dims = (m.group(2) or m.group(3) or "").replace(" ", "")
            parts = [p for p in re.split(r"\\times|\*|×|,", dims) if p]
            if not parts:
                found.append((m.start(), name, ()))
            elif len(parts) == 1:
                found.append((m.start(), name, (parts[0], "vector__")))
            elif len(parts) == 2:
                found.append((m.start(), name, tuple(parts)))
        numbers = re.compile(r"([A-Za-z\\][A-Za-z_{}^()\\0-9]*)\s*\\in\s*\\\{\s*[-+]?\d+\s*,[^}]*\\\}"
                             r"(?:\s*\^\s*(?:\{\s*(\w+)\s*\}|(\w)))?")   # y \in \{0, 1\}, y \in \{0, 1\}^n
        for m in numbers.finditer(self.text):
            name = _lhs_name(m.group(1), self.known)
            size = m.group(2) or m.group(3)
            if name and size:         # a vector of labels
                found.append((m.start(), name, (size, "vector__")))
            elif name:
                found.append((m.start(), name, ()))
        found = self._orient_vectors(found)
        self.declaration_list = []
        self.size_names = {str(p) for _, _, shape in found for p in shape if not str(p).isdigit()}
        for at, name, shape in sorted(found, key=lambda f: f[0]):
            try:
                clean = tuple(int(p) if str(p).isdigit() else _size_name(p) for p in shape)
            except ValueError:
                continue
            self.declaration_list.append((self.text.count("\n", 0, at) + 1, name, clean))
        return {n: s for _, n, s in self.declaration_list} | dict(self.dims)

    def prime_arguments(self) -> dict:
        """Activation -> its argument, where the forward equations apply it to one name only (a
        bare σ' then means σ'(z))."""
        seen: dict = {}
        for d in self.definitions.values():
            for fn, arg in re.findall(r"(?<![\w.])(sigmoid|tanh|relu)\((\w+)\)", d.text):
                seen.setdefault(fn, set()).add(arg)
        return {fn: next(iter(args)) for fn, args in seen.items() if len(args) == 1}

    def _orient_vectors(self, found: list) -> list:
        """x \\in R^d: a column in a column-vector note; in a row-batch note a row (a bias added to
        every row) unless a matrix multiplies it (X w) or its size is only ever a number of rows
        (y \\in R^n beside X \\in R^{n \\times d}: one entry per sample)."""
        rows = {str(sh[0]) for _, n, sh in found if len(sh) == 2 and sh[1] != "vector__" and not _weight(n)}
        cols = {str(sh[1]) for _, _, sh in found if len(sh) == 2 and sh[1] != "vector__"}
        out = []
        self.columns_in_rows = False     # a row-batch note with column vectors (X w): columns may fit as well
        for at, name, shape in found:
            if len(shape) == 2 and shape[1] == "vector__":
                size = shape[0]
                column = self.convention == "column" or self._multiplied_on_the_right(name) or \
                    (str(size) in rows and str(size) not in cols)
                shape = (size, 1) if column else (1, size)
                self.columns_in_rows = self.columns_in_rows or column and self.convention == "row"
            out.append((at, name, shape))
        return out

    def _multiplied_on_the_right(self, name: str) -> bool:
        """A vector a forward equation multiplies a matrix by (X w): a column even in a row-batch note."""
        pattern = re.compile(r"(?<![\w.])[A-Z]\w*'? \* " + re.escape(name) + r"(?![\w'(])")
        return any(pattern.search(d.text) for d in self.definitions.values())

    def _symmetric_names(self) -> set:
        """Matrices the note states symmetric: S = S^T in its math, or 'symmetric' / 对称 / positive
        definite in the sentence that names them (a claim such as 2Sx then holds)."""
        out = set()
        transpose = r"\^\s*\{?\s*(?:T|\\top|\\intercal|\\mathsf\{T\})\s*\}?"
        for m in re.finditer(r"([A-Z]|\\[A-Z][a-z]+)\s*=\s*\1\s*" + transpose + r"(?![\w{])", self.text):
            out.add(_lhs_name(m.group(1), self.known))
        for m in re.finditer(r"([A-Z]|\\[A-Z][a-z]+)\s*" + transpose + r"\s*=\s*\1(?![\w^_{])", self.text):
            out.add(_lhs_name(m.group(1), self.known))
        for sentence in re.split(r"(?<=[.;])\s|[。；\n]", self.text):
            word = re.search(r"symmetric|对称|positive[- ]definite|正定|\bSPD\b", sentence, re.I)
            if not word:
                continue
            maths = list(re.finditer(r"\$([^$]+)\$", sentence))
            before = [m for m in maths if m.end() <= word.start()]
            after = [m for m in maths if m.start() >= word.end()]
            near = before[-1:] or after[:1]        # "$\Sigma$ be symmetric", "a symmetric $S$"
            for math in near:
                m = re.match(r"\s*([A-Z]|\\[A-Z][a-z]+)(?![A-Za-z])", math.group(1))
                if m:
                    out.add(_lhs_name(m.group(1), self.known))
        return {n for n in out if n and self.declared.get(n, ("?", "?")) in (("?", "?"),) or
                n and len(self.declared.get(n, ())) == 2 and self.declared[n][0] == self.declared[n][1]}

    def kind(self, name: str):
        if name in self.declared:
            return self.declared[name]
        if name in self.vector_leaves:
            return ("?", 1) if self.convention == "column" else (1, "?")
        k = self._leaf_kind_guess(name)
        if k == "scalar":
            return ()
        if k == "matrix":
            return ("?", "?")
        return ("?", 1) if self.convention == "column" else (1, "?")


def _words(text: str) -> set:
    from ..lang.language import is_function_name
    return {w for w in re.findall(r"(?<![\w.])([A-Za-z][A-Za-z0-9_]*)", text) if not is_function_name(w)}


def _stated_layout(text: str):
    """The layout a note says it uses: the first of numerator / denominator layout it names."""
    m = re.search(r"(numerator[- ]layout|分子布局|denominator[- ]layout|分母布局)", text, re.I)
    if m is None:
        return None
    return "numerator" if m.group(1).lower().startswith(("numerator", "分子")) else "denominator"


def _bold_names(text: str) -> set:
    """Identifiers of the names a note writes in bold (\\mathbf{x}, \\boldsymbol{h}_t, \\vec{v})."""
    out = set()
    for m in re.finditer(r"\\(mathbf|boldsymbol|bm|vec)\s*\{\s*\\?([A-Za-z]+)\s*\}((?:\s*[_^]\s*(?:\{[^{}]*\}|\\?\w))*)",
                         text):
        if m.group(2) in ("0", "1"):
            continue
        try:
            p = LatexParser(m.group(0), activations=())
            node = p.primary()
            out.add(node.text)
        except (ParseError, IndexError):
            continue
    return out


def _weight(name: str) -> bool:
    """A name that reads as a weight matrix (W, V, U, Θ)."""
    return name[:1] in "WVU" or name.startswith(("Theta", "theta"))


def _size_name(p: str) -> str:
    p = p.replace("\\", "").replace("{", "").replace("}", "").replace("_", "")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", p):
        raise ValueError(p)
    return p


# ---------------------------------------------------------------- helpers shared by the judges
class _NotChecked(Exception):
    pass


def _identifiers(text: str) -> set:
    from ..lang.language import is_function_name
    return {w for w in re.findall(r"(?<![\w.])([A-Za-z][A-Za-z0-9_]*)", text)
            if not is_function_name(w) and not w.endswith("__")}


def _shift_definitions(note: _Note, names) -> None:
    """h^{t+1} from the step's h^t = …: each index t (or l) moved one step on (t-1 -> t, t -> t+1)."""
    stack = list(names)
    while stack:
        n = stack.pop()
        if n in note.definitions:
            continue
        m = re.fullmatch(r"(\w+?)_(t|l)p1", n)
        if not m or f"{m.group(1)}_{m.group(2)}" not in note.definitions:
            continue
        idx = m.group(2)
        src = note.definitions[f"{m.group(1)}_{idx}"]

        def shift(match, idx=idx):
            word = match.group(0)
            if word.endswith(f"_{idx}m1"):
                return word[:-len(f"{idx}m1")] + idx
            if word.endswith(f"_{idx}"):
                return word + "p1"
            return word
        text = re.sub(r"(?<![\w.])[A-Za-z]\w*", shift, src.text)
        note.definitions[n] = _Definition(n, text, src.line, src.names)
        note.latex_names.setdefault(n, note.latex_names.get(f"{m.group(1)}_{idx}", n).replace(
            "^t", "^{t+1}").replace("_t", "_{t+1}").replace("{t}", "{t+1}").replace("(t)", "(t+1)"))
        stack += list(_identifiers(text))


def _reach(note: _Note, fn: str, stop: set) -> set:
    """Every name fn depends on, not looking through the names in stop."""
    seen, stack = set(), [fn]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in note.definitions and (n not in stop or n == fn):
            stack += list(_identifiers(note.definitions[n].text))
    return seen - {fn}


_GREEK_UNICODE = dict(zip(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau phi chi psi "
    "omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega ell".split(),
    "αβγδεζηθικλμνξπρστφχψωΓΔΘΛΞΠΣΦΨΩℓ"))


def _plain_name(latex: str) -> str:
    """\\Theta_1 -> Θ_1, Y_{pred} -> Y_pred, \\frac{\\partial L}{\\partial u} -> ∂L/∂u (for text)."""
    m = re.fullmatch(r"\\frac\{\\partial ([^{}]*)\}\{\\partial ([^{}]*)\}", latex)
    if m:
        return f"∂{_plain_name(m.group(1))}/∂{_plain_name(m.group(2))}"
    marks = {"hat": "\u0302", "widehat": "\u0302", "bar": "\u0304", "overline": "\u0304", "tilde": "\u0303",
             "widetilde": "\u0303", "dot": "\u0307"}           # \hat{Y} -> Ŷ, not Y (Y − Y in a diagnosis)
    out = re.sub(r"\\(%s)\s*(?:\{([^{}]*)\}|([A-Za-z]))" % "|".join(marks),
                 lambda g: (g.group(2) or g.group(3)) + marks[g.group(1)], latex)
    out = re.sub(r"\\([A-Za-z]+)", lambda g: _GREEK_UNICODE.get(g.group(1), ""), out)
    out = re.sub(r"(?<![\^_])\([^()]*\)$", "", out.replace("{", "").replace("}", "")).strip()   # J(W, b), not z^(1)
    return out or latex
