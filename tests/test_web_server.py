"""``matcalc serve`` as a real process (uvicorn): concurrent load, hostile input, host guard."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from web_support import request, require_web, running_server


@pytest.fixture(scope="module")
def server():
    require_web()
    with running_server("--workers", "2", "--timeout", "30") as base:
        yield base


def _problem(i: int) -> tuple[dict, str]:
    """Distinct derivations (sizes and a factor vary with i) and the expected ∂f/∂w."""
    k = i % 5 + 2
    return ({"expr": f"{k}*norm2(X*w - y)^2", "wrt": ["w"], "dims": {"X": [i % 7 + 2, 3]}, "formats": ["numpy"]},
            f"{2 * k}Xᵀ(Xw − y)")


def test_fifty_concurrent_derivations_all_answered(server):
    def one(i):
        body, _ = _problem(i)
        return request(server, "/api/derive", body, timeout=120)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(one, range(50)))
    assert len(answers) == 50
    for i, (status, body) in enumerate(answers):
        assert status == 200, (i, body)
        assert body["results"][0]["unicode"] == _problem(i)[1] and body["check"]["passed"], (i, body)
    # the code of one answer computes the right numbers
    from matcalc.codegen.numpy_code import compile_source
    grad = compile_source(answers[3][1]["formats"]["numpy"]["text"], "gradients")
    rng = np.random.default_rng(3)
    X, w, y = rng.normal(size=(5, 3)), rng.normal(size=(3, 1)), rng.normal(size=(5, 1))
    np.testing.assert_allclose(grad(X=X, w=w, y=y)["w"], 10 * X.T @ (X @ w - y), rtol=1e-12)


def test_hostile_requests_in_parallel_leave_the_server_serving(server):
    from test_properties import NASTY, VALID, _mutate
    rnd = random.Random(1)
    corpus = list(NASTY) + [_mutate(rnd, rnd.choice(VALID)) for _ in range(30)]
    raw = [b"{", b"\x00\xff", b'{"expr": ' + b"[" * 5000 + b"]" * 5000 + b"}", b'"x"']

    def one(item):
        body = item if isinstance(item, bytes) else {"expr": item, "formats": []}
        return request(server, "/api/derive", body, timeout=120)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, corpus + raw))
    for item, (status, body) in zip(corpus + raw, answers):
        assert status in (200, 400, 413), (item[:60], status, body)
        if status != 200:
            assert body["error"]["kind"] != "internal error", (item[:60], body)
    status, body = request(server, "/api/derive", {"expr": "norm2(X*w - y)^2", "wrt": ["w"]})
    assert status == 200 and body["results"][0]["unicode"] == "2Xᵀ(Xw − y)"


def test_only_local_host_names_are_served(server):
    assert request(server, "/api/health", headers={"Host": "localhost"})[0] == 200
    assert request(server, "/api/health", headers={"Host": "attacker.example"})[0] == 400


def test_serve_command_line(monkeypatch):
    from click.testing import CliRunner
    from matcalc.cli import main
    r = CliRunner().invoke(main, ["serve", "--help"])
    assert r.exit_code == 0 and "--port" in r.output and "--open" in r.output and "127.0.0.1" in r.output
    monkeypatch.setitem(__import__("sys").modules, "matcalc.web.app", None)   # as without the web extra
    r = CliRunner().invoke(main, ["serve"])
    assert r.exit_code == 2 and "pip install 'matcalc[web]'" in r.output and "Traceback" not in r.output
