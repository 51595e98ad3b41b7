"""A named loss read from the note (``a^3 = CE(z^3, L)``): its cross-entropy reading −Σ L ⊙ log p
holds when the prediction p is, by the note's own equations, probabilities (a softmax or sigmoid
output); the reading is then no longer uncertain, and a wrong claim about it can be called wrong."""
from __future__ import annotations

import re

from ..lang.latex_losses import UNCERTAIN

_CE = re.compile(r"-sum\((\w+) \.\* log\((\w+)\)\)")


def confirm_named_losses(note) -> None:
    for d in note.history:
        if UNCERTAIN not in d.uncertain:
            continue
        found = _CE.search(d.text)
        if found and _probabilities(note, found.group(2)):
            d.uncertain = [u for u in d.uncertain if u != UNCERTAIN]


def _probabilities(note, name: str) -> bool:
    """Is name, through the note's plain renamings (z^3 = a^2), a softmax or sigmoid output?"""
    seen = set()
    while name in note.definitions and name not in seen:
        seen.add(name)
        text = note.definitions[name].text.strip()
        while text.startswith("(") and text.endswith(")"):
            text = text[1:-1].strip()
        if re.fullmatch(r"(softmax|sigmoid)\(.*\)", text):
            return True
        if not re.fullmatch(r"\w+", text):
            return False
        name = text
    return False


def other_function(note, fn: str, var: str, claim: str, jacobians: dict) -> str:
    """A wrong claim that is one derivative ∂E/∂v of an expression E: E is not fn (their gradients
    by v differ), said with both written out."""
    if len(jacobians) != 1 or claim.strip(" ()") not in jacobians:
        return ""
    (u, v), = jacobians.values()
    if v != var or u not in note.definitions or not u.startswith("jnum"):
        return ""
    own = re.sub(r"sum(rows|cols)i?__\(", "Σ_i(", note.definitions[u].text)
    seen, text = {fn}, note.definitions[fn].text if fn in note.definitions else ""
    while re.fullmatch(r"\w+", text.strip()) and text.strip() in note.definitions and text.strip() not in seen:
        seen.add(text.strip())
        text = note.definitions[text.strip()].text
    own = _shown(own)
    defined = f" ({fn} = {_shown(text)})" if text else ""
    return f"the function differentiated, {own}, is not {fn} as the note defines it{defined}: their gradients differ"


def _shown(text: str) -> str:
    """Language text for a diagnosis: ⊙ for .*, Σ for sum, one pair of brackets where two stand."""
    text = text.strip().replace(" .* ", " ⊙ ").replace("sum(", "Σ(")
    while text.startswith("(") and text.endswith(")") and _outer(text):
        text = text[1:-1]
    return re.sub(r"\(\(([^()]*)\)\)", r"(\1)", text).replace("-", "−")


def _outer(text: str) -> bool:
    depth = 0
    for k, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and k < len(text) - 1:
            return False
    return True
