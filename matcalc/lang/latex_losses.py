"""Named two-argument losses in LaTeX: ``CE(z^3, L)``, ``\\mathrm{CrossEntropy}(\\hat y, y)``.

Read as the cross-entropy −Σ y ⊙ log p: the prediction p is the argument the note computes (a
name defined by an equation), the label y the one it does not; when that does not tell them
apart the loss is not read (a clear error, never a guess).  The reading assumes p holds
probabilities, which the judge confirms from the note (p a softmax or sigmoid output): it is
recorded as uncertain until then.
"""
from __future__ import annotations

import re

CROSS_ENTROPY = {"ce", "crossentropy", "cross_entropy", "xent", "crossent"}
UNCERTAIN = "a named loss CE(p, y) read as the cross-entropy −Σ y ⊙ log p"


def is_named_loss(parser, word: str) -> bool:
    return word.replace(" ", "").lower() in CROSS_ENTROPY and parser.tok.text == "("


def named_loss(parser, tok):
    """At '(' after CE: the two arguments, read as −sum(label .* log(prediction))."""
    from .latex_env import ATOM, Lang
    parser.take()
    first = parser.expression()
    if parser.tok.text != ",":
        raise parser.error(f"{tok.text}(p, y) needs two arguments, the prediction and the label", tok)
    parser.take()
    second = parser.expression()
    parser.expect(")")
    values = getattr(parser, "values", set())

    def computed(text):
        return any(n in values for n in re.findall(r"(?<![\w.])[A-Za-z]\w*", text))
    if computed(first.text) == computed(second.text):
        raise parser.error(f"{tok.text}(·, ·): which argument is the prediction and which the label is not "
                           "clear (neither or both are computed by the note's equations)", tok)
    pred, label = (first, second) if computed(first.text) else (second, first)
    if UNCERTAIN not in parser.uncertain:
        parser.uncertain.append(UNCERTAIN)
    return Lang(tok.pos, f"(-sum({label.text} .* log({pred.text})))", ATOM)

