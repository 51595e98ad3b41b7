"""The generated BPTT code keeps its (T, ...) buffers between calls (``_scratch``): a second call,
another thread or another T never changes what an earlier call returned."""
import threading

import numpy as np
import pytest

import matcalc
from matcalc.recurrent.models import template


def _point(rng, T, B=3, D=2, H=4, K=2):
    return {"x": rng.standard_normal((T, B, D)), "y": rng.standard_normal((T, B, K)),
            "Wx": rng.standard_normal((D, H)), "Wh": rng.standard_normal((H, H)) / 2,
            "b": rng.standard_normal((1, H)), "V": rng.standard_normal((H, K)), "c": rng.standard_normal((1, K))}


def _frozen(out):
    return {k: np.array(v, copy=True) for k, v in out.items()}


def test_results_survive_later_calls_and_match_fresh_buffers():
    expr, shapes, _ = template("rnn", "squared", "zeros")
    d = matcalc.derive(expr, shapes=shapes, wrt=["Wx", "Wh", "b", "V", "c", "x"])
    src = d.numpy_source()
    assert "_scratch(" in src and "np.empty((T" not in src
    fresh = matcalc.codegen.numpy_code.compile_source(d.portable_source(), "gradients")
    f = d.to_numpy()
    rng = np.random.default_rng(3)
    first_point = _point(rng, 5)
    first = f(**first_point)
    kept = _frozen(first)
    for T in (5, 2, 7, 5):                       # same and other lengths reuse or replace the buffers
        other = _point(rng, T)
        got = f(**other)
        want = fresh(**other)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)
    for k in kept:                               # the first results were never overwritten
        np.testing.assert_array_equal(first[k], kept[k])
    np.testing.assert_allclose(f(**first_point)["x"], kept["x"], rtol=1e-12, atol=1e-12)


def test_threads_have_their_own_buffers():
    expr, shapes, _ = template("lstm", "squared", "zeros")
    d = matcalc.derive(expr, shapes=shapes)
    f = d.to_numpy()
    fresh = matcalc.codegen.numpy_code.compile_source(d.portable_source(), "gradients")
    rng = np.random.default_rng(4)
    H, D, K = 4, 2, 2
    points = []
    for T in (6, 3, 6, 9):
        p = {"x": rng.standard_normal((T, 3, D)), "y": rng.standard_normal((T, 3, K)),
             "V": rng.standard_normal((H, K)), "c": rng.standard_normal((1, K))}
        for g in "fiao":
            p["W" + g] = rng.standard_normal((H, H)) / 2
            p["U" + g] = rng.standard_normal((D, H))
            p["b" + g] = rng.standard_normal((1, H))
        points.append(p)
    errors = []

    def work(p):
        want = fresh(**p)
        for _ in range(20):
            got = f(**p)
            errors.extend(k for k in want if not np.allclose(got[k], want[k], rtol=1e-12, atol=1e-12))

    threads = [threading.Thread(target=work, args=(p,)) for p in points]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors


def _model_point(model, rng, T, B=3, D=2, H=4, K=2):
    p = {"x": rng.standard_normal((T, B, D)), "y": rng.standard_normal((T, B, K)),
         "V": rng.standard_normal((H, K)), "c": rng.standard_normal((1, K))}
    if model == "rnn":
        p.update(Wx=rng.standard_normal((D, H)), Wh=rng.standard_normal((H, H)) / 2, b=rng.standard_normal((1, H)))
    for g in {"rnn": "", "lstm": "fiao", "gru": "zrn"}[model]:
        p.update({"W" + g: rng.standard_normal((H, H)) / 2, "U" + g: rng.standard_normal((D, H)),
                  "b" + g: rng.standard_normal((1, H))})
    return p


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("loss", ["squared", "xent"])
def test_products_over_all_steps_write_into_kept_buffers(model, loss):
    """The batched products land in scratch buffers (NumPy source only); results match the
    fresh-buffer source and finite differences, and survive later calls with other T."""
    expr, shapes, labels = template(model, loss, "zeros")
    d = matcalc.derive(expr, shapes=shapes, sum_to_one=labels)
    assert "_product_into(" in d.numpy_source() and "_product_into(" not in d.portable_source()
    f = d.to_numpy()
    fresh = matcalc.codegen.numpy_code.compile_source(d.portable_source(), "gradients")
    rng = np.random.default_rng(7)
    points = [_model_point(model, rng, T) for T in (4, 1, 6, 4)]
    if loss == "xent":
        for p in points:
            p["y"] = np.abs(p["y"])
    firsts = []
    for p in points:
        got = f(**p)
        firsts.append((got, _frozen(got)))
        want = fresh(**p)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)
    for got, kept in firsts:
        for k in kept:
            np.testing.assert_array_equal(got[k], kept[k])
    assert d.check().passed


def _helpers_module():
    from matcalc.codegen.numpy_code import compile_source, module_source
    body = ("def f(key, a, b, c=None):\n"
            "    p = _product_into(key, a, b, c)\n"
            "    return _own(p, (_kept(key),)), p\n")
    return compile_source(module_source([body], {"_scratch", "_own", "_product_into", "_kept"}), "f")


def test_product_into_falls_back_to_fresh_arrays_when_a_buffer_would_be_wrong():
    f = _helpers_module()
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((3, 4))
    cases = [(a, b, None), (a, b, rng.standard_normal((1, 4))), (a, b, 2.5),
             (a[:, :1] @ np.ones((1, 1)), np.ones((1, 1)), rng.standard_normal((5, 4))),   # c wider than a @ b
             (a.astype(np.float32), b.astype(np.float32), rng.standard_normal((1, 4))),   # c upcasts
             (a[0], b, None), (a, b[:, 0], rng.standard_normal(5))]                     # 1-D operands
    for x, y, c in cases:
        want = x @ y if c is None else (x @ y) + c
        owned, raw = f("k", x, y, c)
        assert owned.dtype == want.dtype and owned.shape == want.shape
        np.testing.assert_allclose(owned, want, rtol=1e-6 if want.dtype == np.float32 else 1e-13)
        kept = owned.copy()
        f("k", 2 * x, y, c)                                                           # same key, later call
        np.testing.assert_array_equal(owned, kept)
    _, raw = f("k2", a, b)
    assert f("k2", a, b)[1] is raw                                                    # the buffer is reused


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="page-fault counts need resource (POSIX)")
def test_interleaved_calls_fault_no_fresh_pages():
    """Calls interleaved with other work page-fault (almost) nothing: the multi-MB products
    no longer come back as fresh pages (ru_minflt per call; was ~700 for this RNN)."""
    import resource
    expr, shapes, _ = template("rnn", "squared", "zeros")
    d = matcalc.derive(expr, shapes=shapes)
    f = d.to_numpy()
    p = _model_point("rnn", np.random.default_rng(0), 32, B=64, D=32, H=128, K=10)
    faults = []
    for _ in range(12):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        f(**p)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        h = np.zeros((64, 128))
        for _ in range(32):                                                           # other work: small arrays
            h = np.tanh(h @ p["Wh"] + 0.1)
    assert sorted(faults[2:])[len(faults[2:]) // 2] < 50, faults


@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_no_kept_buffer_is_read_before_this_call_writes_it(model):
    """Every kept buffer filled with NaN before a call (a stale value read would show): the
    results, wrt the sequence x too, still equal the fresh-buffer source's, T = 1 included."""
    expr, shapes, _ = template(model, "squared", "param")
    d = matcalc.derive(expr, shapes=shapes, wrt=list(shapes))
    f = matcalc.codegen.numpy_code.compile_source(d.numpy_source(), "gradients")
    fresh = matcalc.codegen.numpy_code.compile_source(d.portable_source(), "gradients")
    kept = f.__globals__["_SCRATCH"].__dict__
    rng = np.random.default_rng(12)
    for T, B in ((4, 3), (1, 2), (4, 3), (2, 1)):
        p = _model_point(model, rng, T, B=B)
        p.update({n: rng.standard_normal((B, 4)) for n in shapes if n not in p})   # h0 (and C0)
        for buf in kept.values():
            buf.fill(np.nan)
        got, want = f(**p), fresh(**p)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)
    assert kept                                                                       # buffers were kept


def test_terminal_loss_and_two_states_with_poisoned_buffers():
    """A loss at h[T] beside sum_t, two states, wrt the sequences: NaN-filled kept buffers, other T."""
    expr = ("a[t] = sigmoid(x[t]*U + a[t-1]*W); c[t] = c[t-1] .* a[t] + tanh(x[t]*U2); q[t] = c[t]*V; "
            "f = sum_t(norm2(q[t] - y[t])^2) + norm2(c[T])^2")
    shapes = {"x": ("B", "D"), "y": ("B", "K"), "U": ("D", "H"), "W": ("H", "H"), "U2": ("D", "H"), "V": ("H", "K")}
    d = matcalc.derive(expr, shapes=shapes, wrt=list(shapes))
    f = matcalc.codegen.numpy_code.compile_source(d.numpy_source(), "gradients")
    fresh = matcalc.codegen.numpy_code.compile_source(d.portable_source(), "gradients")
    rng = np.random.default_rng(13)
    results = []
    for T in (3, 1, 5, 3):
        p = {"x": rng.standard_normal((T, 2, 3)), "y": rng.standard_normal((T, 2, 2)),
             "U": rng.standard_normal((3, 4)), "W": rng.standard_normal((4, 4)) / 2,
             "U2": rng.standard_normal((3, 4)), "V": rng.standard_normal((4, 2))}
        for buf in f.__globals__["_SCRATCH"].__dict__.values():
            buf.fill(np.nan)
        got, want = f(**p), fresh(**p)
        results.append((got, _frozen(got)))
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)
    for got, frozen in results:
        for k in frozen:
            np.testing.assert_array_equal(got[k], frozen[k])
    assert d.check().passed
