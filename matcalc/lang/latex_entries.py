"""Entries read whole: products of entries under \\sum_i (Σ_i z_i log L_i = sum(z ⊙ log L)) and a
bracketed row of entries with its size (``[-\\frac{L_i}{a_i}]_{1 * n}`` = −L ⊘ a)."""
from __future__ import annotations

INDEX_LETTERS = "ijk"


def entry_products(bases: list, text: str) -> bool:
    """Under \\sum_i, is every name indexed by i (z^3_i, L_i), with no transpose?  Two such factors
    multiply only as numbers (rows or columns i would need a transpose): Σ_i z_i log L_i = sum(z ⊙ log L)."""
    return bool(bases) and all(bases) and " * " in text and "'" not in text


def entry_row_ahead(parser) -> str:
    """At the token after '[': the index letter when the bracket's entries are indexed by one
    letter and the ']' is followed by a size (``]_{1 * colN(z)}``, ``]_{n \\times 1}``), else ''."""
    toks, j, depth, letters = parser.toks, parser.i, 0, set()
    while j < len(toks):
        t = toks[j]
        if t.text == "[":
            depth += 1
        elif t.text == "]":
            if depth == 0:
                break
            depth -= 1
        elif t.text == "_" and j + 1 < len(toks) and toks[j + 1].text in tuple(INDEX_LETTERS):
            letters.add(toks[j + 1].text)
        j += 1
    if j + 2 >= len(toks) or toks[j + 1].text != "_" or toks[j + 2].text != "{" or len(letters) != 1:
        return ""
    k, size = j + 3, []
    while k < len(toks) and toks[k].text != "}":
        size.append(toks[k].text)
        k += 1
    return letters.pop() if any(x in ("*", r"\times", ",", "×") for x in size) else ""


def entry_row(parser, tok, index: str):
    """The bracket's content read with the index dropped and entrywise operations, or None (the
    parser put back) when a name in it is not indexed by ``index``."""
    from .latex_env import ATOM, Lang
    saved = (parser.i, dict(parser.names), set(parser.scalars), parser.sum_index, parser.entrywise)
    start = len(parser.entries_summed)
    parser.sum_index, parser.entrywise = index, True
    try:
        inner = parser.expression()
    finally:
        parser.sum_index, parser.entrywise = saved[3], saved[4]
    bases = parser.entries_summed[start:]
    if parser.tok.text != "]" or not bases or not all(bases):
        parser.i, parser.names, parser.scalars = saved[0], saved[1], saved[2]
        return None
    parser.take()
    parser.scalars = saved[2]
    node = Lang(tok.pos, "(" + inner.text.replace(" / ", " ./ ") + ")", ATOM)
    node.bracket = True
    return node
