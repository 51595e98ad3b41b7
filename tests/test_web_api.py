"""The JSON API of ``matcalc serve`` through Starlette's TestClient (worker processes included):
results checked numerically, errors located, limits, hostile input, worker crashes and timeouts."""
from __future__ import annotations

import random

import numpy as np
import pytest

from web_support import require_web

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")   # Starlette's TestClient over httpx


@pytest.fixture(scope="module")
def client():
    require_web()
    from starlette.testclient import TestClient
    from matcalc.web.app import create_app
    with TestClient(create_app(workers=2, timeout=20)) as c:
        yield c


def _derive(client, **body):
    r = client.post("/api/derive", json=body)
    return r.status_code, r.json()


def _numpy(code: str, name="gradients"):
    from matcalc.codegen.numpy_code import compile_source
    return compile_source(code, name)


def test_least_squares_result_check_and_code(client):
    status, body = _derive(client, expr="norm2(X*w - y)^2", wrt=["w"], dims={"X": ["n", "d"]})
    assert status == 200, body
    (w,) = body["results"]
    assert w["key"] == "w" and w["unicode"] == "2Xᵀ(Xw − y)" and w["language"] == "2*X'*(X*w - y)"
    assert body["check"]["passed"] and body["check"]["max_rel_error"] < 1e-6
    assert body["variables"]["X"] == {"shape": ["n", "d"], "kind": "matrix", "sequence": False}
    assert body["variables"]["w"]["shape"] == ["d", 1] and body["variables"]["w"]["kind"] == "column vector"
    assert set(body["formats"]) == {"latex", "markdown", "numpy"}
    assert body["formats"]["latex"]["text"].startswith("\\documentclass")
    assert "## Results" in body["formats"]["markdown"]["text"]
    grad = _numpy(body["formats"]["numpy"]["text"])
    rng = np.random.default_rng(1)
    X, wv, y = rng.normal(size=(7, 3)), rng.normal(size=(3, 1)), rng.normal(size=(7, 1))
    np.testing.assert_allclose(grad(X=X, w=wv, y=y)["w"], 2 * X.T @ (X @ wv - y), rtol=1e-12)
    assert body["steps"]["blocks"] and all(b["latex"].startswith("\\begin{aligned}") for b in body["steps"]["blocks"])


def test_jacobian_and_hessian(client):
    status, body = _derive(client, expr="sigmoid(W*x)", wrt=["x"], layout="denominator", formats=["numpy"])
    assert status == 200 and body["layout"] == "denominator" and body["check"]["passed"], body
    status, body = _derive(client, expr="x'*A*x", wrt=["x"], order=2, formats=["numpy"])
    assert status == 200 and body["order"] == 2 and body["check"]["passed"], body
    hess = _numpy(body["formats"]["numpy"]["text"])
    A, x = np.arange(9.0).reshape(3, 3), np.ones((3, 1))
    np.testing.assert_allclose(hess(A=A, x=x)["x"], A + A.T)


def test_every_example_derives_and_checks(client):
    examples = client.get("/api/examples").json()["examples"]
    assert {"seed-004", "least-squares", "lstm-xent"} <= {e["id"] for e in examples}
    for e in examples:
        req = {k: e[k] for k in ("expr", "dims", "wrt", "method", "order", "layout", "sum_to_one")}
        status, body = _derive(client, **req, formats=[])
        assert status == 200, (e["id"], body)
        assert body["check"]["passed"], (e["id"], body["check"])
        assert body["steps"] and body["steps"]["blocks"], e["id"]


@pytest.mark.parametrize("method", ["backprop", "trace", "jacobian"])
def test_seed_004_steps_in_each_method(client, method):
    e = next(x for x in client.get("/api/examples").json()["examples"] if x["id"] == "seed-004")
    status, body = _derive(client, expr=e["expr"], dims=e["dims"], wrt=e["wrt"], method=method, formats=[])
    assert status == 200 and body["method"] == method and body["steps_error"] is None, body
    assert len(body["steps"]["blocks"]) >= 3 and body["check"]["passed"]
    assert {r["key"] for r in body["results"]} == {"W1", "b1", "W2", "b2"}


def test_recurrent_program(client):
    status, body = _derive(client, expr="h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b); f = sum_t(norm2(h[t]*V - y[t])^2)",
                           dims={"x": ["B", "D"], "y": ["B", "K"], "Wx": ["D", "H"], "Wh": ["H", "H"],
                                 "b": [1, "H"], "V": ["H", "K"]}, formats=["numpy"])
    assert status == 200 and body["recurrent"] and body["check"]["passed"], body
    assert body["variables"]["x"]["sequence"] and not body["variables"]["Wx"]["sequence"]
    assert body["latex"] and body["steps"]["blocks"]


def test_errors_point_at_the_place(client):
    status, body = _derive(client, expr="H = X*W\nf = sum(H +)")
    assert status == 400
    err = body["error"]
    assert err["field"] == "expr" and err["kind"] == "syntax error"
    assert (err["line"], err["column"]) == (2, 12) and err["pos"] == len("H = X*W\nf = sum(H +")
    status, body = _derive(client, expr="A*x", dims={"A": [3, 4], "x": [5, 1]})
    assert status == 400 and body["error"]["kind"] == "shape error" and body["error"]["column"] == 2
    status, body = _derive(client, expr="norm2(x)", wrt=["q"])
    assert status == 400 and "unknown variable 'q'" in body["error"]["message"]


@pytest.mark.parametrize("body, field", [
    ({"expr": 3}, "expr"), ({"expr": ""}, "expr"), ({"expr": "x", "order": 3}, "order"),
    ({"expr": "x", "method": "magic"}, "method"), ({"expr": "x", "dims": {"x": [0, 1]}}, "dims"),
    ({"expr": "x", "dims": {"x": ["n", "2+2"]}}, "dims"), ({"expr": "x", "dims": {"1x": [1, 1]}}, "dims"),
    ({"expr": "x", "wrt": ["__import__"]}, None), ({"expr": "x", "wrt": ["a b"]}, "wrt"),
    ({"expr": "x", "evaluate": True}, "evaluate"), ({"expr": "x", "check": "yes"}, "check"),
    ({"expr": "x", "formats": ["pdf"]}, "formats"),
])
def test_bad_requests_are_refused_by_field(client, body, field):
    status, out = _derive(client, **body)
    assert status == 400, out
    if field:
        assert out["error"]["field"].split(".")[0] == field, out


def test_body_and_text_limits(client):
    from matcalc.web import api
    r = client.post("/api/derive", content=b"{" + b" " * (api.MAX_BODY_BYTES + 10) + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    r = client.post("/api/derive", json={"expr": "x+" * (api.MAX_TEXT // 2 + 1) + "x"})
    assert r.status_code == 413 and r.json()["error"]["field"] == "expr"
    for raw in (b"not json", b"[1, 2]", b"\xff\xfe", b"[" * 100000):
        r = client.post("/api/derive", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 400, raw[:10]


def test_check_my_answer(client):
    r = client.post("/api/check", json={"expr": "norm2(X*w - y)^2", "wrt": ["w"], "claim": "X'*(X*w - y)"})
    body = r.json()
    assert r.status_code == 200 and body["verdict"] == "wrong", body
    assert any("factor" in d for d in body["diagnosis"]) and body["expected"] == "2*X'*(X*w - y)"
    ce = body["counterexample"]
    X, w, y = (np.array(ce["point"][k]) for k in ("X", "w", "y"))
    np.testing.assert_allclose(ce["expected"], np.round(2 * X.T @ (X @ w - y), 4))
    r = client.post("/api/check", json={"expr": "norm2(X*w - y)^2", "wrt": ["w"], "claim": "2*(X'*X*w - X'*y)"})
    assert r.json()["verdict"] == "correct"
    r = client.post("/api/check", json={"expr": "norm2(X*w - y)^2", "wrt": ["w"], "claim": "2*X'*(X*w - y"})
    err = r.json()["error"]
    assert r.status_code == 400 and err["field"] == "claim" and err["column"] == 14, err   # the end of the claim
    r = client.post("/api/check", json={"expr": "norm2(X*w - y)^2", "wrt": ["w", "y"], "claim": "w"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "wrt"


def test_page_and_assets_are_served_offline(client):
    page = client.get("/")
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "http://" not in page.text and "https://" not in page.text   # nothing from a CDN
    for path in ("/static/app.js", "/static/app.css", "/static/katex/katex.min.js", "/static/katex/katex.min.css",
                 "/static/katex/fonts/KaTeX_Main-Regular.woff2", "/static/katex/fonts/KaTeX_Math-Italic.woff2"):
        assert client.get(path).status_code == 200, path
    css = client.get("/static/katex/katex.min.css").text
    import re
    for font in set(re.findall(r"url\(fonts/([\w-]+\.woff2)\)", css)):
        assert client.get(f"/static/katex/fonts/{font}").status_code == 200, font
    assert client.get("/api").json()["POST /api/derive"]["formats"] == ["latex", "markdown", "numpy"]


def test_hostile_inputs_never_break_the_server(client):
    from test_properties import NASTY, VALID, _mutate
    rnd = random.Random(0)
    corpus = list(NASTY) + [_mutate(rnd, rnd.choice(VALID)) for _ in range(60)]
    for text in corpus:
        for path, body in (("/api/derive", {"expr": text, "formats": []}),
                           ("/api/check", {"expr": "norm2(X*w - y)^2", "wrt": ["w"], "claim": text})):
            r = client.post(path, json=body)
            assert r.status_code in (200, 400, 413), (text[:80], r.status_code, r.text[:300])
            if r.status_code != 200:
                err = r.json()["error"]
                assert err["kind"] != "internal error" and "Traceback" not in err["message"], (text[:80], err)
                assert "\n" not in err["message"] and len(err["message"]) < 400, (text[:80], err)
    assert client.get("/api/health").json()["ok"]
    assert _derive(client, expr="norm2(X*w - y)^2", wrt=["w"], formats=[])[0] == 200


def test_a_crashing_or_hanging_worker_loses_only_its_request():
    require_web()
    from starlette.testclient import TestClient
    from matcalc.web.app import create_app
    app = create_app(workers=1, timeout=1.0, memory_mb=1024, handlers="web_jobs:HANDLERS")
    app.state.pool.grace = 0.5
    with TestClient(app) as c:
        ok = {"expr": "norm2(X*w - y)^2", "wrt": ["w"], "formats": []}
        for trouble, kind in (("crash", "internal error"), ("hang", "limit exceeded"),
                              ("deaf", "limit exceeded"), ("hog", "limit exceeded")):
            r = c.post("/api/derive", json={**ok, "expr": trouble})
            assert r.json()["error"]["kind"] == kind, (trouble, r.text)
            r = c.post("/api/derive", json=ok)   # the next request is served as usual
            assert r.status_code == 200 and r.json()["results"][0]["unicode"] == "2Xᵀ(Xw − y)", trouble
        assert c.get("/api/health").json()["restarts"] == 2   # the crash and the deaf worker were replaced


def test_trouble_in_one_request_while_others_run():
    require_web()
    from concurrent.futures import ThreadPoolExecutor
    from starlette.testclient import TestClient
    from matcalc.web.app import create_app
    app = create_app(workers=2, timeout=1.0, memory_mb=1024, handlers="web_jobs:HANDLERS")
    app.state.pool.grace = 0.5
    ok = {"expr": "norm2(X*w - y)^2", "wrt": ["w"], "formats": []}
    with TestClient(app) as c, ThreadPoolExecutor(6) as pool:
        bodies = [{**ok, "expr": "deaf"}, {**ok, "expr": "crash"}] + [ok] * 6
        answers = list(pool.map(lambda b: c.post("/api/derive", json=b), bodies))
    assert [a.json()["error"]["kind"] for a in answers[:2]] == ["limit exceeded", "internal error"]
    for a in answers[2:]:
        assert a.status_code == 200 and a.json()["results"][0]["unicode"] == "2Xᵀ(Xw − y)"


def test_a_request_whose_client_left_is_not_run():
    require_web()
    import asyncio
    from matcalc.web import api
    from matcalc.web.workers import WorkerPool

    async def left():
        return True

    async def main():
        pool = WorkerPool(1, 10.0, None, "web_jobs:HANDLERS")
        await pool.start()
        try:
            crash = api.validate({"expr": "crash"}, api.DERIVE_FIELDS)
            status, body = await pool.run("derive", crash, gone=left)
            assert status == 499 and body["error"]["kind"] == "cancelled" and pool.restarts == 0   # never ran
            ok = api.validate({"expr": "norm2(X*w - y)^2", "wrt": ["w"], "formats": []}, api.DERIVE_FIELDS)
            status, body = await pool.run("derive", ok)
            assert status == 200 and body["results"][0]["unicode"] == "2Xᵀ(Xw − y)"
        finally:
            await pool.close()

    asyncio.run(main())
