"""Printers of IR expressions: the contract language (ASCII), Unicode text and LaTeX.

One precedence-aware walker; a ``Style`` says how each construct looks.  The
language style re-parses to the same value (it uses the ``ones``/``eye``
extensions for explicit ones and identity matrices).  ``names`` maps
subexpressions to the user's names for intermediates (``H``, ``Y_pred``).
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sympy import (Integer, Inverse, Mul, Pow, Rational)
from sympy.matrices.expressions import (HadamardPower, MatAdd, MatMul, OneMatrix, Transpose)

from ..ir import ops
from .. import rules
from ..ir.nodes import (is_matrix)

ADD, MUL, NEG, POW, POSTFIX, ATOM = 10, 20, 25, 30, 40, 50


@dataclass(frozen=True)
class Style:
    name: str
    mul: str            # matrix / scalar product
    hadamard: str
    minus: str
    transpose: str
    lparen: str = "("
    rparen: str = ")"


LANGUAGE = Style("language", "*", " .* ", "-", "'")
UNICODE = Style("unicode", "", " ⊙ ", "−", "ᵀ")
LATEX = Style("latex", " ", r" \odot ", "-", "^{T}", r"\left(", r"\right)")

_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
          "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega",
          "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega"}


def latex_name(name: str) -> str:
    """W1 -> W_{1}, Y_pred -> Y_{pred}, Wxh -> W_{xh}, lambda -> \\lambda, lam -> \\mathrm{lam}."""
    from .parser import GREEK
    if any(ch in GREEK for ch in name):   # λ (lambda's one spelling), σ1 ...
        name = "".join(GREEK.get(ch, ch) for ch in name)
    if name.rstrip("_") in _GREEK:          # lambda_ (a keyword escaped) is still λ
        name = name.rstrip("_")
    base, sub = name, ""
    if "_" in name.strip("_"):
        base, sub = name.strip("_").split("_", 1)
    else:
        m = re.fullmatch(r"([A-Za-z]+?)(\d+)", name) or (name not in _GREEK and re.fullmatch(r"([A-Z])([a-z]{1,3})", name))
        if m:
            base, sub = m.group(1), m.group(2)
    def word(w):
        if w in _GREEK:
            return "\\" + w
        return w if len(w) <= 1 else r"\mathrm{" + w.replace("_", r"\_") + "}"
    out = word(base)
    if sub:
        sub_text = sub if sub.isdigit() or len(sub) == 1 else (
            "\\" + sub if sub in _GREEK else sub.replace("_", r"\_"))
        out += "_{" + sub_text + "}"
    return out


class Printer:
    f_name = "f"   # the function's name in ∂f/∂N

    def __init__(self, style: Style, names: dict | None = None):
        self.style = style
        self.names = names or {}

    # ------------------------------------------------------------ helpers
    spelled: frozenset = frozenset()   # names a juxtaposition must not spell (Xw when Xw is a variable)

    def __call__(self, expr) -> str:
        if self.style is UNICODE:
            self.spelled = frozenset(getattr(s, "name", "") for s in getattr(expr, "free_symbols", ())) | \
                frozenset(self.names.values()) | _SPELLED.get()
        if self.style is LATEX and _SIGMOID_AS_SIGMA.get() and _has_sigma_variable(expr):
            token = _SIGMOID_AS_SIGMA.set(False)
            try:
                return self.print(expr)[0]
            finally:
                _SIGMOID_AS_SIGMA.reset(token)
        return self.print(expr)[0]

    def paren(self, text: str) -> str:
        return f"{self.style.lparen}{text}{self.style.rparen}"

    def operand(self, expr, min_prec: int) -> str:
        text, prec = self.print(expr)
        if prec < min_prec and self.style is not LATEX and self._transposed_sum(expr) and min_prec <= POSTFIX:
            return self.paren(self.print(ops.transpose(expr))[0]) + self.style.transpose  # (x - m)ᵀ
        return self.paren(text) if prec < min_prec else text

    def _transposed_sum(self, e) -> bool:
        """A sum of transposed terms (xᵀ − mᵀ), printed (x − m)ᵀ where it needs parentheses."""
        return isinstance(e, MatAdd) and e not in self.names and \
            all(isinstance(ops.split_coeff(t)[1], Transpose) for t in e.args)

    def symbol(self, name: str) -> str:
        return latex_name(name) if self.style is LATEX else name

    def call(self, fname: str, *args) -> tuple[str, int]:
        inner = ", ".join(self.print(a)[0] for a in args)
        if self.style is LATEX:
            if fname == r"\sqrt":
                return r"\sqrt{" + inner + "}", ATOM
            fname = fname if fname.startswith("\\") else r"\operatorname{" + fname + "}"
        return f"{fname}{self.paren(inner)}", ATOM

    def size(self, d) -> str:
        return str(d)

    # ------------------------------------------------------------ dispatch
    def print(self, e) -> tuple[str, int]:
        if e in self.names:
            return self.symbol(self.names[e]), ATOM
        for cls in type(e).__mro__:
            method = getattr(self, "_" + cls.__name__, None)
            if method is not None:
                return method(e)
        raise TypeError(f"cannot print {type(e).__name__}")  # pragma: no cover

    def _MatrixSymbol(self, e):
        return self.symbol(e.name), ATOM

    def _placeholder(self, e):
        """δ_N, dN, ∂f/∂N of a derivation (see ir.placeholder)."""
        kind, of = e.role, e.of
        if kind == "value":
            return self.symbol(of), ATOM
        if kind == "hess":   # a Hessian block ∂²f/∂a∂bᵀ
            top, bottom = of.split("/", 1)
            if self.style is LATEX:
                return (r"\frac{\partial^2 f}{\partial " + latex_name(top) + r"\,\partial " + latex_name(bottom)
                        + "^{T}}"), ATOM
            return (f"hess_{top}_{bottom}" if self.style is LANGUAGE else f"∂²f/∂{top}∂{bottom}ᵀ"), MUL
        if kind == "jac":   # ∂A/∂B of two named values
            top, bottom = of.split("/", 1)
            if self.style is LATEX:
                return r"\frac{\partial " + latex_name(top) + r"}{\partial " + latex_name(bottom) + "}", ATOM
            if self.style is LANGUAGE:
                return f"jac_{top}_{bottom}", ATOM
            return f"∂{top}/∂{bottom}", MUL
        if self.style is LATEX:
            name = self.symbol(of)
            if kind == "delta":
                return r"\delta_{" + name + "}", ATOM
            if kind == "d":
                return r"\mathrm{d}" + name, ATOM
            if kind == "nabla":
                return r"\nabla_{" + name + "} f", MUL
            return r"\frac{\partial " + latex_name(self.f_name) + r"}{\partial " + name + "}", ATOM
        if self.style is LANGUAGE:
            return {"delta": "delta_", "d": "d_", "nabla": "nabla_"}.get(kind, "grad_") + self.symbol(of), ATOM
        of = self.symbol(of)
        differential = f"d({of})" if of.startswith("d") else "d" + of   # d(dd), not ddd
        text = {"delta": "δ_" + of, "d": differential, "nabla": "∇_" + of + " f"}.get(kind, f"∂{self.f_name}/∂" + of)
        return text, (ATOM if kind in ("delta", "d") else MUL)

    _MatrixPlaceholder = _placeholder
    _ScalarPlaceholder = _placeholder

    def _differential_of(self, e):
        """d(definition): the argument's own name is not used, its definition is shown."""
        d = r"\mathrm{d}" if self.style is LATEX else "d"
        inner = Printer(self.style, {k: v for k, v in self.names.items() if k != e.arg})
        return d + self.paren(inner(e.arg)), ATOM

    _DifferentialOf = _differential_of
    _ScalarDifferentialOf = _differential_of

    def _Symbol(self, e):
        return self.symbol(e.name), ATOM

    def _Number(self, e):
        if isinstance(e, Integer):
            text = str(int(e))
        elif isinstance(e, Rational):
            p, q = int(e.p), int(e.q)
            if self.style is LATEX:
                text = ("-" if p < 0 else "") + r"\frac{" + str(abs(p)) + "}{" + str(q) + "}"
                return text, (NEG if p < 0 else ATOM)
            if p < 0:   # −1/2 with the style's minus sign, as every other negative number
                return f"{self.style.minus}{-p}/{q}", NEG
            text = f"{p}/{q}"
            return text, MUL
        else:
            text = repr(float(e))
        if text.startswith("-"):
            return self.style.minus + text[1:], NEG
        return text, ATOM

    # sums
    def _terms(self, terms) -> tuple[str, int]:
        pieces = []
        ordered = sorted(terms, key=lambda t: self._is_negative(t))  # positive terms first
        for i, t in enumerate(ordered):
            neg = self._is_negative(t)
            body = ops.neg(t) if neg and i > 0 else t
            text = self.operand(body, ADD + 1 if i > 0 else ADD)
            if i == 0:
                pieces.append(text)
            else:
                pieces.append(f" {self.style.minus if neg else '+'} {text}")
        return "".join(pieces), ADD

    @staticmethod
    def _is_negative(t) -> bool:
        c = ops.split_coeff(t)[0] if is_matrix(t) else t.as_coeff_Mul()[0]
        if c.is_number:
            return bool(c < 0)
        return bool(c.could_extract_minus_sign())

    def _MatAdd(self, e):
        return self._terms(self._elide_broadcasts(self._named_part(e.args), e.shape))

    def _named_part(self, terms):
        """Terms of a named sum inside a longer sum print as its name: H W2 + b2 − Y -> Y_pred − Y."""
        best = None
        for value in self.names:
            if isinstance(value, MatAdd) and len(value.args) < len(terms) and set(value.args) <= set(terms):
                if best is None or len(value.args) > len(best.args):
                    best = value
        if best is None:
            return terms
        rest = [t for t in terms if t not in best.args]
        return [best] + rest

    def _Add(self, e):
        return self._terms(e.args)

    def _elide_broadcasts(self, args, shape):
        """In a sum or entrywise product, 1_m b prints as b (the language broadcasts)."""
        small = [self._broadcast_source(a) for a in args]
        if all(s is not None for s in small):
            return args
        return [a if s is None else s for a, s in zip(args, small)]

    @staticmethod
    def _broadcast_source(a):
        c, body = ops.split_coeff(a)
        if isinstance(body, OneMatrix):
            return c
        if isinstance(body, MatMul):
            f = body.args
            if len(f) == 2 and isinstance(f[0], OneMatrix) and f[0].shape[1] == 1:
                return ops.scale(c, f[1])
            if len(f) == 2 and isinstance(f[1], OneMatrix) and f[1].shape[0] == 1:
                return ops.scale(c, f[0])
        return None

    # products
    def _product(self, coeff, factors) -> tuple[str, int]:
        st = self.style
        factors = [f for f in factors if not _unit_1x1(f)] or factors[:0 if coeff != 1 else 1]   # c·𝕀₁ is c
        texts = [self.print(f)[0] if st is UNICODE and isinstance(f, OneMatrix) else   # A𝟏𝟏ᵀ: associative
                 self.operand(f, MUL + 1 if st is LANGUAGE else POW) for f in factors]
        if st is LANGUAGE:
            body = "*".join(texts)
        else:
            body = texts[0] if texts else ""
            for t in texts[1:]:
                sep = st.mul
                if st is UNICODE and body[-1:].isalnum() and t[:1].isalnum() and \
                        (len(body.split()[-1]) > 1 or len(t) > 1 or self._spells_a_name(body, t)):
                    sep = " "
                body += sep + t
        if not body:   # c·𝕀₁ with every factor dropped: the coefficient alone (−1/x², not −/x²)
            return self.print(coeff)
        if coeff == 1:
            return body, MUL
        if coeff == -1:
            return f"{st.minus}{body}", NEG
        if st is LANGUAGE and body and isinstance(coeff, Rational) and not isinstance(coeff, Integer):
            return self._fraction_product(coeff, body, factors)
        ctext, cprec = self.print(coeff)
        if cprec < MUL or (isinstance(coeff, Rational) and not isinstance(coeff, Integer) and st is not LATEX):
            ctext = self.paren(ctext)
        if not body:
            return ctext, cprec
        tight = st is UNICODE and not ctext[-1:].isalpha() and not re.match(r"[a-z]{2}", body)
        joiner = "*" if st is LANGUAGE else ("" if tight else st.mul or " ")
        return f"{ctext}{joiner}{body}", MUL

    def _spells_a_name(self, left: str, right: str) -> bool:
        """Would writing ``right`` right after ``left`` spell a name across the join (X, w -> Xw)?"""
        if not self.spelled:
            return False
        tail = re.search(r"\w*$", left).group(0)
        head = re.match(r"\w*", right).group(0)
        return any(tail[i:] + head[:j] in self.spelled for i in range(len(tail)) for j in range(1, len(head) + 1))

    def _fraction_product(self, coeff, body, factors) -> tuple[str, int]:
        """(p/q)·body in the language: body/q, p*body/q, or a short exact decimal (0.5*body)."""
        p, q = int(coeff.p), int(coeff.q)
        if abs(p) != 1:
            decimal = _short_decimal(p, q)
            if decimal is not None:
                return f"{decimal}*{body}", (NEG if p < 0 else MUL)
        sign = "-" if p < 0 else ""
        top = body if abs(p) == 1 else f"{abs(p)}*{body}"
        return f"{sign}{top}/{q}", (NEG if p < 0 else MUL)

    def _MatMul(self, e):
        coeff, body = ops.split_coeff(e)
        if coeff == Rational(1, 2) and isinstance(body, MatAdd) and len(body.args) == 2 \
                and self.style is not LANGUAGE:   # (A + Aᵀ)/2; JSON keeps the contract's operations
            a, b = body.args
            if b == ops.transpose(a) or a == ops.transpose(b):
                part = b if isinstance(a, Transpose) else a
                return self.call(r"\operatorname{sym}" if self.style is LATEX else "sym", part)
        factors = list(body.args) if isinstance(body, MatMul) else [body]
        numer, denom = coeff.as_numer_denom()
        if denom != 1 and not denom.is_Number and self.style is not LATEX:
            text, prec = self._product(numer, factors)  # exp(x)/sum(exp(x)) rather than 1/sum(..) exp(x)
            return f"{self.paren(text) if prec < MUL else text}/{self.operand(denom, POW)}", MUL
        return self._product(coeff, factors)

    def _Mul(self, e):
        coeff, rest = e.as_coeff_Mul()
        factors = list(rest.args) if isinstance(rest, Mul) else [rest]
        factors.sort(key=lambda f: getattr(f, "role", "") == "d")   # differentials last: δ_c dc
        num = [f for f in factors if not (isinstance(f, Pow) and f.exp.is_number and f.exp < 0)]
        den = [Pow(f.base, -f.exp) for f in factors if f not in num]
        if den and self.style is LATEX:
            size = coeff if coeff > 0 else -coeff
            top = self._product(size, num)[0] if num or size != 1 else "1"   # 2/N: \frac{2}{N}
            text = r"\frac{" + top + "}{" + self._product(1, den)[0] + "}"
            return (f"-{text}", NEG) if coeff < 0 else (text, ATOM)
        text, prec = self._product(coeff, num) if num else (self.print(coeff)[0], ATOM)
        for d in den:
            text = f"{self.paren(text) if prec < MUL else text}/{self.operand(d, POW)}"
            prec = MUL
        return text, prec

    def _HadamardProduct(self, e):
        args = self._elide_broadcasts(e.args, e.shape)
        if self.style is LATEX:
            return self.style.hadamard.join(self.operand(a, MUL + 1) for a in args), MUL
        return self._hadamard_quotient(args)

    def _hadamard_quotient(self, args):
        """A ⊙ B ⊘ C (language `A .* B ./ C`: `*`, `.*`, `./` associate left, so a leading
        product needs no parentheses there)."""
        def inverse(a):
            return isinstance(a, HadamardPower) and a.exp.is_number and a.exp < 0
        top = [a for a in args if not inverse(a)]
        bottom = [ops.hpow(a.base, -a.exp) for a in args if inverse(a)]
        if not top:
            top, bottom = list(args), []
        lead = MUL + 1
        if self.style is LANGUAGE:
            top.sort(key=lambda a: self.print(a)[1] != MUL)
            lead = MUL
        over = " ./ " if self.style is LANGUAGE else " ⊘ "
        text = self.operand(top[0], lead) + "".join(self.style.hadamard + self.operand(a, MUL + 1) for a in top[1:])
        return text + "".join(over + self.operand(b, MUL + 1) for b in bottom), MUL

    def _Pow(self, e):
        b, p = e.args
        if p == -1:
            return f"1/{self.operand(b, POW + 1)}", MUL
        if p == Rational(1, 2):
            return self.call(r"\sqrt" if self.style is LATEX else "sqrt", b) if self.style is not LATEX \
                else (r"\sqrt{" + self.print(b)[0] + "}", ATOM)
        return self._power(b, p, "^")

    def _power(self, b, p, op):
        base = self.operand(b, POSTFIX)
        if self.style is LATEX:
            circ = r"\circ " if op == ".^" else ""
            return f"{base}^{{{circ}{self.print(p)[0]}}}", POW
        if self.style is UNICODE and op == ".^":
            return f"{base}^∘{self.operand(p, ATOM)}", POW
        return f"{base}{op}{self.operand(p, ATOM)}", POW

    def _HadamardPower(self, e):
        return self._power(e.base, e.exp, ".^")

    def _Transpose(self, e):
        if isinstance(e.arg, Inverse) and self.style is not LANGUAGE and e.arg not in self.names:
            sup = "^{-T}" if self.style is LATEX else "⁻ᵀ"     # (X⁻¹)ᵀ = X⁻ᵀ
            return f"{self.operand(e.arg.arg, ATOM)}{sup}", POSTFIX
        return f"{self.operand(e.arg, ATOM)}{self.style.transpose}", POSTFIX

    def _MatPow(self, e):
        """A² (a claim's X⁻ᵀX⁻ᵀ as sympy folds it): the product written out; other powers unprinted."""
        from sympy import Inverse
        if not (e.exp.is_Integer and 2 <= abs(int(e.exp)) <= 4):
            raise TypeError(f"cannot print the matrix power {e.exp}")
        base = e.base if e.exp > 0 else Inverse(e.base)
        return self._product(1, [base] * abs(int(e.exp)))

    def _Inverse(self, e):
        if self.style is LANGUAGE:
            return self.call("inv", e.arg)
        sup = "^{-1}" if self.style is LATEX else "⁻¹"
        return f"{self.operand(e.arg, ATOM)}{sup}", POSTFIX

    def _Determinant(self, e):
        return self._sized(self.call, r"\det" if self.style is LATEX else "det", e.arg)

    def _LogDet(self, e):
        if self.style is LATEX:
            return r"\log\det" + self.paren(self.print(e.arg)[0]), ATOM
        return self._sized(self.call, "logdet", e.arg)

    def _Trace(self, e):
        if e.arg.shape == (1, 1):  # a 1x1 value used as a scalar
            return self.print(e.arg)
        return self._sized(self.call, "tr", e.arg)

    def _SumEntries(self, e):
        return self._sized(self.call, "sum", e.arg)

    def _sized(self, how, *args):
        """Print with sizes on 𝟏 and 𝕀: inside a scalar of a matrix (sum(𝕀₃)), vec or kron, where
        the use does not imply them."""
        sized, self.sized = getattr(self, "sized", False), True
        try:
            return how(*args)
        finally:
            self.sized = sized

    def _Norm2(self, e):
        if self.style is LATEX:
            return r"\left\|" + self.print(e.arg)[0] + r"\right\|", ATOM
        if self.style is UNICODE:
            return "‖" + self._sized(lambda a: self.print(a)[0], e.arg) + "‖", ATOM
        return self.call("norm2", e.arg)

    def _time_sum(self, e):
        if self.style is LANGUAGE:
            return self.call("sum_t", e.arg)
        sigma = r"\sum_{t=1}^{T} " if self.style is LATEX else "Σ_t "
        return sigma + self.operand(e.arg, MUL), ADD

    _TimeSum = _time_sum
    _ScalarTimeSum = _time_sum

    def _Softmax(self, e):
        return self.call("softmax", e.arg)

    def _LogSoftmax(self, e):
        return self.call("logsoftmax", e.arg)

    def _function(self, e):
        if self.style is LATEX:
            if e.name == "sigmoid" and not _SIGMOID_AS_SIGMA.get():   # a variable is named sigma
                return self.call(r"\operatorname{sigmoid}", e.arg)
            return self.call(rules.FUNCTIONS[e.name].latex, e.arg)
        return self.call(e.name, e.arg)

    _Elementwise = _function
    _ScalarFunction = _function

    def _Abs(self, e):
        if self.style is LATEX:
            return r"\left|" + self.print(e.args[0])[0] + r"\right|", ATOM
        return self.call("abs", e.args[0])

    def _Vec(self, e):
        sized, self.sized = getattr(self, "sized", False), True   # vec(𝕀₃): its size is not implied
        try:
            return self.call(r"\operatorname{vec}" if self.style is LATEX else "vec", e.arg)
        finally:
            self.sized = sized

    def _KroneckerProduct(self, e):
        op = {"latex": r" \otimes ", "unicode": " ⊗ "}.get(self.style.name)
        if op is None:
            return self.call("kron", *e.args)
        sized, self.sized = getattr(self, "sized", False), True   # 𝕀₃ ⊗ X: the sizes say which kron
        try:
            return op.join(self.operand(a, POW) for a in e.args), MUL
        finally:
            self.sized = sized

    def _size_subscript(self, d) -> str:
        """₃ for 3, _{n} for a size name: on 𝟏 and 𝕀 inside a Kronecker product."""
        if self.style is LANGUAGE or not getattr(self, "sized", False):
            return ""
        text = str(d)
        if self.style is LATEX:   # I_{3}, \mathbf{1}_{n}: the LaTeX states the sizes the text does
            return "_{" + self.size(d) + "}"
        return text.translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")) if text.isdigit() else "_{" + text + "}"

    def _Commutation(self, e):
        if self.style is LATEX:
            return f"K_{{{self.size(e.m)},{self.size(e.n)}}}", ATOM
        return (f"K_{{{e.m},{e.n}}}" if self.style is UNICODE else f"commutation({e.m},{e.n})"), ATOM

    def _DiagMatrix(self, e):
        return self.call(r"\operatorname{diag}" if self.style is LATEX else "diag", e.args[0])

    def _DiagonalOf(self, e):
        return self.call(r"\operatorname{diag}" if self.style is LATEX else "diag", e.args[0])

    def _OneMatrix(self, e):
        r, c = e.shape
        if _unit_1x1(e):   # a 1×1 value is a scalar wherever it is used: 1, not 𝟏
            return "1", ATOM
        if self.style is LANGUAGE:
            return f"ones({r},{c})", ATOM
        one = r"\mathbf{1}" if self.style is LATEX else "𝟏"
        if c == 1:
            return one + self._size_subscript(r), ATOM
        if r == 1:
            return one + self._size_subscript(c) + self.style.transpose, POSTFIX
        if self._size_subscript(r) and self.style is UNICODE:
            return f"{one}{self._size_subscript(r)}{one}{self._size_subscript(c)}ᵀ", MUL
        # a matrix of ones is 𝟏𝟏ᵀ in text: 𝟏 alone is a column, so the text reads back
        return (one + "_{" + f"{r}\\times {c}" + "}", ATOM) if self.style is LATEX else ("𝟏𝟏ᵀ", MUL)

    def _Identity(self, e):
        if _unit_1x1(e):
            return "1", ATOM
        if self.style is UNICODE:
            return "𝕀" + self._size_subscript(e.shape[0]), ATOM   # not I, which reads back as a variable
        return (f"eye({e.shape[0]})", ATOM) if self.style is LANGUAGE else ("I" + self._size_subscript(e.shape[0]), ATOM)

    def _ZeroMatrix(self, e):
        r, c = e.shape
        if self.style is LANGUAGE:
            return f"0*ones({r},{c})", MUL
        return (r"\mathbf{0}" if self.style is LATEX else "0"), ATOM


# LaTeX writes sigmoid as σ unless a variable is named sigma (then σ is the variable)
_SIGMOID_AS_SIGMA: ContextVar[bool] = ContextVar("sigmoid_as_sigma", default=True)


def _has_sigma_variable(expr) -> bool:
    return any(getattr(s, "name", None) == "sigma" for s in getattr(expr, "free_symbols", ()))


@contextmanager
def variables_named(names):
    """Printing for a program with these variables: with one named sigma, LaTeX spells sigmoid."""
    token = _SIGMOID_AS_SIGMA.set(_SIGMOID_AS_SIGMA.get() and "sigma" not in names)
    spelled = _SPELLED.set(_SPELLED.get() | frozenset(names))   # Xw is a variable: X w prints apart
    try:
        yield
    finally:
        _SIGMOID_AS_SIGMA.reset(token)
        _SPELLED.reset(spelled)


_SPELLED: ContextVar = ContextVar("spelled", default=frozenset())


def _unit_1x1(e) -> bool:
    """The 1×1 identity or matrix of ones: the number 1 as a matrix."""
    from sympy import Identity
    return isinstance(e, (OneMatrix, Identity)) and tuple(e.shape) == (1, 1)


def readable(expr, names=None, style=None) -> str:
    """The text of a result that reads back to it: when the plain text leaves the size of a 𝟏 or
    𝕀 open (C − C + p: 𝟏ᵀ(𝟏pᵀp𝟏ᵀ + 𝕀)⁻¹𝟏), the one with every size written (𝟏₂, 𝕀₂)."""
    style = style or UNICODE
    text = Printer(style, names)(expr)
    if style is not UNICODE or ("𝟏" not in text and "𝕀" not in text):
        return text
    from .build import parse
    from ..errors import MatcalcError
    shapes = {s.name: (tuple(str(d) for d in s.shape) if is_matrix(s) else ())
              for s in getattr(expr, "free_symbols", ()) if hasattr(s, "name")}
    try:
        parse(text, shapes, allow_unused=True, size_names=True, result_shape=tuple(expr.shape) if is_matrix(expr) else None)
        return text
    except MatcalcError:
        printer = Printer(style, names)
        printer.sized = True
        return printer(expr)


def _short_decimal(p: int, q: int) -> str | None:
    """p/q as an exact decimal of at most 4 characters (5/2 -> 2.5), else None."""
    m = q
    for f in (2, 5):
        while m % f == 0:
            m //= f
    if m != 1:
        return None
    text = repr(p / q)
    digits = text.lstrip("-")
    return text if len(digits) <= 4 and Rational(text) == Rational(p, q) else None


def to_language(expr, names=None) -> str:
    return Printer(LANGUAGE, names)(expr)


def language_length(expr) -> int:
    """Characters of ``expr`` in the language, blanks left out (how the simplifier measures a form)."""
    return len("".join(to_language(expr).split()))


def to_unicode(expr, names=None) -> str:
    return Printer(UNICODE, names)(expr)


def to_latex(expr, names=None) -> str:
    return Printer(LATEX, names)(expr)
