"""Real typesetting checks: the LaTeX documents compile with pdflatex, the Markdown notes
render with a KaTeX-based Markdown renderer (markdown-it + texmath + KaTeX, strict).

`.ci/run` installs both (Debian's texlive, npm's katex/markdown-it); with CI set, a
missing tool fails these tests instead of skipping them.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import matcalc
from matcalc.errors import UnsupportedError
from problem_set import PROBLEMS

HERE = Path(__file__).parent
NODE_MODULES = Path(os.environ.get("MATCALC_NODE_MODULES", HERE.parent / ".ci" / "node" / "node_modules"))
IN_CI = bool(os.environ.get("CI"))


def _require(ok: bool, what: str):
    if not ok:
        if IN_CI:
            pytest.fail(f"{what} is missing in CI (.ci/run installs it)")
        pytest.skip(f"{what} is not installed")


def _derivations(problems, methods):
    for p in problems:
        for method in methods:
            d = matcalc.derive(p["expr"], wrt=p["wrt"], shapes=p["shapes"], layout=p.get("layout"),
                               sum_to_one=p.get("sum_to_one", ()), method=method)
            try:
                d.steps
            except UnsupportedError:
                continue
            yield f"{p['id']}-{method}", d
            if p.get("layout"):
                break   # a Jacobian derivation has one presentation


def _pdflatex(tex: str, workdir: Path, name: str) -> subprocess.CompletedProcess:
    (workdir / f"{name}.tex").write_text(tex, encoding="utf-8")
    return subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                          cwd=workdir, capture_output=True, text=True, timeout=120)


def _error_lines(result) -> str:
    return "\n".join(line for line in result.stdout.splitlines() if line.startswith("!"))[:2000]


SEEDS = [p for p in PROBLEMS if p["id"].startswith("seed_")]
OTHERS = [p for p in PROBLEMS if not p["id"].startswith("seed_")]


@pytest.mark.parametrize("p", SEEDS, ids=[p["id"] for p in SEEDS])
def test_public_problems_standalone_latex_compiles(p, tmp_path):
    _require(shutil.which("pdflatex") is not None, "pdflatex")
    for name, d in _derivations([p], ["backprop", "trace", "jacobian"]):
        result = _pdflatex(d.latex(standalone=True), tmp_path, "doc")
        assert result.returncode == 0, f"{name}:\n{_error_lines(result)}"
        assert (tmp_path / "doc.pdf").stat().st_size > 1000


@pytest.mark.parametrize("method", ["backprop", "trace"])
def test_every_problem_latex_compiles(method, tmp_path):
    """All other problems' documents, as the sections of one document per method."""
    _require(shutil.which("pdflatex") is not None, "pdflatex")
    bodies, preamble = [], None
    for name, d in _derivations(OTHERS, [method]):
        doc = d.latex(standalone=True)
        head, body = doc.split(r"\begin{document}")
        preamble = preamble or head
        bodies.append(r"\clearpage\section*{" + name.replace("_", r"\_") + "}" + body.split(r"\end{document}")[0])
    result = _pdflatex(preamble + "\\begin{document}\n" + "\n".join(bodies) + "\\end{document}\n", tmp_path, "all")
    assert result.returncode == 0, _error_lines(result)


def test_broken_latex_is_caught(tmp_path):
    _require(shutil.which("pdflatex") is not None, "pdflatex")
    d = matcalc.derive("norm2(X*w - y)^2", wrt=["w"])
    result = _pdflatex(d.latex(standalone=True).replace(r"\end{aligned}", "", 1), tmp_path, "bad")
    assert result.returncode != 0


def _render(docs: list[str]) -> list[dict]:
    _require(shutil.which("node") is not None and (NODE_MODULES / "katex").is_dir(), "node with katex")
    result = subprocess.run(["node", str(HERE / "render_markdown.js")], input=json.dumps(docs),
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "MATCALC_NODE_MODULES": str(NODE_MODULES)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_markdown_notes_render_with_katex():
    names, docs = [], []
    for name, d in _derivations(PROBLEMS, ["backprop", "trace", "jacobian"]):
        names.append(name)
        docs.append(d.markdown())
    rendered = _render(docs)
    for name, doc, r in zip(names, docs, rendered):
        assert r["error"] is None, f"{name}: {r['error']}"
        blocks = doc.count("$$") // 2 + len(re.findall(r"(?<!\$)\$(?!\$)[^$\n]+\$", doc))
        assert r["math"] >= blocks > 0, name


def test_broken_markdown_math_is_caught():
    assert _render(["## x\n\n$$\n\\frac{a}{\n$$\n"])[0]["error"]
