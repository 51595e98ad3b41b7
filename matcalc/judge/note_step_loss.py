"""A per-step loss that a recurrent note names but never writes (``L = \\sum_t L_t``).

A careful reader takes ``L_t`` to be the cross-entropy of the step's output only where the note
says as much: the output is a softmax (or sigmoid) of the step's score, and the claim writes the
output minus a label, ``(a_t - y_t)``, which is the gradient of that cross-entropy at the score.
The reading is then stated with the verdict; anything else stays not checked.
"""
from __future__ import annotations

import re

from .note_model import _identifiers, _lhs_name, _plain_name, _reach

_DIFFERENCE = re.compile(r"\(\s*((?:[^()+\-]|\{[^{}]*\})+?)\s*-\s*((?:[^()+\-]|\{[^{}]*\})+?)\s*\)")


def writes_sum_of_steps(note, fn: str) -> bool:
    """Does the note write fn = \\sum_t fn_t (L = \\sum\\limits_{t=1}^T L_t)?"""
    return fn in getattr(note, "summed_steps", ()) or bool(re.search(rf"(?<![\w\\]){re.escape(fn)}\s*=\s*\\sum[^$\n]*?{re.escape(fn)}_\{{?t\b", note.text))


def implied_step_loss(note, tex: str):
    """(language text, reading) of the cross-entropy whose gradient the claim's (a_t - y_t) is, or
    None: a_t must be defined as softmax(…) or sigmoid(…) at step t and y_t be no equation's name.
    The difference may stand in another link of the claim's chain (∂L/∂(h^τV + b) V^T = (ŷ^τ − y^τ)V^T)."""
    chain = next((" = ".join(t for t, _ in c["links"]) for c in note.chains
                  if any(ln == note.line for _, ln in c["links"])), "")
    chain = re.sub(r"([_^])\s*(?:\\tau\b|T\b(?![A-Za-z])|\{\s*(?:\\tau|T)\s*\})", r"\1{t}", chain) \
        if re.search(r"[_^]\s*\{?\s*t\b", tex) else chain   # the last step, read at step t
    found = list(_DIFFERENCE.finditer(tex)) + list(_DIFFERENCE.finditer(chain))
    pairs = [(_lhs_name(m.group(1), note.known), _lhs_name(m.group(2), note.known)) for m in found]
    for out, label in pairs + [(b, a) for a, b in pairs]:     # a_t − y_t, or y_t − a_t (its sign judged)
        if not out or not label or label in note.definitions or out not in note.definitions:
            continue
        if not re.search(r"_(t|tau|T)$", out):
            continue
        act = re.fullmatch(r"(softmax|sigmoid)\(.*\)", note.definitions[out].text.strip())
        if not act:
            continue
        shown_out = _plain_name(note.latex_names.get(out, out))
        shown_label = _plain_name(note.latex_names.get(label, label))
        if act.group(1) == "softmax":
            text = f"-(log({out}) * {label}')" if note.convention == "row" else f"-({label}' * log({out}))"
            what = f"the cross-entropy of the softmax output {shown_out} and the label {shown_label}"
        else:
            text = f"-sum({label} .* log({out}) + (1 - {label}) .* log(1 - {out}))"
            what = f"the binary cross-entropy of the sigmoid output {shown_out} and the label {shown_label}"
        return text, (f"the note does not write its per-step loss; read as {what}, whose gradient at "
                      f"the output's score is {shown_out} − {shown_label}, the difference the note writes")
    return None


def summed_step_loss(note, fn: str, var: str, upstream: dict):
    """fn_t where fn = Σ_t fn_t (fn_t written, or the summand inline: ``summed_steps``) is not written itself
    and the claim ∂fn/∂var (var at step t) goes on through the next step's upstream values only
    (δ_{t+1} = ∂L/∂a_{t+1}): then ∂fn/∂var is that of fn_t + Σ ⟨δ_{t+1}, a_{t+1}⟩. That holds when
    the step's equations see the past only through the upstream names (a_t = W h_{t-1} + U x_t is
    the one equation that writes a t−1 name); else None (only the terms through them are judged)."""
    step = f"{fn}_t"
    if not writes_sum_of_steps(note, fn) or fn in note.definitions or step not in note.definitions:
        return None
    if not re.search(r"_t$", var) or not upstream or not all(u.endswith("_tp1") for u in upstream):
        return None
    carriers = {u[:-len("_tp1")] + "_t" for u in upstream}
    if var not in carriers or var not in note.definitions:
        return None
    past = [n for n, d in note.definitions.items() if any(i.endswith("_tm1") for i in _identifiers(d.text))]
    if not past or set(past) - carriers:
        return None
    if var not in _reach(note, step, stop=set()):
        return None
    return step
