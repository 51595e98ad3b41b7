"""Printers of a derivation's steps: Unicode text, LaTeX (fragment or document), Markdown, JSON.

They read ``Derivation.steps`` (data) and never recompute anything.
"""
from __future__ import annotations

import re

from ..lang import printing
from ..lang.printing import LATEX, UNICODE, Printer, latex_name

METHOD_TITLES = {
    "backprop": "backpropagation with named deltas (δ_N = ∂f/∂N)",
    "trace": "the trace-differential method (df = tr(Gᵀ dX) ⇒ ∂f/∂X = G)",
    "jacobian": "the vector chain rule, numerator layout (∂f/∂x = (∂f/∂g)(∂g/∂x), rows)",
}
LATEX_TITLES = {
    "backprop": r"backpropagation with named deltas ($\delta_N = \partial f/\partial N$)",
    "trace": r"the trace-differential method ($df = \operatorname{tr}(G^T dX) \Rightarrow \partial f/\partial X = G$)",
    "jacobian": r"the vector chain rule in numerator layout ($\frac{\partial f}{\partial x} = \frac{\partial f}{\partial g}\frac{\partial g}{\partial x}$)",
}


def _title(d, titles) -> str:
    if d.layout is not None:
        return f"the Jacobian ({d.layout} layout, column-major vec)"
    return titles[d.method]


def _sections(steps) -> list[tuple[str, list]]:
    out: list[tuple[str, list]] = []
    for s in steps:
        if s.section or not out:
            out.append((s.section, []))
        out[-1][1].append(s)
    return out


def _tag(s) -> str:
    return s.rule + (f", {', '.join(r for r in s.rules if r != s.rule)}" if len(s.rules) > 1 else "")


def _section_title(title: str, style) -> str:
    """A section title: {name} marks a name, a×b a shape; typeset both in LaTeX."""
    if style is not LATEX:
        return re.sub(r"\{([^{}]*)\}", r"\1", title)
    parts = re.split(r"(\{[^{}]*\}|\w+×\w+)", title)
    out = []
    for part in parts:
        if part.startswith("{"):
            out.append(f"${latex_name(part[1:-1])}$")
        elif "×" in part:
            a, b = part.split("×")
            out.append(f"${latex_name(a)} \\times {latex_name(b)}$")
        else:
            out.append(part.replace("_", r"\_"))
    return "".join(out)


# ------------------------------------------------------------------ text
def steps_text(d) -> list[str]:
    p = Printer(UNICODE, d.step_names)
    lines = [f"derivation by {_title(d, METHOD_TITLES)}:"]
    for name, value, auto in d.definitions:
        inner = Printer(UNICODE, {k: v for k, v in d.step_names.items() if k != value})
        lines.append(f"  let {name} = {inner(value)}" + ("   (named by matcalc)" if auto else ""))
    for title, group in _sections(d.steps):
        if title:
            lines.append(f"  {_section_title(title, UNICODE)}:")
        for s in group:
            left = p(s.lhs) if s.lhs is not None else ""
            body = f"{left} = {p(s.rhs)}" if left else f"{'':>4}= {p(s.rhs)}"
            lines.append(f"    {body}   [{_tag(s)}]" + (f"  ({s.note})" if s.note else ""))
    return lines


# ------------------------------------------------------------------ LaTeX
def _latex_rows(d, group) -> list[str]:
    p = Printer(LATEX, d.step_names)
    rows = []
    for s in group:
        left = p(s.lhs) if s.lhs is not None else ""
        tag = r"\text{" + _tag(s).replace("_", r"\_") + "}"
        rows.append(f"{left} &= {p(s.rhs)} && {tag}")
    return rows


def steps_latex_blocks(d) -> list[tuple[str, str]]:
    """(section title in LaTeX text, aligned block) for every section of the steps."""
    out = []
    defs = []
    for name, value, auto in d.definitions:
        if auto:   # the user's own names are stated with the problem
            inner = Printer(LATEX, {k: v for k, v in d.step_names.items() if k != value})
            defs.append(f"{latex_name(name)} &= {inner(value)}")
    if defs:
        out.append(("Values named by matcalc", "\\begin{aligned}\n" + " \\\\\n".join(defs) + "\n\\end{aligned}"))
    for title, group in _sections(d.steps):
        out.append((_section_title(title, LATEX),
                    "\\begin{aligned}\n" + " \\\\\n".join(_latex_rows(d, group)) + "\n\\end{aligned}"))
    return out


def latex_document(d, steps: bool = True) -> str:
    """A complete LaTeX document (compiles with pdflatex: article + amsmath + amssymb)."""
    f = printing.to_latex(d.program.opaque_output)
    parts = [r"\documentclass{article}", r"\usepackage{amsmath,amssymb}", r"\usepackage[margin=2cm]{geometry}",
             r"\allowdisplaybreaks", r"\begin{document}", r"\section*{Function}", r"\[", f"f = {f}", r"\]"]
    defs = d._definitions(LATEX)
    if defs:
        parts += ["where", r"\[", "\\begin{aligned}", " \\\\\n".join(x.replace(" = ", " &= ", 1) for x in defs),
                  "\\end{aligned}", r"\]"]
    if steps and d.steps:
        parts.append(r"\section*{Derivation by " + _title(d, LATEX_TITLES) + "}")
        for title, block in steps_latex_blocks(d):
            if title:
                parts.append(r"\subsection*{" + title[0].upper() + title[1:] + "}")
            parts += [r"\[", block, r"\]"]
    parts += [r"\section*{Results}", r"\[", d.latex(), r"\]", r"\end{document}"]
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------ Markdown
def markdown_note(d, steps: bool = True) -> str:
    """A note in the seeds' style: headings and $$ aligned blocks (MathJax/KaTeX Markdown)."""
    f = printing.to_latex(d.program.opaque_output)
    wrt = ", ".join(f"${latex_name(n)}$" for n in d.wrt)
    parts = ["## Problem", "", "$$", f"f = {f}", "$$", ""]
    defs = d._definitions(LATEX)
    if defs:
        parts += ["where", "", "$$", "\\begin{aligned}", " \\\\\n".join(x.replace(" = ", " &= ", 1) for x in defs),
                  "\\end{aligned}", "$$", ""]
    parts += [f"Derivatives with respect to {wrt}.", ""]
    if steps and d.steps:
        parts += [f"## Derivation by {_title(d, LATEX_TITLES)}", ""]
        for title, block in steps_latex_blocks(d):
            if title:
                parts += [f"### {title[0].upper() + title[1:]}", ""]
            parts += ["$$", block, "$$", ""]
        parts += identities_used(d.steps)
    parts += ["## Results", "", "$$", d.latex(), "$$", "", "Shapes: " + ", ".join(
        f"$\\frac{{\\partial f}}{{\\partial {latex_name(n)}}}$ is {_shape_latex(d, n)}" for n in d.wrt) + ".", ""]
    return "\n".join(parts)


def identities_used(steps) -> list[str]:
    """Markdown lines: a heading and each catalogue identity the steps used, in order."""
    used: list = []
    for s in steps:
        for r in s.rules or (s.rule,):
            if r not in used:
                used.append(r)
    lines = ["### Identities used", ""]
    for r in used:
        entry = _identity_latex(r)
        lines.append(f"- `{r}`: ${entry}$" if entry else f"- `{r}`")
    return lines + [""]


def _shape_latex(d, name) -> str:
    g = d.gradient(name)
    if not hasattr(g, "shape"):
        return "a scalar"
    r, c = g.shape
    return f"${latex_name(str(r))} \\times {latex_name(str(c))}$"


def _identity_latex(rule_id: str) -> str:
    from ..rules import lookup
    entry = lookup(rule_id)
    if entry is None:
        return ""
    return entry.identity if rule_id.startswith("fn:") else entry.latex


# ------------------------------------------------------------------ JSON
def steps_json(d) -> list[dict]:
    u = Printer(UNICODE, d.step_names)
    lx = Printer(LATEX, d.step_names)
    out = []
    for s in d.steps:
        out.append({"section": _section_title(s.section, UNICODE),
                    "lhs": u(s.lhs) if s.lhs is not None else None,
                    "before": u(s.before) if s.before is not None else None,
                    "rhs": u(s.rhs), "lhs_latex": lx(s.lhs) if s.lhs is not None else None,
                    "rhs_latex": lx(s.rhs), "rule": s.rule, "rules": list(s.rules) or [s.rule],
                    "identity": _identity_latex(s.rule), "note": s.note})
    return out
