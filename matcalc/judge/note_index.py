"""Index notation in a note: a claim about an entry (``∂f/∂w_{ij} = ∂f/∂y_i x_j``,
``∂f/∂x_i = \\sum_j w_{ji} ∂f/∂y_j``) read as the whole-vector or whole-matrix claim it defines
(``(∇_y f) x^T``, ``W^T ∇_y f``), so that the claim checker judges every entry at once.

Read: products of indexed entries (``x_j``, ``w_{ji}``, ``w_{j,i}``), derivatives of the loss by an
entry (``∂f/∂y_i``), diagonal Jacobian entries (``∂y_i/∂x_i``), numbers and scalar names, brackets,
``+``/``-`` and one ``\\sum_k`` per term (its body: the rest of the term).  Anything else raises
:class:`IndexUnread` with the reason; nothing is guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..lang.latex_env import ELLIPSES
from ..lang.latex_input import SIZING, strip_derivative_text, tokenize
from .note_model import _lhs_name, _strip_partial

INDEX_LETTERS = "ijkpqrs"            # not l (a layer), m, n (sizes) nor t (a time step)
PRODUCT_MARKS = {r"\cdot", "*", r"\times", "·", r"\ast"}
BOLD = {r"\mathbf", r"\boldsymbol", r"\bm", r"\vec"}


KRONECKER = r"\delta"                # δ_{ij}: 1 where i = j, else 0


class IndexUnread(Exception):
    """An index-notation claim outside what is read (the message says why)."""


@dataclass
class _Term:
    coef: float = 1.0
    scalars: list = field(default_factory=list)      # LaTeX of scalar factors (N, \lambda)
    factors: list = field(default_factory=list)      # (whole LaTeX, indices) of indexed factors
    summed: list = field(default_factory=list)       # summation indices

    def times(self, other: "_Term") -> "_Term":
        clash = set(self.summed) & set(other.summed)
        if clash:
            raise IndexUnread(f"the summation index {sorted(clash)[0]} is used twice in one product")
        return _Term(self.coef * other.coef, self.scalars + other.scalars, self.factors + other.factors,
                     self.summed + other.summed)


def entry(tex: str):
    """'w_{ij}' -> ('w', ('i', 'j')), 'x_i' -> ('x', ('i',)); None when not an indexed entry."""
    m = re.fullmatch(r"\s*\{?\s*(\\?[A-Za-z]+)\s*\}?\s*_\s*(?:\{\s*([a-z])\s*,?\s*([a-z])?\s*\}|([a-z]))\s*",
                     strip_derivative_text(tex))
    if not m:
        return None
    idx = tuple(x for x in (m.group(2), m.group(3), m.group(4)) if x)
    if not all(x in INDEX_LETTERS for x in idx):
        return None
    return m.group(1), idx


def _whole_name(note, base: str, rank: int) -> str | None:
    """The note's whole vector (rank 1) or matrix (rank 2) whose entries are base_i / base_{ij}."""
    names = set(note.definitions) | {n for d in note.definitions.values()
                                     for n in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", d.text)}
    plain = base.lstrip("\\")
    for cand in ([plain.upper(), plain] if rank == 2 else [plain, plain.lower()]):
        if cand in names:
            kind = note.kind(cand)
            is_matrix = cand in note.declared and len(kind) == 2 and 1 not in kind or \
                cand not in note.declared and cand[:1].isupper()
            if (rank == 2) == is_matrix or cand in note.definitions:
                return cand
    return None


def whole_claim(note, fn: str, v_tex: str, tex: str):
    """(whole variable, its LaTeX, the whole claim's LaTeX) for a claim about an entry; None if
    ``v_tex`` is not an entry of a vector or matrix the note names whole."""
    got = entry(v_tex)
    if got is None:
        return None
    base, free = got
    own = _lhs_name(v_tex, note.known)
    if base in BOLD or own in note.definitions:       # z_k = W_k a + b: a name of its own, not an entry
        return None
    whole = _whole_name(note, base, len(free))
    if whole is None:
        return None
    if len(set(free)) != len(free):
        raise IndexUnread(f"the diagonal entry {strip_derivative_text(v_tex)} is not read")
    terms = _Reader(note, fn, tex).read()
    parts = []
    for t in terms:
        body = _whole_term(t, free)
        coef = t.coef
        sign = "-" if coef < 0 else "+"
        mag = abs(coef)
        lead = "" if abs(mag - 1) < 1e-15 else (f"{mag:g} " if mag != int(mag) else f"{int(mag)} ")
        scal = " ".join("{" + s + "}" for s in t.scalars)
        parts.append((sign, f"{lead}{scal + ' ' if scal else ''}{body}".strip()))
    text = " ".join(f"{s} {p}" if k or s == "-" else p for k, (s, p) in enumerate(parts))
    return whole, _tex(whole), text


def _tex(name: str) -> str:
    """A language name as LaTeX that reads back to it (Y_pred -> Y_{pred})."""
    base, _, rest = name.partition("_")
    return f"{base}_{{{rest}}}" if rest else name


def _had(items: list) -> str:
    return " \\odot ".join(_wrap(x) for x in items)


def _wrap(x: str) -> str:
    simple = re.fullmatch(r"\{?[A-Za-z][A-Za-z0-9_{}]*\}?(\^T)?|\\frac\{\\partial [^{}]*\}\{\\partial [^{}]*\}", x)
    return x if simple else f"({x})"


def _whole_term(t: _Term, free: tuple) -> str:
    """One term of entries -> its whole form (vectors are columns: entry i of a column)."""
    by_free = {a: [w for w, idx in t.factors if idx == (a,)] for a in free}
    summed = t.summed
    mats = [(w, idx) for w, idx in t.factors if len(idx) == 2]
    loose = [(w, idx) for w, idx in t.factors if len(idx) == 1 and idx[0] not in free and idx[0] not in summed]
    if loose:
        raise IndexUnread(f"the index {loose[0][1][0]} is neither the entry's nor summed")
    if len(summed) > 1:
        raise IndexUnread("more than one summation in a term is not read")
    if len(free) == 1:
        i = free[0]
        if not summed:
            if mats:
                raise IndexUnread("a matrix entry in a vector's entry without a sum is not read")
            if not by_free[i]:
                raise IndexUnread("the term does not depend on the entry's index")
            return _had(by_free[i])
        k = summed[0]
        pk = [w for w, idx in t.factors if idx == (k,)]
        if len(mats) > 1:
            raise IndexUnread("a sum over a product of matrix entries is not read")
        if mats:
            w, idx = mats[0]
            if set(idx) != {i, k}:
                raise IndexUnread(f"the matrix entry's indices {''.join(idx)} are not the entry's and the summed")
            m = f"{{{w}}}^T" if idx == (k, i) else f"{{{w}}}"
            inner = f"{m} {_wrap(_had(pk))}" if pk else f"{m} \\mathbf{{1}}"
            return f"{_had(by_free[i])} \\odot ({inner})" if by_free[i] else inner
        if not pk or not by_free[i]:
            raise IndexUnread("the sum does not give a vector")
        return f"(\\mathbf{{1}}^T {_wrap(_had(pk))}) {_wrap(_had(by_free[i]))}"
    i, j = free
    if summed:
        raise IndexUnread("a sum in a matrix's entry is not read")
    parts = []
    if by_free[i] and by_free[j]:
        parts.append(f"{_wrap(_had(by_free[i]))} ({_had(by_free[j])})^T")
    elif by_free[i] or by_free[j]:
        raise IndexUnread("the term depends on only one of the entry's indices")
    for w, idx in mats:
        if idx == (i, j):
            parts.append(f"{{{w}}}")
        elif idx == (j, i):
            parts.append(f"{{{w}}}^T")
        else:
            raise IndexUnread(f"the matrix entry's indices {''.join(idx)} are not the entry's")
    if not parts:
        raise IndexUnread("the term does not depend on the entry's indices")
    return _had(parts) if len(parts) > 1 else parts[0]


class _Reader:
    """Recursive descent over the claim's tokens into a list of _Terms."""

    def __init__(self, note, fn: str, tex: str):
        self.note, self.fn, self.tex = note, fn, tex
        self.toks = [t for t in tokenize(tex) if not (t.kind == "cmd" and t.text in SIZING)]
        self.i = 0

    @property
    def tok(self):
        return self.toks[self.i]

    def take(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def read(self) -> list:
        terms = self.expression()
        if self.tok.kind != "end":
            raise IndexUnread(f"cannot read {self.tok.text!r} in an index expression")
        return terms

    def expression(self) -> list:
        sign = 1.0
        if self.tok.text in ("-", "−", "+"):
            sign = -1.0 if self.take().text != "+" else 1.0
        out = [_scaled(t, sign) for t in self.term()]
        while self.tok.text in ("+", "-", "−"):
            s = 1.0 if self.take().text == "+" else -1.0
            out += [_scaled(t, s) for t in self.term()]
        return out

    def term(self) -> list:
        acc = [_Term()]
        seen = False
        while True:
            t = self.tok
            if t.text in PRODUCT_MARKS:
                self.take()
                continue
            if t.kind == "end" or t.text in ("+", "-", "−", ")", "]", "}", r"\}") or t.text == r"\right":
                break
            if t.kind == "cmd" and t.text == r"\sum":
                acc = [a.times(b) for a in acc for b in self.sum()]
                seen = True
                break
            acc = [a.times(b) for a in acc for b in self.factor()]
            seen = True
        if not seen:
            raise IndexUnread("an empty term")
        return acc

    def sum(self) -> list:
        self.take()
        index = None
        while self.tok.text in ("_", "^", r"\limits"):
            mark = self.take().text
            if mark == r"\limits":
                continue
            text = self.group_text()
            if mark == "_":
                index = re.split(r"[=,<\\]", text.strip())[0].strip()
        if not index or index not in INDEX_LETTERS or len(index) != 1:
            raise IndexUnread("\\sum needs a one-letter index: \\sum_j or \\sum_{j=1}^m")
        body = self.term()
        for b in body:
            if index in b.summed:
                raise IndexUnread(f"the summation index {index} is used twice")
            b.summed.append(index)
        return body

    def group_text(self) -> str:
        if self.tok.text != "{":
            return self.take().text
        start = self.take()
        depth = 1
        while depth and self.tok.kind != "end":
            t = self.take()
            depth += t.text == "{"
            depth -= t.text == "}"
        return self.tex[start.pos + 1:self.toks[self.i - 1].pos]

    def factor(self) -> list:
        t = self.tok
        if t.kind == "num":
            self.take()
            return [_Term(coef=float(t.text))]
        if t.text in ("(", "[", "{", r"\{"):
            self.take()
            inner = self.expression()
            if self.tok.text in (")", "]", "}", r"\}"):
                self.take()
            else:
                raise IndexUnread("an unclosed bracket")
            return inner
        if t.kind == "cmd" and t.text in (r"\frac", r"\dfrac", r"\tfrac"):
            self.take()
            num, den = self.group_text(), self.group_text()
            if re.search(r"\\partial|\\part\b|∂", num + den):
                return [self.derivative(num, den)]
            return [self.fraction(num, den)]
        if t.kind == "cmd" and t.text in ELLIPSES or t.text == ".":
            raise IndexUnread("a pattern written with '…' (\\cdots, \\dots): its entries are elided")
        if t.kind == "cmd" and t.text in (r"\nabla", r"\partial", r"\part"):
            raise IndexUnread("a whole gradient beside entries (mixed notation) is not read")
        if t.kind == "word" or t.kind == "cmd" and t.text[1:].isalpha():
            return [self.name()]
        raise IndexUnread(f"cannot read {t.text!r} in an index expression")

    def fraction(self, num: str, den: str) -> _Term:
        inner_num = _Reader(self.note, self.fn, num).read()
        if len(inner_num) != 1 or inner_num[0].factors or inner_num[0].summed:
            raise IndexUnread("a fraction of entries is not read")
        d = den.strip()
        if re.fullmatch(r"\d+(\.\d+)?", d):
            return _Term(coef=inner_num[0].coef / float(d), scalars=inner_num[0].scalars)
        if re.fullmatch(r"[A-Za-z]|\\[A-Za-z]+", d):
            return _Term(coef=inner_num[0].coef, scalars=inner_num[0].scalars + [f"\\frac{{1}}{{{d}}}"])
        raise IndexUnread("a fraction of entries is not read")

    def derivative(self, num: str, den: str) -> _Term:
        num, den = _strip_partial(num), _strip_partial(den)
        d_entry, n_entry = entry(den), entry(num)
        if d_entry is None:
            raise IndexUnread(f"the derivative by {den.strip()} in an index expression is not read")
        d_whole = _whole_name(self.note, d_entry[0], len(d_entry[1]))
        if d_whole is None or len(d_entry[1]) != 1:
            raise IndexUnread(f"{den.strip()} is not an entry of a vector the note names")
        d_tex = _tex(d_whole)
        if n_entry is None:
            f = _lhs_name(num, self.note.known)
            if not f:
                raise IndexUnread(f"cannot read the derivative of {num.strip()}")
            return _Term(factors=[(f"\\frac{{\\partial {num.strip()}}}{{\\partial {d_tex}}}", d_entry[1])])
        n_whole = _whole_name(self.note, n_entry[0], len(n_entry[1]))
        if n_whole is None or len(n_entry[1]) != 1:
            raise IndexUnread(f"{num.strip()} is not an entry of a vector the note names")
        n_tex = _tex(n_whole)
        if n_entry[1] != d_entry[1]:      # ∂y_i/∂x_j: entry (i, j) of the Jacobian ∂y/∂x (numerator layout)
            self.note.entry_jacobians = getattr(self.note, "entry_jacobians", 0) + 1
            return _Term(factors=[(f"\\frac{{\\partial {n_tex}}}{{\\partial {d_tex}}}", n_entry[1] + d_entry[1])])
        return _Term(factors=[(f"\\mathrm{{diag}}\\left(\\frac{{\\partial {n_tex}}}{{\\partial {d_tex}}}\\right)",
                               d_entry[1])])

    def name(self) -> _Term:
        start = self.take()
        base = start.text
        if start.kind == "cmd" and start.text in BOLD:
            raise IndexUnread("a bold vector with an index (one of several vectors) is not read as an entry")
        if self.tok.text != "_":
            if len(base) == 1 or base.startswith("\\"):
                name = base.lstrip("\\")
                if self.note.kind(name) == () or name in self.note.scalars or name in self.note.size_names:
                    return _Term(scalars=[base])
            raise IndexUnread(f"{base} without an index in an index expression")
        self.take()
        sub = self.group_text()
        kronecker = re.fullmatch(r"\s*([a-z])\s*,?\s*([a-z])\s*", sub)
        if base == r"\delta" and kronecker and kronecker.group(1) != kronecker.group(2) and \
                "delta" not in self.note.definitions and not self.note.declared.get("delta"):
            return _Term(factors=[(KRONECKER, (kronecker.group(1), kronecker.group(2)))])
        got = entry(f"{base}_{{{sub}}}")
        if got is None:
            raise IndexUnread(f"cannot read the index {sub!r} of {base}")
        whole = _whole_name(self.note, got[0], len(got[1]))
        if whole is None:
            raise IndexUnread(f"{base}_{{{sub}}} is not an entry of a vector or matrix the note names")
        return _Term(factors=[(_tex(whole), got[1])])


def _scaled(t: _Term, s: float) -> _Term:
    return _Term(t.coef * s, list(t.scalars), list(t.factors), list(t.summed))


def jacobian_claim(note, f_tex: str, v_tex: str, tex: str):
    """∂p_i/∂z_j = p_i(δ_{ij} − p_j): (p, z, the whole Jacobian's LaTeX, row i per entry of p —
    numerator layout: diag(p) − p pᵀ); None when the two sides are not entries of named vectors."""
    got_f, got_v = entry(_strip_partial(f_tex)), entry(_strip_partial(v_tex))
    if got_f is None or got_v is None or len(got_f[1]) != 1 or len(got_v[1]) != 1:
        return None
    (fb, (i,)), (vb, (j,)) = got_f, got_v
    if fb in BOLD or vb in BOLD or i == j:
        return None
    fn, var = _whole_name(note, fb, 1), _whole_name(note, vb, 1)
    if fn is None or var is None or fn not in note.definitions:
        return None
    parts = []
    for t in _Reader(note, fn, tex).read():
        if t.summed:
            raise IndexUnread("a sum in a Jacobian's entry is not read")
        deltas = [idx for w, idx in t.factors if w == KRONECKER]
        if len(deltas) > 1 or deltas and set(deltas[0]) != {i, j}:
            raise IndexUnread("a Kronecker δ whose indices are not the entry's is not read")
        if deltas:
            rest = [(w, idx) for w, idx in t.factors if w != KRONECKER]
            if not rest or any(len(idx) != 1 or idx[0] not in (i, j) for _, idx in rest):
                raise IndexUnread("only entries of vectors beside δ_{ij} are read")
            body = f"\\mathrm{{diag}}\\left({_had([w for w, _ in rest])}\\right)"
        else:
            body = _whole_term(t, (i, j))
        sign = "-" if t.coef < 0 else "+"
        mag = abs(t.coef)
        lead = "" if abs(mag - 1) < 1e-15 else (f"{mag:g} " if mag != int(mag) else f"{int(mag)} ")
        scal = " ".join("{" + x + "}" for x in t.scalars)
        parts.append((sign, f"{lead}{scal + ' ' if scal else ''}{body}".strip()))
    text = " ".join(f"{sg} {p}" if k or sg == "-" else p for k, (sg, p) in enumerate(parts))
    return fn, var, _tex(var), text
