"""The chain rule stated for arbitrary functions: ∂z/∂x = ∂z/∂y ∂y/∂x, ∂z/∂y_1 = ∂z/∂y_n ⋯ ∂y_2/∂y_1.

A claim made only of derivative symbols whose names no equation of the note defines is a statement
of the chain rule itself.  It is judged on generic stand-ins (each name a smooth function of the
next: y = tanh(x M + c), z = Σ tanh(y) ⊙ y), which the reading states: an identity of the chain
rule holds for them exactly when it holds (a product in the wrong order fails the shapes, a
Jacobian in the wrong layout the values).  ``⋯`` between the factors of a telescoping chain is read
with the index n that closes the chain (∂y_n/∂y_{n-1} ∂y_{n-1}/∂y_{n-2} ⋯ ∂y_2/∂y_1: n = 4).
"""
from __future__ import annotations

import re

from .note_model import _Definition, _lhs_name, _NotChecked

_SYMBOL = re.compile(r"\\frac\s*\{\s*(?:\\partial|\\part|∂)\s*([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}"
                     r"\s*\{\s*(?:\\partial|\\part|∂)\s*([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_ELLIPSIS = re.compile(r"\\[cl]?dots\b|\\ldots\b|\.\.\.|…|⋯")
_INDEX = re.compile(r"_\s*(?:\{\s*n\s*(?:([+-])\s*(\d+))?\s*\}|n(?![A-Za-z]))")


def _pairs(note, tex: str) -> list:
    return [(_lhs_name(m.group(1), note.known), _lhs_name(m.group(2), note.known)) for m in _SYMBOL.finditer(tex)]


def _only_symbols(tex: str) -> bool:
    """Is tex a product of derivative symbols (brackets, size annotations and ⋯ aside)?"""
    rest = _SYMBOL.sub(" ", tex)
    rest = _ELLIPSIS.sub(" ", rest)
    rest = re.sub(r"_\{\s*\w+\s*,\s*\w+\s*\}", " ", rest)
    rest = re.sub(r"\\left|\\right|\\cdot|[()\[\]\s]", "", rest)
    return not rest


def _at(tex: str, n: int) -> str:
    """tex with the index n given the value n (y_{n-1} -> y_{3} for n = 4)."""
    def value(m):
        k = n + (int(m.group(2)) if m.group(1) == "+" else -int(m.group(2)) if m.group(1) else 0)
        return f"_{{{k}}}"
    return _INDEX.sub(value, tex)


def _chain(pairs: list, fn: str, var: str):
    """The pairs ordered from fn to var when they form one chain (in any written order), else None."""
    if not pairs or any(None in p for p in pairs) or len(set(pairs)) != len(pairs):
        return None
    order, at, left = [], fn, list(pairs)
    while left:
        step = [p for p in left if p[0] == at]
        if len(step) != 1:
            return None
        order.append(step[0])
        left.remove(step[0])
        at = step[0][1]
    return order if at == var else None


def abstract_chain(note, fn: str, var: str, tex: str, judge):
    """(result, expected, reading) for a chain-rule statement about functions the note never
    defines, else None (the ordinary refusal stands)."""
    if not fn or not var or not _only_symbols(tex):
        return None
    candidates = [(tex, "")]
    if _ELLIPSIS.search(tex):
        candidates = [(_ELLIPSIS.sub(" ", _at(tex, n)), f"; ⋯ read with n = {n}, where the chain closes")
                      for n in range(3, 8)]
    for text, closed in candidates:
        pairs = _chain(_pairs(note, text), fn, var)
        if pairs is None:
            continue
        names = {n for p in pairs for n in p}
        if names & set(note.definitions):
            return None               # the note's own equations say what they are
        found = _judge_on_stand_ins(note, fn, pairs, text, judge)
        return found and (found[0], found[1], found[2][:-1] + closed + ")")
    return None


def _judge_on_stand_ins(note, fn: str, pairs: list, text: str, judge):
    shown = []
    for k, (u, v) in enumerate(pairs):
        if u == fn:
            body = f"sum(tanh({v}) .* {v})"
            shown.append(f"{note.latex_names.get(u, u)} = Σ tanh({note.latex_names.get(v, v)}) ⊙ {note.latex_names.get(v, v)}")
        else:
            m, c = f"Mstand{k}", f"cstand{k}"
            body = f"tanh({v} * {m} + {c})" if note.convention == "row" else f"tanh({m} * {v} + {c})"
            note.latex_names.setdefault(m, f"M_{k}")
            note.latex_names.setdefault(c, f"c_{k}")
            shown.append(f"{note.latex_names.get(u, u)} = " + (f"tanh({note.latex_names.get(v, v)}M_{k} + c_{k})"
                                                              if note.convention == "row" else
                                                              f"tanh(M_{k}{note.latex_names.get(v, v)} + c_{k})"))
        note.definitions[u] = _Definition(u, body, note.line, {})
    var = pairs[-1][1]
    try:
        result, expected, lang = judge(note, fn, var, text)
    except _NotChecked as err:
        if "does not type-check" not in str(err):
            return None
        from .claims import ClaimResult          # (∂y/∂x)(∂z/∂y): no layout makes the product multiply
        result, expected, lang = ClaimResult("wrong", [
            "shapes that cannot match: with its Jacobian factors read in either layout (numerator or "
            "denominator) the product does not multiply"]), "", text
    reading = ("the chain rule for functions the note leaves open, judged on the stand-ins "
               + ", ".join(reversed(shown)))
    return result, expected, f"{lang}   ({reading})"
