"""Hostile review 3b of check-note: a δ_t introduced as ∂L/∂(an expression) whose later
`δ_t = …` lines are claims, a loss written as a sum over the steps of an inline term
(L = Σ_t ½‖o_t − y_t‖²), and a claim ∂L/∂(Wx+b) or ∂L/∂(Xw) by an expression of the equations."""
import os

import pytest

import matcalc

DATA = os.path.join(os.path.dirname(__file__), "data")


def judged(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as fh:
        return matcalc.check_note(fh.read())


CASES = {
    "attack3b_bptt_sum.md": [(11, "correct"), (12, "correct"), (13, "correct"), (14, "correct"),
                             (17, "wrong"), (20, "wrong"), (23, "wrong")],
    # the same with L = Σ_t L_t and L_t written apart
    "attack3b_bptt_named_step.md": [(11, "correct"), (12, "correct"), (13, "correct"), (14, "correct"),
                                    (17, "wrong")],
    "attack3b_denominator_expr.md": [(8, "correct"), (9, "correct"), (10, "correct"), (13, "wrong"),
                                     (16, "wrong")],
    "attack3b_logreg_batch_cn.md": [(9, "correct"), (11, "correct"), (14, "wrong"), (17, "wrong")],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_claim_found_and_judged(name):
    report = judged(name)
    assert [(c.line, c.verdict) for c in report.claims] == CASES[name]


def test_bptt_diagnoses_in_the_notes_names():
    by = {c.line: c for c in judged("attack3b_bptt_sum.md").claims}
    assert by[12].wrt == "(W h_{t-1} + U x_t)"
    assert "h_{t-1} where h_t belongs" in by[17].diagnosis
    assert "h_{t-1} where h_t belongs" in by[20].diagnosis and "step t" in by[20].diagnosis
    assert "transpose" in by[23].diagnosis


def test_expression_wrt_diagnoses():
    by = {c.line: c for c in judged("attack3b_denominator_expr.md").claims}
    assert "missing factor" in by[13].diagnosis
    assert "factor 2" in by[16].diagnosis
    by = {c.line: c for c in judged("attack3b_logreg_batch_cn.md").claims}
    assert "shapes that cannot match" in by[14].diagnosis
    assert "wrong sign" in by[17].diagnosis


NOTE = r"""
$h_t \in \mathbb{R}^{m}$, $x_t \in \mathbb{R}^{n}$, $W \in \mathbb{R}^{m \times m}$, $U \in \mathbb{R}^{m \times n}$, $V \in \mathbb{R}^{k \times m}$.

$$h_t = \tanh(W h_{t-1} + U x_t)$$
$$o_t = V h_t{EXTRA}$$
$$L = \sum_t \frac{1}{2} \lVert o_t - y_t \rVert^2$$

Let $\delta_t = \frac{\partial L}{\partial (W h_{t-1} + U x_t)}$.

$$\delta_t = \left( V^{T}(o_t - y_t) + W^{T} \delta_{t+1} \right) \odot (1 - h_t \odot h_t)$$
"""


def test_recurrence_judged_whole_only_when_the_past_enters_through_the_expression():
    whole = matcalc.check_note(NOTE.replace("{EXTRA}", "")).claims
    assert [c.verdict for c in whole] == ["correct"]
    # o_t also reads h_{t-1}: the later losses reach δ_t's expression other than through δ_{t+1},
    # so the claim (which leaves that path out) must not be called correct
    other = matcalc.check_note(NOTE.replace("{EXTRA}", " + V h_{t-1}")).claims
    assert len(other) == 1 and other[0].verdict != "correct"
    assert other[0].verdict == "wrong" or "other paths" in other[0].diagnosis


def test_delta_of_an_unread_expression_is_listed_not_skipped():
    text = NOTE.replace("{EXTRA}", "").replace(r"\partial (W h_{t-1} + U x_t)", r"\partial (W h_{t} + x_t)")
    claims = matcalc.check_note(text).claims
    assert [(c.line, c.verdict) for c in claims] == [(10, "not_checked")]
    assert "do not write (W h_{t} + x_t)" in claims[0].diagnosis
