"""Every catalogue entry's numerical self-test, and the catalogue's own invariants."""
import pytest

from matcalc import rules
from matcalc.judge.selftest import _examples_for_differential, run_selftests

ENTRIES = rules.catalogue()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_selftest(entry):
    ok, message = run_selftests(entry)
    assert ok, message


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_entry_is_documented(entry):
    identity = entry.identity if isinstance(entry, rules.Function) else entry.latex
    assert identity and entry.source
    kind = getattr(entry, "kind", "function")
    if kind == "differential":
        assert _examples_for_differential(entry)
    elif kind == "identity":
        assert callable(entry.check)
    else:
        assert entry.examples


def test_a_wrong_differential_fails_its_selftest(monkeypatch):
    """The trace method's steps are checked: d(AB) without its second term is caught."""
    import dataclasses
    from matcalc.rules import registry
    entry = rules.DIFFERENTIALS["d:matmul"]
    broken = dataclasses.replace(entry, forward=lambda node, d: (
        None if d(node.args[0]) is None else entry.forward(node, lambda c: d(c) if c is node.args[0] else None)))
    monkeypatch.setitem(rules.DIFFERENTIALS, "d:matmul", broken)
    for cls in entry.applies_to:
        monkeypatch.setitem(registry._DIFF_BY_CLASS, cls, broken)
    ok, message = run_selftests(broken)
    assert not ok, message


def test_a_wrong_rule_fails_its_selftest(monkeypatch):
    """The self-test can fail: a sigmoid with a wrong derivative is caught."""
    broken = rules.Function(**{**rules.FUNCTIONS["sigmoid"].__dict__,
                               "derivative": lambda u, y: y})
    monkeypatch.setitem(rules.FUNCTIONS, "sigmoid", broken)
    ok, message = run_selftests(broken)
    assert not ok and "FAILED" in message


def test_wrong_bounds_fail_the_selftest(monkeypatch):
    """Bounds prove weights nonnegative for code generation: a false bound is caught."""
    broken = rules.Function(**{**rules.FUNCTIONS["tanh"].__dict__, "bounds": (0, 1)})
    ok, message = run_selftests(broken)
    assert not ok and "bounds" in message


@pytest.mark.parametrize("template, message", [("np.sin({x}, out={x})", "disagrees"),
                                               ("np.tanh({x})", "does not write into its argument")])
def test_a_wrong_inplace_form_fails_the_selftest(template, message):
    """The in-place NumPy form overwrites a dead array in generated code: it must equal the plain form."""
    broken = rules.Function(**{**rules.FUNCTIONS["tanh"].__dict__, "numpy_inplace": template})
    ok, summary = run_selftests(broken)
    assert not ok and message in summary
