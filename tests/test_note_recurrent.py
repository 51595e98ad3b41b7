"""check-note on recurrent notes: sums over time, the last step, BPTT recurrences, LSTM/GRU gates."""

import matcalc
from matcalc.judge.note_recurrent import one_term, step_ties, time_sum

from note_reports import by_line, report_of


def table(report):
    return [(c.link_line, c.wrt, c.verdict) for c in report.claims]


# ---------------------------------------------------------------- reading
def test_time_sum_reads_the_usual_spellings():
    assert time_sum(r"\sum\limits_{t=1}^T(a_t-y_t)") == (r"\sum\limits_{t=1}^T", "(a_t-y_t)")
    assert time_sum(r"\sum_{t=1}^{\tau} x_t^T \delta_t")[1] == r"x_t^T \delta_t"
    assert time_sum(r"\sum_t h_{t-1}^T g_t")[0] == r"\sum_t"
    # an index i with the time in the body and an upper limit τ (seed 003's typo) is a time sum
    assert time_sum(r"\sum\limits_{i=1}^\tau((h^{t-1})^T d^t)") is not None
    # a batch sum is not a time sum
    assert time_sum(r"\sum_i (p_i - y_i)") is None
    assert time_sum(r"A + \sum_t x_t") is None


def test_one_term_and_step_ties():
    assert one_term(r"(h_t)^T(a_t-y_t)") and one_term(r"x_t^T [d_t \odot (1 - h_t^2)]")
    assert not one_term(r"x_t^T g_t + \lambda W")
    ties = step_ties("o_t = x_t * U + h_tm1 * W\nh_t = tanh(o_t)")
    assert "h_tm1 - h_t" in ties and "x_t" not in ties


# ---------------------------------------------------------------- seed 003: RNN and LSTM
def test_seed_003_sums_over_time_and_last_step():
    report = report_of("seed_003.md", 146, 375)
    lines = by_line(report)
    # ∂L/∂c, ∂L/∂V: Σ_t ∂L_t/∂c and Σ_t ∂L_t/∂z_t ∂z_t/∂c hold; (a_t − y_t) holds with L_t read as
    # the cross-entropy of the softmax output a_t ("输出为Softmax激活函数"), a reading it states
    for line in (163, 167):
        assert [c.verdict for c in lines[line]] == ["correct", "correct", "correct"]
        assert "cross-entropy of the softmax output a_t" in lines[line][2].read_as
    # δ_C^τ = δ_h^τ ∂h^τ/∂C^τ = δ_h^τ [diag(o^τ) ⊙ diag(1 − tanh²(C^τ))] = δ_h^τ ⊙ o^τ ⊙ (1 − tanh²)
    assert [c.verdict for c in lines[308]] == ["correct"] * 3
    assert r"\tau" in lines[308][0].expected
    # δ_T = (a_T − y_T)V^T: at the last step L reaches h_T through L_T only (cross-entropy, as read)
    assert [c.verdict for c in lines[193]] == ["correct"] and "last step" in lines[193][0].read_as
    # δ_h^τ = (ŷ^τ − y^τ)V^T with ŷ = σ(h V + b), σ a sigmoid: the binary cross-entropy's gradient
    assert lines[307][-1].verdict == "correct" and "binary cross-entropy" in lines[307][-1].read_as
    # δ_t = (a_t − y_t)Vᵀ + δ_{t+1}(W_hh)ᵀdiag(1 − h_t²): tanh' at step t+1, diag on the other side
    d192 = lines[192][0]
    assert d192.verdict == "wrong"
    assert "h_t where h_{t+1} belongs" in d192.diagnosis and "wrong side of (W_{hh})^T" in d192.diagnosis
    # ∂h_t/∂h_{t-1} = (W_hh)^T diag(σ'(h_{t-1})) = (W_hh)^T diag(1 − h_{t-1}²): diag(1 − h_t²) W_hhᵀ
    d187 = [c.diagnosis for c in lines[187][1:]]
    assert "h_{t-1} where o^t belongs" in d187[0] and "h_{t-1} where h_t belongs" in d187[1]
    assert all("wrong side of (W_{hh})^T" in d for d in d187)
    # o^t where o^{t+1} belongs (LSTM) still found; δ_C^t's recurrence still holds
    assert lines[324][0].verdict == "wrong" and "o^t where o^{t+1} belongs" in lines[324][0].diagnosis
    assert [c.verdict for c in lines[361] + lines[362]] == ["correct", "correct"]
    # ∂L/∂C^{t+1} ∂C^{t+1}/∂C^t + ∂L/∂h^t ∂h^t/∂C^t: holds with each factor the direct dependence
    assert [c.verdict for c in lines[360]] == ["correct"]
    assert all(c.verdict != "wrong" or c.link_line in (187, 192, 197, 201, 205, 324) for c in report.claims)


# ---------------------------------------------------------------- our own notes with planted mistakes
def test_rnn_note_rows():
    report = report_of("note_rnn_bptt.md")
    assert table(report) == [
        (26, "c", "correct"), (26, "c", "correct"),
        (30, "V", "correct"),
        (36, "V", "wrong"),                      # (∂L_t/∂z_t)^T h_t: transposed
        (42, "h_t", "correct"), (42, "h_t", "correct"),
        (48, "h_t", "wrong"),                    # 1 − h_t² where 1 − h_{t+1}² belongs
        (54, "h_t", "wrong"),                    # the δ_{t+1} term dropped
        (60, "h_{T}", "correct"),                  # the last step has no δ_{T+1}
        (66, "W", "correct"),
        (70, "U", "wrong"),                      # 1 − h_{t-1}² where 1 − h_t² belongs
        (74, "b", "correct")]
    lines = by_line(report)
    assert "transposed" in lines[36][0].diagnosis and lines[36][0].expected.startswith(r"\sum_{t=1}^{T}")
    assert "wrong point of evaluation: h_t where h_{t+1} belongs" in lines[48][0].diagnosis
    assert lines[54][0].diagnosis.startswith("missing term") and "h_{t+1}" in lines[54][0].diagnosis
    assert r"\frac{\partial L}{\partial h_{t+1}}" in lines[54][0].expected
    assert "h_{t-1} where h_t belongs" in lines[70][0].diagnosis
    assert report.exit_code == 1


def test_lstm_note_chinese():
    report = report_of("note_lstm_cn.md")
    assert table(report) == [
        (33, "C^t", "correct"),
        (38, "C^t", "wrong"),                    # δ_C^{t+1} ⊙ f^{t+1} dropped
        (43, "C^t", "wrong"),                    # f^t where f^{t+1} belongs
        (48, r"C^{\tau}", "correct"), (48, r"C^{\tau}", "correct"),
        (53, "o^t", "correct"), (57, "f^t", "correct"),
        (61, "g^t", "wrong"),                    # f^t where i^t belongs
        (66, "W_f", "correct"),
        (70, "W_o", "wrong"),                    # σ'(o^t) = o^t ⊙ (1 − o^t) half missing
        (74, "b_i", "correct")]
    lines = by_line(report)
    assert "missing term" in lines[38][0].diagnosis and "C^{t+1}" in lines[38][0].diagnosis
    assert "f^t where f^{t+1} belongs" in lines[43][0].diagnosis
    assert "wrong factor: f^t where i^t belongs" in lines[61][0].diagnosis
    assert "missing factor: 1 − o^t" in lines[70][0].diagnosis


def test_gru_note_columns():
    report = report_of("note_gru_columns.md")
    assert report.convention == "column vectors"
    assert table(report) == [
        (21, "n_t", "correct"), (23, "z_t", "correct"),
        (27, "z_t", "wrong"),                    # n_t − h_{t-1}: the sign
        (31, "b_n", "correct"), (33, "W_n", "correct"),
        (35, "W_n", "wrong"),                    # x_t [·]^T: transposed
        (39, "b_z", "wrong"),                    # 1 − z_{t-1} where 1 − z_t belongs
        (43, "h_t", "wrong"),                    # no term through h_{t+1}
        (47, "h_{T}", "correct")]
    lines = by_line(report)
    assert "sign" in lines[27][0].diagnosis
    assert "transposed" in lines[35][0].diagnosis
    assert "z_{t-1} where z_t belongs" in lines[39][0].diagnosis
    assert lines[43][0].diagnosis.startswith("missing term")


def test_rnn_note_with_parenthesised_steps():
    report = report_of("note_rnn_paren_steps.md")
    assert table(report) == [
        (13, "c", "correct"), (15, "V", "correct"), (17, "W", "correct"), (19, "b", "correct"),
        (21, "b", "wrong"),                      # 1 − (h^{(t+1)})² where h^{(t)} belongs
        (23, "h^{(t)}", "correct"), (25, "h^{(t)}", "correct"),
        (29, "h^{(t)}", "wrong"),                # the step-(t+1) term dropped
        (33, "h^{(T)}", "correct")]
    lines = by_line(report)
    assert "h^{(t+1)} where h^{(t)} belongs" in lines[21][0].diagnosis
    assert lines[29][0].diagnosis.startswith("missing term")
    assert lines[33][0].expected == r"{\frac{\partial L}{\partial o^{(T)}}} V^{T}"


def test_sum_with_other_terms_and_step_past_the_end_are_not_checked():
    note = "\n".join([
        "Row vectors.", "", "$$o_t = x_t U + h_{t-1} W + b$$", "", "$$h_t = \\tanh(o_t)$$", "",
        "Let $\\delta_t = \\frac{\\partial L}{\\partial h_t}$.", "",
        "$$\\frac{\\partial L}{\\partial W} = \\sum_{t=1}^{T} h_{t-1}^T [\\delta_t \\odot (1 - h_t^2)] + 2W$$", "",
        "$$\\delta_T = \\delta_{T+1} W^T$$"])
    report = matcalc.check_note(note)
    assert [c.verdict for c in report.claims] == ["not_checked", "not_checked"]
    assert all(c.diagnosis for c in report.claims)


def test_a_steps_own_loss_and_a_sum_for_a_state_are_not_called_wrong():
    note = "\n".join([
        "Row vectors.", "", "$$o_t = x_t U + h_{t-1} W + b$$", "", "$$h_t = \\tanh(o_t)$$", "",
        "$$z_t = h_t V + c$$", "",
        # L_t depends on h_t through z_t only: no step-(t+1) term is missing
        "$$\\frac{\\partial L_t}{\\partial h_t} = \\frac{\\partial L_t}{\\partial z_t} V^T$$", "",
        "$$\\frac{\\partial L}{\\partial h_t} = \\sum_{s=t}^{T} h_s$$", "",
        "Let $\\delta_t = \\frac{\\partial L}{\\partial h_t}$.", "",
        "$$\\frac{\\partial L}{\\partial h_t} = \\delta_t$$"])
    report = matcalc.check_note(note)
    assert [c.verdict for c in report.claims] == ["correct", "not_checked", "correct"]
