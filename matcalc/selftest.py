"""Numerical self-tests of the catalogue: derive each entry's examples, check them."""
from __future__ import annotations

from .derivation import derive


def run_selftests(entry) -> tuple[bool, str]:
    """(passed, summary) for one rule or function entry of the catalogue."""
    worst, used = 0.0, False
    for program, shapes in entry.examples:
        d = derive(program, shapes=shapes)
        result = d.check()
        worst = max(worst, result.max_rel_error)
        if not result.passed:
            return False, f"{program}: {result}"
        used = used or entry.id in d.rules_used() or any(
            s.rule == "entrywise" and getattr(s.node, "name", None) == entry.id[3:] for s in d.steps)
    if not used:
        return False, "no example exercises this entry"
    return True, f"max relative error {worst:.1e}"
