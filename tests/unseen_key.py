"""The answer key of the unseen notes (tests/data/unseen_*.md), written with the notes, before
they were run: per claim (line, expected verdict, words the diagnosis of a wrong one must hold
— any of them)."""
C = "correct"

KEY = {
    "unseen_ridge_rows.md": [
        (12, C), (15, C), (17, "missing term"), (20, "transposed"), (22, "factor"), (25, C),
        (26, "sign"), (31, C), (32, "transposed"), (33, "shapes that cannot match")],
    "unseen_logreg_cn.md": [
        (14, C), (17, C), (19, "wrong point of evaluation"), (22, C), (23, "sign"), (26, C),
        (28, "not summed over the batch"), (30, C)],
    "unseen_mlp_columns.md": [
        (10, C), (12, "diagonal Jacobian"), (14, C), (16, C), (17, "transposed"), (18, C), (19, C),
        (22, C), (23, "wrong point of evaluation"), (24, C), (25, "missing|dropped|factor")],
    "unseen_neuron_relu.md": [
        (12, C), (14, C), (14, C), (18, C), (20, C), (24, "sign"), (26, C), (26, "transposed|missing")],
    "unseen_softmax_rows.md": [
        (18, C), (20, C), (20, C), (24, "not summed over the batch"), (25, "transposed"),
        (26, "factor"), (29, C), (30, "shapes that cannot match|transpose")],
    "unseen_trace_logdet.md": [
        (17, C), (18, "transposed"), (19, C), (20, "X^{-1}|inverse"), (21, C), (22, "missing term"), (23, C),
        (24, "missing term"), (25, C), (26, "sign")],
    "unseen_sigmoid_batch_cn.md": [
        (18, C), (20, C), (22, C), (24, C), (26, C), (29, "⊙"), (31, C), (33, "wrong point of evaluation"),
        (35, C), (37, "not summed over the batch"), (39, "factor")],
    # written after the index-notation reader (not part of the blind set): entries judged whole
    "unseen_index_columns.md": [
        (9, C), (11, C), (15, "transpose"), (17, "transposed"), (21, C), (23, "extra term")],
    # written after all the fixes and run once, untouched: a check that they generalise
    "fresh_autoencoder.md": [
        (7, C), (9, C), (9, C), (11, C), (13, C), (17, "transposed"), (19, "transpose missing"),
        (21, "factor"), (23, "transposed")],
}
BLIND = [name for name in KEY if name not in ("unseen_index_columns.md", "fresh_autoencoder.md")]


def score(reports: dict) -> dict:
    """Claims found and judged right, wrong ones with the right diagnosis, correct ones called wrong."""
    from t19u_key import score as score_key
    return score_key(reports, KEY)
