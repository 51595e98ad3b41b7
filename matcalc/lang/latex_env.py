"""LaTeX pieces beyond single expressions: ``\\begin{cases}`` (a piecewise value, relu'),
``\\vec{0}`` (a zero), ``\\max(0, z)``/``\\min`` (two arguments) and the patterns and explicit
matrices matcalc does not read (``\\cdots``, ``\\begin{bmatrix}``), each refused with its reason.

A mixin of :class:`matcalc.lang.latex_input.LatexParser`: it uses the parser's tokens and grammar.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

RELATIONS = {"<": "<", ">": ">", r"\lt": "<", r"\gt": ">", r"\leq": "<=", r"\le": "<=", r"\leqslant": "<=",
             r"\geq": ">=", r"\ge": ">=", r"\geqslant": ">=", "≤": "<=", "≥": ">="}
ELLIPSES = {r"\cdots", r"\dots", r"\ldots", r"\vdots", r"\ddots", r"\dotsb", r"\dotsc"}
OTHERWISE = {"otherwise", "else", "sonst", "其他", "否则"}
MATRIX_ENVS = {"bmatrix", "pmatrix", "matrix", "vmatrix", "Bmatrix", "smallmatrix", "array"}
STOPS = {r"\end", "&"} | set(RELATIONS)
TEXT = {r"\mathrm", r"\operatorname", r"\text", r"\textrm", r"\mathtt", r"\rm", r"\textit"}
BOLD = {r"\mathbf", r"\boldsymbol", r"\bm", r"\vec"}
TRANSPOSE = {"T", r"\top", r"\intercal", r"\mathsf", "'", r"\prime", "ᵀ", "′"}


# ---------------------------------------------------------------- the pieces both readers build
@dataclass
class Node:
    pos: int


@dataclass
class Lang(Node):
    """A finished piece of the language, with its precedence (higher binds tighter)."""
    text: str
    prec: int = 50
    names: list = field(default_factory=list)


ADD, MUL, NEG, POW, ATOM = 10, 20, 25, 30, 50



def drop_stray_ampersands(toks: list) -> list:
    """'&' separates a case's value from its condition; elsewhere (aligned rows) it is spacing."""
    out, depth = [], 0
    for k, t in enumerate(toks):
        if t.text == r"\begin" and _env_name(toks, k) == "cases":
            depth += 1
        elif t.text == r"\end" and _env_name(toks, k) == "cases":
            depth -= 1
        if t.text == "&" and depth <= 0:
            continue
        out.append(t)
    return out


def _env_name(toks, k) -> str:
    if k + 3 < len(toks) and toks[k + 1].text == "{" and toks[k + 3].text == "}":
        return toks[k + 2].text
    return ""


class EnvironmentMixin:
    """Grammar pieces for environments, zeros, two-argument max/min and elided patterns."""

    def ellipsis(self):
        raise self.error("a pattern written with '…' (\\cdots, \\dots): its entries are elided, so the claim "
                         "is not read")

    def environment(self):
        t = self.take()
        name = self.group_text().strip().rstrip("*")
        if name == "cases":
            return self.cases(t)
        if name in MATRIX_ENVS:
            raise self.error(f"an explicit matrix written entry by entry (\\begin{{{name}}}) is not read", t)
        raise self.error(f"the environment {name!r} is not part of the LaTeX subset matcalc reads", t)

    def cases(self, start):
        """\\begin{cases} v_1 & c_1 \\\\ v_2 & c_2 \\end{cases} -> Σ mask(c_k) .* v_k (masks: step())."""
        branches = []
        while True:
            value = self.expression()
            while self.tok.text == "=":              # 2v 0^T = 0^T & …: the case's last form is its value
                self.take()
                value = self.expression()
            if self.tok.text != "&":
                raise self.error("each case needs '&' between its value and its condition", start)
            self.take()
            branches.append((value, self.condition(start)))
            if self.tok.text == r"\\":
                self.take()
            if self.tok.text == r"\end":
                self.take()
                if self.group_text().strip() != "cases":
                    raise self.error("\\begin{cases} closed by another \\end", start)
                break
            if self.tok.kind == "end":
                raise self.error("\\begin{cases} without \\end{cases}", start)
        masks = [m for _, m in branches if m is not None]
        if len(masks) < len(branches) - 1 or not masks:
            raise self.error("a case without its condition", start)
        parts = []
        for value, mask in branches:
            if mask is None:
                mask = "(1 - (" + " + ".join(masks) + "))"
            parts.append(f"{mask} .* ({value.text})")
        return Lang(start.pos, "(" + " + ".join(parts) + ")", ATOM)

    def condition(self, start):
        """'z > 0', '\\text{if } x \\leq 0', 'otherwise': a 0/1 mask (language text), None for otherwise."""
        while self.tok.kind == "cmd" and self.tok.text in TEXT | {r"\mbox"}:
            at = self.i
            self.take()
            word = self.group_text().strip().rstrip(",.").lower()
            if word in OTHERWISE or word.startswith(("otherwise", "else")):
                return None
            if word not in ("if", "for", "when", "", "wenn", "当", "若"):
                self.i = at
                break
        if self.tok.kind == "word" and self.tok.text.lower() in OTHERWISE | {"if", "for", "when"}:
            if self.take().text.lower() in OTHERWISE:
                return None
        left = self.expression()
        rel = self.tok.text
        if rel in ("<", ">") and self.peek().text == "=":
            self.take()
            rel += "="
        if rel not in RELATIONS and rel not in ("<=", ">="):
            raise self.error("a case's condition must compare with <, >, \\leq or \\geq", start)
        self.take()
        rel = RELATIONS.get(rel, rel)
        right = self.expression()
        diff = f"({left.text}) - ({right.text})"
        return f"step({diff})" if rel.startswith(">") else f"step(-({diff}))"

    def zero(self, start):
        """\\vec{0}, \\mathbf{0} (a zero vector or matrix, transposed or not): the number 0, broadcast."""
        for _ in range(4):
            self.take()
        while self.tok.text in ("_", "^"):
            mark = self.take().text
            sup = self.group_text().replace(" ", "")
            if mark == "^" and sup not in TRANSPOSE:
                raise self.error(f"cannot read the superscript {sup!r} of a zero", start)
        return Lang(start.pos, "0", ATOM)

    def extremum(self, tok, fn: str):
        """\\max(a, b) / max(0, z): the entrywise maximum (minimum) of two values."""
        self.skip_sizing()
        opener = self.take()
        if opener.text not in ("(", "[", r"\{"):
            raise self.error(f"{fn} needs its two arguments in parentheses", tok)
        first = self.expression()
        self.skip_sizing()
        if self.tok.text != ",":
            raise self.error(f"{fn} of one argument (a maximum over entries) is not read; write {fn}(a, b)", tok)
        self.take()
        second = self.expression()
        self.skip_sizing()
        self.skip_sizing()
        if self.tok.text not in (")", "]", r"\}"):
            raise self.error(f"expected ')' to close {fn}(", tok)
        self.take()
        return Lang(tok.pos, f"{fn}({first.text}, {second.text})", ATOM)


def is_zero_vector(toks, k) -> bool:
    return toks[k].text in BOLD and k + 3 < len(toks) and toks[k + 1].text == "{" and \
        toks[k + 2].text == "0" and toks[k + 3].text == "}"


def is_extremum(toks, k) -> str | None:
    t = toks[k]
    name = t.text.lstrip("\\")
    if name in ("max", "min") and (t.kind == "cmd" or k + 1 < len(toks) and toks[k + 1].text == "("):
        return name
    return None


ZERO_RE = re.compile(r"\\(vec|mathbf|boldsymbol|bm)\{0\}")
