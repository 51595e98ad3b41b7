"""check-note's outputs: the text report and the note annotated in place (Markdown)."""
from __future__ import annotations

import re


_MARK = {"correct": "✓", "wrong": "✗", "not_checked": "?"}


def report_text(report: NoteReport) -> str:
    lines = []
    for c in report.claims:
        head = f"line {c.line}: ∂{c.function}/∂{c.wrt} = {c.claim}"
        if c.verdict == "correct":
            lines.append(f"✓ {head}\n    correct" + (f" (read in {c.layout} layout)" if c.layout else ""))
        elif c.verdict == "wrong":
            lines.append(f"✗ {head}\n    wrong: {c.diagnosis}\n    correct form: {c.expected}")
        else:
            lines.append(f"? {head}\n    not checked: {c.diagnosis}")
    n = {v: sum(c.verdict == v for c in report.claims) for v in _MARK}
    lines.append(f"{len(report.claims)} claims: {n['correct']} correct, {n['wrong']} wrong, "
                 f"{n['not_checked']} not checked ({report.convention})")
    return "\n".join(lines)


def report_markdown(text: str, report: NoteReport) -> str:
    """The note with a callout under the math block of each claim."""
    lines = text.split("\n")
    by_line: dict = {}
    for c in report.claims:
        by_line.setdefault(_block_end(lines, c.link_line or c.line), []).append(c)
    out = []
    for k, line in enumerate(lines, start=1):
        out.append(line)
        for c in by_line.get(k, []):
            if c.verdict == "correct":
                out.append(f"\n> ✓ matcalc: $\\frac{{\\partial {c.function}}}{{\\partial {c.wrt}}} = {c.claim}$ is correct.\n")
            elif c.verdict == "wrong":
                out.append(f"\n> ✗ matcalc: $\\frac{{\\partial {c.function}}}{{\\partial {c.wrt}}} = {c.claim}$ is wrong: "
                           f"{c.diagnosis}  \n> Correct: $\\frac{{\\partial {c.function}}}{{\\partial {c.wrt}}} = "
                           f"{c.expected}$\n")
            else:
                out.append(f"\n> ? matcalc: not checked (line {c.link_line}): {c.diagnosis}\n")
    return "\n".join(out)


def _block_end(lines: list, line: int) -> int:
    """The last line of the $$ block holding ``line`` (the line itself for inline math)."""
    k = line - 1
    before = "\n".join(lines[:k])
    if before.count("$$") % 2 == 1 or re.search(r"\\begin\{align\*?\}(?![\s\S]*\\end\{align)", before):
        for j in range(k, len(lines)):
            if "$$" in lines[j] and j > k or "$$" in lines[j][lines[j].find("$$") + 2:] or \
                    re.search(r"\\end\{align", lines[j]):
                return j + 1
    return line
