"""check-note on generic-layer notes (layer l, l±1, L or n_l the output): judged on a concrete
network of the note's layer equations; brace cases per row; a gradient written in terms of
itself; a two-argument named loss."""
import os

import pytest

import matcalc
from matcalc.errors import ParseError
from matcalc.judge.note_layers import layer_form, layer_name
from matcalc.judge.note_model import _Note
from matcalc.lang.latex_input import translate

from note_reports import DATA, by_line, report_of


# ---------------------------------------------------------------- reading the layer form
def test_layer_names_and_the_forward_template():
    assert layer_name("x_lm1") == ("x", "l", -1) and layer_name("W_L") == ("W", "out", 0)
    assert layer_name("delta_nl") == ("delta", "out", 0) and layer_name("W_xh") is None
    with open(os.path.join(DATA, "seed_003.md"), encoding="utf-8") as fh:
        templates, order, out = layer_form(_Note(fh.read(), None))
    # z^l = a^l W^{l+1} + b^{l+1} (seed 003's index slip) reads a later layer: not the template
    assert templates == {"z": "({a@-1} * {W@0} + {b@0})", "a": "sigmoid({z@0})"}
    assert order == ["z", "a"] and out == "a"


# ---------------------------------------------------------------- seed 000: the output layer and the cases
def test_seed_000_output_layer_and_cases():
    lines = by_line(report_of("seed_000.md"))
    # ∇_u L = (x^{(l)} − y) ⊙ f'(u^{(l)}) at the output layer (7. 输出层), with L = ½‖f(Wx + b) − y‖²
    for line in (163, 167, 168):
        assert {c.verdict for c in lines[line]} == {"correct"}, lines[line]
        assert "output layer" in lines[line][-1].read_as
    # the brace: row l = n_l at the output layer, row l ≠ n_l at a hidden layer
    assert [c.verdict for c in lines[183] + lines[184]] == ["correct", "correct"]
    assert "output layer" in lines[183][0].read_as and "hidden layer" in lines[184][0].read_as
    # δ^{n_l} = (x^{(n_l)} − y) ⊙ f'(u^{(n_l)}) (δ^{(l)} = ∇_{u^{(l)}}L): a claim at the output layer n_l
    assert lines[195][0].verdict == "correct" and "output layer n_l" in lines[195][0].read_as
    for line in (154, 176, 197, 201, 203):
        assert {c.verdict for c in lines[line]} == {"correct"}, lines[line]
        assert "hidden layer" in lines[line][0].read_as


def test_seed_003_hidden_layer_claims():
    lines = by_line(report_of("seed_003.md", 41, 110))
    for line in (83, 91, 95, 108):
        assert {c.verdict for c in lines[line]} == {"correct"}, lines[line]
    assert "hidden layer" in lines[83][0].read_as


# ---------------------------------------------------------------- planted mistakes
def test_planted_column_layers():
    lines = by_line(report_of("layers_planted_columns.md"))
    assert [c.verdict for c in lines[12] + lines[18] + lines[26] + lines[29]] == ["correct"] * 4
    assert lines[15][0].verdict == "wrong"
    assert lines[15][0].diagnosis == "wrong layer: a^{(l)} where a^{(l-1)} belongs"
    assert lines[15][0].expected.endswith("{a^{(l-1)}}^{T}")
    assert lines[23][0].verdict == "wrong"
    assert lines[23][0].diagnosis.startswith("wrong layer: W^{(l)} where W^{(l+1)} belongs")
    # the brace: the output row holds, the hidden row has a instead of σ'(z)
    assert [c.verdict for c in lines[37] + lines[38]] == ["correct", "wrong"]
    assert "missing factor" in lines[38][0].diagnosis


def test_planted_row_layers():
    lines = by_line(report_of("layers_planted_rows.md"))
    assert [c.verdict for c in lines[12]] == ["correct", "correct"]
    assert [c.verdict for c in lines[18] + lines[24]] == ["correct", "correct"]
    assert lines[15][0].verdict == "wrong" and "a^{l} where a^{l-1} belongs" in lines[15][0].diagnosis
    assert lines[21][0].verdict == "wrong" and "transpose missing on W^{l+1}" in lines[21][0].diagnosis


def test_loss_not_tied_to_the_layers_is_not_guessed():
    note = (r"$$z^{(l)} = W^{(l)}a^{(l-1)} + b^{(l)}\\ a^{(l)} = \sigma(z^{(l)})$$" "\n\n"
            r"$$J = \frac{1}{2}\lVert h - y\rVert^2$$" "\n\n"
            r"Output layer: $$\nabla_{z^{(l)}}J = (a^{(l)} - y)\odot\sigma'(z^{(l)})$$" "\n")
    (claim,) = matcalc.check_note(note).claims
    assert claim.verdict == "not_checked" and "not written in terms of its layers' output" in claim.diagnosis


def test_brace_row_at_the_output_naming_layer_l_plus_1_is_not_judged():
    note = (r"$$z^{(l)} = W^{(l)}a^{(l-1)} + b^{(l)}\\ a^{(l)} = \sigma(z^{(l)})$$" "\n\n"
            r"$$J = \frac{1}{2}\lVert \sigma(Wa + b) - y\rVert^2$$" "\n\n"
            "$$\n\\delta^{(l)} = \\nabla_{z^{(l)}}J = \\left\\{ \\begin{aligned}\n"
            "(W^{(l+1)})^T\\delta^{(l+1)}\\odot\\sigma'(z^{(l)}) & l = n_l \\\\\n"
            "(a^{(l)}-y)\\odot\\sigma'(z^{(l)}) & l \\neq n_l\n"
            "\\end{aligned} \\right.\n$$\n")
    claims = matcalc.check_note(note).claims
    assert [c.verdict for c in claims] == ["not_checked", "wrong"]
    assert "l+1" in claims[0].diagnosis


# ---------------------------------------------------------------- a gradient in terms of itself
def test_self_reference_is_wrong_with_the_right_form():
    lines = by_line(report_of("seed_003.md", 1, 40))
    c = lines[25][-1]
    assert c.verdict == "wrong" and c.expected == r"\frac{\part z}{\part Y}X^T"
    assert c.diagnosis.startswith("∂z/∂A where ∂z/∂Y belongs")
    assert lines[25][0].verdict == "correct"


def test_self_reference_that_holds_is_not_called_wrong():
    # with Y = A + B, ∂z/∂A = 1·∂z/∂A holds whatever ∂z/∂A is: not called wrong
    note = r"$z = \tanh(Y)$, $Y = A + B$: $\frac{\partial z}{\partial A} = 1\cdot\frac{\partial z}{\partial A}$" "\n"
    claims = matcalc.check_note(note).claims
    assert claims and all(c.verdict != "wrong" for c in claims)


# ---------------------------------------------------------------- a two-argument named loss
def test_cross_entropy_reads_prediction_and_label():
    r = translate("CE(z^3, L)", {"z3"}, values={"z3"})
    assert r.text == "(-sum(L .* log(z3)))" and r.uncertain
    assert translate(r"\mathrm{CE}(y, \hat{y})", set(), values={"y_hat"}).text == "(-sum(y .* log(y_hat)))"
    with pytest.raises(ParseError, match="prediction"):
        translate("CE(a, b)", set())


# ---------------------------------------------------------------- entries read whole
def test_products_of_entries_under_a_sum_and_a_sized_row_of_entries():
    assert translate(r"\sum_i{z_i * log(L_i)}", {"z", "L"}).text == "sumrowsi__((z .* log(L)))"
    # rows or columns i need a transpose to multiply: not read as numbers
    assert translate(r"\sum_i x_i^T x_i", set()).text == "sumrowsi__(x' * x)"
    assert translate(r"\sum_i X_i w", set()).text == "sumrowsi__(X * w)"
    assert translate(r"[-\frac{L_i}{p_i}]_{1 * n}", {"L", "p"}).text == "(-(L ./ p))"
    # a bracket with a size but an unindexed name inside is read as before
    assert translate(r"\delta_2 * [a^1]^T_{colN(W^2)*1}", {"a1", "W2", "delta_2"}).text == "delta2 * a1'"


def test_missing_factor_in_a_chain_of_rows():
    note = ("$$z^1 = a^0 W_1 + b_1$$\n$$a^1 = sigmoid(z^1)$$\n$$z^2 = a^1 W_2 + b_2$$\n"
            "$$f = \\frac{1}{2}||z^2 - y||^2$$\n\n"
            "$$\\frac{\\partial f}{\\partial z^2} = z^2 - y = \\delta_2$$\n"
            "$$\\frac{\\partial f}{\\partial z^1} = \\delta_2 \\frac{\\partial sigmoid(z^1)}{\\partial z^1}$$\n"
            "$$\\frac{\\partial f}{\\partial a^1} = \\delta_2 \\frac{\\partial z^2}{\\partial a^1}$$\n")
    claims = {c.link_line: c for c in matcalc.check_note(note).claims}
    assert claims[6].verdict == "correct"
    assert claims[7].verdict == "wrong" and claims[7].diagnosis.startswith("missing factor: ∂z^2/∂a^1")
    assert claims[8].verdict == "correct"


# ---------------------------------------------------------------- seed 000: rows with '…', Jacobian entries
def test_seed_000_rows_and_jacobian_entries():
    lines = by_line(report_of("seed_000.md", 1, 145))
    # ∇_y f [w_{1i} ⋯ w_{mi}]: a column times a row; [w_{1i} ⋯ w_{mi}] ∇_y f is ∂f/∂x_i
    row = lines[57][1]
    assert row.verdict == "wrong" and row.diagnosis.startswith("the factors in the wrong order")
    assert row.expected == r"[w_{1i}\;\cdots w_{mi}] \nabla_yf"
    # Σ_i ∂f/∂y_i ∂y_i/∂x_j is entry j of (∂y/∂x)^T ∇_y f (∂y_i/∂x_j: entry (i, j), numerator layout)
    chain = lines[94][0]
    assert chain.verdict == "correct" and chain.layout == "numerator"
    # the row [∂y_1/∂x_j ⋯ ∂y_m/∂x_j] goes on below in a matrix: cut by the reader, not judged
    assert lines[94][1].verdict == "not_checked" and "goes on below" in lines[94][1].diagnosis


def test_row_pattern_in_the_right_order_and_swapped_jacobian_entries():
    note = ("$$y = Wx$$\n\n"
            r"$$\frac{\partial f}{\partial x_i} = [w_{1i}\;\cdots\;w_{mi}]\nabla_y f$$" "\n\n"
            r"$$\frac{\partial f}{\partial x_j} = \sum_{i=1}^m \frac{\partial f}{\partial y_i}\frac{\partial y_j}{\partial x_i}$$"
            "\n")
    claims = {c.link_line: c for c in matcalc.check_note(note).claims}
    assert claims[3].verdict == "correct"
    assert claims[5].verdict != "correct"


def test_planted_bracket_layers_and_the_output_named_L():
    lines = by_line(report_of("layers_planted_brackets.md"))
    # δ^{[L]} = (a^{[L]} − y) ⊙ g'(z^{[L]}): the note writes layer l only; L is its last layer
    assert lines[7][0].verdict == "correct" and "output layer L" in lines[7][0].read_as
    assert [c.verdict for c in lines[10] + lines[11] + lines[12] + lines[14]] == ["correct"] * 4
    assert [c.verdict for c in lines[13] + lines[15] + lines[16]] == ["wrong"] * 3
    assert lines[13][0].diagnosis.startswith("the factors of a product in the wrong order")
    assert lines[15][0].diagnosis.startswith("a transpose missing on W^{[l]}")
    assert lines[16][0].diagnosis.startswith("wrong layer: z^{[l+1]} where z^{[l]} belongs")


def test_cases_environment_with_layer_conditions():
    lines = by_line(report_of("layers_cases_env.md"))
    # the right rows at the right layers hold; the rows swapped (l < L: a^{(l)} − y) or without σ' do not
    assert [c.verdict for c in lines[4]] == ["correct", "correct"]
    assert [c.verdict for c in lines[7]] == ["wrong", "wrong"]
    assert lines[7][0].diagnosis.startswith("at a hidden layer, as its condition says")
    assert "missing factor" in lines[7][1].diagnosis


def test_loss_written_at_layer_l_in_an_output_section():
    note = ("正向：$u^{(l)} = W^{(l)}x^{(l-1)} + b^{(l)}$，$x^{(l)} = f(u^{(l)})$。\n\n"
            "输出层的损失：$E = \\frac{1}{2}\\lVert x^{(l)} - y\\rVert^2$\n\n"
            "$$\\nabla_{W^{(l)}}E = \\big((x^{(l)} - y)\\odot f'(u^{(l)})\\big)(x^{(l-1)})^T$$\n"
            "$$\\nabla_{b^{(l)}}E = (x^{(l)} - y)\\odot f'(x^{(l)})$$\n")
    claims = matcalc.check_note(note).claims
    assert [c.verdict for c in claims] == ["correct", "wrong"]
    assert claims[1].diagnosis == "wrong point of evaluation: x^{(l)} where u^{(l)} belongs"
