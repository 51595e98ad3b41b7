"""Recurrent programs: sequences ``x[t]``, recurrences ``h[t] = …h[t-1]…``, losses ``sum_t(…)``.

A recurrent program is split into programs of the core language, each derived
by the core engine:

- the **step** program: one time step.  ``x[t]`` is a variable ``x``, ``h[t-1]``
  a variable ``h_prev``; the objective is the step's share of the loss plus
  ``sum(G_h .* h)`` for each state, where ``G_h`` (the adjoint arriving from step
  t+1) is a variable.  Its gradient w.r.t. ``h_prev`` is the adjoint sent to step
  t−1: backpropagation through time is this step program run backwards.
- the **terminal** program: the loss terms outside ``sum_t`` (values at the last
  step ``h[T]``, regularisers of the parameters).
- the **initial** programs: ``h[0] = expr`` (a variable to differentiate, an
  expression, or zeros when omitted).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from . import parser as P
from ..errors import ParseError, ShapeError, UnknownNameError, UnsupportedError

TIME_SUM = "sum_t"


# ---------------------------------------------------------------- AST helpers
def walk(node):
    """Every AST node under ``node`` (itself first)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, P.Call):
            stack.extend(n.args)
        elif isinstance(n, P.Binary):
            stack.extend((n.left, n.right))
        elif isinstance(n, (P.Unary, P.Transpose)):
            stack.append(n.operand)


def transform(node, fn):
    """Rebuild ``node`` bottom-up; ``fn(n)`` returns a replacement or None to keep ``n``."""
    if isinstance(node, P.Call):
        node = replace(node, args=tuple(transform(a, fn) for a in node.args))
    elif isinstance(node, P.Binary):
        node = replace(node, left=transform(node.left, fn), right=transform(node.right, fn))
    elif isinstance(node, (P.Unary, P.Transpose)):
        node = replace(node, operand=transform(node.operand, fn))
    out = fn(node)
    return node if out is None else out


def is_recurrent(statements) -> bool:
    """Does a parsed program use the sequence extension?"""
    return any(st.at is not None or any(isinstance(n, P.Index) or (isinstance(n, P.Call) and n.func == TIME_SUM)
                                        for n in walk(st.expr)) for st in statements)


def _add(a, b, pos):
    return b if a is None else P.Binary(pos, "+", a, b)


# ---------------------------------------------------------------- analysis
@dataclass
class SequenceProgram:
    """A recurrent program, analysed."""

    source: str
    statics: list            # statements without time (parameters' expressions), in order
    steps: list              # ``v[t] = …`` statements, in order
    inits: dict              # state -> expression of ``state[0] = …`` (absent: zeros)
    init_pos: dict
    states: list             # values used at t-1
    sequences: list          # inputs used as x[t]
    step_loss: object        # AST of Σ_k c_k body_k (the summand of the loss), or None
    terminal_loss: object    # AST of the loss terms outside sum_t, or None
    terminal: list           # names used at [T]
    loss_name: str
    state_pos: dict = field(default_factory=dict)
    loss_pos: int = 0
    live: set = field(default_factory=set)   # values the loss depends on

    @property
    def step_names(self) -> list[str]:
        return [st.target for st in self.steps]

    def pruned(self) -> "SequenceProgram":
        """The program without the values that cannot reach the loss (their adjoints are zero);
        its inputs stay inputs."""
        return replace(self, steps=[st for st in self.steps if st.target in self.live],
                       states=[s for s in self.states if s in self.live],
                       inits={k: v for k, v in self.inits.items() if k in self.live})


def analyse(source: str, statements) -> SequenceProgram:
    """Check a recurrent program's structure; one-line errors that point at the place."""
    def err(cls, message, pos):
        return cls(message, source, pos)

    step_defs = [st for st in statements if st.at == "t"]
    if not step_defs:
        raise err(UnsupportedError, "a recurrent program needs a recurrence such as h[t] = tanh(x[t]*W + h[t-1]*U)",
                  statements[0].pos)
    seen: set = set()
    for st in step_defs:
        if st.target in seen:
            raise err(UnknownNameError, f"{st.target}[t] is defined twice", st.pos)
        seen.add(st.target)
    plain = [st for st in statements if st.at is None]
    if not plain or plain[-1] is not statements[-1] and not any(st.target == "f" for st in plain):
        raise err(UnsupportedError, "the last statement must be the loss, e.g. f = sum_t(norm2(h[t]*V - y[t])^2)",
                  statements[-1].pos)
    loss = next((st for st in plain if st.target == "f"), plain[-1])
    loss_index = statements.index(loss)
    if loss_index != len(statements) - 1:
        raise err(UnsupportedError, "the loss must be the last statement", statements[loss_index + 1].pos)
    # statements of the loss level (using sum_t or [T]) are inlined into the loss
    loss_level: dict = {}
    statics = []
    for st in plain[:-1] if plain[-1] is loss else plain:
        if st is loss:
            continue
        uses_time = any(isinstance(n, P.Index) or (isinstance(n, P.Call) and n.func == TIME_SUM)
                        for n in walk(st.expr))
        if st.target is None:
            raise err(UnsupportedError, "only the last statement may be a bare expression", st.pos)
        if st.target in seen:
            raise err(UnknownNameError, f"{st.target!r} is already a sequence ({st.target}[t])", st.pos)
        if uses_time:
            loss_level[st.target] = st.expr
        else:
            statics.append(st)
    static_names = {st.target for st in statics}

    def inline(node):
        def fn(n):
            if isinstance(n, P.Name) and n.id in loss_level:
                return inline(loss_level[n.id])
            return None
        return transform(node, fn)

    loss_expr = inline(loss.expr)
    # sequences and states
    sequences: list[str] = []
    states: list[str] = []
    state_pos: dict = {}
    terminal: list[str] = []

    def check_refs(node, where: str, defined: set):
        for n in walk(node):
            if isinstance(n, P.Call) and n.func == TIME_SUM and where != "loss":
                raise err(UnsupportedError, "sum_t(...) belongs in the loss, not inside " + where, n.pos)
            if isinstance(n, P.Name) and (n.id in seen or n.id in sequences):
                raise err(UnknownNameError, f"{n.id!r} is a sequence: write {n.id}[t], {n.id}[t-1] or {n.id}[T]", n.pos)
            if not isinstance(n, P.Index):
                continue
            if n.id in static_names or n.id in loss_level:
                raise err(UnknownNameError, f"{n.id!r} does not depend on time: write {n.id} without an index", n.pos)
            if n.at == "0":
                raise err(UnsupportedError, f"{n.id}[0] is only defined, never used: use the initial value's own "
                                            "name (h[0] = h0; ... h0 ...)", n.pos)
            if n.at == "T":
                if where != "terminal":
                    raise err(UnsupportedError, f"{n.id}[T] (the last step) may be used only in the loss, "
                                                "outside sum_t(...)", n.pos)
                if n.id not in seen and n.id not in sequences:
                    sequences.append(n.id)
                if n.id not in terminal:
                    terminal.append(n.id)
                continue
            if where == "terminal":
                raise err(UnsupportedError, f"{n.id}[{n.at}] outside sum_t(...): sum the steps with "
                                            f"sum_t(...) or use the last step {n.id}[T]", n.pos)
            if n.at == "t-1":
                if n.id not in seen:
                    raise err(UnknownNameError, f"{n.id}[t-1]: only values defined by {n.id}[t] = ... have a "
                                                "previous step", n.pos)
                if n.id not in states:
                    states.append(n.id)
                    state_pos[n.id] = n.pos
                continue
            # [t]
            if n.id in seen and n.id not in defined:
                raise err(UnknownNameError, f"{n.id}[t] is used before its definition {n.id}[t] = ...", n.pos)
            if n.id not in seen and n.id not in sequences:
                if n.id in static_names:
                    raise err(UnknownNameError, f"{n.id!r} does not depend on time", n.pos)
                sequences.append(n.id)

    defined: set = set()
    for st in step_defs:
        check_refs(st.expr, f"the definition of {st.target}[t]", defined)
        defined.add(st.target)
    # the loss: Σ c_k sum_t(body_k) + rest
    step_loss, terminal_loss = None, None
    for sign, term in _terms(loss_expr, 1.0):
        coef, body = _time_sum(term)
        if body is None:
            if any(isinstance(n, P.Call) and n.func == TIME_SUM for n in walk(term)):
                raise err(UnsupportedError, "sum_t(...) must be a term of the loss, times a constant "
                                            "(f = sum_t(...) + c*sum_t(...) + ...)", term.pos)
            check_refs(term, "terminal", defined)
            terminal_loss = _add(terminal_loss, _scaled(sign, term), term.pos)
            continue
        if len(body.args) != 1:
            raise err(ShapeError, f"sum_t() takes 1 argument, got {len(body.args)}", body.pos)
        check_refs(body.args[0], "loss", defined)
        if any(isinstance(n, P.Call) and n.func == TIME_SUM for n in walk(body.args[0])):
            raise err(UnsupportedError, "sum_t(...) cannot be nested", body.pos)
        step_loss = _add(step_loss, _scaled(sign * coef, body.args[0]), body.pos)
    if step_loss is None and terminal_loss is None:  # pragma: no cover - a loss has terms
        raise err(UnsupportedError, "the loss has no terms", loss.pos)
    for st in statics:
        check_refs(st.expr, f"the definition of {st.target}", set())
    # initial values
    inits, init_pos = {}, {}
    for st in statements:
        if st.at != "0":
            continue
        if st.target not in seen:
            raise err(UnknownNameError, f"{st.target}[0] is given, but there is no recurrence {st.target}[t] = ...",
                      st.pos)
        if st.target in inits:
            raise err(UnknownNameError, f"{st.target}[0] is given twice", st.pos)
        for n in walk(st.expr):
            if isinstance(n, P.Index) or (isinstance(n, P.Call) and n.func == TIME_SUM):
                raise err(UnsupportedError, "an initial value cannot depend on time", n.pos)
            if isinstance(n, P.Name) and (n.id in seen or n.id in sequences):
                raise err(UnknownNameError, f"{n.id!r} is a sequence; an initial value is made of parameters",
                          n.pos)
        if st.target not in states:
            raise err(UnknownNameError, f"{st.target}[0] is given, but {st.target}[t-1] is never used", st.pos)
        zero = isinstance(st.expr, P.Num) and st.expr.value == 0
        if not zero:
            inits[st.target] = st.expr
            init_pos[st.target] = st.pos
    loss_name = loss.target or "f"
    # values that cannot reach the loss are left out (their adjoints are zero)
    deps = {st.target: {n.id for n in walk(st.expr) if isinstance(n, P.Index)} for st in step_defs}
    live, stack = set(), [n.id for node in (step_loss, terminal_loss) if node is not None
                          for n in walk(node) if isinstance(n, P.Index)]
    while stack:
        v = stack.pop()
        if v not in live:
            live.add(v)
            stack.extend(deps.get(v, ()))
    return SequenceProgram(source, statics, step_defs, inits, init_pos, states, sequences, step_loss,
                           terminal_loss, terminal, loss_name, state_pos, loss.pos, live)


def _terms(node, sign):
    """(sign, term) of a sum."""
    if isinstance(node, P.Binary) and node.op in ("+", "-"):
        yield from _terms(node.left, sign)
        yield from _terms(node.right, sign if node.op == "+" else -sign)
    elif isinstance(node, P.Unary):
        yield from _terms(node.operand, sign if node.op == "+" else -sign)
    else:
        yield sign, node


def _time_sum(term):
    """(c, sum_t call) for ``sum_t(b)``, ``c*sum_t(b)``, ``sum_t(b)*c`` and ``sum_t(b)/c``; else (1, None)."""
    if isinstance(term, P.Call) and term.func == TIME_SUM:
        return 1.0, term
    if isinstance(term, P.Binary) and term.op in ("*", "/"):
        left, right = term.left, term.right
        number = _number(right) if term.op == "/" or isinstance(left, P.Call) else _number(left)
        call = left if isinstance(left, P.Call) and left.func == TIME_SUM else (
            right if term.op == "*" and isinstance(right, P.Call) and right.func == TIME_SUM else None)
        if call is not None and number is not None:
            if term.op == "/":
                if number == 0:
                    return 1.0, None
                return 1.0 / number, call
            return number, call
        if term.op == "*" and call is None:
            for a, b in ((left, right), (right, left)):
                if _number(b) is not None:
                    c, inner = _time_sum(a)
                    if inner is not None:
                        return c * _number(b), inner
    return 1.0, None


def _number(node):
    if isinstance(node, P.Num):
        return node.value
    if isinstance(node, P.Unary) and isinstance(node.operand, P.Num):
        return -node.operand.value if node.op == "-" else node.operand.value
    return None


def _scaled(c: float, node):
    if c == 1.0:
        return node
    inverse = 1.0 / abs(c)
    if abs(inverse - round(inverse)) < 1e-12 and abs(c) != 1.0:   # sum_t(…)/3 stays a division by 3
        scaled = P.Binary(node.pos, "/", node, P.Num(node.pos, float(round(inverse)), str(round(inverse))))
    else:
        text = repr(abs(c)) if not float(c).is_integer() else str(int(abs(c)))
        scaled = node if abs(c) == 1.0 else P.Binary(node.pos, "*", P.Num(node.pos, abs(c), text), node)
    return P.Unary(node.pos, "-", scaled) if c < 0 else scaled


# ---------------------------------------------------------------- renaming
def rename(node, mapping: dict):
    """Replace ``Index``/``Name`` nodes: mapping[(id, at)] or mapping[(id, None)] -> new name."""
    def fn(n):
        if isinstance(n, P.Index):
            new = mapping.get((n.id, n.at))
            if new is None:  # pragma: no cover - analyse() rejects these first
                raise ParseError(f"{n.id}[{n.at}] is not available here", "", n.pos)
            return P.Name(n.pos, new)
        if isinstance(n, P.Name) and (n.id, None) in mapping:
            return P.Name(n.pos, mapping[(n.id, None)])
        return None
    return transform(node, fn)


def fresh_name(base: str, taken: set) -> str:
    """``base``, or ``base_1``, ``base_2``, … if taken (and reserve it)."""
    name, k = base, 0
    while name in taken or name == "f":
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name
