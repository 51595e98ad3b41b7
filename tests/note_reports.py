"""Shared by the note tests: a note's check-note report (cached), and its claims by line."""
import functools
import os

import matcalc

DATA = os.path.join(os.path.dirname(__file__), "data")


@functools.lru_cache(maxsize=None)
def report_of(name, first=1, last=None):
    """The report on a note, or on its lines first..last (the others left blank: same line numbers)."""
    with open(os.path.join(DATA, name), encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    last = last or len(lines)
    return matcalc.check_note("\n" * (first - 1) + "\n".join(lines[first - 1:last]))


def by_line(report):
    """{line: [claims]} of a report."""
    out = {}
    for c in report.claims:
        out.setdefault(c.link_line, []).append(c)
    return out


def reports_for(names):
    """{name: report} of whole notes in tests/data."""
    return {name: report_of(name) for name in names}
