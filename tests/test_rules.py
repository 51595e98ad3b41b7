"""Every catalogue entry's numerical self-test, and the catalogue's own invariants."""
import pytest

from matcalc import rules
from matcalc.selftest import run_selftests

ENTRIES = rules.catalogue()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_selftest(entry):
    ok, message = run_selftests(entry)
    assert ok, message


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_entry_is_documented(entry):
    identity = entry.identity if isinstance(entry, rules.Function) else entry.latex
    assert identity and entry.source and entry.examples


def test_a_wrong_rule_fails_its_selftest(monkeypatch):
    """The self-test can fail: a sigmoid with a wrong derivative is caught."""
    broken = rules.Function(**{**rules.FUNCTIONS["sigmoid"].__dict__,
                               "derivative": lambda u, y: y})
    monkeypatch.setitem(rules.FUNCTIONS, "sigmoid", broken)
    ok, message = run_selftests(broken)
    assert not ok and "FAILED" in message
