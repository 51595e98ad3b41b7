// The matcalc page: edits -> (debounced) POST /api/derive -> typeset results, steps, check, exports.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const DEBOUNCE_MS = 250;
  const state = { expr: "", dims: {}, wrt: null, what: "gradient", layout: "numerator", method: "backprop",
                  sumToOne: [], format: "numpy" };
  let variables = {};          // from the last good answer: name -> {shape, kind, sequence}
  let formats = {};            // name -> {extension, text}
  let timer = null, inflight = null, seq = 0;

  // ------------------------------------------------------------ math
  function tex(latex, el, display) {
    try {
      katex.render(latex, el, { displayMode: display !== false, throwOnError: false, output: "htmlAndMathml" });
    } catch (e) { el.textContent = latex; }
  }
  function textWithMath(text, el) {      // "delta of $Y_{pred}$" -> text and inline math
    el.textContent = "";
    text.split(/(\$[^$]*\$)/).forEach((part) => {
      if (part.startsWith("$") && part.endsWith("$") && part.length > 1) {
        const span = document.createElement("span"); tex(part.slice(1, -1), span, false); el.appendChild(span);
      } else { el.appendChild(document.createTextNode(part)); }
    });
  }

  // ------------------------------------------------------------ request
  function shapeText(shape) { return shape.length ? shape.join(",") : "scalar"; }
  function parseShape(text) {
    const t = text.trim();
    if (t === "scalar" || t === "()" || t === "[]") return [];
    return t.split(",").map((s) => s.trim());
  }
  const KINDS = ["scalar", "column vector", "row vector", "matrix"];
  function shapeOfKind(kind, shape) {     // a new kind keeps the sizes it can: (m,n) -> column (m,1)
    const sizes = shape.filter((s) => s !== "1" && s !== 1);
    const a = sizes[0] || "n", b = sizes[1] || (a === "k" ? "m" : "k");
    return kind === "scalar" ? "scalar" : kind === "column vector" ? `${a},1` : kind === "row vector" ? `1,${a}` : `${a},${b}`;
  }
  function payload() {
    // names the program text no longer uses stay in the state but are not sent (the server would refuse them)
    const used = new Set(state.expr.match(/[A-Za-z_][A-Za-z0-9_]*/g) || []);
    const body = { expr: state.expr, method: state.method, check: true, steps: true };
    const dims = Object.entries(state.dims).filter(([k]) => used.has(k));
    if (dims.length) body.dims = Object.fromEntries(dims.map(([k, v]) => [k, parseShape(v)]));
    const wrt = (state.wrt || []).filter((n) => used.has(n));
    if (wrt.length) body.wrt = wrt;
    const sto = state.sumToOne.filter((n) => used.has(n));
    if (sto.length) body.sum_to_one = sto;
    if (state.what === "jacobian") body.layout = state.layout;
    if (state.what === "hessian") body.order = 2;
    return body;
  }
  async function post(url, body, signal) {
    const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" },
                                 body: JSON.stringify(body), signal });
    let data;
    try { data = await r.json(); } catch (e) { data = { error: { kind: "error", message: `HTTP ${r.status}` } }; }
    return data;
  }

  function schedule() {
    clearTimeout(timer);
    writeUrl();
    timer = setTimeout(derive, DEBOUNCE_MS);
  }

  async function derive() {
    if (!state.expr.trim()) { showError(null); setStatus("type a program", false); return; }
    if (inflight) inflight.abort();
    inflight = new AbortController();
    const mine = ++seq;
    setStatus("deriving…", true);
    let data;
    try { data = await post("/api/derive", payload(), inflight.signal); }
    catch (e) { if (e.name !== "AbortError" && mine === seq) setStatus("the server did not answer", false); return; }
    if (mine !== seq) return;
    $("output").classList.toggle("stale", !!data.error);
    if (data.error) { showError(data.error); setStatus(data.error.kind, false); return; }
    showError(null);
    render(data);
    setStatus("derived", false);
    document.body.dataset.derived = String(mine);
  }

  function setStatus(text, busy) {
    const s = $("status"); s.textContent = text; s.classList.toggle("busy", !!busy);
  }

  // ------------------------------------------------------------ errors at the caret
  function showError(err) {
    const box = $("error"), mirror = $("mirror");
    mirror.textContent = "";
    if (!err) { box.hidden = true; box.textContent = ""; return; }
    let where = "";
    if (err.field === "expr" && err.pos !== null && err.pos !== undefined) {
      const text = state.expr, pos = Math.min(err.pos, text.length);
      mirror.appendChild(document.createTextNode(text.slice(0, pos)));
      const mark = document.createElement("mark");
      mark.id = "error-mark";
      mark.textContent = pos < text.length && text[pos] !== "\n" ? text[pos] : " ";
      mirror.appendChild(mark);
      mirror.appendChild(document.createTextNode(text.slice(pos + (pos < text.length && text[pos] !== "\n" ? 1 : 0))));
      where = ` (line ${err.line}, column ${err.column})`;
    }
    box.textContent = `${err.kind}: ${err.message}${where}`;
    box.dataset.pos = err.pos === null || err.pos === undefined ? "" : String(err.pos);
    box.hidden = false;
  }

  // ------------------------------------------------------------ rendering
  function render(data) {
    variables = data.variables;
    renderVariables();
    const fn = $("function"); fn.textContent = "";
    if (data.function_latex) tex(data.function_latex + (data.named.length ? ",\\quad " + data.named.join(",\\quad ") : ""), fn);
    const res = $("result"); res.textContent = "";
    if (data.recurrent) {
      data.latex.forEach((block) => { const d = document.createElement("div"); d.className = "result"; tex(block, d); res.appendChild(d); });
    } else {
      data.results.forEach((r) => {
        const d = document.createElement("div");
        d.className = "result"; d.dataset.key = r.key; d.dataset.unicode = r.unicode; d.dataset.language = r.language;
        tex(`${r.label_latex} = ${r.latex}`, d); res.appendChild(d);
      });
    }
    const check = $("check");
    if (data.check) {
      check.hidden = false;
      check.className = "verdict " + (data.check.passed ? "pass" : "fail");
      check.dataset.passed = String(data.check.passed);
      check.textContent = (data.check.passed ? "✓ " : "✗ ") + data.check.text;
    } else { check.hidden = true; }
    renderSteps(data);
    formats = data.formats;
    renderTabs();
    renderClaimWrt(data.wrt);
  }

  function renderSteps(data) {
    const box = $("steps"); box.textContent = "";
    $("steps-title").textContent = data.steps ? "— " + data.steps.title : "";
    if (data.steps_error) {
      const p = document.createElement("p"); p.className = "error"; p.textContent = data.steps_error; box.appendChild(p);
    }
    if (!data.steps) return;
    data.steps.blocks.forEach((b) => {
      if (b.title) {
        const h = document.createElement("div"); h.className = "step-title";
        textWithMath(b.title.charAt(0).toUpperCase() + b.title.slice(1), h); box.appendChild(h);
      }
      const d = document.createElement("div"); d.className = "step-block"; tex(b.latex, d); box.appendChild(d);
    });
  }

  function renderVariables() {
    const body = $("vars").tBodies[0];
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.name : null;
    body.textContent = "";
    Object.entries(variables).forEach(([name, v]) => {
      const tr = document.createElement("tr");
      const td = (child) => { const c = document.createElement("td"); if (child) c.appendChild(child); tr.appendChild(c); return c; };
      const code = document.createElement("code"); code.textContent = name + (v.sequence ? "[t]" : ""); td(code);
      const input = document.createElement("input");
      input.type = "text"; input.dataset.name = name; input.className = "shape";
      input.value = state.dims[name] !== undefined ? state.dims[name] : shapeText(v.shape);
      input.title = "rows,cols — or scalar";
      input.addEventListener("change", () => {
        const t = input.value.trim();
        if (!t || t === shapeText(variables[name].shape)) delete state.dims[name]; else state.dims[name] = t;
        schedule();
      });
      td(input);
      const kind = document.createElement("select"); kind.className = "kind"; kind.dataset.name = name;
      KINDS.forEach((k) => { const o = document.createElement("option"); o.value = k; o.textContent = k; kind.appendChild(o); });
      kind.value = v.kind; kind.disabled = v.sequence;
      kind.addEventListener("change", () => {
        state.dims[name] = shapeOfKind(kind.value, parseShape(input.value)); input.value = state.dims[name]; schedule();
      });
      td(kind).className = "kind";
      const w = document.createElement("input"); w.type = "checkbox"; w.className = "wrt"; w.dataset.name = name;
      w.checked = state.wrt ? state.wrt.includes(name) : !v.sequence;
      w.addEventListener("change", () => {
        state.wrt = [...document.querySelectorAll("#vars input.wrt")].filter((c) => c.checked).map((c) => c.dataset.name);
        schedule();
      });
      td(w);
      const s = document.createElement("input"); s.type = "checkbox"; s.className = "sto"; s.dataset.name = name;
      s.checked = state.sumToOne.includes(name); s.disabled = !v.shape.length;
      s.addEventListener("change", () => {
        state.sumToOne = [...document.querySelectorAll("#vars input.sto")].filter((c) => c.checked).map((c) => c.dataset.name);
        schedule();
      });
      td(s);
      body.appendChild(tr);
      if (focused === name) input.focus();
    });
  }

  function renderTabs() {
    const tabs = $("tabs"); tabs.textContent = "";
    if (!formats[state.format]) state.format = Object.keys(formats)[0];
    const labels = { latex: "LaTeX", markdown: "Markdown", numpy: "NumPy" };
    Object.keys(formats).forEach((name) => {
      const b = document.createElement("button"); b.type = "button"; b.role = "tab"; b.dataset.format = name;
      b.textContent = labels[name] || name; b.setAttribute("aria-selected", String(name === state.format));
      b.addEventListener("click", () => { state.format = name; renderTabs(); });
      tabs.appendChild(b);
    });
    const f = formats[state.format];
    $("code").textContent = f ? f.text : "";
    const a = $("download");
    if (a.dataset.url) URL.revokeObjectURL(a.dataset.url);
    if (f) {
      a.dataset.url = URL.createObjectURL(new Blob([f.text], { type: "text/plain" }));
      a.href = a.dataset.url; a.download = `matcalc.${f.extension}`; a.textContent = `Download matcalc.${f.extension}`;
    }
  }

  function renderClaimWrt(wrt) {
    const sel = $("claim-wrt"), keep = sel.value;
    sel.textContent = "";
    wrt.forEach((n) => { const o = document.createElement("option"); o.value = n; o.textContent = n; sel.appendChild(o); });
    if (wrt.includes(keep)) sel.value = keep;
  }

  // ------------------------------------------------------------ copy, check my answer
  async function copyCode() {
    const text = $("code").textContent;
    let ok = false;
    try { await navigator.clipboard.writeText(text); ok = true; } catch (e) {
      const t = document.createElement("textarea"); t.value = text; document.body.appendChild(t); t.select();
      try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
      t.remove();
    }
    $("copy-status").textContent = ok ? `copied ${text.split("\n").length} lines` : "select the code and copy it";
  }

  async function checkClaim() {
    const out = $("claim-result"), errBox = $("claim-error");
    out.hidden = true; errBox.hidden = true;
    const body = payload();
    delete body.check; delete body.steps; delete body.order; delete body.method;
    body.wrt = [$("claim-wrt").value];
    body.claim = $("claim").value;
    out.textContent = "checking…"; out.hidden = false;
    const data = await post("/api/check", body);
    out.textContent = "";
    if (data.error) {
      out.hidden = true;
      const where = data.error.field === "claim" && data.error.column ? `\n  ${body.claim.split("\n")[data.error.line - 1]}\n  ${" ".repeat(data.error.column - 1)}^` : "";
      errBox.textContent = `${data.error.kind}: ${data.error.message}${where}`; errBox.hidden = false; return;
    }
    const v = document.createElement("div");
    v.className = "verdict " + (data.verdict === "correct" ? "pass" : "fail"); v.id = "claim-verdict";
    v.dataset.verdict = data.verdict;
    v.textContent = data.verdict === "correct" ? `✓ correct: the claim equals ${data.what} = ${data.expected_unicode}`
      : `✗ wrong: the claim is not ${data.what}`;
    out.appendChild(v);
    if (data.diagnosis.length) {
      const ul = document.createElement("ul"); ul.id = "claim-diagnosis";
      data.diagnosis.forEach((d) => { const li = document.createElement("li"); li.textContent = d; ul.appendChild(li); });
      out.appendChild(ul);
    }
    if (data.verdict !== "correct") {
      const p = document.createElement("p"); p.textContent = `correct form: ${data.what} = ${data.expected_unicode}`; out.appendChild(p);
    }
    if (data.counterexample) {
      const ce = data.counterexample, pre = document.createElement("pre"); pre.id = "claim-counterexample";
      const sizes = Object.entries(ce.sizes).map(([k, x]) => `${k} = ${x}`).join(", ");
      pre.textContent = `counterexample${sizes ? " (" + sizes + ")" : ""}:\n` +
        Object.entries(ce.point).map(([k, x]) => `  ${k} = ${JSON.stringify(x)}`).join("\n") +
        `\n  claim    = ${JSON.stringify(ce.claim)}\n  expected = ${JSON.stringify(ce.expected)}`;
      out.appendChild(pre);
    }
    out.hidden = false;
  }

  // ------------------------------------------------------------ URL state
  function writeUrl() {
    const q = new URLSearchParams();
    if (state.expr) q.set("expr", state.expr);
    if (state.wrt && state.wrt.length) q.set("wrt", state.wrt.join(","));
    Object.entries(state.dims).forEach(([k, v]) => q.append("dim", `${k}=${v}`));
    if (state.method !== "backprop") q.set("method", state.method);
    if (state.what === "hessian") q.set("order", "2");
    if (state.what === "jacobian") q.set("layout", state.layout);
    if (state.sumToOne.length) q.set("sum_to_one", state.sumToOne.join(","));
    history.replaceState(null, "", q.toString() ? "?" + q.toString() : location.pathname);
  }
  function readUrl() {
    const q = new URLSearchParams(location.search);
    if (!q.has("expr")) return false;
    state.expr = q.get("expr");
    const list = (s) => (s || "").split(/[,\s]+/).filter(Boolean);
    state.wrt = q.has("wrt") ? list(q.get("wrt")) : null;
    q.getAll("dim").forEach((d) => { const i = d.indexOf("="); if (i > 0) state.dims[d.slice(0, i).trim()] = d.slice(i + 1); });
    if (["backprop", "trace", "jacobian"].includes(q.get("method"))) state.method = q.get("method");
    if (q.get("order") === "2") state.what = "hessian";
    if (["numerator", "denominator"].includes(q.get("layout"))) { state.what = "jacobian"; state.layout = q.get("layout"); }
    state.sumToOne = list(q.get("sum_to_one"));
    return true;
  }
  function syncControls() {
    $("expr").value = state.expr; $("what").value = state.what; $("layout").value = state.layout;
    $("method").value = state.method; $("layout-label").hidden = state.what !== "jacobian";
  }

  function loadExample(ex) {
    state.expr = ex.expr; state.wrt = ex.wrt; state.method = ex.method; state.sumToOne = ex.sum_to_one;
    state.dims = Object.fromEntries(Object.entries(ex.dims).map(([k, v]) => [k, shapeText(v)]));
    state.what = ex.layout ? "jacobian" : ex.order === 2 ? "hessian" : "gradient";
    if (ex.layout) state.layout = ex.layout;
    variables = {}; syncControls(); showError(null); writeUrl(); derive();
  }

  // ------------------------------------------------------------ wiring
  function init() {
    const expr = $("expr");
    expr.addEventListener("input", () => { state.expr = expr.value; showError(null); schedule(); });
    expr.addEventListener("scroll", () => { $("mirror").scrollTop = expr.scrollTop; });
    $("what").addEventListener("change", (e) => { state.what = e.target.value; syncControls(); schedule(); });
    $("layout").addEventListener("change", (e) => { state.layout = e.target.value; schedule(); });
    $("method").addEventListener("change", (e) => { state.method = e.target.value; schedule(); });
    $("copy-btn").addEventListener("click", copyCode);
    $("check-btn").addEventListener("click", checkClaim);
    fetch("/api/examples").then((r) => r.json()).then((data) => {
      const sel = $("examples");
      data.examples.forEach((ex) => { const o = document.createElement("option"); o.value = ex.id; o.textContent = ex.title; sel.appendChild(o); });
      sel.addEventListener("change", () => { const ex = data.examples.find((x) => x.id === sel.value); if (ex) loadExample(ex); });
    });
    if (!readUrl()) state.expr = "norm2(X*w - y)^2";
    syncControls();
    writeUrl();
    derive();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
