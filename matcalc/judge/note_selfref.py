"""A claim that writes a gradient in terms of itself (∂z/∂A = ∂z/∂A Xᵀ): wrong when the name it
differentiates by belongs to an intermediate (∂z/∂Y Xᵀ, with Y = AX + B, holds) and the claim,
with that right form put in for its own ∂z/∂A, still fails (so the claim is no identity)."""
from __future__ import annotations

import re

from ..errors import MatcalcError
from .note_model import _identifiers, _lhs_name, _NotChecked, _plain_name, _reach

_DERIVATIVE = re.compile(r"\\frac\s*\{\s*(?:\\partial|\\part|∂)\s*([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}"
                         r"\s*\{\s*(?:\\partial|\\part|∂)\s*([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


def judge_self_reference(note, fn: str, var: str, tex: str, judge):
    """(result, expected LaTeX, language) of a wrong self-referring claim, else None."""
    from .claims import ClaimResult
    spots = [m for m in _DERIVATIVE.finditer(tex)
             if _lhs_name(m.group(1), note.known) == fn and _lhs_name(m.group(2), note.known) == var]
    if not spots:
        return None
    reached = _reach(note, fn, stop=set())
    for mid in sorted(n for n in note.definitions if n in reached and var in _identifiers(note.definitions[n].text)):
        mid_tex = note.latex_names.get(mid, mid)
        variant = _replace(tex, spots, lambda m: m.group(0)[:m.start(2) - m.start(0)] + mid_tex +
                           m.group(0)[m.end(2) - m.start(0):])
        try:
            if judge(note, fn, var, variant)[0].verdict != "correct":
                continue
        except (_NotChecked, MatcalcError):
            continue
        nested = _replace(tex, spots, lambda m: f"({variant})")
        try:
            holds = judge(note, fn, var, nested)[0].verdict == "correct"
        except MatcalcError:
            holds = False                     # the right form put in does not even multiply
        except _NotChecked:
            continue
        if holds:
            return None
        f_shown, v_shown = _plain_name(note.latex_names.get(fn, fn)), _plain_name(note.latex_names.get(var, var))
        m_shown = _plain_name(mid_tex)
        result = ClaimResult("wrong", [f"∂{f_shown}/∂{v_shown} where ∂{f_shown}/∂{m_shown} belongs: the claim "
                                       f"writes ∂{f_shown}/∂{v_shown} in terms of itself ({v_shown} enters "
                                       f"{_plain_name(note.latex_names.get(fn, fn))} through {m_shown})"])
        return result, variant, f"the claim with ∂{fn}/∂{mid} for its own ∂{fn}/∂{var}"
    return None


def _replace(tex: str, spots, make) -> str:
    out, last = [], 0
    for m in spots:
        out.append(tex[last:m.start()])
        out.append(make(m))
        last = m.end()
    out.append(tex[last:])
    return "".join(out)
