"""Hostile review of check-note: notes with correct claims written in unusual but legitimate
ways (never called wrong), planted mistakes (caught), and the 'correct form' it prints, which
must itself be judged correct when written back into the note."""
import os

import pytest

import matcalc

DATA = os.path.join(os.path.dirname(__file__), "data")


def note(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as fh:
        return fh.read()


def verdicts(report):
    return [(c.link_line, c.verdict) for c in report.claims]


def expected_reads_back(text, report):
    """Each printed correct form, written back as a claim of the note, is judged correct."""
    for c in report.claims:
        if not c.expected:
            continue
        again = matcalc.check_note(text + f"\n\n$$\\frac{{\\partial {c.function}}}{{\\partial {c.wrt}}} = {c.expected}$$\n")
        assert again.claims[-1].verdict == "correct", (c.line, c.expected, again.claims[-1].diagnosis)


def test_ridge_cn_keeps_the_scalar_numerator_of_a_fraction():
    text = note("attack2_ridge_cn.md")
    report = matcalc.check_note(text)
    assert verdicts(report) == [(8, "correct"), (9, "correct"), (9, "correct"), (10, "wrong")]
    assert report.claims[0].expected.startswith(r"\frac{2}{N}")
    expected_reads_back(text, report.claims[-1:] and report)
