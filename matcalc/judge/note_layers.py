"""Generic-layer claims of a note: a network written once for layer l (with l-1, l+1, and L or
n_l as the output layer), judged on a concrete network of the note's form.

The note's layer equations (``u^{(l)} = W^{(l)}x^{(l-1)} + b^{(l)}``, ``x^{(l)} = f(u^{(l)})``) are
read as one template per quantity, relative to its layer; a template that reads a later layer
(``z^l = a^l W^{l+1} + b^{l+1}``) is no forward equation and is left out.  The template is
instantiated on five layers with layer l a hidden one (l-1, l, l+1 are layers 1, 2, 3; L-1 and L
are 4 and 5), or, for a claim about the output layer, on three layers with l the last.  The loss
is the note's own: written in the output layer's names (``J = ½‖a^L − y‖²``), or with the output
spelled out as one layer (``L = ½‖f(Wx + b) − y‖²``, the layer form with its indices dropped);
a loss the note does not tie to its layers is never guessed: the claim is then not checked.

A claim is about the output layer when its brace case says so (``l = n_l``), when the note's
prose names the output layer (输出层, output layer) above it, or when it uses the loss's label
beside layer-l names and no layer l+1.
"""
from __future__ import annotations

import re

from .note_model import _Definition, _identifiers, _lhs_name, _NotChecked

# the index suffix of a layer name -> (family, offset): l-family relative to l, out-family to L
_SUFFIX = {"lm3": ("l", -3), "Lm3": ("out", -3), "nlm3": ("out", -3), "lm2": ("l", -2), "lm1": ("l", -1), "l": ("l", 0), "lp1": ("l", 1),
           "lp2": ("l", 2), "L": ("out", 0), "Lm1": ("out", -1), "Lm2": ("out", -2),
           "nl": ("out", 0), "nlm1": ("out", -1), "nlm2": ("out", -2)}
_NAME = re.compile(r"([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+?)*?)_(" + "|".join(
    sorted(_SUFFIX, key=len, reverse=True)) + r")")
_PLACE = re.compile(r"\{(\w+?)@(-?\d+)\}")
_INDEX_TEX = {"Lm3": "L-3", "nlm3": "n_l-3", "l": "l", "lm1": "l-1", "lp1": "l+1", "lm2": "l-2", "lm3": "l-3", "lp2": "l+2",
              "L": "L", "Lm1": "L-1", "Lm2": "L-2", "nl": "n_l", "nlm1": "n_l-1", "nlm2": "n_l-2"}
HIDDEN, OUTPUT = "hidden", "output"
_OUTPUT_WORDS = re.compile(r"输出层|output layer|last layer|final layer|最后一层|最后一层", re.I)
_HIDDEN_WORDS = re.compile(r"隐藏层|隐含层|hidden layer|中间层|第\s*\$?\s*l\s*\$?\s*层|layer \$?l\$?\b", re.I)


def layer_name(name: str):
    """(base, family, offset) of a layer name (x_lm1 -> ('x', 'l', -1)), else None."""
    m = _NAME.fullmatch(name)
    if not m:
        return None
    family, offset = _SUFFIX[m.group(2)]
    return m.group(1), family, offset


# ---------------------------------------------------------------- the note's layer form
def _relative(text: str, family: str, offset: int, base: str):
    """The definition text with each layer name as {base@relative offset}, or None when it reads
    a later layer, itself, or a layer of the other family."""
    bad = []

    def place(m):
        parsed = layer_name(m.group(0))
        if parsed is None:
            return m.group(0)
        b2, fam2, off2 = parsed
        rel = off2 - offset
        if fam2 != family or rel > 0 or (rel == 0 and b2 == base):
            bad.append(m.group(0))
        return f"{{{b2}@{rel}}}"
    out = re.sub(r"(?<![\w.])[A-Za-z][A-Za-z0-9_]*", place, text)
    return None if bad else out


def layer_form(note):
    """(templates {base: text}, within-layer order, output base) of the note's layer equations,
    or None when the note has no recurrence over layers."""
    templates: dict = {}
    for d in note.history:
        parsed = layer_name(d.name)
        if parsed is None or parsed[0] in templates:
            continue
        base, family, offset = parsed
        for text in [d.text] + [t for t, _ in d.alternates]:
            rel = _relative(text, family, offset, base)
            if rel is not None and _PLACE.search(rel):
                templates[base] = rel
                break
    fed = {b for t in templates.values() for b, r in _PLACE.findall(t) if int(r) == -1 and b in templates}
    if not fed:
        return None
    needed, stack = set(), list(fed)        # the forward chain only (δ^{n_l} = … is no layer quantity)
    while stack:
        b = stack.pop()
        if b in needed or b not in templates:
            continue
        needed.add(b)
        stack += [b2 for b2, _ in _PLACE.findall(templates[b])]
    templates = {b: t for b, t in templates.items() if b in needed}
    order, state = [], {}

    def visit(b):
        if state.get(b) == 2:
            return True
        if state.get(b) == 1:
            return False
        state[b] = 1
        for b2, r in _PLACE.findall(templates[b]):
            if int(r) == 0 and b2 in templates and not visit(b2):
                return False
        state[b] = 2
        order.append(b)
        return True
    if not all(visit(b) for b in sorted(templates)):
        return None
    used = {b2 for t in templates.values() for b2, r in _PLACE.findall(t) if int(r) == 0}
    sinks = [b for b in order if b not in used]
    if len(sinks) != 1 or sinks[0] not in fed or any(int(r) < -1 for t in templates.values()
                                                      for _, r in _PLACE.findall(t)):
        return None
    return templates, order, sinks[0]


def _out_symbol(note) -> str:
    names = set(note.latex_names) | {d.name for d in note.history}
    return "nl" if any(re.search(r"_nl(m\d)?$", n) for n in names) else "L"


def _suffixes(mode: str, out: str) -> dict:
    """Layer number -> index suffix: hidden l = 2 of 5 layers, output l = 3 of 3."""
    if mode == HIDDEN:
        return {0: "lm2", 1: "lm1", 2: "l", 3: "lp1", 4: f"{out}m1", 5: out}
    return {0: "lm3", 1: "lm2", 2: "lm1", 3: "l"}


def _network(templates, order, layers: dict) -> list:
    """[(name, language text)] of the concrete network, layer 1 to the last."""
    out = []
    for k in sorted(layers):
        if k == 0:
            continue
        for base in order:
            text = _PLACE.sub(lambda m: f"{m.group(1)}_{layers[k + int(m.group(2))]}", templates[base])
            out.append((f"{base}_{layers[k]}", text))
    return out


# ---------------------------------------------------------------- the loss
def _canon(text: str) -> str:
    """Language text without spaces and doubled brackets: tanh((W*x+b)) -> tanh(W*x+b)."""
    s = text.replace(" ", "")
    changed = True
    while changed:
        changed = False
        for k in range(len(s) - 1):
            if s[k:k + 2] != "((":
                continue
            inner = _close(s, k + 1)
            outer = _close(s, k)
            if inner is not None and outer == inner + 1:
                s = s[:k] + s[k + 1:inner + 1] + s[inner + 2:]
                changed = True
                break
    return s


def _close(s: str, k: int):
    depth = 0
    for j in range(k, len(s)):
        depth += s[j] == "("
        depth -= s[j] == ")"
        if depth == 0:
            return j
    return None


def _spelled_out(templates, order, out_base) -> tuple:
    """The output layer's expression with the indices dropped (tanh(W * x + b)) and its leaves."""
    text = f"{{{out_base}@0}}"
    for _ in range(len(order) + 1):
        text = _PLACE.sub(lambda m: f"({templates[m.group(1)]})" if int(m.group(2)) == 0 and m.group(1) in templates
                          else m.group(0), text)
    leaves = {m.group(1) for m in _PLACE.finditer(text)}
    return _PLACE.sub(lambda m: m.group(1), text), leaves


def _loss(note, fn: str, form, layers: dict) -> tuple:
    """(language text, label names) of the loss on the concrete network's last layer."""
    templates, order, out_base = form
    last = max(layers)
    spelled, leaves = _spelled_out(templates, order, out_base)
    target = _canon(spelled)
    while target.startswith("(") and _close(target, 0) == len(target) - 1:
        target = target[1:-1]
    texts = []
    for d in reversed(note.history):
        if d.name == fn:
            texts += [d.text] + [t for t, _ in d.alternates]
    for text in texts:
        names = _identifiers(text)
        parsed = {n: layer_name(n) for n in names}
        families = {p[1] for p in parsed.values() if p}
        if len(families) > 1 or families == {"l"} and layers[last] != "l":
            continue                  # a loss at layer l (E = ½‖a^{(l)} − y‖²) only with l the output
        if families:                  # J = ½‖a^L − y‖²
            if any(p and p[0] != out_base and p[0] not in templates for p in parsed.values()):
                continue
            loss = re.sub(r"(?<![\w.])[A-Za-z][A-Za-z0-9_]*",
                          lambda m: f"{parsed[m.group(0)][0]}_{layers[last + parsed[m.group(0)][2]]}"
                          if parsed.get(m.group(0)) else m.group(0), text)
            return loss, sorted(n for n, p in parsed.items() if not p)
        canon = _canon(text)
        for wrapped in (f"({target})", target):
            if wrapped in canon:
                loss = canon.replace(wrapped, f"{out_base}_{layers[last]}")
                rest = _identifiers(loss) - {f"{out_base}_{layers[last]}"}
                if rest & leaves:
                    continue
                return loss, sorted(rest)
    raise _NotChecked(f"the note's loss {note.latex_names.get(fn, fn)} is not written in terms of its "
                      "layers' output, so a claim about layer l cannot be checked against it")


# ---------------------------------------------------------------- which layer the claim is at
def _claim_names(note, tex: str) -> set:
    from ..lang.latex_input import translate
    found = set()

    def derivative(num, den, nabla):
        for part in (num, den):
            n = _lhs_name(part, note.known)
            if n:
                found.add(n)
        return "dmark__"
    try:
        found |= _identifiers(translate(tex, note.known, derivative=derivative, values=note.values,
                                        sigma=note.sigma_at(note.line)).text)
    except Exception:  # noqa: BLE001 - an unreadable claim: the ordinary judge reports why
        return set()
    return found


def _words_mode(note, line: int):
    """OUTPUT / HIDDEN from the nearest prose above the claim naming the layer, else None."""
    lines = note.text.split("\n")
    for k in range(min(line, len(lines)) - 1, max(0, line - 16) - 1, -1):
        prose = re.sub(r"\$[^$]*\$", " ", lines[k])
        if k == line - 1:
            prose = prose.split("$")[0]
        if _OUTPUT_WORDS.search(prose):
            return OUTPUT
        if _HIDDEN_WORDS.search(lines[k]):
            return HIDDEN
    return None


def _mode(note, names: set, labels, tex: str) -> str:
    forced = getattr(note, "layer_modes", {}).get((note.line, tex.strip()))
    if forced:
        return forced
    parsed = [layer_name(n) for n in names]
    if any(p and p[1] == "l" and p[2] > 0 for p in parsed):
        return HIDDEN
    words = _words_mode(note, note.line)
    if words:
        return words
    return OUTPUT if names & set(labels) else HIDDEN


# ---------------------------------------------------------------- judging
def judge_layers(note, fn: str, var: str, tex: str, judge):
    """(result, expected, language claim) of a claim at the generic layer l, or None when the
    note or the claim is not of that kind (the ordinary judge then takes it)."""
    form = layer_form(note) if fn and var else None
    if form is None:
        return None
    names = _claim_names(note, tex) | {var}
    parsed = [layer_name(n) for n in names]
    out = _out_symbol(note)
    if any(p and p[1] == "out" for p in parsed) and not any(p and p[1] == "l" for p in parsed) and \
            var not in note.definitions and not any(var in _identifiers(d.text) for d in note.definitions.values()):
        return _judge_at(note, fn, var, tex, judge, form, OUTPUT, _out_suffixes(out))   # δ^{[L]}, z^{[L]} unwritten
    if not any(p and p[1] == "l" for p in parsed) or any(p and p[1] == "out" for p in parsed):
        return None                 # no layer l, or the output layer named as L: the ordinary judge
    only_output = False
    try:
        _, labels = _loss(note, fn, form, _suffixes(HIDDEN, out))
    except _NotChecked:
        try:                        # the loss written at layer l: l is the output layer
            _, labels = _loss(note, fn, form, _suffixes(OUTPUT, out))
            only_output = True
        except _NotChecked:
            return _untied(note, fn, var, tex, judge)    # upstream-gradient claims need no loss
    mode = _mode(note, names, labels, tex)
    if only_output and mode != OUTPUT:
        return None
    if mode == OUTPUT and any(p and p[1] == "l" and p[2] > 0 for p in parsed):
        raise _NotChecked("the claim names layer l+1 at the output layer, which has none")
    try:
        return _judge_at(note, fn, var, tex, judge, form, mode, _suffixes(mode, out))
    except _NotChecked:
        if getattr(note, "layer_modes", {}).get((note.line, tex.strip())):
            raise                   # a case row: judged at its layer or not at all
        return None                 # the concrete network cannot judge it: the ordinary judge does


def _untied(note, fn, var, tex, judge):
    """The ordinary judge, for a layer-l claim whose loss the note does not tie to its layers;
    where it needs that loss, its refusal says so."""
    try:
        return judge(note, fn, var, tex)
    except _NotChecked as err:
        if not re.search(r"does not depend|does not define|also other than through", str(err)):
            raise
        raise _NotChecked(f"{err}: the note's loss {note.latex_names.get(fn, fn)} is not written in terms of "
                          "its layers' output (½‖a^L − y‖², or the output spelled out as one layer), so a claim "
                          "about layer l is not tied to it") from None


def _out_suffixes(out: str) -> dict:
    return {0: f"{out}m3", 1: f"{out}m2", 2: f"{out}m1", 3: out}


def _judge_at(note, fn, var, tex, judge, form, mode, layers):
    """The claim judged on the concrete network with the given layer suffixes."""
    try:
        loss, labels = _loss(note, fn, form, layers)
    except _NotChecked:
        if layers[max(layers)] == "l":
            raise
        return None
    templates, order, _ = form
    network = _network(templates, order, layers)
    saved, saved_names = note.definitions, dict(note.latex_names)
    concrete = {n: d for n, d in saved.items() if layer_name(n) is None and n != fn and n not in labels}
    for name, text in network:
        concrete[name] = _Definition(name, text, note.line, {})
        _name_latex(note, name)
    concrete[fn] = _Definition(fn, loss, note.line, {})
    for n in _identifiers(loss) | {n for _, t in network for n in _identifiers(t)}:
        if layer_name(n):
            _name_latex(note, n)
    note.definitions = concrete
    saved_bold = note.bold
    note.bold = saved_bold | _bold_layers(saved_bold, concrete)
    forced = getattr(note, "layer_modes", {}).get((note.line, tex.strip()))
    try:
        result, expected, lang = _judge_or_slip(note, fn, var, tex, judge, forced)
    finally:
        note.definitions = saved
        note.bold = saved_bold
        for k in list(note.latex_names):
            if k not in saved_names:
                del note.latex_names[k]
    where = (f"the output layer {_INDEX_TEX[layers[max(layers)]]} of a 3-layer network" if mode == OUTPUT else
             f"a hidden layer l (layer 2 of 5; {_INDEX_TEX[layers[max(layers)]]} the last)")
    return result, expected, f"{lang}   (at {where} of the note's layer equations, loss {loss})"


def _bold_layers(bold: set, concrete: dict) -> set:
    """The concrete network's names of a family the note writes bold (\\mathbf{a}^{l-1} bold: the
    leaf a^{l-2} of the concrete network is a vector too, not a number)."""
    families = {p[0] for p in map(layer_name, bold) if p}
    names = set(concrete) | {n for d in concrete.values() for n in _identifiers(d.text)}
    return {n for n in names if (layer_name(n) or ("",))[0] in families}


_MARK = re.compile(r"([_^])\s*(\{\s*([(\[])?\s*l\s*(?:[+-]\s*1)?\s*[)\]]?\s*\}|l)(?![A-Za-z])")


def _judge_or_slip(note, fn, var, tex, judge, forced=None):
    """The judge on the concrete network; a wrong claim (or one whose shapes cannot match) that
    one layer index moved by one puts right is diagnosed as that slip (W^{(l)} where W^{(l+1)}
    belongs)."""
    from ..errors import ShapeError
    try:
        result, expected, lang = judge(note, fn, var, tex)
    except ShapeError as err:
        slip = _index_slip(note, fn, var, tex, judge)
        from .claims import ClaimResult
        if slip is None and forced:          # a case row: say at which layer its shapes fail
            where = "the output layer" if forced == OUTPUT else "a hidden layer"
            shown = err.message.replace("in the claim: ", "")
            return ClaimResult("wrong", [f"at {where}, as its condition says, the shapes cannot match: {shown}"]), \
                getattr(err, "expected", ""), tex
        if slip is None:
            raise
        what, (_, expected, _) = slip
        shown = err.message.replace("in the claim: ", "")
        return ClaimResult("wrong", [f"{what} (as written the shapes cannot match: {shown})"]), expected, tex
    if result.verdict == "wrong":
        slip = _index_slip(note, fn, var, tex, judge)
        if slip is not None:
            result.diagnosis = [slip[0]]
    return result, expected, lang


def _index_slip(note, fn, var, tex, judge):
    """('x^{(l)} where x^{(l-1)} belongs', judged variant) for the first one-step index change
    that makes the claim correct, else None (not inside ∂…, not on δ)."""
    from ..errors import MatcalcError
    from .claims import QUICK_SEARCH
    tried = 0
    for m in _MARK.finditer(tex):
        before = tex[:m.start()]
        owner = re.search(r"(\\?[A-Za-z]+)\s*$", before)
        if not owner or owner.group(1).startswith("\\delta") or re.search(r"\\part(ial)?[^{}]*$", before) \
                or re.search(r"\\nabla\s*_\s*\{[^{}]*$", before):
            continue
        inner = re.sub(r"[{}()\[\]\s]", "", m.group(2))
        step = {"l": 0, "l+1": 1, "l-1": -1}.get(inner)
        if step is None:
            continue
        paren = m.group(3) or ""
        for new in (step - 1, step + 1):
            if new not in (-1, 0, 1):
                continue
            index = {0: "l", 1: "l+1", -1: "l-1"}[new]
            text = "{" + paren + index + {"(": ")", "[": "]"}.get(paren, "") + "}"
            variant = tex[:m.start(2)] + text + tex[m.end(2):]
            tried += 1
            if tried > 16:
                return None
            token = QUICK_SEARCH.set(True)
            try:
                judged = judge(note, fn, var, variant)
            except (_NotChecked, MatcalcError, KeyError, ValueError):
                continue
            finally:
                QUICK_SEARCH.reset(token)
            if judged[0].verdict == "correct":
                was = tex[owner.start(1):m.end()]
                return f"wrong layer: {was} where {owner.group(1)}{m.group(1)}{text} belongs", judged
    return None


def _name_latex(note, name: str) -> None:
    """LaTeX for a generated layer name, in the note's style for that quantity (x^{(l-2)})."""
    if name in note.latex_names:
        return
    base, family, _ = layer_name(name)
    suffix = name[len(base) + 1:]
    style = next((v for k, v in note.latex_names.items() if layer_name(k) and layer_name(k)[0] == base), "")
    index = _INDEX_TEX[suffix]
    if re.search(r"\^\s*\{\s*\(", style):
        note.latex_names[name] = f"{base}^{{({index})}}"
    elif "_" in style and "^" not in style:
        note.latex_names[name] = f"{base}_{{{index}}}"
    else:
        note.latex_names[name] = f"{base}^{{{index}}}"


# ---------------------------------------------------------------- a brace of cases over aligned rows
_CASES = re.compile(r"\\(?:left\s*)?\\\{\s*\\begin\{(aligned|array|matrix)\}(\{[^}]*\})?(.*?)\\end\{\1\}", re.S)
_SPACING = re.compile(r"\\(qquad|quad|,|;|:|!|enspace|thinspace)(?![A-Za-z])|~")


def _condition_mode(cond: str, out_tex: str):
    """OUTPUT for l = n_l (the output layer), HIDDEN for l ≠ n_l / l < L / otherwise, else None."""
    c = re.sub(r"[{}\s]|\\text\w*|\\mathrm", "", cond)
    out = "|".join(re.escape(o) for o in {re.sub(r"[{}\s]", "", out_tex), "n_l", "L", "N", "n_L", "K"})
    if re.fullmatch(rf"l=(?:{out})|(?:{out})=l", c):
        return OUTPUT
    if re.fullmatch(rf"l(?:\\neq|\\ne|≠|<)(?:{out})|(?:{out})(?:\\neq|\\ne|≠|>)l", c) or \
            re.fullmatch(r"(?:\\text\w*)?(otherwise|else|其他|其它|否则)", c, re.I):
        return HIDDEN
    return None


def expand_cases(note, claims: list) -> list:
    """A claim that is a brace of cases (δ^{(l)} = \\left\\{ … & l = n_l \\\\ … & l \\neq n_l \\right.)
    becomes one claim per row, judged at the layer its condition names."""
    out = []
    note.layer_modes = getattr(note, "layer_modes", {})
    for item in claims:
        fn, var, v_tex, tex, line, link_line, f_tex = item
        if re.fullmatch(r"\s*\\begin\{cases\}.*\\end\{cases\}\s*", tex, re.S):     # \begin{cases} … & l = L
            m = re.search(r"\\begin\{cases\}(.*)\\end\{cases\}", tex, re.S)
            rows = [(r, mode, link_line) for r, mode, _ in _case_rows(note, m, 0, group=1)]
        elif re.fullmatch(r"(\\left)?\\\{", tex.strip()):
            offset = sum(len(x) + 1 for x in note.text.split("\n")[:link_line - 1])
            m = _CASES.search(note.text, offset)
            rows = _case_rows(note, m, offset) if m and note.text.count("\n", offset, m.start()) < 2 else []
        else:
            rows = []
        if not rows:
            out.append(item)
            continue
        for row_tex, mode, row_line in rows:
            note.layer_modes[(row_line, row_tex.strip())] = mode
            out.append((fn, var, v_tex, row_tex, line, row_line, f_tex))
    return out


def _case_rows(note, m, offset: int, group: int = 3) -> list:
    """[(expression, mode, line)] of the aligned rows; [] when a row's condition is not read."""
    out_tex = {"nl": "n_l", "L": "L"}[_out_symbol(note)]
    rows = []
    start = m.start(group)
    for part in re.split(r"\\\\", m.group(group)):
        cells = [c.strip() for c in part.split("&")]
        at = start + len(part) - len(part.lstrip())
        start += len(part) + 2
        if not cells or not cells[0] and len(cells) == 1:
            continue
        expr = _SPACING.sub(" ", cells[0]).strip()
        mode = _condition_mode(cells[1], out_tex) if len(cells) > 1 else None
        if not expr or mode is None:
            return []
        rows.append((expr, mode, note.text.count("\n", 0, at) + 1))
    return rows


def output_layer_aliases(note) -> None:
    """δ^{n_l} = … (δ^{(l)} = ∇_{u^{(l)}}L defined): a claim about ∇_{u^{(n_l)}}L at the output layer,
    not the definition of a new name."""
    for name in [d.name for d in note.history]:
        parsed = layer_name(name)
        if parsed is None or parsed[1] != "out" or parsed[2] != 0 or name in note.aliases:
            continue
        base = parsed[0]
        found = next(((a, fv) for a, fv in note.aliases.items() if layer_name(a) == (base, "l", 0)), None)
        if found is None or layer_name(found[1][1]) is None:
            continue
        alias, (fn, var) = found
        v_base = layer_name(var)[0]
        suffix = name[len(base) + 1:]
        note.aliases[name] = (fn, f"{v_base}_{suffix}")
        note.alias_lines[name] = next(d.line for d in note.history if d.name == name)
        note.definitions.pop(name, None)
        note.history = [d for d in note.history if d.name != name]
