"""A chain-rule claim that drops a factor: ``δ_2 ∂σ(z^1)/∂z^1`` with δ_2 = ∂f/∂z^2 and
z^2 = a^1 W^2 + b, a^1 = σ(z^1), multiplies in neither layout; with ∂z^2/∂a^1 put between the
upstream gradient and the factor it holds: wrong, the factor ∂z^2/∂a^1 is missing."""
from __future__ import annotations

import re

from ..errors import MatcalcError
from .note_model import _identifiers, _lhs_name, _NotChecked, _plain_name

_DERIVATIVE = re.compile(r"\\frac\s*\{\s*(?:\\partial|\\part|∂)\s*((?:[^{}]|\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\})*)\}"
                         r"\s*\{\s*(?:\\partial|\\part|∂)\s*((?:[^{}]|\{[^{}]*\})*)\}")


def judge_missing_factor(note, fn: str, var: str, tex: str, judge, typed: bool = False):
    """(wrong result, the claim with the factor put in, language) or None."""
    from ..lang.latex_input import translate
    from .claims import ClaimResult
    ups = _upstream_names(note, fn, tex)
    for m in _DERIVATIVE.finditer(tex):
        num, den = m.group(1).strip(), m.group(2).strip()
        if _lhs_name(num, note.known) == fn or _lhs_name(den, note.known) != var:
            continue
        own = _lhs_name(num, note.known)
        if own is None:
            try:
                text = translate(num.strip("{} "), note.known, values=note.values, sigma=note.sigma_at(note.line)).text
            except MatcalcError:
                continue
            own = next((n for n, d in note.definitions.items() if d.text.replace(" ", "") == text.replace(" ", "")),
                       None)
        if own is None:
            continue
        for up in ups:
            if up == own or up not in note.definitions or own not in _identifiers(note.definitions[up].text):
                continue
            up_tex, own_tex = note.latex_names.get(up, up), note.latex_names.get(own, own)
            glue = " * " if re.search(r"\*\s*$", tex[:m.start()]) else " "
            factor = rf"\frac{{\partial {up_tex}}}{{\partial {own_tex}}}"
            variant = tex[:m.start()] + factor + glue + tex[m.start():]
            try:
                if judge(note, fn, var, variant)[0].verdict != "correct":
                    continue
            except (_NotChecked, MatcalcError):
                continue
            result = ClaimResult("wrong", [f"missing factor: ∂{_plain_name(up_tex)}/∂{_plain_name(own_tex)} (the "
                                           f"chain from {_plain_name(up_tex)} to {_plain_name(note.latex_names.get(var, var))} "
                                           f"runs through {_plain_name(own_tex)})" +
                                           ("" if typed else "; as written the factors multiply in neither layout")])
            return result, variant, f"the claim with the factor ∂{up}/∂{own} put in"
    return None


def _upstream_names(note, fn: str, tex: str) -> list:
    """The variables u of the upstream gradients ∂fn/∂u the claim names (directly or as δ)."""
    out = []
    for m in _DERIVATIVE.finditer(tex):
        if _lhs_name(m.group(1), note.known) == fn and _lhs_name(m.group(2), note.known):
            out.append(_lhs_name(m.group(2), note.known))
    for alias, (f2, v2) in note.aliases.items():
        shown = note.latex_names.get(alias, "")
        if f2 == fn and shown and re.search(rf"(?<![A-Za-z\\]){re.escape(shown)}(?![A-Za-z0-9_^])", tex):
            out.append(v2)
    return list(dict.fromkeys(out))
