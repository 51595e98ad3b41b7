"""Answer key of issue 19's third round of unseen notes (tests/data/t19u_*.md), written with the
notes before they were run: per claim (line, "correct" or the words — any of them, '|'-separated —
the diagnosis of a wrong one must hold; "" accepts any diagnosis)."""
import re

C = "correct"

FIRST_BATCH = {
    "t19u_mlp_sigmoid_cn.md": [
        (18, C), (20, C), (22, "transposed"), (24, C), (24, "not summed over the batch"), (28, C), (30, C),
        (32, C), (34, C), (36, "wrong point of evaluation"), (38, C), (40, "shapes that cannot match|transpose")],
    "t19u_tanh_columns.md": [
        (12, C), (14, C), (16, "transposed"), (18, C), (20, C), (22, C), (24, "wrong point of evaluation"),
        (26, C), (28, C), (30, "missing|dropped"), (32, C), (34, "shapes that cannot match|transpose")],
    "t19u_softmax_ce_cn.md": [
        (10, C), (12, C), (14, "diagonal"), (14, "diagonal"), (17, C), (19, C), (21, "transposed"), (23, C),
        (26, C), (27, "sign")],
    "t19u_logreg_rows.md": [
        (11, C), (13, "factor"), (15, "sign"), (17, ""), (21, C), (23, "missing|dropped"),
        (25, "shapes that cannot match|transpose"), (27, C)],
    "t19u_ridge_cn.md": [
        (9, C), (9, C), (11, "missing|dropped"), (13, "factor"), (15, "shapes that cannot match|transpose"),
        (17, C), (17, "sign"), (21, C), (22, "transposed"), (23, C)],
    "t19u_trace_identities.md": [
        (18, C), (19, "transposed"), (20, C), (21, "missing|dropped"), (22, C), (23, "X⁻¹|inverse"), (24, C),
        (25, "sign"), (26, C), (27, "sign"), (29, C), (29, "transposed")],
    "t19u_relu_softmax_batch.md": [
        (18, C), (19, "factor"), (20, C), (21, "transposed"), (22, C), (23, C), (24, C), (25, "missing|dropped"),
        (26, "⊙|product|shapes that cannot match")],
    "t19u_numerator_layout.md": [
        (14, C), (16, C), (18, C), (20, C), (22, C), (24, "sign"), (26, "missing|dropped"),
        (28, "wrong point of evaluation"), (30, C)],
}

# written after the first batch's fixes, run once as written: a check that the fixes generalise
SECOND_BATCH = {
    "t19u2_linear_neuron_cn.md": [
        (10, C), (12, "transposed"), (14, C), (16, "sign"), (18, C), (20, "factor"), (22, C)],
    "t19u2_tanh_batch_rows.md": [
        (15, C), (16, "factor"), (17, "transposed"), (20, C), (21, C), (22, ""), (23, C),
        (24, "not summed over the batch"), (25, C)],
    "t19u2_frobenius_cn.md": [
        (11, C), (12, "sign"), (13, "shapes that cannot match|transpose"), (14, C), (15, C),
        (16, "transposed|⁻¹|inverse"), (17, C), (18, "⁻¹|inverse|transposed")],
    "t19u2_softmax_bias_rows.md": [
        (12, C), (13, C), (14, "shapes that cannot match|transpose"), (15, C), (16, "not summed over the batch"),
        (17, C), (18, "sign")],
}

# a third batch, written after the second batch passed: the constructs the issue lists as unread
# (\tilde, Unicode ⊙ ∇ ᵀ in math, x' as a name, \mathsf{T}, R^{m,p}, \begin{bmatrix} in the prose,
# a chain across \\, \left[ \right], a double sum over entries)
THIRD_BATCH = {
    "t19u3_tied_autoencoder.md": [
        (10, C), (11, C), (12, C), (13, "wrong point of evaluation"), (17, C), (18, "missing|dropped"),
        (19, "transpos"), (20, C)],
    "t19u3_projection_prime_cn.md": [
        (9, C), (11, C), (13, "shapes that cannot match|transpose"), (15, C), (17, "transposed"), (19, C),
        (21, "sign")],
    "t19u3_ridge_chain.md": [
        (10, C), (11, C), (17, "factor"), (19, ""), (21, "transposed"), (23, "sign")],
    "t19u3_sigmoid_softmax_cn.md": [
        (18, C), (20, C), (22, C), (24, C), (26, C), (28, "wrong point of evaluation"), (30, C),
        (32, "not summed over the batch"), (34, "factor")],
}

# a fourth, after the third passed: seed 004's own style with ReLU, and a stated-symmetric quadratic
FOURTH_BATCH = {
    "t19u4_relu_tr_cn.md": [
        (27, C), (30, C), (33, C), (40, C), (41, "shapes that cannot match"), (42, "not summed over the batch"),
        (43, "transposed"), (44, C)],
    "t19u4_quadratic_sym.md": [
        (7, C), (8, C), (9, "sign"), (10, "factor"), (11, "transposed"), (12, C), (13, "sign")],
}

# a fifth, after the fourth: layers in superscripts, ln det with Tr, a column bias entering transposed
FIFTH_BATCH = {
    "t19u5_layers_superscript.md": [
        (10, C), (11, C), (12, "wrong point of evaluation|shape"), (13, C), (14, "missing|dropped"), (15, C),
        (16, "sign")],
    "t19u5_logdet_frobenius_cn.md": [
        (9, C), (11, "⁻¹|inverse"), (13, "transpos"), (15, "missing|dropped"), (17, "factor|twice")],
    "t19u5_linreg_bias_column.md": [
        (8, C), (9, C), (10, "not summed over the batch"), (11, "factor"), (12, C), (13, "transposed")],
}

# a sixth, after the fifth: a single-example logistic regression with θ, a named δ in a batch note
SIXTH_BATCH = {
    "t19u6_logistic_theta.md": [
        (8, C), (9, "transposed"), (10, "sign"), (11, ""), (12, C), (13, C)],
    "t19u6_tanh_mean_delta_cn.md": [
        (9, C), (11, C), (13, "transposed"), (15, C), (17, "not summed over the batch"), (19, C), (21, "")],
}

KEY = {**FIRST_BATCH, **SECOND_BATCH, **THIRD_BATCH, **FOURTH_BATCH, **FIFTH_BATCH, **SIXTH_BATCH}


def score(reports: dict, key: dict = KEY) -> dict:
    """Claims found and judged right, wrong ones with the right diagnosis, correct ones called wrong."""
    found_right = total = wrong_total = wrong_diag = false_wrong = 0
    misses = []
    for name, entries in key.items():
        pool = list(reports[name].claims)
        for line, want in entries:
            total += 1
            wrong_total += want != C
            match = next((c for c in pool if c.link_line == line), None)
            if match is None:
                misses.append((name, line, want, "not found"))
                continue
            pool.remove(match)
            if want == C:
                if match.verdict == C:
                    found_right += 1
                else:
                    false_wrong += match.verdict == "wrong"
                    misses.append((name, line, want, match.verdict + ": " + match.diagnosis))
            elif match.verdict == "wrong":
                found_right += 1
                if re.search("|".join(re.escape(w) for w in want.split("|")), match.diagnosis):
                    wrong_diag += 1
                else:
                    misses.append((name, line, want, "diagnosis: " + match.diagnosis))
            else:
                misses.append((name, line, want, match.verdict + ": " + match.diagnosis))
        for extra in pool:
            misses.append((name, extra.link_line, "(not in the key)", extra.verdict + ": " + extra.diagnosis))
    return {"claims": total, "found_right": found_right, "wrong": wrong_total, "wrong_diagnosed": wrong_diag,
            "correct_called_wrong": false_wrong, "misses": misses}
