"""Recurrent claims of a note: sums over time, the last step (τ, T) and missing later-step terms.

A note's step-t equations (``h_t = tanh(x_t W + h_{t-1} U + b)``) are judged by the per-step
claim checker of ``note_check``; this module widens what it reads:

* ``\\sum_{t=1}^{T} S_t``: a shared parameter θ used at every step has ∂L/∂θ = Σ_t ∂L/∂θ⁽ᵗ⁾, θ⁽ᵗ⁾
  being its use at step t (the earlier steps' states are inputs of step t).  The summand is judged
  as that per-step gradient; as steps have their own data, the sum holds exactly when every
  summand does.  ``\\sum_t ∂L_t/∂θ`` is the note's own ``L = \\sum_t L_t``.
* ``C^{\\tau}``, ``h_T``: the last step is step t without a step t+1.
* a state X_t (used by step t+1) whose claim names upstream gradients at step t only misses the
  path through step t+1: judged again with ∂L/∂S^{t+1} of the states S that step t+1 computes
  from X_t.
* Jacobian factors beside several upstream gradients are read as direct dependences.
* a wrong claim that one edit puts right is diagnosed by that edit: a time index moved by a step
  (tanh' at the wrong step), diag(·) on the other side of Wᵀ, one gate for another, the missing
  derivative of a gate's activation.  The variants are tested without the diagnosis search.
"""
from __future__ import annotations

import re

from .claims import QUICK_SEARCH
from .note_step_loss import implied_step_loss, writes_sum_of_steps
from .note_model import (_Definition, _identifiers, _lhs_name, _NotChecked, _plain_name, _reach,
                         _shift_definitions, _split_derivative)

_TIME = ("t", "tau", "s")
# ---------------------------------------------------------------- reading the LaTeX
def _script(tex: str, k: int) -> tuple:
    """(text, end) of the {group}, \\command or single character at tex[k:]."""
    while k < len(tex) and tex[k] == " ":
        k += 1
    if k >= len(tex):
        return "", k
    if tex[k] == "{":
        depth, j = 0, k
        while j < len(tex):
            depth += tex[j] == "{"
            depth -= tex[j] == "}"
            j += 1
            if depth == 0:
                return tex[k + 1:j - 1].strip(), j
        return tex[k + 1:].strip(), len(tex)
    m = re.match(r"\\[A-Za-z]+|.", tex[k:])
    return m.group(0), k + len(m.group(0))


def time_sum(tex: str):
    """(sum LaTeX as written, summand) of a claim that is one sum over time steps, else None."""
    m = re.match(r"\s*\\sum\s*(\\limits|\\nolimits)?", tex)
    if not m:
        return None
    k, lower, upper = m.end(), "", ""
    for _ in range(2):
        rest = tex[k:].lstrip()
        if not rest[:1] in ("_", "^"):
            break
        k = len(tex) - len(rest) + 1
        text, k = _script(tex, k)
        if rest[0] == "_":
            lower = text
        else:
            upper = text
    index = re.split(r"[=<,]", lower)[0].strip().lstrip("\\") if lower else ""
    start = lower.split("=", 1)[1].strip() if "=" in lower else ""
    if start not in ("", "0", "1") or upper.strip().lstrip("\\") not in ("", "T", "tau", "τ"):
        return None  # a partial range (t=2, T-1) is not the whole sequence: not judged as one
    body = tex[k:].strip()
    stepped = bool(_time_marks(body))
    # \sum_{i=1}^{\tau} of step-t terms that never use i (seed 003's typo) is a sum over time too
    index_used = bool(index) and bool(re.search(rf"[_^]\{{?{re.escape(index)}\b", body))
    is_time = index in _TIME or (upper.strip().lstrip("\\") in ("T", "tau") and stepped and not index_used)
    if not is_time or not body or not stepped:
        return None
    return tex[:k].strip(), body


def _time_marks(tex: str) -> list:
    """The time indices written in tex: _t, ^{t+1}, _{t-1}, ^{(t)}."""
    return re.findall(r"[_^]\s*\{?\s*\(?\s*t\s*(?:[+-]\s*1)?\s*\)?\s*\}?(?![A-Za-z])", tex)


def one_term(body: str) -> bool:
    """Whether body is a single product term (no + or - outside brackets after its start)."""
    depth = 0
    for k, ch in enumerate(body):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch in "+-" and depth == 0 and k > 0 and body[:k].strip():
            return False
    return True


# ---------------------------------------------------------------- the note's time structure
def step_ties(source: str) -> str:
    """Program lines that give X_{t-1} and X_{t+1} the shape of X_t (for shape inference only)."""
    names = set(re.findall(r"(?<![\w.])([A-Za-z]\w*)", source))
    lines = [f"\nsteptie__{k} = {a} - {b}_t" for k, (a, b) in enumerate(
        sorted((n, n.rsplit("_", 1)[0]) for n in names if re.search(r"_t[mp]1$", n)))
        if f"{b}_t" in names]
    return "".join(lines)


def states(note) -> set:
    """Names X whose previous step X_{t-1} feeds the step-t equations (h, C of an LSTM)."""
    used = set()
    for d in note.definitions.values():
        used |= set(re.findall(r"(?<![\w.])([A-Za-z]\w*?)_tm1(?!\w)", d.text))
    return {x for x in used if f"{x}_t" in note.definitions}


def _next_states(note, base: str) -> list:
    """The states S whose step-(t+1) value uses X_t directly (X_{t-1} in S_t's equations, or in the
    equations of step-t quantities that S_t needs without passing through another state)."""
    out = []
    for s in sorted(states(note)):
        seen, stack = set(), [f"{s}_t"]
        while stack:
            n = stack.pop()
            if n in seen or n not in note.definitions:
                continue
            seen.add(n)
            text = note.definitions[n].text
            if re.search(rf"(?<![\w.]){re.escape(base)}_tm1(?!\w)", text):
                out.append(s)
                break
            stack += [w for w in re.findall(r"(?<![\w.])([A-Za-z]\w*)", text)
                      if w.endswith("_t") and w[:-2] not in states(note)]
    return out


def _last_step_words(note, line: int) -> bool:
    lines = note.text.split("\n")
    window = "\n".join(lines[max(0, line - 4):line])
    return bool(re.search(r"last step|final step|last time|truncat|末尾|最后一|最后时刻|截断", window, re.I))


def last_step_aliases(note) -> None:
    """δ_T = … (δ_t = ∂L/∂h_t defined): a claim about ∂L/∂h_T, not a definition of a new name."""
    heads = [_lhs_name(c["links"][0][0], note.known) for c in note.chains if len(c["links"]) > 1]
    for name in [n for n in heads if n and re.fullmatch(r"\w+_(T|tau)", n)]:
        base, mark = name.rsplit("_", 1)
        if f"{base}_t" in note.aliases and name not in note.aliases:
            fn, var = note.aliases[f"{base}_t"]
            if var.endswith("_t"):
                note.aliases[name] = (fn, f"{var[:-2]}_{mark}")
                final = r"\tau" if mark == "tau" else "T"
                shown = re.sub(r"([_^])\s*(?:\{\s*(\()?\s*t\s*\)?\s*\}|t(?![A-Za-z]))",
                               lambda g: f"{g.group(1) if mark == 'tau' or g.group(2) else '_'}"
                                         f"{{{'(' if g.group(2) else ''}{final}{')' if g.group(2) else ''}}}",
                               note.latex_names.get(var, var), count=1)
                note.latex_names.setdefault(f"{var[:-2]}_{mark}", shown)
                note.definitions.pop(name, None)
                note.history = [d for d in note.history if d.name != name]


# ---------------------------------------------------------------- judging
def judge_recurrent(note, fn: str, var: str, tex: str, judge):
    """(result, expected LaTeX, language claim) for a recurrent claim, or None when the claim is
    none of the forms this module reads (the ordinary per-step judge then takes it)."""
    found = time_sum(tex)
    if found:
        return _judge_sum(note, fn, var, found, judge)
    m = re.fullmatch(r"(\w+?)_(tau|T)", var)
    if m and f"{m.group(1)}_t" in note.definitions:
        return _judge_last_step(note, fn, var, m.group(1), m.group(2), tex, judge)
    if not states(note) or not (_time_marks(tex) or re.search(r"_t([mp]1)?$", var)):
        return None
    try:
        result, expected, lang = judge_step(note, fn, var, tex, judge)
    except _NotChecked as err:
        if "direct (partial) dependence" not in str(err):
            raise
        result, expected, lang = _judge_direct_factors(note, fn, var, tex, judge, err)
    m = re.fullmatch(r"(\w+?)_t", var)
    if m and m.group(1) in states(note) and fn not in note.definitions and not _last_step_words(note, note.line) \
            and not re.search(r"_(t|tm1|tp1|T|tau)$", fn):        # ∂L_t/∂h_t: a step's own loss
        return _missing_later(note, fn, var, m.group(1), tex, judge, (result, expected, lang))
    return result, expected, lang


def judge_step(note, fn, var, tex, judge):
    """The per-step judge; a wrong claim that one time index (and the side of a diag factor) puts
    right is diagnosed as such: 1 - h_t^2 where h_{t+1} belongs."""
    result, expected, lang = judge(note, fn, var, tex)
    result.diagnosis = [_step_names_shown(note, d) for d in result.diagnosis]
    weak = result.verdict == "wrong" and (not result.diagnosis or "no single usual mistake" in result.diagnosis[-1]
                                          or "missing factor: ⊙" in result.diagnosis[-1])   # said in the note's names
    if weak:
        found = _wrong_step(note, fn, var, tex, judge)
        if found:
            head = result.diagnosis[0].split(": ", 1)[0] + ": " if result.diagnosis and \
                result.diagnosis[0].startswith("the terms through") else ""
            result.diagnosis = [head + found]
    return result, expected, lang


def _step_names_shown(note, text: str) -> str:
    """z_tm1 -> z_{t-1} (or z^{t-1} where the note writes its steps as superscripts)."""
    def shown(m):
        mark = note.latex_names.get(f"{m.group(1)}_t", "")
        sep = "^" if re.search(r"\^\s*\{?\s*t", mark) else "_"
        return f"{m.group(1)}{sep}{{t{'-' if m.group(2) == 'm' else '+'}1}}"
    return re.sub(r"(?<![\w{])([A-Za-z]+)_t([mp])1\b", shown, text)


_MARK = re.compile(r"([_^])\s*(\{\s*\(?\s*t\s*(?:[+-]\s*1)?\s*\)?\s*\}|t)(?![A-Za-z])")


def _step_of(mark: str) -> int:
    inner = re.sub(r"[{}()\s]", "", mark)
    return {"t": 0, "t+1": 1, "t-1": -1}.get(inner, 0)


def _step_text(k: int) -> str:
    return {0: "{t}", 1: "{t+1}", -1: "{t-1}"}[k]


def _variants(tex: str, note=None) -> list:
    """(variant, what changed) with one time index moved by a step (not inside ∂ or on a δ), or
    one stepped name replaced by the step-t argument of its activation (σ'(h_{t-1}) for σ'(o^t))."""
    out, inputs = [], _activation_inputs(note) if note is not None else {}
    for m in _MARK.finditer(tex):
        before = tex[:m.start()]
        owner = re.search(r"(\\?[A-Za-z]+(?:_\{?[A-Za-z]\}?)?)$", before)
        if not owner or owner.group(1).startswith("\\delta") or re.search(r"\\part(ial)?[^{}]*$", before):
            continue
        k = _step_of(m.group(2))
        was = owner.group(1) + m.group(1) + _step_text(k)
        for j in (k - 1, k + 1):
            if j not in (-1, 0, 1):
                continue
            new = tex[:m.start(2)] + _step_text(j) + tex[m.end(2):]
            now = owner.group(1) + m.group(1) + _step_text(j)
            out.append((new, f"{was} where {now} belongs".replace("{t}", "t")))
        arg = inputs.get(owner.group(1))
        if arg:
            out.append((tex[:owner.start()] + "{" + arg + "}" + tex[m.end():],
                        f"{was} where {arg} belongs".replace("{t}", "t")))
    return out


def _activation_inputs(note) -> dict:
    """LaTeX owner (h) -> LaTeX of the step-t name its activation is applied to (o^t in h = σ(o))."""
    out = {}
    for name, d in note.definitions.items():
        m = re.fullmatch(r"(?:sigmoid|tanh|relu)\(\(?(\w+_t)\)?\)", d.text.strip())
        if name.endswith("_t") and m and m.group(1) in note.definitions:
            tex = note.latex_names.get(name, "")
            mark = _MARK.search(tex)
            owner = _owner(tex, mark.start()) if mark else None
            if owner and owner.start() == 0:
                out[owner.group(1)] = note.latex_names.get(m.group(1), m.group(1))
    return out


def _swap_diag(tex: str):
    """A^T diag(x) -> diag(x) A^T (the diag factor on the other side), or None."""
    m = re.search(r"(\(\s*[A-Za-z](?:_\{\w+\}|_\w)?\s*\)|[A-Za-z](?:_\{\w+\}|_\w)?)\s*\^\s*(?:\{T\}|T|\\top)"
                  r"\s*(\\operatorname\{diag\}|\\mathrm\{diag\}|diag)\s*\(", tex)
    if not m:
        return None
    depth, k = 1, m.end()
    while k < len(tex) and depth:
        depth += tex[k] == "("
        depth -= tex[k] == ")"
        k += 1
    factor = tex[m.start():m.start(2)].strip()
    return tex[:m.start()] + tex[m.start(2):k] + factor + tex[k:], factor


def _owner(tex: str, at: int):
    """The name written before a time mark at tex[at] (f, C, \\delta_C), or None inside ∂{…}."""
    before = tex[:at]
    owner = re.search(r"(\\?[A-Za-z]+(?:_\{?[A-Za-z]\}?)?)$", before)
    if not owner or re.search(r"\\part(ial)?[^{}]*$", before):
        return None
    return owner


def _step_names(note) -> dict:
    """LaTeX owner (f, i, C) -> activation ('sigmoid'/'tanh'/'') of the names defined at step t."""
    out = {}
    for name, d in note.definitions.items():
        if not name.endswith("_t"):
            continue
        m = _MARK.search(note.latex_names.get(name, ""))
        if not m:
            continue
        owner = _owner(note.latex_names[name], m.start())
        if owner and owner.start() == 0:
            act = re.fullmatch(r"(sigmoid|tanh)\((.*)\)", d.text.strip())
            out[owner.group(1)] = act.group(1) if act else ""
    return out


def _other_names(note, tex: str) -> list:
    """(variant, what) with one step-t name replaced by another of the step (f^t where i^t belongs)."""
    names, out = _step_names(note), []
    for m in _MARK.finditer(tex):
        owner = _owner(tex, m.start())
        if not owner or not names.get(owner.group(1)) or _step_of(m.group(2)) != 0:
            continue
        for other in names:                     # a gate for another gate
            if other != owner.group(1) and names[other]:
                out.append((tex[:owner.start()] + other + tex[owner.end():],
                            f"{owner.group(1)}^t where {other}^t belongs", "name"))
    return out


def _missing_factors(note, tex: str) -> list:
    """(variant, what) with the derivative of a step's activation put into the δ bracket."""
    out = []
    spots = [k for k, ch in enumerate(tex) if ch == "]" and "\\delta" in tex[:k][tex[:k].rfind("["):]]
    spots = spots or [len(tex)]
    for owner, act in _step_names(note).items():
        if not act or not re.search(rf"(?<![\\A-Za-z]){re.escape(owner)}\s*[_^]", tex):
            continue
        x, s = f"{owner}^{{t}}", f"{owner}^t"
        forms = [(rf"\odot(1-{x}^2)", f"1 − ({s})², the derivative of tanh at {s}")] if act == "tanh" else \
            [(rf"\odot {x}\odot(1-{x})", f"{s} ⊙ (1 − {s}), the derivative of sigmoid at {s}"),
             (rf"\odot(1-{x})", f"1 − {s} (the derivative of sigmoid at {s} is {s} ⊙ (1 − {s}))")]
        for factor, shown in forms:
            for k in spots:
                out.append((tex[:k] + factor + tex[k:], shown, "factor"))
    return out


def _wrong_step(note, fn, var, tex, judge) -> str:
    from ..errors import MatcalcError
    swapped = _swap_diag(tex)
    tries = [(v, what, None) for v, what in _variants(tex, note)]
    if swapped:
        tries.append((swapped[0], "", swapped[1]))
        tries += [(v, what, swapped[1]) for v, what in _variants(swapped[0], note)]
    tries += [(v, (kind, what), None) for v, what, kind in _missing_factors(note, tex) + _other_names(note, tex)]
    for variant, what, factor in tries[:24]:
        token = QUICK_SEARCH.set(True)
        try:
            ok = judge(note, fn, var, variant)[0].verdict == "correct"
        except _NotChecked as err:
            ok = "hold" in str(err)
        except (MatcalcError, KeyError, ValueError):
            ok = False
        finally:
            QUICK_SEARCH.reset(token)
        if not ok:
            continue
        if isinstance(what, tuple):
            return ("wrong factor: " if what[0] == "name" else "missing factor: ") + what[1]
        parts = [f"wrong point of evaluation: {what}"] if what else []
        if factor:
            parts.append(f"diag(·) on the wrong side of {factor}: the Jacobian is diag(·){factor}, "
                         f"not {factor}diag(·)")
        return "; ".join(parts)
    return ""


def _missing_later(note, fn, var, base, tex, judge, judged):
    """A correct-looking ∂L/∂X_t that names step-t upstream gradients only misses step t+1."""
    result, expected, lang = judged
    ups = set(re.findall(rf"(?<![\w.])d{re.escape(fn)}_d(\w+)", lang))
    if result.verdict != "correct" or not ups or var in ups or any(not u.endswith("_t") for u in ups):
        return judged               # ∂L/∂h_t = δ_t names the total gradient itself
    later = _next_states(note, base)
    if not later:
        return judged
    extra = " + ".join(rf"0 \cdot \frac{{\partial {note.latex_names.get(fn, fn)}}}{{\partial {_next_tex(note, s)}}}"
                       for s in later)
    try:
        full, full_expected, _ = judge(note, fn, var, f"{tex} + {extra}")
    except _NotChecked:
        return judged
    if full.verdict != "wrong":
        return judged
    names = ", ".join(_next_tex(note, s) for s in later)
    full.diagnosis = [f"missing term: {note.latex_names.get(var, var)} also reaches "
                      f"{_plain(note.latex_names.get(fn, fn))} through step t+1 ({names}); "
                      "the claim keeps only the step-t terms"]
    return full, full_expected, lang


_DERIVATIVE = re.compile(r"\\frac\s*\{\s*\\part(?:ial)?\s*([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}"
                         r"\s*\{\s*\\part(?:ial)?\s*([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


def _judge_direct_factors(note, fn, var, tex, judge, refusal):
    """∂L/∂C^{t+1} ∂C^{t+1}/∂C^t + ∂L/∂h^t ∂h^t/∂C^t: with ∂L/∂h^t the total gradient, a factor
    ∂u/∂v is the direct dependence (the other upstream quantities held fixed).  Correct in that
    reading: correct; else not checked (the reading is the note's to state)."""
    ups = []
    for num, den in _DERIVATIVE.findall(tex):
        if _lhs_name(num, note.known) == fn and _lhs_name(den, note.known):
            ups.append(_lhs_name(den, note.known))
    _shift_definitions(note, ups)
    ups = [u for u in dict.fromkeys(ups) if u in note.definitions]

    def needs(root):
        seen, stack = set(), [root]
        while stack:
            n = stack.pop()
            if n in seen or n not in note.definitions:
                continue
            seen.add(n)
            stack += list(_identifiers(note.definitions[n].text))
        return seen
    saved = dict(note.definitions)
    try:
        for u2 in ups:
            for u in ups:
                if u == u2 or u2 not in needs(u):
                    continue
                for n in needs(u) - needs(u2):
                    d = note.definitions[n]
                    text = re.sub(rf"(?<![\w.]){re.escape(u2)}(?![\w])", f"{u2}_frz", d.text)
                    note.definitions[n] = _Definition(n, text, d.line, d.names)
                    note.latex_names.setdefault(f"{u2}_frz", note.latex_names.get(u2, u2))
        result, expected, lang = judge(note, fn, var, tex)
    finally:
        note.definitions.clear()
        note.definitions.update(saved)
    if result.verdict != "correct":
        raise _NotChecked(f"{refusal}; read with each ∂u/∂v as the direct dependence it does not hold either")
    return result, expected, lang


def _next_tex(note, state: str) -> str:
    tex = note.latex_names.get(f"{state}_t", f"{state}_t")
    out = re.sub(r"([_^])\s*\{\s*t\s*\}|([_^])\s*t(?![A-Za-z])",
                 lambda g: (g.group(1) or g.group(2)) + "{t+1}", tex, count=1)
    return out if out != tex else f"{state}_{{t+1}}"


def _plain(tex: str) -> str:
    return _plain_name(tex)


def _judge_sum(note, fn, var, found, judge):
    head, body = found
    if not one_term(body):
        raise _NotChecked("a sum over time followed by other terms: matcalc reads a claim that is one "
                          "sum over the steps")
    if re.search(r"_(t|tm1|tp1|T|tau)$", var):
        raise _NotChecked(f"a sum over time for the gradient of a step's own quantity {var}: matcalc judges "
                          "sums for parameters shared by the steps")
    step_fn, reading = f"{fn}_t", ""
    derivs = re.findall(r"\\frac\s*\{\s*\\part(?:ial)?\s*\{?\s*([^{}]*?)\s*\}?\s*\}", body)
    per_step = any(_lhs_name(d, note.known) == step_fn for d in derivs)
    if per_step and not re.search(rf"(?<![\w\\]){re.escape(fn)}\s*=\s*\\sum[^$\n]*?{re.escape(fn)}_\{{?t\b",
                                  note.text):
        raise _NotChecked(f"the summand uses ∂{fn}_t, but the note does not write {fn} = Σ_t {fn}_t")
    if per_step:
        whole = _split_derivative(body.strip().strip("()").strip())
        if whole and (_lhs_name(whole[0], note.known), _lhs_name(whole[1], note.known)) == (step_fn, var):
            from .claims import ClaimResult
            return ClaimResult("correct", []), head + " " + body, f"sum_t(d{step_fn}_d{var})"
        if var in states(note) or _feeds_state(note, var):
            raise _NotChecked(f"{var} feeds the recurrence, so ∂{fn}_t/∂· of a step-t quantity leaves out "
                              f"the later steps' losses only if it is the total derivative; the reading is "
                              "uncertain")
    try:
        try:
            result, expected, lang = judge_step(note, step_fn if per_step else fn, var, body, judge)
        except _NotChecked as err:
            # L = Σ_t L_t with L_t written and var outside the recurrence (V of ŷ_t = V h_t): the
            # summand is ∂L_t/∂var
            if per_step or "does not define" not in str(err) or step_fn not in note.definitions or \
                    var in states(note) or _feeds_state(note, var) or \
                    not re.search(rf"(?<![\w\\]){re.escape(fn)}\s*=\s*\\sum", note.text):
                raise
            result, expected, lang = judge_step(note, step_fn, var, body, judge)
    except _NotChecked as err:
        if "does not define" in str(err) and re.search(rf"(?<![\w\\]){re.escape(fn)}\s*=\s*\\sum", note.text):
            implied = implied_step_loss(note, body) if step_fn not in note.definitions and not per_step and \
                writes_sum_of_steps(note, fn) and not (var in states(note) or _feeds_state(note, var)) else None
            if implied is None:
                raise _NotChecked(f"the note does not write its per-step loss {fn}_t, so the summand (∂{fn}_t "
                                  "through the step's output) cannot be checked") from None
            note.definitions[step_fn] = _Definition(step_fn, implied[0], note.line, {})
            note.latex_names.setdefault(step_fn, f"{note.latex_names.get(fn, fn)}_t")
            result, expected, lang = judge_step(note, step_fn, var, body, judge)
            reading = f"   ({fn}_t: {implied[1]})"
        else:
            raise
    if re.search(r"(?<![\w.])d\w+_d\w+_tp1\b", lang):    # δ_{t+1}: the sum may be re-indexed
        raise _NotChecked("the summand is written at step t+1; matcalc judges sums whose terms are at step t")
    if result.verdict == "wrong":
        result.diagnosis = ["the term at step t is wrong: " + "; ".join(result.diagnosis)]
    return result, f"{head} {expected}", f"sum_t({lang})" + reading


def _feeds_state(note, var: str) -> bool:
    return any(var in _reach(note, f"{s}_t", stop=set()) for s in states(note))


def _judge_last_step(note, fn, var, base, mark, tex, judge):
    """∂L/∂C^τ: step t's equations with no step t+1."""
    if mark == "tau":
        step = re.sub(r"([_^])\s*(?:\\tau\b|\{\s*(\(?)\s*\\tau\s*(\)?)\s*\})",
                      lambda g: f"{g.group(1)}{{{g.group(2) or ''}t{g.group(3) or ''}}}", tex)
    else:       # ^T is a transpose: only _T, _{T} and ^{(T)} are the step
        step = re.sub(r"_\s*(?:T|\{\s*T\s*\})(?![A-Za-z])", "_{t}", tex)
        step = re.sub(r"\^\s*\{\s*\(\s*T\s*\)\s*\}", "^{(t)}", step)
    try:
        result, expected, lang = judge_step(note, fn, f"{base}_t", step, judge)
    except _NotChecked as err:
        # L = Σ_t L_t with L_t unwritten: at the last step L reaches the state through L_τ only
        implied = implied_step_loss(note, step) if "does not define" in str(err) and \
            fn not in note.definitions and writes_sum_of_steps(note, fn) else None
        if implied is None:
            raise
        note.definitions[fn] = _Definition(fn, implied[0], note.line, {})
        result, expected, lang = judge_step(note, fn, f"{base}_t", step, judge)
        lang = f"{lang}   (the last step's {fn}_{'τ' if mark == 'tau' else 'T'}: {implied[1]})"
    if re.search(r"_tp1\b", lang):
        raise _NotChecked("the claim at the last step names step τ+1, which does not exist (unless the "
                          "note takes its gradient as zero)")
    final = r"\tau" if mark == "tau" else "T"

    def back(g):
        if g.group(2):
            return f"{g.group(1)}{{({final})}}"
        return f"{g.group(1)}{{{final}}}" if mark == "tau" or g.group(1) == "_" else f"_{{{final}}}"
    expected = re.sub(r"(?<=[A-Za-z}])([_^])\s*(?:\{\s*(\()?\s*t\s*\)?\s*\}|t(?![A-Za-z]))", back, expected)
    if result.verdict == "wrong":
        result.diagnosis = [d.replace("_t", "_τ" if mark == "tau" else "_T") for d in result.diagnosis]
    return result, expected, lang
