"""The derivation of a recurrent program as steps (data): forward pass, the reverse recurrence of
the deltas through time, the last step, the initial values and the gradients as sums over t.

Expressions use the step program's symbols; a suffix ``@when`` on a name places it at another
time (``u1@t+1`` prints as ``u1[t+1]``, ``h@T`` as ``h[T]``).
"""
from __future__ import annotations

from sympy import Add, MatrixSymbol, S, Symbol
from sympy.matrices.expressions import MatAdd, ZeroMatrix

from ..ir import ops
from ..ir.nodes import NamedMatrix, NamedScalar, _Placeholder, is_matrix, placeholder, time_sum
from ..differentiate.simplify import textbook
from ..present.steps import Step

_PREVIOUS = {"t+1": "", "t": "t-1", "T": "T-1", "1": "0", "0": "-1"}


def _without_zeros(expr):
    """0 + A -> A (after an adjoint from a missing step is set to zero)."""
    if isinstance(expr, (Add, MatAdd)):
        kept = [a for a in expr.args if not (a == 0 or isinstance(a, ZeroMatrix))]
        return ops.add(*kept) if kept else _zero(expr)
    return expr


def _zero(like):
    return ZeroMatrix(*like.shape) if is_matrix(like) else S.Zero


class Timeline:
    """Names of the step program's values at other times."""

    def __init__(self, d):
        self.d = d
        prog, plan = d.step_program, d.step.plan
        self.autos = {st.node: (MatrixSymbol(st.name, *st.node.shape) if is_matrix(st.node)
                                else Symbol(st.name, real=True)) for st in plan.stages[1:] if st.auto}
        self.by_value = {}
        for name, definition in prog.definitions.items():
            if not isinstance(definition, (MatrixSymbol, Symbol)):
                self.by_value.setdefault(definition, prog.named[name])
        self.prev_of = {p: s for s, p in d.prev.items()}
        self.timed = set(d.internal.values()) | set(d.seq.sequences) | {s.name for s in self.autos.values()}

    def named(self, expr):
        """Named values and matcalc's stages as symbols (tanh(u) -> h, x Wx + … -> u1)."""
        return expr.xreplace({**self.by_value, **self.autos}).xreplace(self.autos)

    def at(self, expr, when: str):
        """``expr`` (a step-t expression) at time ``when``: t+1, T, 1 …"""
        expr = self.named(expr)
        reps = {}
        for sym in expr.free_symbols | {a for a in _atoms(expr)}:
            name = getattr(sym, "name", None)
            if name is None:
                continue
            if isinstance(sym, _Placeholder):
                if sym.role == "delta":
                    reps[sym] = placeholder("delta", f"{sym.of}@{when}", sym)
            elif name in self.prev_of:
                state = self.d.internal[self.prev_of[name]]
                before = _PREVIOUS[when]
                reps[sym] = _renamed(sym, state if not before else f"{state}@{before}")
            elif name in self.timed:
                reps[sym] = _renamed(sym, f"{name}@{when}")
        return expr.xreplace(reps)


def _atoms(expr):
    from ..differentiate.engine import topological
    return [n for n in topological(expr) if isinstance(n, (MatrixSymbol, Symbol))]


def _renamed(sym, name):
    if isinstance(sym, NamedMatrix):
        return NamedMatrix(name, *sym.shape)
    if isinstance(sym, NamedScalar):
        return NamedScalar(name, real=True)
    if is_matrix(sym):
        return MatrixSymbol(name, *sym.shape)
    return Symbol(name, real=True)


def terminal_at_last(d, expr):
    """A terminal-program expression with its step values and sequences placed at T."""
    reps = {}
    for sym in _atoms(expr):
        if sym.name in d.internal.values() or sym.name in d.seq.sequences:
            reps[sym] = _renamed(sym, sym.name + "@T")
    return expr.xreplace(reps)


def _shaped_like(value, like):
    """A scalar standing for a 1×1 matrix (a scalar state's adjoint) as that matrix."""
    if is_matrix(like) and not is_matrix(value):
        return ops.broadcast(value, like.shape)
    return value


def _core_rules(d) -> dict:
    """lhs -> (rule, rules) of the step program's own backprop steps."""
    out = {}
    for s in d.step.steps:
        if s.lhs is not None and s.lhs not in out:
            out[s.lhs] = (s.rule, s.rules)
    return out


def build(d) -> list[Step]:
    tl = Timeline(d)
    plan, prog, seq = d.step.plan, d.step_program, d.seq
    rules = _core_rules(d)
    steps: list[Step] = []
    # ---- forward pass
    section = "forward pass (t = 1, …, T)"
    init_prog = d._program("initial")
    for s in seq.states:
        state = prog.named[d.internal[s]]
        lhs = _renamed(state, d.internal[s] + "@0")
        if init_prog is not None and s in d.init_name:
            rhs = init_prog.intermediates[d.init_name[s]]
        else:
            rhs = _zero(state)
        steps.append(Step(lhs, rhs, "definition", ("definition",), section=section, note="initial value"))
        section = ""
    for name, value, auto in plan.definitions():
        lhs = tl.autos[value] if auto else prog.named[name]
        rhs = tl.named(value) if auto else value.xreplace(tl.autos)
        if rhs == lhs:
            rhs = value
        steps.append(Step(lhs, rhs, "definition", ("definition",), section=section,
                          note="named by matcalc" if auto else ""))
        section = ""
    carries = {prog.variables[d.carry[s]]: s for s in seq.states}
    seeds = {prog.variables[e]: v for v, e in d.seed.items()}
    carry_next = {}
    for s in seq.states:
        out = d.carry_out(s)
        carry_next[s] = tl.at(out, "t+1") if out is not None else _zero(prog.named[d.internal[s]])
    # ---- the reverse recurrence, t = T … 1
    section = "backward through time (t = T, …, 1): δ_N[t] = ∂f/∂N[t]"
    for st in plan.stages[1:]:
        total = plan.total(st.node)
        if total is None:
            continue
        reps = {g: carry_next[s] for g, s in carries.items()}
        reps.update({e: _zero(e) for e in seeds})
        rhs = _without_zeros(textbook(tl.named(total).xreplace(reps)))
        rule, used = rules.get(st.delta, ("chain_rule", ("chain_rule",)))
        state = st.name in {d.internal[s] for s in seq.states}
        if state:
            rule, used = "bptt", ("bptt", *[r for r in used if r != "bptt"])
        steps.append(Step(st.delta, rhs, rule, used, section=section,
                          note="state: its own step and step t+1" if state else ""))
        section = ""
    # ---- the last step: no step T+1; the loss terms at T seed the adjoints
    section = "at the last step t = T (there is no step T+1)"
    terminal = d.terminal
    for st in plan.stages[1:]:
        total = plan.total(st.node)
        affected = total is not None and any(g in total.free_symbols for g in list(carries) + list(seeds))
        if not affected:
            continue
        reps = {}
        for g, s in list(carries.items()) + list(seeds.items()):
            iv = d.internal[s]
            if terminal is not None and iv in terminal.wrt:
                reps[g] = _shaped_like(terminal_at_last(d, terminal.gradient(iv)), g)
            else:
                reps[g] = _zero(g)
        rhs = _without_zeros(textbook(tl.at(total, "T").xreplace(reps)))
        steps.append(Step(placeholder("delta", st.name + "@T", st.delta), rhs, "bptt", ("bptt",),
                          section=section))
        section = ""
    # ---- the initial values
    section = "through the initial values (t = 0)"
    for s in seq.states:
        out = d.carry_out(s)
        if out is None:
            continue
        steps.append(Step(prog.variables[d.carry[s]], tl.at(out, "1"), "bptt", ("bptt",), section=section,
                          note="the adjoint step 1 sends to the initial value"))
        section = ""
    # ---- gradients
    section = "gradients: sums over t of each step's contribution"
    for n, g in d.gradients.items():
        var = prog.variables.get(n)
        rule, used = rules.get(d.step.plan.result_symbol(var), ("chain_rule", ("chain_rule",))) \
            if var is not None and var in d.step.plan.targets else ("chain_rule", ("chain_rule",))
        parts = []
        if g.summand is not None:
            summand = tl.named(g.summand)
            parts.append(summand if n in seq.sequences else time_sum(summand))
        if g.terminal is not None:
            parts.append(terminal_at_last(d, g.terminal))
        if g.initial is not None:
            parts.append(g.initial)
        like = d.variables[n]
        rhs = ops.add(*parts) if parts else _zero(like)
        used = ("sum_over_time", *[r for r in used if r != "sum_over_time"]) if n not in seq.sequences else used
        lhs = placeholder("grad", n, like)
        steps.append(Step(lhs, rhs, used[0], tuple(used), section=section,
                          note="at each t; at t = T plus the terms of the loss at T" if n in seq.sequences
                          and g.terminal is not None else ""))
        section = ""
    return steps


def loss_display(d):
    """The loss: Σ_t ℓ[t] + the terms at T (display)."""
    prog = d.step_program
    internal = {prog.variables[c] for c in list(d.carry.values()) + list(d.seed.values()) if c in prog.variables}
    out = prog.opaque_output
    terms = [a for a in Add.make_args(out) if not (a.free_symbols & internal)]
    parts = []
    if terms:
        parts.append(time_sum(Add(*terms)))
    terminal = d._program("terminal")
    if terminal is not None:
        parts.append(terminal_at_last(d, terminal.opaque_output))
    return Add(*parts) if parts else S.Zero
