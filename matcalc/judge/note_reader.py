"""Read a Markdown/LaTeX note: its math segments, split into rows and `=` chains, with line numbers."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef\u2e80-\u2fff，。：；、！？（）【】]+")
_ENV = re.compile(r"\\(begin|end)\{(align\*?|aligned|equation\*?|gather\*?|split|array|eqnarray\*?|multline\*?)\}"
                  r"(\{[^}]*\})?")
_LEAD = re.compile(r"^\s*(=>|=&gt;|\\Rightarrow|\\implies|\\therefore|\\Longrightarrow|⇒|→)\s*(\\\s)?")


@dataclass
class Row:
    """One equation row: its `=`-separated links, the line where it starts, its source text."""
    links: list
    line: int
    text: str
    segment: int = 0
    end_line: int = 0
    continued: bool = False     # starts with '=': continues the previous row's chain
    display: bool = True        # in displayed math ($$…$$, an environment), not inline $…$


@dataclass
class Segment:
    text: str
    start: int        # offset of the math in the note
    line: int
    end_line: int
    display: bool
    rows: list = field(default_factory=list)


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def math_segments(text: str) -> list[Segment]:
    """$$…$$, \\[…\\], $…$ and bare \\begin{align}… blocks, in order (code blocks skipped)."""
    out = []
    code = [(m.start(), m.end()) for m in re.finditer(r"```.*?(```|\Z)", text, re.S)]
    pattern = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|(?<![\\$])\$(?!\$)(.+?)(?<![\\])\$|"
                         r"(\\begin\{(align\*?|aligned|equation\*?|gather\*?)\}.*?\\end\{\5\})", re.S)
    pos = 0
    while True:
        m = pattern.search(text, pos)
        if m is None:
            break
        if any(a <= m.start() < b for a, b in code):
            pos = next(b for a, b in code if a <= m.start() < b)
            continue
        group = next(g for g in (1, 2, 3, 4) if m.group(g) is not None)
        body = m.group(group)
        end = m.end()
        line_end = text.find("\n", end)
        rest = text[end:line_end if line_end >= 0 else len(text)]
        if group == 1 and "\n" in body and body.split("\n")[0].strip() and rest.strip() and \
                not body.split("\n")[-1].strip():
            # "$$a = b" left open on its line: the next line's "$$" opens the next display
            first = body.split("\n")[0]
            start = m.start(1)
            out.append(Segment(first, start, line_of(text, start), line_of(text, start), True))
            pos = end - 2
            continue
        if group == 3 and "\n\n" in body:        # a lone $ of prose: skip it
            pos = m.start() + 1
            continue
        start = m.start(group)
        out.append(Segment(body, start, line_of(text, start), line_of(text, m.end()), group != 3))
        pos = m.end()
    return _merge_by_place(out, _prose_claims(text, out, code))


# ∂f/∂W = a bᵀ written in the prose, outside $…$: the claim runs to a comma, a full stop or a word
_PROSE_CLAIM = re.compile(r"(?:∂\s*[\w{}^_]+\s*/\s*∂\s*[\w{}^_]+|∇\s*_?\s*\{?[\w^_]+\}?\s*[\w{}^_]+)\s*="
                          r"[^=,;:.。，；：\n$]+?(?=\s*(?:[,;:。，；：$]|\.(?:\s|$)|\s+(?:and|or|but|not|is|which|where|"
                          r"holds|for|with|so|then)\b|$))", re.M)


def _prose_claims(text: str, spans: list, code: list) -> list:
    """Derivative claims typed in the prose with Unicode ∂ or ∇ (no $…$ around them)."""
    taken = [(seg.start - 2, seg.start + len(seg.text) + 2) for seg in spans] + code
    out = []
    for m in _PROSE_CLAIM.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        out.append(Segment(m.group(0).strip(), m.start(), line_of(text, m.start()), line_of(text, m.end()), False))
    return out


def _merge_by_place(a: list, b: list) -> list:
    return sorted(a + b, key=lambda seg: seg.start) if b else a


_INNER_ENV = re.compile(r"\\(begin|end)\{(cases|[bpvBV]?matrix|smallmatrix)\*?\}")


def _top_level_split(s: str, sep: str) -> list[tuple[int, str]]:
    """Split at ``sep`` outside {} () [] (returns (offset, piece))."""
    out, depth, last, k = [], 0, 0, 0
    while k < len(s):
        ch = s[k]
        if depth <= 0 and s.startswith(sep, k):
            out.append((last, s[last:k]))
            last = k + len(sep)
            k = last
            continue
        inner_env = _INNER_ENV.match(s, k)
        if inner_env:                 # \begin{cases} … \end{cases}: its rows are not the note's rows
            depth += 1 if inner_env.group(1) == "begin" else -1
            k = inner_env.end()
            continue
        if s.startswith("\\{", k) or s.startswith("\\}", k):
            depth += 1 if s[k + 1] == "{" else -1
            k += 2
            continue
        if ch == "\\" and k + 1 < len(s) and s[k + 1] in "{}[]()|\\,;:!":   # \, is a space
            k += 2
            continue
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth -= 1
        elif depth <= 0 and s.startswith(sep, k):
            out.append((last, s[last:k]))
            last = k + len(sep)
            k = last
            continue
        k += 1
    out.append((last, s[last:]))
    return out


def _rows_of(seg: Segment, note: str) -> list[tuple[int, str]]:
    body = _ENV.sub(lambda m: " " * len(m.group(0)), seg.text)
    pieces = []
    for off, piece in _top_level_split(body, "\\\\"):
        for off2, part in _split_lines(piece):
            for off3, eq in _comma_list(part):
                pieces.append((off + off2 + off3, eq))
    return pieces


_SPACING = re.compile(r"^(\\(q?quad|,|;|:|!|text\{\s*(and|or|und|et|以及|和)?\s*\})|\s|~)*")


def _comma_list(part: str) -> list[tuple[int, str]]:
    """'a = b, \\quad c = d': a list of equations in one row, each with its own top-level '='."""
    pieces = _top_level_split(part, ",")
    if len(pieces) < 2 or not all(len(_top_level_split(p, "=")) > 1 for _, p in pieces):
        return [(0, part)]
    out = []
    for off, p in pieces:
        lead = _SPACING.match(p).end()
        out.append((off + lead, p[lead:]))
    return out


def _split_lines(piece: str):
    """A row that spans lines stays one row unless each line is a whole equation."""
    lines = piece.split("\n")
    if len(lines) == 1:
        return [(0, piece)]
    out, off = [], 0
    for ln in lines:
        out.append((off, ln))
        off += len(ln) + 1
    # join lines that continue an open bracket or start with an operator
    merged = []
    for off, ln in out:
        if merged and (_open_depth(merged[-1][1]) > 0 or re.match(r"\s*[-+*/]|\s*\\(odot|cdot|times)", ln)):
            merged[-1] = (merged[-1][0], merged[-1][1] + "\n" + ln)
        else:
            merged.append((off, ln))
    return merged


def _open_depth(s: str) -> int:
    s = re.sub(r"\\[{}\[\]()|]", "", s)
    return sum(s.count(c) for c in "{([") - sum(s.count(c) for c in "})]")


def clean_math(s: str) -> str:
    """Drop prose (CJK runs: keep the longest math piece), tags, \\qquad, numbering and '&'."""
    s = re.sub(r"\\(tag|label)\{[^}]*\}", "", s)
    s = re.sub(r"\\text\{[^}]*[\u3400-\u9fff][^}]*\}", "", s)
    s = re.sub(r"(\\q?quad|\\,|~)\s*\\(text|mathrm)\{\s*\([^{}]*\)\s*\}\s*$", "", s)   # \quad \text{(row-wise)}
    if _CJK.search(s):
        parts = [p for p in _CJK.split(s) if p.strip()]
        s = max(parts, key=lambda p: len(p.strip())) if parts else ""
    s = _outside_inner_envs(s, lambda piece: piece.replace("&", " "))
    # a line break inside an open bracket (X^T \Big[ (H - Y) \\ & \odot …\Big]) continues the row
    s = _outside_inner_envs(s, lambda piece: re.sub(r"\\\\(\[[^\]]*\])?", " ", piece))
    s = re.sub(r"\\(q?quad|,|;|!)\s*(?=[A-Za-z])", " ", s)
    return s.strip().rstrip(",.;，。").strip()


def _outside_inner_envs(s: str, change) -> str:
    """Apply ``change`` to the text outside \\begin{cases}/matrix environments (their '&' stays)."""
    out, depth, last = [], 0, 0
    for m in _INNER_ENV.finditer(s):
        if depth == 0:
            out.append(change(s[last:m.start()]))
            last = m.start()
        depth += 1 if m.group(1) == "begin" else -1
        if depth == 0:
            out.append(s[last:m.end()])
            last = m.end()
        depth = max(depth, 0)
    out.append(change(s[last:]) if depth == 0 else s[last:])
    return "".join(out)


def read_rows(note: str) -> list[Row]:
    """Every equation row of the note's math, its `=` links and its line."""
    rows = []
    for k, seg in enumerate(math_segments(note)):
        for off, raw in _rows_of(seg, note):
            text = clean_math(raw)
            if not text:
                continue
            text = _LEAD.sub("", text)
            lead_off = seg.start + off + len(raw) - len(raw.lstrip())
            line = line_of(note, lead_off)
            continued = text.startswith("=")
            links = [p.strip() for _, p in _top_level_split(text, "=")]
            links = _merge_relations(links)
            rows.append(Row(links, line, text, k, seg.end_line, continued, seg.display))
    return rows


def _merge_relations(links: list) -> list:
    """'a <= b' and '\\neq' are not chain links; drop empty links made by '==' or a leading '='."""
    out = []
    for p in links:
        if out and (out[-1].endswith(("<", ">", "!", "\\leq", "\\geq"))):
            out[-1] += "=" + p
        else:
            out.append(p)
    return out
