"""The page in real headless Chromium (Selenium): typing, typeset results, steps, checks, copy,
URL state and screenshots at two widths.  Skipped locally without chromium/chromium-driver;
in CI (CI set) a missing browser fails."""
from __future__ import annotations

import os
import time
import urllib.parse

import numpy as np
import pytest

from web_support import chromium_driver, chromium_paths, dark_fraction, png_size, require, require_web, running_server

LATENCY = float(os.environ.get("MATCALC_WEB_LATENCY", "1.0"))   # seconds from the last keystroke
SHOTS = os.environ.get("MATCALC_WEB_SHOTS")                      # keep the screenshots in this folder


@pytest.fixture(scope="module")
def server():
    require_web()
    require(all(chromium_paths()), "chromium and chromium-driver")
    with running_server("--workers", "2") as base:
        yield base


@pytest.fixture(scope="module")
def browser(server):
    driver = chromium_driver()
    yield driver
    driver.quit()


def wait(driver, script, timeout=20.0, *args):
    deadline = time.time() + timeout
    while True:
        value = driver.execute_script(script, *args)
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for: {script}")
        time.sleep(0.02)


def derived(driver, after: int = 0, timeout=30.0) -> int:
    """Wait for a derivation newer than ``after``; returns its number."""
    return int(wait(driver, "const n = Number(document.body.dataset.derived || 0); return n > arguments[0] && "
                            "document.getElementById('status').textContent === 'derived' ? n : 0;", timeout, after))


def open_page(driver, base, query=""):
    driver.get(base + "/" + query)
    return derived(driver)


def type_program(driver, text: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    editor = driver.find_element(By.ID, "expr")
    editor.click()
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys(Keys.DELETE)
    for ch in text:
        editor.send_keys(ch)
    return time.time()


def test_typing_shows_the_typeset_gradient_within_a_second(browser, server):
    from selenium.webdriver.common.by import By
    n = open_page(browser, server)
    before = n
    last_key = type_program(browser, "norm2(X*w - y)^2")
    wait(browser, "const r = document.querySelector('#result .result[data-key=w]');"
                  "return r && Number(document.body.dataset.derived) > arguments[0] && r.querySelector('.katex-html');",
         10, before)
    elapsed = time.time() - last_key
    row = browser.find_element(By.CSS_SELECTOR, "#result .result[data-key=w]")
    assert row.get_attribute("data-unicode") == "2Xᵀ(Xw − y)"
    typeset = row.find_element(By.CSS_SELECTOR, ".katex-html").text.replace("\n", "").replace(" ", "")
    assert "2X" in typeset and "(Xw−y)" in typeset, typeset   # the formula as KaTeX laid it out
    assert row.find_element(By.CSS_SELECTOR, ".katex-html").size["width"] > 50
    check = browser.find_element(By.ID, "check")
    assert check.get_attribute("data-passed") == "true" and "check passed" in check.text
    assert elapsed < LATENCY, f"{elapsed:.2f} s from the last keystroke to the typeset result"
    assert "expr=norm2" in browser.current_url


def test_errors_show_at_the_caret(browser, server):
    from selenium.webdriver.common.by import By
    open_page(browser, server)
    type_program(browser, "norm2(X*w - y +)^2")
    wait(browser, "return document.getElementById('error-mark')", 10)
    error = browser.find_element(By.ID, "error")
    assert "syntax error" in error.text and "column 16" in error.text
    mark = browser.find_element(By.ID, "error-mark")
    assert mark.text == ")"
    editor = browser.find_element(By.ID, "expr")
    # the mark lies inside the editor, on the first line, about 15 characters in
    e, m = editor.rect, mark.rect
    assert e["x"] < m["x"] < e["x"] + e["width"] and e["y"] < m["y"] < e["y"] + 40


def test_a_new_program_drops_the_old_choices(browser, server):
    from selenium.webdriver.common.by import By
    open_page(browser, server, "?expr=" + urllib.parse.quote("norm2(X*w - y)^2") + "&wrt=w&dim=X=5,3")
    n = int(browser.execute_script("return Number(document.body.dataset.derived)"))
    type_program(browser, "sum(A*v)")
    derived(browser, n)
    keys = {r.get_attribute("data-key") for r in browser.find_elements(By.CSS_SELECTOR, "#result .result")}
    assert keys == {"A", "v"} and browser.find_element(By.ID, "error").get_attribute("hidden")


def test_kind_and_shape_edits_rederive(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
    n = open_page(browser, server, "?expr=" + urllib.parse.quote("sum(A*v)") + "&wrt=v")
    Select(browser.find_element(By.CSS_SELECTOR, "#vars select.kind[data-name=v]")).select_by_value("row vector")
    n = derived(browser, n)
    assert browser.find_element(By.CSS_SELECTOR, "#vars input.shape[data-name=v]").get_attribute("value").startswith("1,")
    assert browser.find_element(By.CSS_SELECTOR, "#vars input.shape[data-name=A]").get_attribute("value").endswith(",1")
    shape = browser.find_element(By.CSS_SELECTOR, "#vars input.shape[data-name=A]")
    shape.clear()
    shape.send_keys("4,1", Keys.TAB)
    derived(browser, n)
    assert "dim=A%3D4%2C1" in browser.current_url or "dim=A=4,1" in urllib.parse.unquote(browser.current_url)
    row = browser.find_element(By.CSS_SELECTOR, "#result .result[data-key=v]")
    assert row.get_attribute("data-language").startswith("A'*ones(4,")   # 1ᵀ summed over A's 4 rows
    assert browser.find_element(By.ID, "check").get_attribute("data-passed") == "true"


def test_check_my_answer_and_copy_code(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    open_page(browser, server, "?expr=" + urllib.parse.quote("norm2(X*w - y)^2") + "&wrt=w")
    Select(browser.find_element(By.ID, "claim-wrt")).select_by_value("w")
    claim = browser.find_element(By.ID, "claim")
    claim.clear()
    claim.send_keys("X'*(X*w - y)")
    browser.find_element(By.ID, "check-btn").click()
    verdict = wait(browser, "return document.getElementById('claim-verdict')", 20)
    assert verdict.get_attribute("data-verdict") == "wrong"
    assert "factor" in browser.find_element(By.ID, "claim-diagnosis").text
    assert "expected" in browser.find_element(By.ID, "claim-counterexample").text
    claim.clear()
    claim.send_keys("2*X'*X*w - 2*X'*y")
    browser.find_element(By.ID, "check-btn").click()
    wait(browser, "const v = document.getElementById('claim-verdict'); return v && v.dataset.verdict === 'correct'", 20)

    browser.find_element(By.CSS_SELECTOR, "#tabs button[data-format=numpy]").click()
    browser.find_element(By.ID, "copy-btn").click()
    wait(browser, "return document.getElementById('copy-status').textContent.startsWith('copied')", 5)
    code = browser.find_element(By.ID, "code").text
    from matcalc.codegen.numpy_code import compile_source
    grad = compile_source(code, "gradients")
    rng = np.random.default_rng(0)
    X, w, y = rng.normal(size=(6, 2)), rng.normal(size=(2, 1)), rng.normal(size=(6, 1))
    np.testing.assert_allclose(grad(X=X, w=w, y=y)["w"], 2 * X.T @ (X @ w - y), rtol=1e-12)
    link = browser.find_element(By.ID, "download")
    assert link.get_attribute("download") == "matcalc.py" and link.get_attribute("href").startswith("blob:")
    browser.find_element(By.CSS_SELECTOR, "#tabs button[data-format=latex]").click()
    assert browser.find_element(By.ID, "code").text.startswith("\\documentclass")
    assert browser.find_element(By.ID, "download").get_attribute("download") == "matcalc.tex"


def test_url_state_opens_the_derivation(browser, server):
    from selenium.webdriver.common.by import By
    query = "?" + urllib.parse.urlencode([("expr", "sigmoid(W*x)"), ("wrt", "x"), ("dim", "W=4,3"),
                                          ("layout", "denominator"), ("method", "jacobian")])
    open_page(browser, server, query)
    assert browser.find_element(By.ID, "what").get_attribute("value") == "jacobian"
    assert browser.find_element(By.ID, "layout").get_attribute("value") == "denominator"
    shape = browser.find_element(By.CSS_SELECTOR, "#vars input.shape[data-name=W]")
    assert shape.get_attribute("value") == "4,3"
    x_shape = browser.find_element(By.CSS_SELECTOR, "#vars input.shape[data-name=x]").get_attribute("value")
    assert x_shape == "3,1"   # inferred from W's declared size
    assert browser.find_element(By.ID, "check").get_attribute("data-passed") == "true"
    row = browser.find_element(By.CSS_SELECTOR, "#result .result[data-key=x]")
    assert "diag" in row.get_attribute("data-unicode") and "W" in row.get_attribute("data-unicode")


@pytest.mark.parametrize("method", ["backprop", "trace", "jacobian"])
def test_seed_004_shows_its_steps_in_each_method(browser, server, method):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    n = open_page(browser, server)
    Select(browser.find_element(By.ID, "examples")).select_by_value("seed-004")
    n = derived(browser, n)
    menu = Select(browser.find_element(By.ID, "method"))
    if menu.first_selected_option.get_attribute("value") != method:   # the example opens in its own method
        menu.select_by_value(method)
        derived(browser, n)
    title = browser.find_element(By.ID, "steps-title").text
    assert {"backprop": "named deltas", "trace": "trace-differential", "jacobian": "chain rule"}[method] in title
    blocks = browser.find_elements(By.CSS_SELECTOR, "#steps .step-block .katex-display")
    assert len(blocks) >= 3 and not browser.find_elements(By.CSS_SELECTOR, "#steps .error")
    assert {r.get_attribute("data-key") for r in browser.find_elements(By.CSS_SELECTOR, "#result .result")} == \
        {"W1", "b1", "W2", "b2"}
    assert browser.find_element(By.ID, "check").get_attribute("data-passed") == "true"
    assert f"method={method}" in browser.current_url or method == "backprop"


@pytest.mark.parametrize("width", [1280, 390])
def test_screenshots_have_no_overflow_and_a_visible_result(browser, server, width, tmp_path):
    from selenium.webdriver.common.by import By
    browser.set_window_size(width, 900)
    try:
        example = "?expr=" + urllib.parse.quote("H = sigmoid(X*W1 + b1)\nf = norm2(H*W2 + b2 - Y)^2") + \
                  "&dim=b1=1,h&dim=b2=1,k&method=trace"
        open_page(browser, server, example)
        inner = browser.execute_script("return window.innerWidth")
        overflow = browser.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than the window at {inner}px"
        wide = browser.execute_script(
            "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
            "document.documentElement.clientWidth + 1 && !e.closest('.katex-display, .code, .table-wrap, .step-block,"
            " .math-block, .result')).map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)")
        assert not wide, f"elements past the right edge at {inner}px: {wide}"
        result = browser.find_element(By.ID, "result")
        browser.execute_script("arguments[0].scrollIntoView()", result)
        r = result.rect
        assert r["width"] > 100 and r["height"] > 30 and r["x"] >= 0 and r["x"] + r["width"] <= inner + 1
        shot = browser.get_screenshot_as_png()
        assert png_size(shot)[0] == inner
        crop = result.screenshot_as_png
        assert dark_fraction(crop) > 0.005, "the result area is blank in the screenshot"
        folder = SHOTS or tmp_path
        with open(os.path.join(folder, f"serve-{width}.png"), "wb") as fh:
            fh.write(shot)
    finally:
        browser.set_window_size(1280, 900)


def test_no_script_errors_in_the_console(browser, server):
    open_page(browser, server, "?expr=" + urllib.parse.quote("norm2(X*w - y)^2"))
    entries = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not entries, entries   # script errors, Content-Security-Policy violations
