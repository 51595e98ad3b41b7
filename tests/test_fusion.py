"""GEMM fusion in generated BPTT code (matcalc/recurrent/fusion.py): gates sharing an operand are one GEMM
on the concatenated parameters, input projections one GEMM before the loop, and the backward
gradients and carries one GEMM each — checked against finite differences."""
import re

import pytest

import matcalc
from matcalc.recurrent.models import template


def _loop(src: str, which: int) -> str:
    """The body of the forward (0) or backward (1) loop."""
    starts = [m.end() for m in re.finditer(r"\n    for t in range\(.*\):\n", src)]
    body = src[starts[which]:]
    return body[:re.search(r"\n    \S", body).start()]


@pytest.mark.parametrize("model", ["lstm", "gru", "rnn"])
def test_recurrent_models_fuse_their_gemms(model):
    expr, shapes, labels = template(model, "xent", "param")
    d = matcalc.derive(expr, shapes=shapes, sum_to_one=labels)
    src = d.numpy_source()
    forward, backward = _loop(src, 0), _loop(src, 1)
    assert "x_t @" not in forward and "x.reshape(-1, x.shape[2]) @ " in d.portable_source()   # projections hoisted
    if model == "lstm":
        assert src.count("np.concatenate([Wf, Wi, Wa, Wo], axis=1)") == 1
        assert forward.count(" @ ") == 1          # h W_cat (the output layer runs after the loop)
        assert "d_cat @ cat_Wf_Wi_Wa_Wo.T" in backward
        # parameter gradients: one GEMM over all steps after the loop (matcalc/recurrent/deferral.py)
        assert ".T @" not in backward and ".sum(axis=0" not in backward
        after = src[src.index(backward) + len(backward):]
        assert "h_prev_all.T @ d_cat_rest" in after and "x_t_all.T @ d_cat_all" in after
        assert after.count(".sum(axis=0") == 2   # the output bias and one for the four gates
    assert d.check().passed


def test_products_without_a_shared_operand_are_left_alone():
    program = "h[t] = tanh(h[t-1]*W + x[t]*U); f = sum_t(sum(h[t]))"
    d = matcalc.derive(program, shapes={"x": ("B", "D"), "W": ("H", "H"), "U": ("D", "H")})
    src = d.numpy_source()
    assert "np.concatenate" not in src and "h_prev @ W" in _loop(src, 0)
    assert d.check().passed
