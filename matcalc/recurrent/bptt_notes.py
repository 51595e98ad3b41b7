"""Printers of a recurrent derivation: text, LaTeX, Markdown and JSON (they read ``d.steps``)."""
from __future__ import annotations

from ..lang import printing
from .bptt_steps import loss_display
from ..ir.nodes import is_matrix, shape_of
from ..present.notes import _identity_latex, _section_title, _sections, _tag, identities_used
from ..lang.printing import LANGUAGE, LATEX, UNICODE

LATEX_TITLE = r"backpropagation through time ($\delta_{N_t} = \partial f/\partial N_t$ through every later step)"


def _loss_name(d) -> str:
    return d.seq.loss_name


def _shape_text(d, name) -> str:
    v = d.variables[name]
    if not is_matrix(v):
        return "(scalar)"
    r, c = shape_of(v)
    return f"({r}×{c}{' per step' if name in d.seq.sequences else ''})"


def _rows(d, style, tags: bool) -> list[tuple[str, list[str]]]:
    p = d.printer(style)
    out = []
    for title, group in _sections(d.steps):
        rows = []
        for s in group:
            rhs_printer = p
            if s.rule == "definition":   # a definition shows its value, not its own name
                rhs_printer = d.printer(style)
                rhs_printer.names = {k: v for k, v in p.names.items() if k != s.rhs}
            left, right = p(s.lhs), rhs_printer(s.rhs)
            if style is LATEX:
                tag = r" && \text{" + _tag(s).replace("_", r"\_") + "}" if tags else ""
                rows.append(f"{left} &= {right}{tag}")
            else:
                rows.append(f"{left} = {right}" + (f"   [{_tag(s)}]" if tags else "")
                            + (f"  ({s.note})" if s.note and tags else ""))
        out.append((title, rows))
    return out


def text(d, steps: bool = False) -> str:
    lines = [f"{_loss_name(d)} = {d.printer(UNICODE, names=False)(loss_display(d))}"]
    for title, rows in _rows(d, UNICODE, steps):
        if not steps and title.startswith("forward"):
            lines.append("where, for t = 1, …, T:")
        else:
            lines.append(_section_title(title, UNICODE) + ":")
        lines.extend("  " + r for r in rows)
    lines.append("shapes: " + ", ".join(f"∂{_loss_name(d)}/∂{n} {_shape_text(d, n)}" for n in d.wrt))
    return "\n".join(lines)


_LATEX_TITLES = {
    "forward": r"Forward pass ($t = 1, \dots, T$)",
    "backward": r"Backward through time ($t = T, \dots, 1$): $\delta_{N_t} = \partial f/\partial N_t$",
    "at": r"At the last step $t = T$ (there is no step $T+1$)",
    "through": r"Through the initial values ($t = 0$)",
    "gradients": r"Gradients: sums over $t$ of each step's contribution",
}


def _blocks(d, tags: bool) -> list[tuple[str, str]]:
    return [(_LATEX_TITLES[title.split()[0].rstrip(":")],
             "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}")
            for title, rows in _rows(d, LATEX, tags)]


def _loss_latex(d) -> str:
    return printing.latex_name(_loss_name(d)) + " = " + d.printer(LATEX, names=False)(loss_display(d))


def latex(d, steps: bool = False, standalone: bool = False) -> str:
    if standalone:
        parts = [r"\documentclass{article}", r"\usepackage{amsmath,amssymb}", r"\usepackage[margin=2cm]{geometry}",
                 r"\allowdisplaybreaks", r"\begin{document}", r"\section*{Loss}", r"\[", _loss_latex(d), r"\]",
                 r"\section*{Derivation by " + LATEX_TITLE + "}"]
        for title, block in _blocks(d, True):
            parts += [r"\subsection*{" + title + "}", r"\[", block, r"\]"]
        parts.append(r"\end{document}")
        return "\n".join(parts) + "\n"
    blocks = _blocks(d, steps)
    if not steps:
        blocks = [b for b in blocks if not b[0].startswith("Forward")]
    return "\n".join(f"\\[\n{b}\n\\]" for _, b in blocks)


def markdown(d) -> str:
    parts = ["## Problem", "", "$$", _loss_latex(d), "$$", "",
             "Gradients with respect to " + ", ".join(f"${printing.latex_name(n)}$" for n in d.wrt)
             + "; the sequence length $T$ is not fixed.", "",
             "## Derivation by " + LATEX_TITLE, ""]
    for title, block in _blocks(d, True):
        parts += [f"### {title}", "", "$$", block, "$$", ""]
    parts += identities_used(d.steps)
    return "\n".join(parts)


def _gradient_display(d, name):
    step = next(s for s in d.steps if s.lhs is not None and getattr(s.lhs, "name", "") == f"grad:{name}")
    return step.rhs


def to_json(d, check=None, steps: bool = False) -> dict:
    lang, lx, uni = d.printer(LANGUAGE), d.printer(LATEX), d.printer(UNICODE)
    lang.names = lx.names = {}

    def entry(n):
        v = d.variables[n]
        g = _gradient_display(d, n)
        return {"shape": [int(s) if s.is_Integer else str(s) for s in shape_of(v)],
                "result": lang(g), "latex": lx(g), "per_step": n in d.seq.sequences,
                "named": named(d, lang(g))}
    out = {"function": d.source, "wrt": {n: entry(n) for n in d.wrt}, "recurrent": True,
           "recurrence": {uni(s.lhs): uni(s.rhs) for s in d.steps
                          if s.rule == "bptt" or s.section.startswith("backward")}}
    if steps:
        out["method"] = "bptt"
        full_u, full_l = d.printer(UNICODE), d.printer(LATEX)
        out["steps"] = [{"section": _section_title(s.section, UNICODE), "lhs": full_u(s.lhs), "rhs": full_u(s.rhs),
                         "lhs_latex": full_l(s.lhs), "rhs_latex": full_l(s.rhs), "rule": s.rule,
                         "rules": list(s.rules) or [s.rule], "identity": _identity_latex(s.rule), "note": s.note}
                        for s in d.steps]
    if check is not None:
        out["check"] = check.to_dict()
    return out


def named(d, result: str) -> dict:
    """{"where": [[name, definition], ...], "result": text} as for a non-recurrent program: the
    forward values and the recurrence rows (language form, h[t], delta_h[t]) that ``result``
    uses, transitively, in the derivation's order."""
    import re
    rows = []
    for title, group in _rows(d, LANGUAGE, False):
        if title.startswith("gradients"):
            continue
        for row in group:
            lhs, _, rhs = row.partition(" = ")
            rows.append((lhs, rhs, title.startswith("through")))   # δ_h[0]: only where it is written

    def uses(text, lhs, exact):
        if exact:
            return lhs in text
        return re.search(r"(?<![\w])" + re.escape(lhs.partition("[")[0]) + r"\[", text) is not None
    needed, texts, changed = set(), [result], True
    while changed:
        changed = False
        for k, (lhs, rhs, exact) in enumerate(rows):
            if k not in needed and any(uses(t, lhs, exact) for t in texts):
                needed.add(k)
                texts.append(rhs)
                changed = True
    return {"where": [[lhs, rhs] for k, (lhs, rhs, _) in enumerate(rows) if k in needed], "result": result}
