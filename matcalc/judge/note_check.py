"""``matcalc check-note``: judge each derivative claim of a note against its problem.

The forward equations (``h = XW_1 + b_1``) make the program; every link of a derivative chain
(``\\frac{\\partial f}{\\partial W_1} = A = B``) is a claim judged by ``matcalc.judge.claims``.  A
derivative of the loss written inside a claim (``\\nabla_u L``, ``\\delta^{(l)}`` defined as one)
stands for the upstream gradient: the loss is then replaced by ``sum(G .* u)`` with G free, so
the chain rule is checked for any upstream gradient.  Shapes: ``X \\in R^{n \\times d}``
statements, ``--dim``, else capital letters are matrices and small letters vectors (rows in a
row-vector note such as ``xW + b``, columns in ``Wx + b``), with sizes inferred from the
equations.  What cannot be read is reported as not checked, with the reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..lang import printing
from ..errors import LimitError, MatcalcError, ParseError, ShapeError
from ..lang.latex_input import HADAMARD_LOOSE, ONES_ROW, balanced, strip_derivative_text, sums_as_calls, translate
from .claims import QUICK_SEARCH
from .note_abstract import abstract_chain
from .note_index import IndexUnread, jacobian_claim, whole_claim
from .note_model import (_Definition, _identifiers, _lhs_name, _Note, _NotChecked, _plain_name, _reach,
                         _shift_definitions, _split_derivative, _strip_partial)
from .note_layers import expand_cases, judge_layers, output_layer_aliases
from .note_losses import confirm_named_losses, other_function
from .note_factor import judge_missing_factor
from .note_patterns import cut_row, judge_row_pattern
from .note_selfref import judge_self_reference
from .note_step_loss import summed_step_loss
from .note_recurrent import judge_recurrent, last_step_aliases, step_ties



@dataclass
class NoteClaim:
    line: int
    wrt: str                      # as written in the note (LaTeX)
    claim: str                    # the claim's LaTeX as written
    verdict: str = "not_checked"  # correct | wrong | not_checked
    diagnosis: str = ""
    expected: str = ""            # LaTeX, in the note's names
    function: str = ""
    link_line: int = 0
    read_as: str = ""             # the claim in the contract language
    layout: str | None = None     # a Jacobian (or row gradient) read in "numerator"/"denominator" layout

    def to_json(self) -> dict:
        return {"line": self.line, "wrt": self.wrt, "claim": self.claim, "verdict": self.verdict,
                "diagnosis": self.diagnosis, "expected": self.expected, "function": self.function,
                "link_line": self.link_line, "read_as": self.read_as, "layout": self.layout}


@dataclass
class NoteReport:
    claims: list = field(default_factory=list)
    program: str = ""
    convention: str = ""

    @property
    def exit_code(self) -> int:
        return 1 if any(c.verdict == "wrong" for c in self.claims) else 0

    def to_json(self) -> dict:
        return {"claims": [c.to_json() for c in self.claims], "program": self.program,
                "convention": self.convention}


# ---------------------------------------------------------------- one claim
def _break_cycles(note: _Note, roots) -> None:
    """A definition from earlier in the note that closes a cycle with later ones is dropped."""
    for _ in range(20):
        cycle = _find_cycle(note, roots)
        if not cycle:
            return
        oldest = min(cycle, key=lambda n: note.definitions[n].line)
        del note.definitions[oldest]


def _find_cycle(note: _Note, roots) -> list:
    state: dict = {}
    path: list = []

    def visit(n):
        if n not in note.definitions:
            return None
        if state.get(n) == 1:
            return path[path.index(n):]
        if state.get(n) == 2:
            return None
        state[n] = 1
        path.append(n)
        for m in sorted(_identifiers(note.definitions[n].text)):
            found = visit(m)
            if found:
                return found
        path.pop()
        state[n] = 2
        return None
    for r in roots:
        found = visit(r)
        if found:
            return found
    return []


def _deps(note: _Note, roots) -> list[str]:
    """Definitions the roots need, in dependency order (the note's order where free)."""
    _break_cycles(note, list(roots))
    need, stack = set(), list(roots)
    while stack:
        n = stack.pop()
        if n in need or n not in note.definitions:
            continue
        need.add(n)
        stack += re.findall(r"[A-Za-z_][A-Za-z0-9_]*", note.definitions[n].text)
    order, done = [], set()

    def place(n):
        if n in done or n not in need:
            return
        done.add(n)
        for m in sorted(_identifiers(note.definitions[n].text)):
            place(m)
        order.append(n)
    for n in note.definitions:
        place(n)
    return order


def _grad_name(fn: str, var: str) -> str:
    return f"d{fn}_d{var}"


def _judge(note: _Note, fn: str, var: str, claim_tex: str) -> tuple:
    """(ClaimResult, expected LaTeX, language claim) for ∂fn/∂var = claim_tex."""
    upstream: dict = {}

    jacobians: dict = {}       # placeholder -> (function, variable): a Jacobian factor ∂u/∂v
    partial = None             # the names through which only part of the claim is checked

    def derivative(num, den, nabla):
        f2, v2 = _lhs_name(num, note.known), _lhs_name(den, note.known)
        if re.match(r"\\?(sigma|tanh|sigmoid|softmax|exp|log|ln)\s*\(", _strip_partial(num)) and f2 not in note.definitions:
            f2 = None                  # ∂σ(h W)/∂h: of an expression, not of a name σ
        inner = None
        if not v2:                  # ∂g(e^z1^T)/∂(e^z1^T): with respect to an expression of the note
            if f2 == fn and fn not in note.definitions:
                raise _NotChecked(f"the note does not define {note.latex_names.get(fn, fn)} "
                                  "(no equation for it was found)")
            f2, v2, inner = _expression_variable(note, num, den, len(jacobians))
        if not f2:                  # ∂softmax(z)/∂z: the Jacobian of an expression
            inner = inner or sums_as_calls(translate(_strip_partial(num), note.known, values=note.values,
                                                     sigma=note.sigma_at(note.line)).text)
            f2 = f"jnum{len(jacobians)}"
            note.definitions[f2] = _Definition(f2, inner, note.line, {})
            note.latex_names[f2] = _strip_partial(num)
            v2 = _case_slip(note, v2, _strip_partial(den))
            if v2 not in _reach(note, f2, stop=set()):
                _shift_definitions(note, [v2] + sorted(_identifiers(inner)))
            whole = re.fullmatch(r"([A-Za-z]+)_\w+", v2)
            if v2 not in _reach(note, f2, stop=set()) and whole and whole.group(1) in _reach(note, f2, stop=set()):
                raise _NotChecked(f"the factor ∂{_strip_partial(num)}/∂{_strip_partial(den)}: {_strip_partial(den)} "
                                  f"is an entry of {whole.group(1)} (index notation): only whole vectors and "
                                  "matrices are checked")
            if v2 not in _reach(note, f2, stop=set()):
                raise _NotChecked(f"the factor ∂{_strip_partial(num)}/∂{_strip_partial(den)}: its numerator, as the "
                                  f"note defines it, does not depend on {_strip_partial(den)} (the factor would be "
                                  "zero); not judged")
        if f2 == fn or f2 in aliases_of(fn):
            upstream[v2] = _grad_name(fn, v2)
            return upstream[v2]
        key = f"jac{len(jacobians)}__"
        jacobians[key] = (f2, v2)
        return key

    def aliases_of(name):
        return {n for n, d in note.definitions.items() if d.text == name}

    r = translate(claim_tex, note.known, derivative=derivative, values=note.values,
                  batch="rows" if note.convention == "row" else "columns", sigma=note.sigma_at(note.line),
                  prime_arguments=note.prime_arguments())
    claim = re.sub(r"(?<![\w.])[EI](?![\w(])", lambda m: "eye" if _identity(note, m.group(0)) else m.group(0), r.text)
    _refuse_entries(note, [var] + sorted(_identifiers(claim)))
    for alias, (f2, v2) in _expand_aliases(note, _identifiers(claim)).items():
        if f2 != fn:
            raise _NotChecked(f"{note.latex_names.get(alias, alias)} is a derivative of {f2}, not of {fn}")
        upstream[v2] = _grad_name(fn, v2)
        claim = re.sub(rf"(?<![\w.]){re.escape(alias)}(?![\w])", upstream[v2], claim)
    _shift_definitions(note, [fn, var] + list(upstream) + sorted(_identifiers(claim)))
    var = _resolve_name(note, var, fn)
    if upstream:
        for u in upstream:
            if u not in note.definitions and u != var:
                raise _NotChecked(f"the note does not define {note.latex_names.get(u, u)}")
        step_loss = summed_step_loss(note, fn, var, upstream)     # L = Σ_t L_t: L_t + the later steps
        order = _deps(note, list(upstream) + [step_loss] * bool(step_loss) +
                      [n for n in _identifiers(claim) if n in note.definitions])
        body = [f"{n} = {note.definitions[n].text}" for n in order if n != var]
        body = _freeze_upstream(note, body, upstream, var)
        loss = f"{step_loss} + " * bool(step_loss) + " + ".join(f"sum({g} .* {u})" for u, g in upstream.items())
        # the upstream values must carry every path from var to the loss; else only the terms
        # through them are checked (δ_t = (a_t − y_t)Vᵀ + δ_{t+1} ∂h_{t+1}/∂h_t)
        other_paths = not step_loss and (fn not in note.definitions or var in _reach(note, fn, stop=set(upstream)))
        terms = _split_terms(claim)
        through = [(sg, t) for sg, t in terms if any(re.search(rf"\b{g}\b", t) for g in upstream.values())]
        if other_paths and through and len(through) < len(terms):
            claim = " ".join(f"{sg} ({t})" if k or sg == "-" else f"({t})" for k, (sg, t) in enumerate(through))
            partial = [note.latex_names.get(u, u) for u in upstream]
        elif set(upstream) == {var} and claim.strip(" ()") != upstream[var]:  # = δ_t itself is a tautology
            raise _NotChecked(f"the claim writes ∂{_plain_name(note.latex_names.get(fn, fn))}/∂"
                              f"{_plain_name(note.latex_names.get(var, var))} in terms of itself")
        elif fn in note.definitions and other_paths:
            raise _NotChecked(f"{fn} depends on {var} also other than through "
                              + ", ".join(note.latex_names.get(u, u) for u in upstream))
        target = "f_note"
        body.append(f"{target} = {loss}")
    else:
        if fn not in note.definitions:
            raise _NotChecked(f"the note does not define {note.latex_names.get(fn, fn)} "
                              "(no equation for it was found)")
        order = _deps(note, [fn] + [n for n in _identifiers(claim) if n in note.definitions])
        body = [f"{n} = {note.definitions[n].text}" for n in order if n != var and n != fn]
        if fn in _identifiers(claim) and fn != var:       # ∂s/∂z = diag(s) − ssᵀ names its function
            body += [f"{fn} = {note.definitions[fn].text}", f"f_note = {fn}"]
        else:
            body.append(f"f_note = {note.definitions[fn].text}")
        if var not in _reach(note, fn, stop=set()) and var != fn and _name_product(note, var, fn):
            order = _deps(note, [fn] + [n for n in _identifiers(claim) if n in note.definitions])
            body = [f"{n} = {note.definitions[n].text}" for n in order if n != var and n != fn]
            body.append(f"f_note = {note.definitions[fn].text}")
        if var not in _reach(note, fn, stop=set()) and var != fn:
            raise _NotChecked(f"{note.latex_names.get(fn, fn)} as defined in the note does not depend on "
                              f"{note.latex_names.get(var, var)}")
    # names the claim uses that the problem lacks (o^t where o^{t+1} belongs): free, shaped like a sibling
    assigned = {b.split(" = ", 1)[0] for b in body}
    present = assigned | _identifiers("\n".join(body)) | {var}
    extra = {}
    sizes = set()
    for n in sorted(_identifiers(claim) - present - set(upstream.values())):
        sib = _sibling(n, present)
        if sib is None and n in note.size_names and n not in note.definitions and \
                not any("mean(" in b for b in body):      # a mean's 1/N is the size itself: not free
            sizes.add(n)          # 1/N with N a size the loss does not use: a number the gradient lacks
            continue
        if sib is None and upstream and n in _identifiers(getattr(note.definitions.get(f"{fn}_t"), "text", "")):
            raise _NotChecked(f"{_plain_name(note.latex_names.get(fn, fn))} = Σ_t {_plain_name(note.latex_names.get(fn, fn))}_t: "
                              f"the claim goes on through {', '.join(_plain_name(note.latex_names.get(u, u)) for u in upstream)}, "
                              "but the later steps' losses reach it also by other paths, so the claim (with "
                              f"{note.latex_names.get(n, n)} of the step's own loss) cannot be checked whole")
        if sib is None:
            raise _NotChecked(f"the claim uses {note.latex_names.get(n, n)}, which the note's equations do not define")
        extra[n] = sib
    if extra or sizes:
        body[-1] += "".join(f" + 0 * sum({n})" for n in list(extra) + sorted(sizes))
    source = "\n".join(body)
    shapes = _shapes(note, source, var, upstream, scalar_target=not upstream and bool(_LOSS_NAMES.match(fn)))
    shapes.update({n: () for n in sizes})
    if extra:
        probe = None
        for n, sib in extra.items():
            if sib in shapes:
                shapes[n] = shapes[sib]
            else:
                from ..lang.latex_input import shape_probe
                probe = probe or shape_probe(source.rsplit("\n", 1)[0] if "\n" in source else source,
                                             {k: v for k, v in shapes.items() if k not in extra})
                shapes[n] = probe(sib)
    if "__(" in claim:
        from ..lang.latex_input import resolve_sums, shape_probe
        claim = resolve_sums(claim, shape_probe(source, shapes))
    from ..derivation import derive
    fresh = [v2 for _, v2 in jacobians.values() if v2.startswith("jden") and v2 in note.definitions]
    note.fresh_shapes = {}
    if fresh:                   # the expressions differentiated by: shaped as in the problem
        from ..lang.latex_input import shape_probe
        probe = shape_probe(source, shapes)
        for v2 in fresh:
            try:
                note.fresh_shapes[v2] = tuple(str(x) if not str(x).isdigit() else int(str(x))
                                   for x in probe(note.definitions[v2].text))
            except MatcalcError:
                raise _NotChecked(f"cannot size {note.latex_names.get(v2, v2)} in the note's problem") from None
    if jacobians:
        link = None if partial is not None else _contraction_link(note, fn, var, claim, jacobians, upstream, shapes)
        if link is not None:
            u = next(iter(upstream))
            return link, _expected_latex(derive(source, wrt=[var], shapes=shapes, sum_to_one=_labels(source, var), structure=_structure(note, var, shapes)),
                                         var, note, upstream, fn), \
                f"the chain rule, read as the contraction sum_k ∂{fn}/∂{u}_k ∂{u}_k/∂{var}"
        return _judge_with_jacobians(note, fn, var, claim, jacobians, source, shapes, upstream)
    layout = None
    labels = [n for n in _labels(source, var) if shapes.get(n) not in ((), (1, 1), None)]
    try:
        d = derive(source, wrt=[var], shapes=shapes, sum_to_one=labels, structure=_structure(note, var, shapes))
    except MatcalcError as err:
        if "not a scalar" not in str(err) or upstream:
            raise _NotChecked(f"cannot build the note's problem: {err}") from None
        layout = "numerator"
        try:
            d = derive(source, wrt=[var], shapes=shapes, layout=layout, sum_to_one=labels, structure=_structure(note, var, shapes))
        except MatcalcError as err2:
            raise _NotChecked(f"cannot build the note's problem: {err2}") from None
    if getattr(d, "recurrent", False):
        raise _NotChecked("recurrent program")
    try:
        result = _run_check(d, claim, var, layout)
    except ShapeError as err:
        if r.ambiguous_one:
            raise _NotChecked("the claim multiplies by a bare 1 (read as the number one; if it is an all-ones "
                              "vector, write \\mathbf{1})") from None
        if r.uncertain:
            raise _NotChecked(f"the claim does not type-check as read, but {r.uncertain[0]}") from None
        err.expected = _expected_latex(d, var, note, upstream, fn)
        err.repair = _repair(d, claim, var, layout, note)
        raise
    if layout and result.verdict == "wrong":
        other = _run_check(derive(source, wrt=[var], shapes=shapes, layout="denominator", sum_to_one=labels,
                                  structure=_structure(note, var, shapes)),
                           claim, var, "denominator")
        if other.verdict == "correct":
            result, layout = other, "denominator"
    if result.verdict == "wrong" and not layout and var in getattr(note, "symmetric", ()):
        for convention in ("sym", "cookbook"):     # Σ stated symmetric: its symmetric gradients hold too
            try:
                other = _run_check(derive(source, wrt=[var], shapes=shapes, sum_to_one=labels,
                                          structure={**_structure(note, var, shapes), var: "symmetric"},
                                          convention=convention), claim, var, None)
            except MatcalcError:
                break
            if other.verdict == "correct":
                result = other
                break
    if result.verdict == "wrong" and not layout and note.layout == "numerator" and \
            result.diagnosis and result.diagnosis[0].startswith("wrong shape"):
        try:       # a row where the gradient is a column: judged as the note's numerator-layout row
            d_row = derive(source, wrt=[var], shapes=shapes, layout="numerator", sum_to_one=labels,
                           structure=_structure(note, var, shapes))
            row = _run_check(d_row, claim, var, "numerator")
        except MatcalcError:
            row = None
        if row is not None and not (row.diagnosis and row.diagnosis[0].startswith("wrong shape")):
            d, result, layout = d_row, row, "numerator"
    if result.verdict == "wrong" and (not result.diagnosis or "no single usual mistake" in result.diagnosis[0]):
        def relang(tex):
            text = translate(tex, note.known, derivative=derivative, values=note.values,
                             batch="rows" if note.convention == "row" else "columns",
                             sigma=note.sigma_at(note.line), prime_arguments=note.prime_arguments()).text
            for alias in _expand_aliases(note, _identifiers(text)):
                text = re.sub(rf"(?<![\w.]){re.escape(alias)}(?![\w])", upstream[note.aliases.get(alias, (0, 0))[1]]
                              if alias in note.aliases else alias, text)
            if "__(" in text:
                from ..lang.latex_input import resolve_sums, shape_probe
                text = resolve_sums(text, shape_probe(source, shapes))
            return text
        found = _wrong_point(d, claim, var, layout, note, present | set(extra), shapes, extra) or \
            _wrong_point_once(d, claim_tex, relang, var, layout, note, present | set(extra), shapes)
        if found:
            result.diagnosis = [found]
    if result.verdict == "wrong":
        flipped = _inverse_transposed(d, claim, var, layout, note)
        if flipped:
            result.diagnosis = [flipped]
    if result.verdict == "wrong" and _diag_of_softmax(claim, source):
        result.diagnosis.append("a diagonal Jacobian: softmax couples its outputs, its Jacobian diag(s) − sᵀs "
                                "is not diagonal")
    if result.verdict == "wrong" and len(result.diagnosis) > 1 and "no single usual mistake" in result.diagnosis[0]:
        result.diagnosis = result.diagnosis[1:]
    if result.verdict == "wrong" and not layout and note.layout == "numerator" and \
            result.diagnosis and result.diagnosis[0].startswith("transposed"):
        result.verdict, layout = "correct", "numerator"     # the note's layout: ∂f/∂x is a row
        result.diagnosis = []
    if result.verdict == "wrong":
        _doubt(note, r, order_of(body) + [fn], result)
    if partial is not None:
        through_names = ", ".join(_plain_name(t) for t in partial)
        if result.verdict == "correct":
            raise _NotChecked(f"the terms through {through_names} hold; the others need "
                              f"{note.latex_names.get(fn, fn)}, which the note does not write down")
        result.diagnosis = [f"the terms through {through_names} are wrong: " + "; ".join(result.diagnosis)]
    result.layout = layout
    return result, _expected_latex(d, var, note, upstream, fn), claim


def _expression_variable(note: _Note, num: str, den: str, k: int):
    """(None, jden<k>, numerator text) for ∂N/∂D with D an expression that N is written in: D
    becomes a name of its own (jden<k> = D), N is written in that name; else ParseError."""
    def lang(tex):
        return translate(_strip_partial(tex), note.known, values=note.values, sigma=note.sigma_at(note.line)).text
    what = f"cannot read the derivative symbol ∂{_strip_partial(num)}/∂{_strip_partial(den)}"
    try:
        top, bottom = lang(num), lang(den)
    except MatcalcError:
        raise ParseError(what) from None
    name = f"jden{k}"
    if re.fullmatch(r"[A-Za-z]\w*", top) and _identifiers(bottom) and bottom not in top:
        # ∂f_t/∂(h^{t-1}W_f + x^tU_f + b_f), ∂L/∂(h^τV + b): an expression of the note's equations,
        # made a name of its own where they write it
        text = bottom.strip("()") if balanced(bottom.strip("()"), "()") else bottom
        pattern = _operand_pattern(text)
        spots = {n: d for n, d in note.definitions.items() if re.search(pattern, d.text)}
        if not spots:
            raise ParseError(what + f": the note's equations do not write {_strip_partial(den)}")
        for n, d in spots.items():
            note.definitions[n] = _Definition(n, re.sub(pattern, f"({name})", d.text), d.line, d.names, d.uncertain)
        note.definitions[name] = _Definition(name, sums_as_calls(text), note.line, {})
        note.latex_names[name] = _strip_partial(den)
        return top, name, None
    pattern = _operand_pattern(bottom)
    if not _identifiers(bottom) or not re.search(pattern, top):
        raise ParseError(what)
    rest = re.sub(pattern, f"({name})", top)
    if _identifiers(bottom) & _identifiers(rest):
        raise _NotChecked(f"∂{_strip_partial(num)}/∂{_strip_partial(den)}: the numerator depends on "
                          f"{', '.join(sorted(_identifiers(bottom) & _identifiers(rest)))} also other than through "
                          f"{_strip_partial(den)}, so the derivative with respect to it is ambiguous")
    note.definitions[name] = _Definition(name, sums_as_calls(bottom), note.line, {})
    note.latex_names[name] = _strip_partial(den)
    return None, name, sums_as_calls(rest)


def _bracketed(tex: str) -> bool:
    """Is tex a bracketed expression ((Wx+b), \\left( Xw \\right)) rather than a name?"""
    t = re.sub(r"\\(left|right|big|Big)\s*", "", tex.strip())
    return len(t) > 2 and t[0] in "([" and t[-1] in ")]" and balanced(t[1:-1], "()")


def _operand_pattern(expr: str) -> str:
    """A regex for expr where it stands whole as an operand: a name or call anywhere (exp(z)), a
    sum or product only in its own brackets ((h_t * V + b), not 2 * h_t * V + b)."""
    call = re.fullmatch(r"[A-Za-z_]\w*\((.*)\)", expr)
    if re.fullmatch(r"[A-Za-z_]\w*", expr) or call and balanced(call.group(1), "()"):
        return rf"(?<![\w.]){re.escape(expr)}(?![\w(])"
    return rf"\(\s*{re.escape(expr)}\s*\)"


def _inline_expression_variables(note: _Note, text: str) -> str:
    """jden<k> (an expression the claim differentiates by) written out again as that expression."""
    return re.sub(r"(?<![\w.])jden\d+(?![\w])",
                  lambda m: f"({note.definitions[m.group(0)].text})" if m.group(0) in note.definitions else m.group(0), text)


def _case_slip(note: _Note, name: str, shown: str = "") -> str:
    """z_l where the note defines z_L only (and no z_l so far): the same index, its case slipped."""
    if name in note.definitions or any(name in _identifiers(d.text) for d in note.definitions.values()):
        return name
    close = [n for n in note.definitions if n.lower() == name.lower()]
    if len(close) != 1:
        return name
    note.slips = getattr(note, "slips", []) + [f"{shown or name} read as "
                                                 f"{_plain_name(note.latex_names.get(close[0], close[0]))}, the one "
                                                 "the note defines"]
    return close[0]


def _diag_of_softmax(claim: str, source: str) -> bool:
    """Does a diag(·) of the claim hold a softmax (or a name the source defines as one)?"""
    outputs = set(re.findall(r"^\s*(\w+)\s*=\s*softmax\(", source, re.M))
    for _, start, end in _calls(claim, "diag"):
        inner = claim[start:end - 1]
        if "softmax(" in inner or _identifiers(inner) & outputs:
            return True
    return False


def _calls(text: str, fn: str):
    """(start, argument start, end past the closing bracket) of each fn(…) in text."""
    for m in re.finditer(rf"{fn}\(", text):
        depth, k = 1, m.end()
        while depth and k < len(text):
            depth += text[k] == "("
            depth -= text[k] == ")"
            k += 1
        yield m.start(), m.end(), k


def _name_product(note: _Note, var: str, fn: str) -> bool:
    """s = Xw named after p = σ(Xw): the product the equations spell out becomes s where it stands
    whole (a matrix product, associative; never beside ⊙, a power or a transpose). True if done."""
    d = note.definitions.get(var)
    if d is None or not re.fullmatch(r"\w+( \* \w+)+", d.text.strip()):
        return False
    expr = d.text.strip()
    changed = False
    for n in _reach(note, fn, stop=set()) | {fn}:
        if n == var or n not in note.definitions:
            continue
        text = note.definitions[n].text
        out, last = [], 0
        for m in re.finditer(re.escape(expr), text):
            before, after = text[:m.start()].rstrip(), text[m.end():].lstrip()
            ok_before = not before or before[-1] in "(+-=," or before.endswith("*") and not before.endswith(".*")
            ok_before = ok_before and not re.search(r"\w$", before)
            ok_after = not after or after[0] in ")+-," or after.startswith("* ") or after == "*"
            if ok_before and ok_after:
                out.append(text[last:m.start()] + var)
                last = m.end()
        if out:
            old = note.definitions[n]
            note.definitions[n] = _Definition(old.name, "".join(out) + text[last:], old.line, old.names,
                                              list(old.uncertain), old.display)
            changed = True
    return changed


def _inverse_transposed(d, claim: str, var: str, layout, note) -> str:
    """X^{-1} where X^{-T} belongs (or the reverse): the claim holds with one inverse transposed."""
    for begin, start, k in _calls(claim, "inv"):
        inner = claim[start:k - 1]
        transposed = claim[k:k + 1] == "'"
        variant = claim[:begin] + (f"inv({inner})" if transposed else f"inv({inner})'") + \
            claim[k + 1 if transposed else k:]
        try:
            if _run_check(d, variant, var, layout).verdict == "correct":
                name = _plain_name(note.latex_names.get(inner.strip("()' "), inner.strip("()' ")))
                have, want = ("⁻ᵀ", "⁻¹") if transposed else ("⁻¹", "⁻ᵀ")
                return f"{name}{have} where {name}{want} belongs (the inverse must be transposed)" if not transposed else \
                    f"{name}{have} where {name}{want} belongs (a transpose too many on the inverse)"
        except MatcalcError:
            continue
    return ""


def _head_expression(note: _Note, fn, var, f_tex: str, line: int):
    """The language text of a chain head's numerator that is an expression (OO^T), else None."""
    if fn or not var:
        return None
    try:
        token = ONES_ROW.set(note.ones_row_at(line))
        try:
            text = sums_as_calls(translate(_strip_partial(f_tex), note.known, values=note.values,
                                           sigma=note.sigma_at(line)).text)
        finally:
            ONES_ROW.reset(token)
    except MatcalcError:
        return None
    return text if _identifiers(text) and "__" not in text else None


def _identity(note: _Note, name: str) -> bool:
    """E or I that the note neither defines nor declares: the identity matrix (单位矩阵)."""
    return name in ("E", "I") and name not in note.definitions and name not in note.declared and \
        not any(name in _identifiers(d.text) for d in note.definitions.values())


def order_of(body) -> list:
    return [b.split(" = ", 1)[0] for b in body]


def _doubt(note, r, names, result) -> None:
    """A wrong verdict that rests on an uncertain reading, or on guessed shapes, is not given."""
    reasons = list(r.uncertain) if r is not None else []
    for n in names:
        if n in note.definitions:
            reasons += note.definitions[n].uncertain
    if reasons:
        raise _NotChecked(f"the claim does not hold as read, but {reasons[0]}")
    declared = re.match(r"wrong shape: the claim is \S+ but the gradient of (\w+) is a scalar", result.diagnosis[0]
                        if result.diagnosis else "")
    if declared and note.declared.get(declared.group(1)) == ():
        return                            # b \in R stated: a scalar gradient is no guess
    if result.diagnosis and result.diagnosis[0].startswith("wrong shape: the claim is a scalar") or \
            re.match(r"wrong shape: the claim is \S+ but the gradient of \w+ is a scalar", result.diagnosis[0] if
                     result.diagnosis else ""):
        raise _NotChecked("a scalar where the problem, as read (shapes guessed from the letters), has a matrix: "
                          "declare the shapes (X \\in R^{n\\times d} or --dim)")


def _expected_latex(d, var, note, upstream, fn) -> str:
    """The right form in LaTeX, with the note's names."""
    names = {d.program.intermediates[n]: n for n in d.program.intermediates if n != "f_note"}
    try:
        expected = printing.to_latex(d.gradient(var), names)
    except Exception:  # noqa: BLE001 - fall back to the inlined form
        expected = printing.to_latex(d.gradient(var))
    return _note_names(note, expected, d, upstream, fn)


def _refuse_entries(note: _Note, names) -> None:
    """x_i, w_{ij}: entries of a vector or matrix the note also names whole (index notation)."""
    whole = set(note.definitions) | {n for d in note.definitions.values() for n in _identifiers(d.text)}
    for n in names:
        m = re.fullmatch(r"([A-Za-z]+)_([ijk]{1,2}|[ijk]?m1|jp1)", n)
        if m and n not in whole and any(w == m.group(1) or w.startswith(m.group(1) + "_") and w != n for w in whole):
            raise _NotChecked(f"{note.latex_names.get(n, n)} is an entry (index notation): "
                              "only whole vectors and matrices are checked")


def _judge_with_jacobians(note, fn, var, claim, jacobians, source, shapes, upstream):
    """A claim with Jacobian factors ∂u/∂v (vectors): read in numerator layout, else denominator."""
    from ..derivation import derive
    labels = _labels(source, var)
    whole = None
    try:
        d = derive(source, wrt=[var], shapes=shapes, sum_to_one=labels, structure=_structure(note, var, shapes))
    except MatcalcError as err:     # ∂softmax(z)/∂z: the Jacobian of a vector, in each layout
        if "not a scalar" not in str(err) or upstream:
            raise
        whole = "numerator"
    tried = []
    for layout in ("numerator", "denominator"):
        if whole:
            whole = layout
            try:
                d = derive(source, wrt=[var], shapes=shapes, layout=layout, sum_to_one=labels,
                           structure=_structure(note, var, shapes))
            except MatcalcError as err:
                raise _NotChecked(f"cannot build the note's problem: {err}") from None
        text = claim
        for key, (u, v) in jacobians.items():
            text = text.replace(key, f"({_inline_expression_variables(note, _jacobian_text(note, u, v, shapes, layout))})")
        try:
            result = _run_check(d, text, var, whole)
        except ShapeError as err:
            tried.append(str(err))
            continue
        if result.verdict == "wrong" and note.layout == "numerator" and result.diagnosis and \
                result.diagnosis[0].startswith("transposed"):
            result.verdict = "correct"          # the note's layout: ∂f/∂x is a row
        if result.verdict == "correct":
            result.layout = layout
            result.diagnosis = []
            return result, _expected_latex(d, var, note, upstream, fn), text
        tried.append(result)
    if any(isinstance(t, str) for t in tried) or len(tried) < 2:
        raise _NotChecked("with its Jacobian factors read in either layout the claim does not type-check")
    result = tried[0]
    if len(upstream) > 1:
        raise _NotChecked("with several upstream gradients, a Jacobian factor ∂u/∂v may mean the direct "
                          "(partial) dependence only; the claim is not judged")
    _doubt(note, None, _deps(note, [fn, var]), result)
    result.layout = "numerator"
    if not result.diagnosis or "no single usual mistake" in result.diagnosis[0]:
        result.diagnosis = ["the claim differs from the gradient with its Jacobian factors read in either "
                            "layout"]
        other = other_function(note, fn, var, claim, jacobians)     # ∂(Σ_i z_i log L_i)/∂z alone
        if other:
            result.diagnosis = [other]
    return result, _expected_latex(d, var, note, upstream, fn), text


def _contraction_link(note, fn, var, claim, jacobians, upstream, shapes):
    """∂f/∂W = ∂f/∂z · ∂z/∂W with z or W a matrix: the chain rule read as the contraction
    Σ_k ∂f/∂z_k ∂z_k/∂W — it holds whenever f depends on W only through z (checked before)."""
    from .claims import ClaimResult
    if len(jacobians) != 1 or len(upstream) != 1:
        return None
    (key, (u2, v2)), = jacobians.items()
    (u, g), = upstream.items()
    if v2 != var or not re.fullmatch(rf"\(?\s*{g}\s*\)?\s*\*\s*\(?\s*{re.escape(key)}\s*\)?", claim.strip()):
        return None
    def bare(n):
        text = note.definitions[n].text.replace(" ", "")
        while text.startswith("(") and text.endswith(")") and balanced(text[1:-1], "()"):
            text = text[1:-1]
        return text
    same = u2 == u or (u2 in note.definitions and u in note.definitions and bare(u2) == bare(u))
    matrix = any(len(shapes.get(n, ())) == 2 and 1 not in shapes.get(n, ()) for n in (u, var))
    if not same or not matrix:
        return None
    result = ClaimResult("correct", [], 0.0, "", "", None, f"∂{fn}/∂{var}")
    result.layout = None
    return result


def _jacobian_text(note, u, v, shapes, layout) -> str:
    """∂u/∂v of the note's equations, in the language, for vectors u and v."""
    from ..derivation import derive
    from ..ir.nodes import shape_of
    if u not in note.definitions:
        raise _NotChecked(f"the note does not define {note.latex_names.get(u, u)}")
    body = [f"{n} = {note.definitions[n].text}" for n in _deps(note, [u]) if n not in (v, u)]
    body.append(f"jac_out = {note.definitions[u].text}")
    if "__(" in body[-1]:                    # ∂(Σ_i z_i log L_i)/∂z: the sum over the entries
        from ..lang.latex_input import resolve_sums, shape_probe
        head = "\n".join(body[:-1])
        try:
            body[-1] = resolve_sums(body[-1], shape_probe(head, {n: s for n, s in shapes.items()
                                                                 if n in _identifiers("\n".join(body))}))
        except MatcalcError as err:
            raise _NotChecked(f"cannot read the sum in ∂{note.latex_names.get(u, u)}: {err}") from None
    src = "\n".join(body)
    leaves = _identifiers(src) - {b.split(" = ", 1)[0] for b in body} - \
        {n for pair in re.findall(r"ones\((\w+), (\w+)\)", src) for n in pair}     # sizes, not names
    if v not in leaves:
        raise _NotChecked(f"{note.latex_names.get(u, u)} does not depend on {note.latex_names.get(v, v)}")
    own = {n: shapes[n] for n in leaves if n in shapes}
    own.update({n: s for n, s in getattr(note, "fresh_shapes", {}).items() if n in leaves})
    missing = [n for n in leaves if n not in own]
    if missing:
        own.update({n: s for n, s in _shapes(note, src, v, {}).items() if n in missing})
    scalar = _scalar_gradient(src, v, own, layout)
    if scalar is not None:        # ∂(OO^T)/∂W of a scalar expression: its gradient, shaped as W
        return scalar
    try:
        jd = derive(src, wrt=[v], shapes=own, layout=layout)
    except MatcalcError as err:
        raise _NotChecked(f"cannot take the Jacobian ∂{u}/∂{v}: {err}") from None
    for name in (v,):
        shape = shape_of(jd.program.variables[name])
        if shape and 1 not in tuple(shape):
            raise _NotChecked(f"∂{note.latex_names.get(u, u)}/∂{note.latex_names.get(v, v)} is the Jacobian of a "
                              "matrix: the claim's chain-rule factor is not a matrix product")
    out = shape_of(jd.program.output)
    if out and 1 not in tuple(out):
        raise _NotChecked(f"∂{note.latex_names.get(u, u)}/∂{note.latex_names.get(v, v)} is the Jacobian of a "
                          "matrix: the claim's chain-rule factor is not a matrix product")
    return printing.to_language(jd.jacobian(v))


def _scalar_gradient(src: str, v: str, shapes: dict, layout: str):
    """∂s/∂v (language) of a scalar jac_out: its gradient, shaped as v (a row in numerator layout
    where v is a column); None when jac_out is not a scalar."""
    from ..derivation import derive
    from ..ir.nodes import shape_of
    try:
        jd = derive(src, wrt=[v], shapes=shapes)
    except MatcalcError:
        return None
    if tuple(shape_of(jd.program.output) or ()) not in ((), (1, 1)):
        return None
    shape = tuple(shape_of(jd.program.variables[v]) or ())
    if not shape:
        return None
    text = printing.to_language(jd.gradient(v))
    if not _identifiers(text):      # a constant gradient (1 for a sum): written out at v's shape
        text = f"ones({shape[0]}, {shape[1]}) .* ({text})"
    return f"({text})'" if layout == "numerator" and shape[1] == 1 and shape[0] != 1 else text


def _repair(d, claim: str, var: str, layout, note) -> str:
    """The one edit that makes an ill-typed claim right: ⊙ for a product or back, a transpose."""
    edits = []
    atom = r"(?:[A-Za-z]\w*|\([^()]*\))'?"
    for m in re.finditer(rf"(?<![\w.')])({atom}) \* ({atom})(?![\w(])", claim):
        edits.append((claim[:m.start()] + f"{m.group(2)} * {m.group(1)}" + claim[m.end():],
                      "the factors of a product in the wrong order"))
    hadamard = []
    for m in re.finditer(r" (\.?\*) ", claim):
        other = " * " if m.group(1) == ".*" else " .* "
        what = ("a matrix product where ⊙ belongs" if m.group(1) == "*" else "⊙ where a matrix product belongs")
        hadamard.append((claim[:m.start()] + other + claim[m.end():], what))
    for m in re.finditer(r"(?<![\w.])([A-Za-z]\w*)(?![\w(])('?)", claim):
        name = m.group(1)
        if name.endswith("__"):
            continue
        shown = note.latex_names.get(name, name)
        if m.group(2):
            edits.append((claim[:m.end(1)] + claim[m.end():], f"a transpose too many on {shown}"))
        else:
            edits.append((claim[:m.end(1)] + "'" + claim[m.end(1):], f"a transpose missing on {shown}"))
    terms = _split_terms(claim)
    if len(terms) > 1:              # h δᵀ + … written δ hᵀ + …: one whole term transposed
        for k, (sign, term) in enumerate(terms):
            parts = [(sg, f"({t})'" if j == k else t) for j, (sg, t) in enumerate(terms)]
            variant = " ".join(f"{sg} {t}" if j or sg == "-" else t for j, (sg, t) in enumerate(parts))
            edits.append((variant, f"a term transposed: the transpose of term {k + 1} of the claim belongs"))
    for variant, what in (edits + hadamard)[:40]:
        try:
            if _run_check(d, variant, var, layout).verdict == "correct":
                return what
        except MatcalcError:
            continue
    return ""


def _in_product(name: str, text: str) -> bool:
    """Is ``name`` an operand of a matrix product (``*``, not ``.*``) somewhere in ``text``?"""
    n = re.escape(name)
    return bool(re.search(rf"(?<![\w.]){n}'?\s*(?<!\.)\*|(?<!\.)\*\s*\(*\s*{n}(?![\w])", text))


def _labels(source: str, var: str) -> list:
    """Leaves that multiply a log-softmax (cross-entropy labels): taken as one-hot rows."""
    if "softmax(" not in source or "log(" not in source and "logsoftmax(" not in source:
        return []
    assigned = {m.group(1) for m in re.finditer(r"^\s*(\w+)\s*=", source, re.M)}
    statements = [ln for ln in source.split("\n") if "log(" in ln]
    leaves = set()
    for ln in statements:             # the leaves beside the log: the labels (one-hot rows)
        rhs = ln.split("=", 1)[1]
        leaves |= {n for n in _identifiers(rhs) - assigned if n != var and not re.match(r"d\w+_d\w+", n)}
    used_elsewhere = {n for ln in source.split("\n") if "log(" not in ln for n in _identifiers(ln.split("=", 1)[-1])}
    return sorted(n for n in leaves if n not in used_elsewhere)


def _run_check(d, claim, var, layout):
    from .claims import _check
    with np.errstate(all="ignore"):
        return _check(d, claim, var, layout)


def _base(name: str) -> str:
    return name.split("_")[0] if "_" in name else re.sub(r"\d+$", "", name)


def _sibling(name: str, names) -> str | None:
    """A name of the problem with the same letter and another index (o_t for o_tp1)."""
    same = [n for n in names if _base(n) == _base(name) and n != name]
    return sorted(same, key=lambda n: (len(n) != len(name), n))[0] if same else None


def _wrong_point(d, claim, var, layout, note, names, shapes, extra) -> str:
    """'o^t where o^{t+1} belongs': one name of the claim replaced by another makes it right."""
    if QUICK_SEARCH.get():
        return ""
    used = [n for n in _identifiers(claim) if n in shapes or n in d.program.intermediates]
    tried = 0
    for n in used:
        for m in sorted(names):
            if m == n or m.startswith(("d", "f_note")) and m not in shapes and m not in d.program.intermediates:
                continue
            if _base(m) != _base(n) and not _related(note, n, m):
                continue
            if m in extra:
                continue
            tried += 1
            if tried > 24:
                return ""
            variant = re.sub(rf"(?<![\w.]){re.escape(n)}(?![\w])", m, claim)
            try:
                if _run_check(d, variant, var, layout).verdict == "correct":
                    return (f"wrong point of evaluation: {note.latex_names.get(n, n)} where "
                            f"{note.latex_names.get(m, m)} belongs")
            except MatcalcError:
                continue
    return ""


def _wrong_point_once(d, claim_tex, relang, var, layout, note, names, shapes) -> str:
    """As _wrong_point, one occurrence at a time in the LaTeX: (h - t) ⊙ g'(h) where g'(a) belongs."""
    if QUICK_SEARCH.get():
        return ""
    tried = 0
    for n in sorted(names):
        tex_n = note.latex_names.get(n)
        if not tex_n or n not in shapes and n not in d.program.intermediates:
            continue
        spots = [m.start() for m in re.finditer(rf"(?<![\\A-Za-z_^{{]){re.escape(tex_n)}(?![A-Za-z_^'])", claim_tex)]
        if len(spots) < 2:
            continue
        for m in sorted(names):
            tex_m = note.latex_names.get(m)
            if not tex_m or m == n or (_base(m) != _base(n) and not _related(note, n, m)):
                continue
            for at in spots:
                tried += 1
                if tried > 24:
                    return ""
                variant = claim_tex[:at] + tex_m + claim_tex[at + len(tex_n):]
                try:
                    if _run_check(d, relang(variant), var, layout).verdict == "correct":
                        return f"wrong point of evaluation: {tex_n} where {tex_m} belongs"
                except (MatcalcError, KeyError):
                    continue
    return ""


def _related(note, a: str, b: str) -> bool:
    """b is defined directly from a, or a from b (h = tanh(o): o and h)."""
    da, db = note.definitions.get(a), note.definitions.get(b)
    return bool(db and a in _identifiers(db.text) or da and b in _identifiers(da.text))


def _expand_aliases(note: _Note, names: set) -> dict:
    """Alias names used (δ^{(l)}, δ^{(l+1)} by index shift) -> (function, variable)."""
    out = {}
    for n in names:
        if n in note.definitions:
            continue
        if n in note.aliases:
            out[n] = note.aliases[n]
            continue
        best = None
        for alias, (f2, v2) in note.aliases.items():
            base, _, idx = alias.rpartition("_")
            vbase, _, vidx = v2.rpartition("_")
            if base and vbase and idx and idx == vidx and idx.isalpha() and \
                    n[len(base) + 1:] in (idx + "p1", idx + "m1") and n.startswith(base + "_"):
                line = note.alias_lines.get(alias, 0)
                rank = (line <= note.line, line if line <= note.line else -line)
                if best is None or rank > best[0]:
                    best = (rank, (f2, vbase + "_" + n[len(base) + 1:]))
        if best:
            out[n] = best[1]
    return out


def _freeze_upstream(note: _Note, body: list, upstream: dict, var: str) -> list:
    """With ∂L/∂h_t and ∂L/∂C_{t+1} both given, C_{t+1} counts only its direct dependence on C_t:
    where h_t feeds C_{t+1} it is a frozen copy (∂L/∂h_t already carries those paths)."""
    if len(upstream) < 2:
        return body
    names = [b.split(" = ", 1)[0] for b in body]
    texts = {b.split(" = ", 1)[0]: b.split(" = ", 1)[1] for b in body}

    def needs(root):
        seen, stack = set(), [root]
        while stack:
            n = stack.pop()
            if n in seen or n not in texts:
                continue
            seen.add(n)
            stack += list(_identifiers(texts[n]))
        return seen
    out = dict(texts)
    for u2 in upstream:
        if u2 not in texts:
            continue
        own = needs(u2)
        for u in upstream:
            if u == u2 or u2 not in needs(u):
                continue
            for n in needs(u) - own:
                out[n] = re.sub(rf"(?<![\w.]){re.escape(u2)}(?![\w])", f"{u2}_frz", out[n])
                note.latex_names.setdefault(f"{u2}_frz", note.latex_names.get(u2, u2))
    return [f"{n} = {out[n]}" for n in names]


def _split_terms(text: str) -> list:
    """The top-level terms of a language expression, each with its sign: [('+', 'a * b'), ('-', 'c')]."""
    out, depth, start, sign = [], 0, 0, "+"
    k = 0
    while k < len(text):
        ch = text[k]
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and text.startswith((" + ", " - "), k):
            out.append((sign, text[start:k]))
            sign = text[k + 1]
            start = k + 3
            k += 3
            continue
        k += 1
    out.append((sign, text[start:]))
    return out


def _resolve_name(note: _Note, var: str, fn: str) -> str:
    names = set(note.definitions)
    for d in note.definitions.values():
        names |= _identifiers(d.text)
    if var in names:
        return var
    close = [n for n in names if n.lower() == var.lower()]
    if len(close) == 1:
        return close[0]
    raise _NotChecked(f"{var} does not appear in the note's equations")


_LOSS_NAMES = re.compile(r"(L|J|E|C|R|ell|l|loss|cost|Loss|Cost|obj)(_\w+)?$")


def _scalar_loss(note: _Note, plain: str, decl: dict, prog, var: str):
    """A loss (L, J, ℓ) that only the guess 'small letter = vector' makes a vector: the undeclared
    small leaves that do so are numbers (a label y next to ŷ = σ(wᵀx + b))."""
    from ..lang.build import parse
    from ..ir.nodes import shape_of
    target = prog.intermediates.get("f_note")
    if target is None or not shape_of(target):
        return decl, prog
    guessed = [n for n in decl if n not in note.declared and n not in note.bold and n != var and n[:1].islower()
               and decl[n] in (("?", 1), (1, "?"))]
    for trial in ([guessed] if len(guessed) > 1 else []) + [[n] for n in guessed]:
        attempt = {**decl, **{n: () for n in trial}}
        try:
            again = parse(plain, attempt, allow_unused=True)
        except MatcalcError:
            continue
        if not shape_of(again.intermediates["f_note"]):
            return attempt, again
    return decl, prog


def _lone_sizes_are_numbers(note: _Note, plain: str, decl: dict, prog, var: str):
    """In a note that declares its shapes, an undeclared small letter guessed a vector whose size no
    other leaf shares (c in g = c xᵀQx) is a number: the guess would otherwise make correct claims
    fail to multiply."""
    from ..lang.build import parse
    from ..ir.nodes import shape_of
    if not note.declared:
        return decl, prog
    sizes: dict = {}
    for v in prog.variables.values():
        for dim in shape_of(v):
            sizes[dim] = sizes.get(dim, 0) + 1
    lone = [n for n, v in prog.variables.items() if n in decl and n not in note.declared
            and n not in note.bold and n[:1].islower() and decl[n] in (("?", 1), (1, "?"))
            and any(dim.is_Symbol and sizes[dim] == 1 for dim in shape_of(v))]
    if not lone:
        return decl, prog
    attempt = {**decl, **{n: () for n in lone}}
    try:
        return attempt, parse(plain, attempt, allow_unused=True)
    except MatcalcError:
        return decl, prog


def _shapes(note: _Note, source: str, var: str, upstream: dict, scalar_target: bool = False) -> dict:
    """Shapes of the leaves: declared, else the note's kinds, sizes inferred from the equations."""
    from ..lang.build import parse
    from ..ir.nodes import shape_of
    leaves = [n for n in _identifiers(source) if not re.match(r"^\s*" + re.escape(n) + r"\s*=", source, re.M)]
    grads = set(upstream.values())
    first = {n: note.kind(n) for n in leaves if n not in grads and n != var}
    if var in leaves and var not in note.definitions:
        first[var] = note.kind(var)
    own = [ln for ln in source.split("\n") if ln.startswith("f_note")
           and not any(re.search(rf"\b{g}\b", ln) for g in grads)]
    roots = list(upstream) + [var] + list(_identifiers(source))
    plain = "\n".join([f"{n} = {note.definitions[n].text}" for n in _deps(note, roots)] + own)
    plain += step_ties(plain)                # h_{t-1} has h_t's shape
    plain_leaves = _identifiers(plain) - {m.group(1) for m in re.finditer(r"^\s*(\w+)\s*=", plain, re.M)}
    plain_leaves |= {n for n in leaves if n not in grads and n not in note.definitions}
    decl = {n: note.kind(n) for n in plain_leaves}
    try:
        prog = parse(plain, decl, allow_unused=True)
        # a capital-letter leaf whose batch size nothing else shares is a vector (the LSTM's C^{t-1})
        axis = 0 if note.convention == "row" else 1
        uses: dict = {}
        for v in prog.variables.values():
            for dim in shape_of(v):
                uses[dim] = uses.get(dim, 0) + 1
        vectors = [n for n, v in prog.variables.items() if n in decl and decl[n] == ("?", "?")
                   and shape_of(v) and uses[shape_of(v)[axis]] == 1 and shape_of(v)[axis].is_Symbol
                   and not _in_product(n, plain)]
        if vectors:
            decl.update({n: (1, "?") if axis == 0 else ("?", 1) for n in vectors})
            prog = parse(plain, decl, allow_unused=True)
            note.vector_leaves.update(vectors)
        if scalar_target:
            decl, prog = _scalar_loss(note, plain, decl, prog, var)
        decl, prog = _lone_sizes_are_numbers(note, plain, decl, prog, var)
    except MatcalcError as err:
        raise _NotChecked(f"the note's equations do not fit together: {err}") from None
    def sized(v):
        s = shape_of(v)
        return tuple(int(x) if x.is_Integer else str(x) for x in s) if s else ()
    out = {}
    table = {**prog.variables, **prog.intermediates}
    for n in leaves:
        if n in grads:
            u = next(u for u, g in upstream.items() if g == n)
            out[n] = sized(table[u])
        elif n in table:
            out[n] = sized(table[n])
        else:
            out[n] = first.get(n, note.kind(n))
    return out


def _note_names(note: _Note, latex: str, d, upstream: dict, fn: str) -> str:
    """Rename matcalc's LaTeX names (W_{1}) to the note's (W_1, \\delta^{(l)})."""
    mapping = {}
    for n in list(d.program.variables) + list(d.program.intermediates):
        mine = printing.latex_name(n)
        if n in upstream.values():
            u = next(u for u, g in upstream.items() if g == n)
            alias = next((a for a, fv in note.aliases.items() if fv == (fn, u)), None)
            theirs = note.latex_names.get(alias) if alias else None
            theirs = theirs or rf"\frac{{\partial {note.latex_names.get(fn, fn)}}}{{\partial {note.latex_names.get(u, u)}}}"
        else:
            theirs = note.latex_names.get(n)
        if theirs and theirs != mine:
            mapping[mine] = theirs
    if mapping:       # one pass: a name put in (\tilde{\mathbf{h}}) is not renamed again (h -> \mathbf{h})
        pattern = "|".join(re.escape(m) for m in sorted(mapping, key=len, reverse=True))
        latex = re.sub(r"(?<![\\A-Za-z])(?:" + pattern + r")(?![_{A-Za-z0-9])",
                       lambda m: "{" + mapping[m.group(0)] + "}", latex)
    return latex.replace(r"\left(", "(").replace(r"\right)", ")")


# ---------------------------------------------------------------- the whole note
def _claims_of(note: _Note):
    """(function, variable, wrt LaTeX, claim LaTeX, line, link line) for every link of every chain."""
    out = []
    for chain in note.chains:
        links = chain["links"]
        head = _split_derivative(links[0][0])
        start = 1
        if head is None and len(links) > 2 and _split_derivative(links[1][0]) and \
                _lhs_name(links[0][0], note.known) in note.aliases:
            head, start = _split_derivative(links[1][0]), 2
        elif head is None and len(links) > 1 and _lhs_name(links[0][0], note.known) in note.aliases:
            f2, v2 = note.aliases[_lhs_name(links[0][0], note.known)]
            head = (note.latex_names.get(f2, f2), note.latex_names.get(v2, v2))
            fn, var = f2, v2
            for k in range(1, len(links)):
                own = _split_derivative(links[k][0])
                if own and (_lhs_name(own[0], note.known), _lhs_name(own[1], note.known)) == (f2, v2):
                    continue       # δ_t = ∂L/∂h_t: the definition itself
                if own and _lhs_name(own[0], note.known) == f2 and re.sub(r"\\(left|right)|\s", "", own[1]) == \
                        re.sub(r"\\(left|right)|\s", "", note.latex_names.get(v2, "")):
                    continue       # δ_t = ∂L/∂(W h_{t-1} + U x_t): the definition itself
                out.append((fn, var, head[1], links[k][0], chain["line"], links[k][1], head[0]))
            continue
        if head is None and len(links) > 1 and _lhs_name(links[0][0], note.known) in note.unread_aliases:
            f_tex, v_tex = note.unread_aliases[_lhs_name(links[0][0], note.known)]
            for tex, line in links[1:]:    # δ_t = … with δ_t = ∂L/∂(…) unread: listed, never skipped
                if not _split_derivative(tex):
                    out.append((_lhs_name(f_tex, note.known), None, v_tex, tex, chain["line"], line, f_tex))
            continue
        if head is None:
            continue
        f_tex, v_tex = head
        fn, var = _lhs_name(f_tex, note.known), _lhs_name(v_tex, note.known)
        for k in range(start, len(links)):
            tex, line = links[k]
            if k == len(links) - 1 and k > start and _lhs_name(tex, note.known) and \
                    _lhs_name(tex, note.known) not in note.definitions:
                continue       # "... = δ_2": naming the result, not a claim
            if _split_derivative(tex) == head:
                continue
            out.append((fn, var, v_tex, tex, chain["line"], line, f_tex))
    return out


def _structure(note: _Note, var: str, shapes: dict) -> dict:
    """Matrices the note states symmetric, other than the one differentiated by: the claim is
    judged where they are symmetric (2Sx for xᵀSx)."""
    return {n: "symmetric" for n in getattr(note, "symmetric", ()) if n != var and
            len(shapes.get(n, ())) == 2 and shapes[n][0] == shapes[n][1]}


def _line_layout(text: str, line: int) -> str | None:
    """A layout named on the claim's own line ('in numerator layout: …', '(分子布局)')."""
    lines = text.split("\n")
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    m = re.search(r"\b(numerator|denominator)\b|(分子|分母)布局", re.sub(r"\$[^$]*\$", " ", here), re.I)
    if m is None:
        return None
    return "numerator" if (m.group(1) or m.group(2)).lower().startswith(("numerator", "分子")) else "denominator"


def _judge_either_grouping(note: _Note, fn: str, var: str, tex: str):
    """Judge the claim as written; if it does not multiply left to right and has a ⊙, also as
    A ⊙ (B C) — a correct claim in that grouping is correct, never 'shapes cannot match'."""
    try:
        judged = judge_recurrent(note, fn, var, tex, _judge) or judge_layers(note, fn, var, tex, _judge) or \
            _judge(note, fn, var, tex)
        if judged[0].verdict == "wrong" and judged[0].diagnosis and \
                judged[0].diagnosis[0].startswith("the claim differs from the gradient with its Jacobian"):
            return judge_missing_factor(note, fn, var, tex, _judge, typed=True) or judged
        return judged
    except _NotChecked as err:
        if "in terms of itself" in str(err):
            return judge_self_reference(note, fn, var, tex, _judge) or _raise(err)
        if "in either layout the claim does not type-check" in str(err):
            return judge_missing_factor(note, fn, var, tex, _judge) or _raise(err)
        raise
    except ShapeError:
        if not re.search(r"\\odot|\\circ|⊙|∘", tex):
            raise
        token = HADAMARD_LOOSE.set(True)
        try:
            result, expected, lang = judge_recurrent(note, fn, var, tex, _judge) or \
                judge_layers(note, fn, var, tex, _judge) or _judge(note, fn, var, tex)
        except MatcalcError:
            result = None
        finally:
            HADAMARD_LOOSE.reset(token)
        if result is None or result.verdict != "correct":
            raise
        return result, expected, lang + "   (⊙ read as binding looser than the matrix product)"


def _raise(err):
    raise err


def _equations_fit(note: _Note) -> bool:
    """Do the note's forward equations, all together, multiply with the shapes its convention
    gives its declared vectors (a throwaway check: it may drop cyclic definitions)?"""
    from ..lang.build import parse
    order = _deps(note, list(note.definitions))
    plain = "\n".join(f"{n} = {note.definitions[n].text}" for n in order)
    decl = {n: note.kind(n) for n in _identifiers(plain) - set(order)}
    try:
        parse(plain, decl, allow_unused=True)
    except (MatcalcError, RecursionError):
        return False
    return True


def check_note(text: str, dims: dict | None = None, claim_timeout: float | None = 60.0) -> NoteReport:
    """Judge every derivative claim of a Markdown/LaTeX note (see the module's docstring).

    ``claim_timeout``: seconds for one claim (0/None: no limit); a claim that takes longer is
    reported as not checked and the others are still judged.
    """
    from ..limits import time_limit
    if not isinstance(text, str) or not text.strip():
        raise MatcalcError("the note is empty")
    note = _Note(text, dims)
    if note.convention == "row" and getattr(note, "columns_in_rows", False):
        flipped = _Note(text, dims, convention="column")
        if _equations_fit(flipped):         # its vectors are columns: read the note in columns
            note = flipped
    if not _equations_fit(note):            # "one sample per row" beside X w with w \in R^d
        flipped = _Note(text, dims, convention="row" if note.convention == "column" else "column")
        if _equations_fit(flipped):
            note = _Note(text, dims, convention=flipped.convention)
    confirm_named_losses(note)               # a^3 = CE(z^3, L) with z^3 a softmax output
    report = NoteReport(program="\n".join(f"{d.name} = {d.text}" for d in note.definitions.values()),
                        convention=f"{note.convention} vectors")
    # the naming of a chain's last link (= δ_2) makes an alias too
    for chain in note.chains:
        head = _split_derivative(chain["links"][0][0])
        last = chain["links"][-1][0]
        if head and len(chain["links"]) > 1:
            name = _lhs_name(last, note.known)
            used = name and (name in note.declared or any(name in _identifiers(d.text) for d in note.definitions.values()))
            if name and not used and name not in note.definitions and name not in note.aliases and not _identity(note, name):
                fn, var = _lhs_name(head[0], note.known), _lhs_name(head[1], note.known)
                if fn and var and name != var:
                    note.aliases[name] = (fn, var)
                    note.alias_lines[name] = chain["links"][-1][1]
                    note.latex_names.setdefault(name, last.strip())
    last_step_aliases(note)                  # δ_T = …: a claim at the last step
    output_layer_aliases(note)               # δ^{n_l} = …: a claim at the output layer
    for fn, var, v_tex, tex, line, link_line, f_tex in expand_cases(note, _claims_of(note)):
        item = NoteClaim(line, strip_derivative_text(v_tex), tex.strip(), function=f_tex.strip(), link_line=link_line)
        report.claims.append(item)
        head = _head_expression(note, fn, var, f_tex, link_line)    # ∂(OO^T)/∂O: of an expression
        wrt_expression = fn and not var and head is None and _bracketed(v_tex)   # ∂L/∂(Wx + b)
        if (not fn and head is None) or (not var and not wrt_expression):
            item.diagnosis = f"cannot read the derivative ∂{f_tex}/∂{v_tex}"
            continue
        saved, note.definitions = note.definitions, note.defs_at(link_line)
        if head is not None:
            fn = "fhead"
            note.definitions = dict(note.definitions)
            note.definitions[fn] = _Definition(fn, head, link_line, {})
            note.latex_names.setdefault(fn, _strip_partial(f_tex).strip())
        saved_decl, note.declared = note.declared, note.declarations_at(link_line)
        saved_layout, note.layout = note.layout, _line_layout(note.text, link_line) or note.layout
        note.line = link_line
        note.vector_leaves = set()
        whole = None
        if wrt_expression:
            try:
                _, var, _ = _expression_variable(note, f_tex, v_tex, 99)
            except MatcalcError as err:
                item.diagnosis = err.message
                note.definitions, note.declared, note.layout = saved, saved_decl, saved_layout
                continue
        if re.fullmatch(r"(\\left)?\\\{", tex.strip()):
            item.diagnosis = "cases written as a brace (\\left\\{) over aligned rows are not read; use \\begin{cases}"
            note.definitions, note.declared, note.layout = saved, saved_decl, saved_layout
            continue
        ones_row = ONES_ROW.set(note.ones_row_at(link_line))
        note.slips = []
        try:
            with time_limit(claim_timeout, "judging this claim"):
                entry_jacobians = getattr(note, "entry_jacobians", 0)
                jac = jacobian_claim(note, f_tex, v_tex, tex)   # ∂p_i/∂z_j = …: the whole Jacobian
                whole = None if jac else whole_claim(note, fn, v_tex, tex)       # index notation: the whole claim
                if jac:
                    whole = (jac[1], jac[2], jac[3])
                    f_tex = note.latex_names.get(jac[0], jac[0])      # ∂p/∂z, the whole Jacobian
                    result, expected, lang = _judge(note, jac[0], jac[1], jac[3])
                elif whole:
                    result, expected, lang = _judge(note, fn, whole[0], whole[2])
                    if getattr(note, "entry_jacobians", 0) > entry_jacobians and result.layout == "denominator":
                        raise _NotChecked("the claim holds only with each ∂y_i/∂x_j read as entry (j, i) of the "
                                          "Jacobian: its indices are swapped, or the note's map is too special "
                                          "to tell")
                else:
                    try:
                        result, expected, lang = _judge_either_grouping(note, fn, var, tex)
                    except (_NotChecked, ParseError):      # the chain rule stated for functions left open
                        found = abstract_chain(note, fn, var, tex, _judge_either_grouping)
                        if found is None:
                            raise
                        result, expected, lang = found
        except IndexUnread as err:
            item.diagnosis = cut_row(note, link_line, tex) or f"index notation not read: {err}"
            try:
                patterned = None if item.diagnosis.startswith("the claim goes on") else \
                    judge_row_pattern(note, fn, v_tex, tex, _judge)     # ∇_y f [w_{1i} ⋯ w_{mi}]
            except MatcalcError:
                patterned = None
            if patterned:
                result, item.expected, item.read_as, shown = patterned
                item.verdict, item.diagnosis = result.verdict, "; ".join(result.diagnosis)
            continue
        except _NotChecked as err:
            item.diagnosis = str(err)
            continue
        except LimitError as err:
            item.diagnosis = str(err)
            continue
        except ShapeError as err:
            if "in the claim" not in err.message:
                item.diagnosis = f"cannot build the problem: {err.message}"
                continue
            item.verdict = "wrong"
            item.diagnosis = ("shapes that cannot match: the claim does not multiply as written — "
                              + err.message.replace("in the claim: ", ""))
            if getattr(err, "repair", ""):
                item.diagnosis = f"{err.repair} (as written the shapes cannot match: " \
                                 f"{err.message.replace('in the claim: ', '')})"
                if err.repair.startswith("a matrix product where ⊙") and "*" in tex:
                    item.verdict = "not_checked"   # the note writes '*' for both products
                    item.diagnosis = ("'*' read as a matrix product the shapes cannot match; read as the "
                                      "elementwise product the claim holds — the note uses '*' for both")
            item.expected = getattr(err, "expected", "")
            if whole:
                item.diagnosis = f"read entrywise as ∂{_plain_name(f_tex)}/∂{whole[1]} = {whole[2]}: {item.diagnosis}"
            continue
        except MatcalcError as err:
            item.diagnosis = f"cannot read the claim: {err.message}" + (
                f" (at {err.source[err.pos:err.pos + 12]!r})" if err.source and err.pos is not None else "")
            if err.source and err.pos is not None and \
                    re.search(r"\\(sigma|tanh)\s*(\^\s*\{\s*'\s*\}|\^\s*'|')\s*$", err.source[:err.pos]):
                item.diagnosis = ("cannot read the claim: σ' (or tanh') is written without its argument, so the "
                                  "point where the derivative is taken is not said")
            for a, b in ("()", "[]"):
                if tex.count(a) != tex.count(b):       # ((h^{t-1})^T δ diag(C) \\ …: a bracket never closed
                    item.diagnosis = (f"cannot read the claim: its brackets do not balance ({tex.count(a)} "
                                      f"'{a}' against {tex.count(b)} '{b}')")
                    break
            continue
        except RecursionError:
            item.diagnosis = "the claim is too deeply nested"
            continue
        except Exception as err:  # noqa: BLE001 - one claim matcalc cannot judge must not lose the others
            item.diagnosis = f"matcalc could not judge this claim ({type(err).__name__}: {err})"
            continue
        finally:
            ONES_ROW.reset(ones_row)
            note.definitions = saved
            note.layout = saved_layout
            note.declared = saved_decl
        item.read_as = lang + "".join(f"   ({d.uncertain[0]})" for d in note.defs_at(link_line).values()
                                      if not d.display and d.uncertain and d.name in _identifiers(lang)) + \
            "".join(f"   ({slip})" for slip in dict.fromkeys(getattr(note, "slips", [])))
        item.expected = expected
        item.verdict = result.verdict
        item.layout = getattr(result, "layout", None)
        if result.verdict == "wrong" and result.diagnosis and result.diagnosis[0].startswith("off by a constant factor"):
            result.diagnosis = result.diagnosis[:1] + [d for d in result.diagnosis[1:]    # the factor says it
                                                       if not d.startswith("a term counted twice")]
        if result.verdict == "wrong":
            item.diagnosis = _in_note_names(note, "; ".join(_plain(d) for d in result.diagnosis)).replace(
                "∂f/∂", f"∂{_plain_name(note.latex_names.get(fn, fn))}/∂")
        if whole:
            item.read_as = f"entrywise, the whole claim {whole[2]} for ∂{_plain_name(f_tex)}/∂{whole[1]}"
            if result.verdict == "wrong":
                item.diagnosis = f"read entrywise as ∂{_plain_name(f_tex)}/∂{whole[1]} = {whole[2]}: {item.diagnosis}"
    return report


def _in_note_names(note, text: str) -> str:
    """A diagnosis with matcalc's names (W1, dL_du, lambda_) replaced by the note's (W_1, ∂L/∂u, λ)."""
    names = dict(note.latex_names)
    for alias, (f2, v2) in note.aliases.items():
        names.setdefault(_grad_name(f2, v2), note.latex_names.get(alias, alias))
    for word in sorted(set(re.findall(r"[A-Za-z][A-Za-z0-9_]*", text)), key=len, reverse=True):
        if word in names:
            shown = _plain_name(names[word])
        elif re.fullmatch(r"d(\w+?)_d(\w+)", word) and len(word) > 4:
            f2, v2 = re.fullmatch(r"d(\w+?)_d(\w+)", word).groups()
            shown = f"∂{_plain_name(note.latex_names.get(f2, f2))}/∂{_plain_name(note.latex_names.get(v2, v2))}"
        else:
            continue
        if shown != word:
            text = re.sub(rf"(?<![\w∂]){re.escape(word)}(?![\w])", lambda _m, t=shown: t, text)
    # names the language spells otherwise (lambda_ is the variable λ_): replaced wherever they stand
    from ..lang.parser import canonical_name
    for word in sorted(names, key=len, reverse=True):
        spelled = canonical_name(word)
        if spelled != word and not spelled.isascii() and spelled in text:
            text = text.replace(spelled, _plain_name(names[word]))
    # names printed side by side (λΘ1 as 'lambda_Theta1'): long names inside a word
    for word in sorted(names, key=len, reverse=True):
        if len(word) >= 3 and ("_" in word or any(ch.isdigit() for ch in word)) and word in text and \
                not any(word in f for f in ("softmax", "sigmoid", "logsoftmax", "tanh", "norm2")):
            text = text.replace(word, _plain_name(names[word]))
    return text


def _plain(diagnosis: str) -> str:
    diagnosis = re.sub(r" at column \d+", "", diagnosis)
    if "sum over the batch rows" in diagnosis or "sum over the columns" in diagnosis:   # samples as columns too
        diagnosis = "not summed over the batch: " + diagnosis
    return diagnosis
