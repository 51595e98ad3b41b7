"""Numerical self-tests of the catalogue: every entry is checked against numbers.

Adjoint rules and functions: their example programs are derived and compared
with finite differences.  Differentials: the adjoint rule's examples are
derived by the trace method and every step is checked.  Method identities:
both sides at random matrices.
"""
from __future__ import annotations

import numpy as np

from .derivation import derive

TOLERANCE = 1e-6


def _examples_for_differential(entry) -> list:
    from .rules import FUNCTIONS, RULES
    out = []
    for r in RULES.values():
        if set(r.applies_to) & set(entry.applies_to):
            out.extend(r.examples)
    if entry.id == "d:entrywise":
        out.extend(ex for f in FUNCTIONS.values() for ex in f.examples)
    return out


def run_selftests(entry) -> tuple[bool, str]:
    """(passed, summary) for one entry of the catalogue."""
    kind = getattr(entry, "kind", "function")
    if kind == "identity":
        err = entry.check(np.random.default_rng(0))
        return err <= TOLERANCE, f"max relative error {err:.1e}"
    if kind == "differential":
        worst, used = 0.0, False
        for program, shapes in _examples_for_differential(entry):
            d = derive(program, shapes=shapes, method="trace")
            err = d.verify_steps()
            worst = max(worst, err)
            if err > TOLERANCE:
                return False, f"{program}: a trace step is off by {err:.1e}"
            used = used or any(entry.id in s.rules for s in d.steps)
        if not used:
            return False, "no example exercises this entry"
        return True, f"trace-method steps hold to {worst:.1e}"
    worst, used = 0.0, False
    for program, shapes in entry.examples:
        d = derive(program, shapes=shapes)
        result = d.check()
        worst = max(worst, result.max_rel_error)
        if not result.passed:
            return False, f"{program}: {result}"
        used = used or entry.id in d.rules_used() or any(
            s.rule == "entrywise" and getattr(s.node, "name", None) == entry.id[3:] for s in d.records)
    if not used:
        return False, "no example exercises this entry"
    return True, f"max relative error {worst:.1e}"
