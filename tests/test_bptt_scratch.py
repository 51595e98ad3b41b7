"""The generated BPTT code keeps its (T, ...) buffers between calls (``_scratch``): a second call,
another thread or another T never changes what an earlier call returned."""
import threading

import numpy as np

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
            if any(not np.allclose(got[k], want[k], rtol=1e-12, atol=1e-12) for k in want):
                errors.append(k)

    threads = [threading.Thread(target=work, args=(p,)) for p in points]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
