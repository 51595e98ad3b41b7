"""check-note: the verdicts on the seed notes and on our own notes with planted mistakes."""
import json
import os
import subprocess
import sys

import pytest

import matcalc

DATA = os.path.join(os.path.dirname(__file__), "data")


def verdicts(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as fh:
        report = matcalc.check_note(fh.read())
    return report, {(c.link_line, c.wrt, c.claim): c for c in report.claims}


def wrong(report):
    return sorted((c.link_line, c.wrt) for c in report.claims if c.verdict == "wrong")


def test_seed_004_batch_mlp():
    report, _ = verdicts("seed_004.md")
    assert wrong(report) == [(93, "b_2"), (133, "W_1"), (149, "b_1"), (156, "W_1"), (157, "b_1"), (159, "b_2")]
    by = {c.link_line: c for c in report.claims}
    assert "not summed over the batch" in by[93].diagnosis and "1ᵀ" in by[93].diagnosis
    assert "shapes that cannot match" in by[133].diagnosis
    assert by[133].expected.startswith("2 X^{T}")
    assert sum(c.verdict == "correct" for c in report.claims) == 9
    # ∂f/∂h = ∂f/∂h_sigmoid · ∂h_sigmoid/∂h of matrices: the chain rule read as a contraction
    assert by[115].verdict == "correct" and "contraction" in by[115].read_as
    assert report.exit_code == 1


def test_seed_000_column_vectors_index_notation():
    report, _ = verdicts("seed_000.md")
    # the one wrong claim: ∂f/∂x_i = Σ_j ∂f/∂y_i w_{ji} sums over j a term whose ∂f/∂y_i has the
    # index i of x (∂f/∂y_j belongs there): read entrywise, ∂f/∂y ⊙ Wᵀ1 cannot even be formed
    # ... and ∇_y f [w_{1i} ⋯ w_{mi}] multiplies a column by a row (a matrix, not the number ∂f/∂x_i)
    assert wrong(report) == [(57, "x_i"), (57, "x_i")]
    assert report.claims[[c.link_line for c in report.claims].index(57)].diagnosis.startswith("read entrywise")
    # the output layer (163–168) and the brace's two rows (183, 184) are judged at layer l: 21 hold
    assert sum(c.verdict == "correct" for c in report.claims) >= 21
    assert report.convention == "column vectors"
    by = {(c.link_line, c.claim): c for c in report.claims}
    assert by[(142, r"(\frac{\partial{y}}{\partial{x}})^T\nabla_yf")].verdict == "correct"
    # entries judged whole: ∂f/∂w_{ij} = ∂f/∂y_i x_j is (∇_y f) xᵀ; ∂f/∂x_i = ∂f/∂y_i ∂y_i/∂x_i
    assert by[(48, r"\frac{\partial{f}}{\partial{y_i}}x_j")].verdict == "correct"
    assert by[(72, r"\frac{\partial{f}}{\partial{y_i}}\frac{\partial{y_i}}{\partial{x_i}}")].verdict == "correct"
    # Σ_i ∂f/∂y_i ∂y_i/∂x_j holds (off-diagonal Jacobian entries); the row that goes on in a matrix
    # below is cut by the reader and says so
    assert all(c.diagnosis for c in report.claims if c.verdict == "not_checked")
    assert [c.verdict for c in report.claims if c.link_line == 94] == ["correct", "not_checked"]
    assert any("goes on below" in c.diagnosis for c in report.claims if c.link_line == 94)


def test_seed_002_flags_only_real_mistakes():
    report, _ = verdicts("seed_002.md")
    # the softmax Jacobian written diagonal; δ_2 [a^1]^T and δ_1 [a^0]^T multiply the wrong way
    # round for row vectors; δ_1 drops W^2
    assert wrong(report) == [(33, "z^3"), (34, "z^3"), (42, "z^2"), (47, "W^2"), (57, "z^1"), (58, "z^1"),
                             (63, "W^1")]
    by = {c.link_line: c for c in report.claims}
    # a^3 = CE(z^3, L), z^3 = a^2 = softmax(z^2): the cross-entropy −Σ L ⊙ log z^3; ∂CE(z^3, L)/∂z^3 holds,
    # Σ_i z^3_i log(L_i) is not it (arguments swapped, sign dropped), −L_i/a^3_i has the loss a^3 for z^3
    assert by[32].verdict == "correct" and by[32].expected == r"-(L \odot {z^3}^{\circ -1})"
    assert by[33].diagnosis.startswith("the function differentiated")
    assert by[34].diagnosis == "wrong point of evaluation: a^3 where z^3 belongs"
    # δ_2 ∂sigmod(z^1)/∂z^1 drops ∂z^2/∂a^1 = (W^2)^T (as line 58 does)
    assert by[57].diagnosis.startswith("missing factor: ∂z^2/∂a^1")
    assert by[42].diagnosis.startswith("a diagonal Jacobian")
    # chain-rule links with vector Jacobian factors are evaluated: δ_3 ∂z^3/∂z^2, δ_2 ∂z^2/∂z^1
    assert by[40].verdict == by[41].verdict == by[56].verdict == "correct"
    assert by[47].expected == "{a^1}^{T} {\\delta_2}"
    # the shorthand δ_2 ∂z^2/∂W^2 (a matrix Jacobian) is the chain rule's contraction: it holds
    assert by[45].verdict == by[46].verdict == by[61].verdict == by[62].verdict == "correct"
    assert all(c.diagnosis for c in report.claims if c.verdict != "correct")


def test_seed_003_preamble_dnn_and_softmax():
    """cs231n preamble, DNN and softmax parts of seed 003 (lines 1–145)."""
    report, _ = verdicts("seed_003.md")
    lines: dict = {}
    for c in report.claims:
        lines.setdefault(c.link_line, []).append(c)
    # the chain rule for open functions, shapes as subscripts, and a telescoping chain with '...'
    assert [c.verdict for c in lines[12] + lines[16]] == ["correct", "correct"]
    assert "stand-ins" in lines[12][0].read_as
    # ∂J/∂W^L = ∂OO^T/∂W^L with J = ½OO^T: a factor 2 too many (also through z^l, the L of z^L)
    assert [c.verdict for c in lines[61]] == ["wrong", "wrong"]
    assert all(c.diagnosis.startswith("off by a constant factor: the claim is 2 ×") for c in lines[61])
    assert "z^l read as z^L" in lines[61][1].read_as
    # ∂O^TO/∂O with O a row: O^TO is a matrix, so the factor is not a matrix product: not judged
    assert lines[65][0].verdict == "not_checked" and "Jacobian of a matrix" in lines[65][0].diagnosis
    # softmax: ∂(1 ln(e^z1^T) y^T)/∂(e^z1^T) ∂(e^z1^T)/∂e^z ∂e^z/∂z with 1 an all-ones row; a = softmax(z)
    assert [c.verdict for c in lines[138]] == ["correct"] * 4
    assert "softmax(z) from the prose" in lines[138][3].read_as
    # the per-sample softmax derivation with shape subscripts
    assert [c.verdict for c in lines[414] + lines[420]] == ["correct"] * 3


def test_seed_003_rnn_and_lstm_mistakes():
    report, _ = verdicts("seed_003.md")
    by_line: dict = {}
    for c in report.claims:
        by_line.setdefault(c.link_line, []).append(c)
    for c in report.claims:
        if c.verdict != "wrong":
            continue
        # the RNN's tanh' taken at the wrong step: 1 - o_t^2 (tanh' is 1 - h_t^2), 1 - h_{t-1}^2
        # in ∂h_t/∂h_{t-1}; the LSTM's o^t where o^{t+1} belongs
        assert "o_t^2" in c.claim or c.link_line in (25, 61, 87, 187, 192, 324, 378), c
        if "o_t^2" in c.claim:
            assert c.diagnosis == "wrong point of evaluation: o^t where h_t belongs"
    lstm = [c for c in by_line[324]]
    assert lstm[0].verdict == "wrong" and "o^t where o^{t+1} belongs" in lstm[0].diagnosis
    assert [c.verdict for c in by_line[187]][-2:] == ["wrong", "wrong"]
    # δ_t = (a_t − y_t)V^T + δ_{t+1}(W_hh)^T diag(1 − h_t^2): tanh' belongs at step t+1
    assert by_line[192][0].verdict == "wrong" and by_line[192][0].diagnosis.startswith("the terms through h_t+1")
    # δ_C^t = δ_C^{t+1} ⊙ f^{t+1} + δ_h^t ⊙ o^t ⊙ tanh'(C^t) holds (C^{t+1} counted directly only)
    assert [c.verdict for c in by_line[361] + by_line[362]] == ["correct", "correct"]
    assert {c.verdict for c in by_line[33] + by_line[37] + by_line[69][:1]} == {"correct"}
    assert by_line[414][-1].claim == "-y^T+SoftMax(a)" and by_line[414][-1].verdict == "correct"
    # \exp a_{1,k} / (\exp a 1_{k,1}): the shape subscripts dropped, 1_{k,1} a column of ones
    assert [c.verdict for c in by_line[414] + by_line[420]] == ["correct"] * 3
    # z^{l+1} = a^l W^{l+1} + b^{l+1} = σ(z^l) W^{l+1} + b^{l+1} with a^l never defined: the second form
    assert [c.verdict for c in by_line[104] + by_line[108]] == ["correct"] * 3
    # ∂O/∂a^L = E (the identity), ∂OO^T/∂O = 2O; ∂z/∂A = ∂z/∂A X^T writes a gradient in terms of itself
    assert [c.verdict for c in by_line[69]] == ["correct"] * 3
    # ... is wrong: A enters z through Y = AX + B, the right form is ∂z/∂Y X^T (lines 25 and 87)
    for line in (25, 87):
        assert by_line[line][-1].verdict == "wrong" and by_line[line][-1].expected == r"\frac{\part z}{\part Y}X^T"
        assert by_line[line][-1].diagnosis.startswith("∂z/∂A where ∂z/∂Y belongs")
    # the generic layer l (z^{l+1}, δ^{l+1}, W^l) judged on a concrete network: all hold
    assert {c.verdict for line in (83, 91, 95) for c in by_line[line]} == {"correct"}
    # the softmax tip: ∂(e^z/(e^z1^T))/∂z = 1/(e^z1^T) ∂e^z/∂z + ∂(e^z/(e^z1^T))/∂z counts the whole
    # derivative again; − (∂(1/(e^z1^T))/∂z)^T e^z has the wrong sign (∂(1/s)/∂z = −e^z/s²); the last holds
    assert [c.verdict for c in by_line[378]] == ["wrong", "wrong", "correct"]
    assert "extra term" in by_line[378][0].diagnosis and by_line[378][1].diagnosis.startswith("wrong sign")
    # W_f: Σ (h^{t-1})^T ∂L/∂C_t ∂C^t/∂f_t ∂f_t/∂(h^{t-1}W_f + x^tU_f + b_f) holds; the next link's
    # bracket is never closed
    assert by_line[370][0].verdict == "correct" and "do not balance" in by_line[371][0].diagnosis
    assert "without its argument" in by_line[349][0].diagnosis          # diag(C^t ⊙ f^{t+1} ⊙ σ')
    # ∂σ(h_{t-1}W_hh)/∂h_t: a numerator that does not depend on h_t is not judged, and says why
    assert "does not depend on h_t" in by_line[187][0].diagnosis and by_line[187][0].verdict == "not_checked"


def test_own_note_rows():
    report, _ = verdicts("note_mlp_rows.md")
    got = {(c.link_line, c.wrt): c for c in report.claims}
    assert len(report.claims) == 12
    assert [c.verdict for c in report.claims[-3:]] == ["correct"] * 3      # 1^T (P - T), \\sum_i, 1_n^T
    assert wrong(report) == [(18, "c_2"), (20, "V"), (26, "U"), (32, "P")]
    assert "not summed over the batch" in got[(18, "c_2")].diagnosis
    assert "transposed" in got[(20, "V")].diagnosis
    assert "factor" in got[(26, "U")].diagnosis
    assert "sign" in got[(32, "P")].diagnosis
    assert got[(20, "V")].expected == "H^{T} (P - T)"


def test_own_note_columns():
    report, _ = verdicts("note_columns.md")
    got = [(c.link_line, c.claim, c.verdict) for c in report.claims]
    assert got == [(7, "A x + A^T x", "correct"), (7, "2 A x", "wrong"), (8, "x x^T", "correct"),
                   (12, "W^{-T}", "correct"), (12, "W^{-1}", "wrong"),
                   (15, r"W^T \left( \nabla_y L \odot \sigma'(u) \right)", "correct"),
                   (15, r"W^T \nabla_y L \odot \sigma'(u)", "wrong")]
    assert "transpose" in report.claims[4].diagnosis


def run_cli(*args, stdin=None):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(DATA.rstrip("/").rsplit("/", 1)[0]) + "/..")
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run([sys.executable, "-m", "matcalc", *args], capture_output=True, text=True,
                          env=env, input=stdin, timeout=300)


def test_cli_formats_and_exit_codes():
    note = os.path.join(DATA, "note_mlp_rows.md")
    out = run_cli("check-note", note, "--format", "json")
    assert out.returncode == 1
    claims = json.loads(out.stdout)["claims"]
    assert {"line", "wrt", "claim", "verdict", "diagnosis", "expected"} <= set(claims[0])
    md = run_cli("check-note", note, "--format", "markdown")
    assert md.returncode == 1 and "> ✗ matcalc" in md.stdout and "> ✓ matcalc" in md.stdout
    assert md.stdout.count("\n> ") >= len(claims)
    ok = run_cli("check-note", "-", stdin="$$f = \\|Xw - y\\|^2$$\n$$\\nabla_w f = 2X^T(Xw - y)$$\n")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    missing = run_cli("check-note", os.path.join(DATA, "no_such_note.md"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_cli_claim_latex():
    out = run_cli("check", "norm2(X*W - Y)^2", "--wrt", "W", "--claim-latex", r"2X^T(XW-Y)")
    assert out.returncode == 0
    bad = run_cli("check", "norm2(X*W - Y)^2", "--wrt", "W", "--claim-latex", r"2X^T(XW-Y) \odot")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    der = run_cli("derive", "--latex-input", r"f = \|XW - Y\|_F^2", "--wrt", "W")
    assert der.returncode == 0 and "∂f/∂W" in der.stdout


def test_own_note_trace_batch():
    report, _ = verdicts("note_trace_batch.md")
    got = [(c.link_line, c.wrt, c.verdict) for c in report.claims]
    assert got == [(21, "O", "correct"), (25, r"\Theta_2", "correct"), (30, "S", "correct"),
                   (31, "Z", "correct"), (32, "Z", "wrong"), (36, r"\Theta_1", "wrong"),
                   (38, r"\Theta_1", "correct"), (40, "Z", "wrong"), (42, "c_2", "correct"),
                   (42, "c_1", "wrong")]
    diag = {(c.link_line, c.wrt): c.diagnosis for c in report.claims}
    assert diag[(32, "Z")].startswith("a matrix product where ⊙ belongs")
    assert diag[(36, r"\Theta_1")].startswith("missing term")
    assert diag[(40, "Z")] == "wrong point of evaluation: Z where S belongs"
    assert diag[(42, "c_1")].startswith("not summed over the batch")
    assert report.convention == "row vectors"


def test_own_note_row_vector_chain():
    report, _ = verdicts("note_rowvec_chain.md")
    got = [(c.link_line, c.verdict) for c in report.claims]
    assert got == [(13, "correct"), (14, "correct"), (15, "wrong"), (16, "correct"), (17, "correct"),
                   (17, "correct"), (17, "correct"), (17, "wrong"), (18, "correct"), (19, "wrong"),
                   (20, "wrong")]
    diag = [c.diagnosis for c in report.claims]
    assert diag[2].startswith("transposed") and diag[7].startswith("a transpose missing on Q")
    # the softmax Jacobian written diagonal: named as such (with simplified expected forms the
    # dropped −ssᵀ part no longer reads as a separate missing term)
    assert diag[9].startswith("wrong sign") and "diagonal Jacobian" in diag[10]


def test_seed_001_bold_vectors_numerator_layout():
    # bold letters are the vectors, plain ones numbers; the note states numerator layout, so
    # ∂z/∂w = x^T is right; '·' between vectors is ambiguous there, so nothing rests on it
    report, _ = verdicts("seed_001.md")
    assert wrong(report) == []
    ok = {(c.link_line, c.claim) for c in report.claims if c.verdict == "correct"}
    assert (344, r"\mathbf{x}^T") in ok and (358, "1") in ok


def test_own_note_column_layer_generic_activation():
    report, _ = verdicts("note_column_layer.md")
    got = [(c.link_line, c.verdict) for c in report.claims]
    assert got == [(12, "correct"), (13, "correct"), (13, "correct"), (14, "correct"), (14, "wrong"),
                   (15, "correct"), (16, "correct"), (16, "wrong"), (17, "wrong"), (18, "wrong")]
    diag = [c.diagnosis for c in report.claims]
    assert diag[4].startswith("transposed") and diag[7].startswith("a transpose missing on M")
    assert diag[8].startswith("off by a constant factor")
    assert diag[9] == "wrong point of evaluation: h where a belongs"


def test_own_note_chinese_batch():
    report, _ = verdicts("note_batch_cn.md")
    assert [c.verdict for c in report.claims] == ["correct"] * 5 + ["wrong"] * 4
    diag = [c.diagnosis for c in report.claims[5:]]
    assert diag[0].startswith("a transpose missing on P") and diag[1].startswith("transposed")
    assert diag[2].startswith("not summed over the batch") and "factor 2 is missing" in diag[3]
    assert report.claims[5].expected.startswith("2 P^{T}")


def test_own_note_mean_and_regulariser():
    # \frac{1}{2N}: N is a number (also the declared batch size); no layout stated: a row is wrong
    report, _ = verdicts("note_mean_column.md")
    assert [c.verdict for c in report.claims] == ["correct", "wrong", "wrong"]
    assert report.claims[1].diagnosis == "missing term: λ w (a term of the gradient the claim does not have)"
    assert report.claims[2].diagnosis.startswith("transposed")
    assert report.to_json()["claims"][0]["layout"] is None


def test_own_note_chain_across_displays():
    # seed-002 style: each link in its own $$…$$ ending in '=', named results (g_2), '*' products
    report, _ = verdicts("note_chain_rows.md")
    got = [(c.link_line, c.verdict) for c in report.claims]
    assert got == [(18, "correct"), (21, "correct"), (23, "wrong"), (27, "correct"), (28, "not_checked"),
                   (29, "correct"), (32, "wrong"), (34, "correct")]
    diag = {c.link_line: c.diagnosis for c in report.claims}
    assert diag[23].startswith("off by a constant factor")
    assert diag[32].startswith("the factors of a product in the wrong order")
    assert "'*'" in diag[28]


def test_seed_003_style_with_planted_mistakes():
    """The readings added for seed 003 (a chain rule for open functions, ∂/∂(e^z1^T), 1 an all-ones
    row, a per-step loss implied by a_t − y_t, 1_{k,1}) still find planted mistakes."""
    report, _ = verdicts("seed3_style_planted.md")
    got = [(c.link_line, c.wrt, c.verdict) for c in report.claims]
    assert got == [
        (4, "x", "wrong"),                         # (∂y/∂x)(∂z/∂y): no layout multiplies it
        (8, "y_1", "correct"),                     # ∂z/∂y_n ∂y_n/∂y_{n-1} ⋯ ∂y_2/∂y_1
        (11, "X", "correct"), (11, "A", "not_checked"), (11, "B", "not_checked"),
        (17, "z", "correct"), (17, "z", "wrong"), (17, "z", "wrong"), (17, "z", "correct"),
        (30, "c", "wrong"),                        # y_t − a_t: the sign
        (34, "V", "wrong"), (34, "V", "correct"),  # (a_t − y_t)^T h_t: transposed
        (42, "h_{T}", "wrong"),                    # (a_T − y_T)V: Vᵀ
        (53, "a", "correct"),
        (55, "W", "wrong")]                        # X(…): Xᵀ
    by = {(c.link_line, c.claim): c for c in report.claims}
    lines = {}
    for c in report.claims:
        lines.setdefault(c.link_line, []).append(c)
    assert lines[4][0].diagnosis.startswith("shapes that cannot match")
    assert "stand-ins" in lines[8][0].read_as and "n = 4" in lines[8][0].read_as
    assert "in terms of itself" in lines[11][1].diagnosis     # ∂z/∂A X: no single slip puts it right
    assert lines[17][1].diagnosis.startswith("wrong sign") and "from the prose" in lines[17][3].read_as
    assert "wrong sign" in lines[30][0].diagnosis and "cross-entropy" in lines[30][0].read_as
    assert "transposed" in lines[34][0].diagnosis
    assert "transpose missing on V" in lines[42][0].diagnosis
    assert "transpose missing on X" in lines[55][0].diagnosis
    assert by[(17, "-y+a")].verdict == "correct"


def test_expression_made_a_name_only_where_it_stands_whole():
    from matcalc.judge.note_check import _operand_pattern
    import re
    pattern = _operand_pattern("h_t * V + b")
    assert re.search(pattern, "sigmoid((h_t * V + b))") and not re.search(pattern, "2 * h_t * V + b")
    call = _operand_pattern("exp(z)")
    assert re.search(call, "log(sum(exp(z), 2))") and not re.search(call, "exp(z2)")
