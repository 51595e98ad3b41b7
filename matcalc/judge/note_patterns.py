"""Index claims beside a row written with '…': ``∂f/∂x_i = ∇_y f [w_{1i} \\cdots w_{mi}]``.

``[w_{1i} \\cdots w_{mi}]`` is column i of W, as a row (``[w_{i1} \\cdots w_{in}]``: row i of W).
Beside one whole vector A the claim is read for every i at once: ``[w_{1i} \\cdots w_{mi}] A`` is
entry i of ``W^T A``; ``A [w_{1i} \\cdots w_{mi}]`` (a column times a row) is a matrix, not the
number ∂f/∂x_i — wrong when the factors the other way round hold.  A row whose claim goes on
below in a matrix (``\\left[\\begin{matrix}``) is cut by the reader and is not judged."""
from __future__ import annotations

import re

from .note_index import IndexUnread, _whole_name, entry
from .note_model import _NotChecked

_GAP = r"(?:\s|\\[;,:!]|\\quad|\\qquad)*"
_ROW = re.compile(r"\[" + _GAP + r"(\\?[A-Za-z]+)_\{\s*(1\s*([a-z])|([a-z])\s*1)\s*\}" + _GAP +
                  r"\\(?:cdots|ldots|dots)" + _GAP + r"\1_\{\s*([a-z])\s*([a-z])\s*\}" + _GAP + r"\]")


def judge_row_pattern(note, fn: str, v_tex: str, tex: str, judge):
    """(result, expected LaTeX, language, whole variable) for a claim with one such row, or None."""
    got = entry(v_tex)
    m = _ROW.search(tex)
    if got is None or m is None or len(got[1]) != 1:
        return None
    i = got[1][0]
    column = m.group(3) == i and m.group(6) == i           # [w_{1i} … w_{mi}]: column i
    row = m.group(4) == i and m.group(5) == i              # [w_{i1} … w_{in}]: row i
    whole_w = _whole_name(note, m.group(1), 2)
    whole_x = _whole_name(note, got[0], 1)
    if not (column or row) or whole_w is None or whole_x is None:
        return None
    before, after = tex[:m.start()].strip(), tex[m.end():].strip()
    if bool(before) == bool(after) or re.search(r"_\{?\s*[ijk]\s*\}?(?![A-Za-z])|\\cdots|\\dots", before + after):
        return None                                         # one whole factor, on one side
    other = before or after
    w_tex = note.latex_names.get(whole_w, whole_w)
    mat = f"({w_tex})^T" if column else w_tex
    whole = f"{mat} ({other})"
    try:
        result, expected, lang = judge(note, fn, whole_x, whole)
    except (_NotChecked, IndexUnread):
        return None
    if after:                                               # [row] A: entry i of W^T A
        return result, expected, f"entrywise, the whole claim {whole}", whole_x
    if result.verdict != "correct":
        return None
    from .claims import ClaimResult
    swapped = tex[m.start():m.end()] + " " + before
    wrong = ClaimResult("wrong", [f"the factors in the wrong order: {before} (a column) times the row "
                                  f"{m.group(0)} is a matrix, not the number ∂{fn}/∂{v_tex.strip()}; "
                                  f"the row times the column is"])
    return wrong, swapped, f"entrywise, {m.group(0)} as a row of {whole_w}: the whole claim {whole} holds " \
        "with the factors the other way round", whole_x


def cut_row(note, link_line: int, tex: str) -> str:
    """The reason a claim ending in a row is not judged when the note goes on with a matrix."""
    lines = note.text.split("\n")
    rest = "\n".join(lines[link_line - 1:])
    at = rest.find(tex.strip())
    if at < 0 or not tex.strip().endswith("]"):
        return ""
    after = rest[at + len(tex.strip()):].lstrip()
    if re.match(r"\\left\s*[\[(]|\\begin\{[pbBvV]?matrix\}", after):
        return ("the claim goes on below the row in a matrix (\\left[\\begin{matrix} …), which the reader "
                "cuts off: the product is not judged")
    return ""
