"""Step-by-step derivations in the notes' three methods (data; printers read it).

- ``backprop``: named deltas and their recurrence (seeds 000, 003):
  δ_{Y_pred} = 2(Y_pred − Y), ∂f/∂W2 = Hᵀ δ_{Y_pred}, δ_H = δ_{Y_pred} W2ᵀ ...
- ``trace``: the trace-differential method (seed 004): df = tr(Gᵀ dX) ⇒ ∂f/∂X = G.
- ``jacobian``: the vector chain rule (seed 001), ∂f/∂x = (∂f/∂g)(∂g/∂x), numerator layout.

Each method works stage by stage (``present/stages.py``).  A ``Step`` is one equation
``lhs = rhs`` or, with ``lhs`` None, one more ``= rhs`` of the equation above;
it names the catalogue identity it applied.  Every step holds numerically
(``stepcheck.verify``), and a step that prints the same as the one before is dropped.
"""
from __future__ import annotations

import heapq

from dataclasses import dataclass, replace

from sympy import Add, Identity, MatMul, Mul, Pow, S, Trace, Transpose

from ..ir import ops
from ..lang import printing
from ..lang.build import Program
from ..differentiate.engine import _LEAVES, topological
from ..errors import UnsupportedError
from ..ir.nodes import DifferentialOf, Norm2, ScalarDifferentialOf, Vec, _Placeholder, is_matrix, placeholder
from ..rules import differential_for, lookup
from .stages import Segment, find_stages, segments, stage_names, total

METHODS = ("backprop", "trace", "jacobian")


@dataclass(frozen=True)
class Step:
    """One equation of a derivation, naming the identity it applied."""

    lhs: object | None          # None: continues the equation above ("= rhs")
    rhs: object
    rule: str                   # catalogue id of the identity applied (see `matcalc rules`)
    rules: tuple = ()           # every catalogue entry the step used, ``rule`` first
    section: str = ""           # starts a new section with this title ({name}: a name to typeset)
    note: str = ""
    before: object | None = None   # the expression this step rewrote (lhs or previous rhs)

    @property
    def identity(self) -> str:
        """LaTeX of the identity applied."""
        entry = lookup(self.rule)
        if entry is None:
            return ""
        return getattr(entry, "identity", None) if self.rule.startswith("fn:") else entry.latex

    @property
    def after(self):
        return self.rhs


class Plan:
    """What all methods share: stages, segments and the placeholders' display names."""

    def __init__(self, program: Program, wrt: list[str], sum_to_one=(), preferred=None):
        self.program = program
        self.wrt = wrt
        self.sum_to_one = tuple(sum_to_one)
        self.targets = {program.variables[n]: n for n in wrt}
        self.stages = find_stages(program, set(self.targets), preferred)   # preferred: the results' names
        self.segments = segments(program, set(self.targets), self.stages, self.sum_to_one)
        self._order_stages()
        self.names = stage_names(self.stages)
        for st in self.stages[1:]:      # σ(h) prints as h_sigmoid (but X does not print as A for A = X)
            if st.definition is not None and not isinstance(st.definition, _LEAVES):
                self.names.setdefault(st.definition, st.name)
        self.memo: dict = {}
        self.by_node = {s.node: s for s in self.stages}

    def _order_stages(self) -> None:
        """Each stage after every stage that contributes to it (stable): a stage of matcalc's
        inside another one (x Wx inside x Wx + h Wh) gets its delta from the outer one."""
        stages, segs = list(self.stages), list(self.segments)
        index = {s.node: i for i, s in enumerate(stages)}
        waiting = [0] * len(stages)            # contributing stages not yet placed
        children: dict = {}
        for j, seg in enumerate(segs):
            for node in seg.contributions:
                i = index.get(node)
                if i is not None and i != j:
                    waiting[i] += 1
                    children.setdefault(j, []).append(i)
        ready = [i for i in range(len(stages)) if not waiting[i]]
        heapq.heapify(ready)
        order = []
        while ready:   # the lowest-numbered ready stage first: stable, linear up to the heap
            j = heapq.heappop(ready)
            order.append(j)
            for i in children.get(j, ()):
                waiting[i] -= 1
                if not waiting[i]:
                    heapq.heappush(ready, i)
        if len(order) < len(stages):   # pragma: no cover - stages form a DAG
            order += [i for i in range(len(stages)) if i not in set(order)]
        if order != list(range(len(stages))):
            self.stages = [stages[i] for i in order]
            self.segments = [segs[i] for i in order]

    @property
    def f_name(self) -> str:
        return self.stages[0].name

    def definitions(self) -> list[tuple[str, object, bool]]:
        """(name, value, automatic) of every stage, from the inputs to the output."""
        return [(s.name, s.root, s.auto) for s in reversed(self.stages[1:])]

    def total(self, node):
        return total(self.segments, node, self.sum_to_one, self.memo)

    def parents(self, node) -> list[Segment]:
        return [seg for seg in self.segments if node in seg.contributions]

    def rules_to(self, node) -> tuple:
        out: list = []
        for seg in self.parents(node):
            for r in seg.rules_to.get(node, ()):
                if r not in out:
                    out.append(r)
        return tuple(out)

    @property
    def kept(self) -> frozenset:
        """The user's named values: simplification keeps them whole (results read with names)."""
        return frozenset(v for v in self.program.intermediates.values()
                         if v is not self.program.output and not isinstance(v, _LEAVES))

    def closed_deltas(self) -> dict:
        """name -> δ of each user-named intermediate in closed form (δ's and names substituted)."""
        from ..differentiate.simplify import rewrite, textbook
        memo: dict = {sym: self.program.intermediates[n] for n, sym in self.program.named.items()}
        out = {}
        for stage in self.stages[1:]:
            value = self.total(stage.node)
            if value is None:
                continue
            closed = textbook(rewrite(value, [], memo), self.sum_to_one, self.memo, self.kept)
            memo[stage.delta] = closed
            if not stage.auto:
                out[stage.name] = closed
        return out

    def completed_after(self, index: int) -> list:
        """Variables whose last contribution comes from segment ``index``."""
        out = []
        for var in self.targets:
            last = max((i for i, seg in enumerate(self.segments) if var in seg.contributions), default=None)
            if last == index:
                out.append(var)
        return out

    def result_symbol(self, var):
        return placeholder("grad", self.targets[var], var)


_GENERIC = ("matmul", "transpose", "scalar_mul", "scalar_pow", "add")


def _main_rule(rule_ids: tuple, fallback: str) -> tuple:
    """Rule ids, the most specific first: a nonlinear rule, else the product rules, else add."""
    ids = [r for r in rule_ids if not r.startswith("fn:")]
    specific = [r for r in ids if r not in _GENERIC]
    main = specific[-1] if specific else next((g for g in _GENERIC if g in ids), fallback)
    rest = [r for r in rule_ids if r != main]
    return (main, *rest)


# ================================================================ backprop
def _simplified_delta(plan: Plan, stage, value, closed: dict):
    """The delta with the deltas above substituted and simplified, when that reads shorter
    than ``value`` (δ_u1 = δ_u2 ⊙ u2 ⊙ u3 = u2 − y), else None; ``closed`` collects them."""
    from ..differentiate.simplify import rewrite, textbook
    inline = textbook(rewrite(value, [], closed), plan.sum_to_one, plan.memo, plan.kept)
    closed[stage.delta] = inline
    if any(isinstance(a, _Placeholder) for a in inline.free_symbols) or inline == value:
        return None
    short = printing.to_unicode(inline, plan.names)
    return inline if len(short) < len(printing.to_unicode(value, plan.names)) else None


def backprop(plan: Plan) -> list[Step]:
    """Named deltas from the output down, each variable's gradient when complete; a delta
    that simplifies once the deltas above are substituted is followed by its simple form."""
    steps: list[Step] = []
    closed: dict = {sym: plan.program.intermediates[n] for n, sym in plan.program.named.items()}
    for i, seg in enumerate(plan.segments):
        stage = seg.stage
        if i > 0:
            rules = plan.rules_to(stage.node)
            if len(plan.parents(stage.node)) > 1:
                rules = ("chain_rule", *rules)
            rules = _main_rule(rules, "chain_rule")
            value = plan.total(stage.node)
            steps.append(Step(stage.delta, value, rules[0], rules,
                              section=f"delta of {{{stage.name}}}"))
            simple = _simplified_delta(plan, stage, value, closed) if value is not None else None
            if simple is not None:
                steps.append(Step(None, simple, "simplify:entrywise_scalar", ("simplify:entrywise_scalar",)))
        for var in plan.completed_after(i):
            rules = _main_rule(plan.rules_to(var), "chain_rule")
            steps.append(Step(plan.result_symbol(var), plan.total(var), rules[0], rules))
    return steps


# ================================================================ trace
def _trace_form(expr, stop=frozenset()):
    """‖A‖² -> tr(AᵀA) wherever it occurs in ``expr`` outside the other stages (``stop``)."""
    def walk(e):
        if e is not expr and e in stop:
            return e
        if isinstance(e, Pow) and isinstance(e.base, Norm2) and e.exp == 2:
            a = walk(e.base.arg)
            body = MatMul(Transpose(a), a)   # not flattened: a stays one (named) node
            return ops.as_scalar(body) if body.shape == (1, 1) else Trace(body)
        if isinstance(e, _LEAVES) or not e.args:
            return e
        args = [walk(a) for a in e.args]
        return e if tuple(args) == e.args else e.func(*args)
    return walk(expr)


def differential(expr, frontier: dict, cut) -> tuple:
    """(d expr with frontier nodes -> their dN placeholders, the differential rules used)."""
    d: dict = dict(frontier)
    used: list = []
    for node in topological(expr, cut):
        if node in d or isinstance(node, _LEAVES) or not node.args or (node in cut and node is not expr):
            continue
        entry = differential_for(node)
        if entry is None:
            raise UnsupportedError(f"no differential rule for {type(node).__name__}")
        value = entry.forward(node, d.get)
        if value is not None and not ops.is_zero(value):
            d[node] = value
            if entry.id not in used:
                used.append(entry.id)
    value = d.get(expr)
    return (ops.zeros_like(expr) if value is None else value), tuple(reversed(used))


def _inner(G, dX):
    """tr(Gᵀ dX) as displayed: the transpose of G kept whole."""
    if not is_matrix(dX):
        return Mul(G, dX)
    body = ops.matmul(G.arg if isinstance(G, Transpose) else Transpose(G), dX)
    return ops.as_scalar(body) if body.shape == (1, 1) else Trace(body)


def _tr_delta(delta, dexpr):
    """tr(δᵀ dexpr) (δ a placeholder, so its transpose prints δᵀ)."""
    if not is_matrix(dexpr):
        return Mul(delta, dexpr)
    body = ops.matmul(ops.transpose(delta), dexpr)
    return ops.as_scalar(body) if body.shape == (1, 1) else Trace(body)


def trace(plan: Plan) -> list[Step]:
    """df = tr(Gᵀ dX) stage by stage, reading off δ's and gradients."""
    steps: list[Step] = []
    stage_nodes = {s.node for s in plan.stages}
    for i, seg in enumerate(plan.segments):
        stage = seg.stage
        frontier = {n: placeholder("d", plan.by_node[n].name if n in plan.by_node else plan.targets[n], n)
                    for n in seg.contributions}
        cut = frozenset(stage_nodes - {stage.root})
        if i == 0:
            f = placeholder("value", plan.f_name, stage.node)
            first = Step(f, stage.root, "definition", section=f"differential of {{{plan.f_name}}}")
            steps.append(first)
            start = _trace_form(stage.root, stage_nodes)
            if start != stage.root:
                steps.append(Step(None, start, "norm_as_trace"))
            dexpr, used = differential(start, frontier, cut)
            lhs = placeholder("d", plan.f_name, stage.node)
            steps.append(Step(lhs, dexpr, used[0] if used else "definition", used))
        else:
            dS = placeholder("d", stage.name, stage.node)
            rules = ("chain_rule",) if len(plan.parents(stage.node)) > 1 else ()
            lead = _tr_delta(stage.delta, dS)
            defined = DifferentialOf(stage.root) if is_matrix(stage.root) else ScalarDifferentialOf(stage.root)
            steps.append(Step(lead, _tr_delta(stage.delta, defined), "definition", ("definition", *rules),
                              section=f"through {{{stage.name}}}"))
            dexpr, used = differential(stage.root, frontier, cut)
            steps.append(Step(None, _tr_delta(stage.delta, dexpr), used[0] if used else "definition", used))
        collected = Add(*[_inner(c, frontier[n]) for n, c in seg.contributions.items()]) \
            if seg.contributions else S.Zero
        matrices = any(is_matrix(n) and n.shape != (1, 1) for n in seg.contributions)
        identities = ["trace_cyclic"] if matrices or any(is_matrix(n) for n in seg.contributions) \
            else ["collect_terms"]
        if matrices and any(r in ("d:hadamard", "d:entrywise", "d:softmax", "d:logsoftmax", "d:hadamard_power")
                            for r in steps[-1].rules):
            identities.append("trace_hadamard")
        steps.append(Step(None, collected, identities[0], tuple(identities)))
        for n in seg.contributions:
            if n in plan.by_node and len(plan.parents(n)) == 1:
                steps.append(Step(plan.by_node[n].delta, seg.contributions[n], "trace_gradient"))
        for var in plan.completed_after(i):
            rules = ("trace_gradient",) + (("chain_rule",) if len(plan.parents(var)) > 1 else ())
            steps.append(Step(plan.result_symbol(var), plan.total(var), rules[0], rules))
        for n in seg.contributions:   # a stage used by several others: its total, once complete
            if n in plan.by_node and len(plan.parents(n)) > 1 and plan.parents(n)[-1] is seg:
                steps.append(Step(plan.by_node[n].delta, plan.total(n), "chain_rule", ("chain_rule", "trace_gradient")))
    return steps


# ================================================================ jacobian
def _is_vector(e) -> bool:
    return not is_matrix(e) or 1 in e.shape


def jacobian(plan: Plan) -> list[Step]:
    """The vector chain rule in numerator layout: ∂f/∂x = (∂f/∂g)(∂g/∂x), rows."""
    try:
        return _jacobian_chain(plan)
    except UnsupportedError as err:
        if "--method" in str(err):
            raise
        raise UnsupportedError(f"the jacobian method cannot derive this one: {err}; "
                               "use --method backprop or --method trace") from None


def _jacobian_chain(plan: Plan) -> list[Step]:
    steps: list[Step] = []
    rows = {s.node: (S.One if i == 0 else s.delta if not is_matrix(s.node)   # a scalar's row is its δ
                     else placeholder("row", s.name, shape=_row_shape(s.node)))
            for i, s in enumerate(plan.stages)}
    for i, seg in enumerate(plan.segments):
        stage = seg.stage
        if i > 0:
            title = (f"row gradient of {{{stage.name}}} (numerator layout, 1×{_entries(stage.node)})"
                     if is_matrix(stage.node) else f"derivative of {{{stage.name}}}")
            steps += _chain(plan, rows, stage.node, stage.name, rows[stage.node], title)
            if _is_vector(stage.node) and is_matrix(stage.node):   # δ_S, with S's shape: the row transposed
                steps.append(Step(stage.delta, _unvec(ops.transpose(rows[stage.node]), stage.node), "definition",
                                  ("definition",), note="gradient with the shape of " + stage.name))
            elif is_matrix(stage.node):   # a matrix: its row is vec(δ_S)ᵀ
                steps.append(Step(ops.transpose(Vec(stage.delta)), rows[stage.node], "definition", ("definition",),
                                  note=f"δ_{stage.name} has the shape of {stage.name}; the row is its vec"))
        for var in plan.completed_after(i):
            name = plan.targets[var]
            if not is_matrix(var):
                steps += _chain(plan, rows, var, name, plan.result_symbol(var), "")
            elif _is_vector(var):
                row = placeholder("row", name, shape=_row_shape(var))
                steps += _chain(plan, rows, var, name, row, "")
                steps.append(Step(placeholder("nabla", name, var), _unvec(ops.transpose(row), var),
                                  "definition", ("definition",), note="the gradient: the row transposed"))
            else:   # scalar by matrix: the adjoint rule (seed 003: ∂z/∂X = Aᵀ ∂z/∂Y)
                rules = _main_rule(plan.rules_to(var), "jacobian_chain")
                steps.append(Step(plan.result_symbol(var), plan.total(var), rules[0], rules,
                                  note="a matrix variable: the scalar-by-matrix rule"))
    return steps


def _chain(plan: Plan, rows: dict, node, name: str, row, title: str) -> list[Step]:
    """∂P/∂N for each user P of N, then ∂f/∂N = Σ (∂f/∂P)(∂P/∂N), then substituted."""
    from ..differentiate.jacobian import jacobian as jac
    stage_nodes = {s.node for s in plan.stages}
    steps, symbolic, explicit = [], [], []
    rules = ["jacobian_chain"] + (["chain_rule"] if len(plan.parents(node)) > 1 else [])
    for parent in plan.parents(node):
        P = parent.stage.root
        J = _plain(jac(P, node, cut=frozenset(stage_nodes - {P, node})), parent.stage.node, node)
        path = _main_rule(parent.rules_to.get(node, ()), "jacobian_chain")
        rules += [r for r in path if r not in rules]
        if parent.stage is plan.stages[0]:      # ∂f/∂N directly
            symbolic.append(J)
        else:
            local = placeholder("jac", f"{parent.stage.name}/{name}", shape=J.shape if is_matrix(J) else ())
            steps.append(Step(local, J, path[0], path, section=title if not steps else ""))
            symbolic.append(ops.matmul(rows[parent.stage.node], local))
        explicit.append(J if parent.stage is plan.stages[0] else ops.matmul(rows[parent.stage.node], J))
    first = Step(row, ops.add(*symbolic), rules[0], tuple(rules), section=title if not steps else "")
    return steps + [first, Step(None, ops.add(*explicit), "definition", ("definition",))]


def _plain(J, top, bottom):
    """A scalar-by-scalar Jacobian as a scalar (not a 1×1 matrix times I)."""
    if is_matrix(top) or is_matrix(bottom):
        return J
    coeff, body = ops.split_coeff(J)
    return coeff if isinstance(body, Identity) else ops.as_scalar(J)


def _row_shape(e) -> tuple:
    return (1, _entries(e)) if is_matrix(e) else ()


def _entries(e) -> int:
    return 1 if not is_matrix(e) else e.shape[0] * e.shape[1]


def _unvec(col, like):
    """A column of entries back in the shape of ``like`` (vectors only)."""
    if not is_matrix(like):
        return ops.as_scalar(col)
    return ops.transpose(col) if like.shape[0] == 1 and like.shape[1] != 1 else col


def hessian_steps(d) -> list[Step]:
    """The Hessian blocks: the forward Jacobian of each closed-form gradient."""
    out = []
    for key, H in d._results.items():
        a, _, b = key.partition(",")
        b = b or a
        out.append(Step(placeholder("hess", f"{a}/{b}", H if is_matrix(H) else None), H, "jacobian_chain",
                        ("jacobian_chain",), section=f"Hessian block ∂vec(∇_{{{a}}} f)/∂vec({{{b}}})",
                        note="checked against finite differences of the gradient by --check"))
    return finish(out, {})


def jacobian_steps(d) -> list[Step]:
    """Steps of a Jacobian derivation: the forward chain's result per variable."""
    out = []
    for n in d.wrt:
        J = d.gradient(n)
        r, c = J.shape
        out.append(Step(placeholder("jac", f"{d.program.output_name or 'f'}/{n}", J), J, "jacobian_chain",
                        ("jacobian_chain",),
                        section=f"Jacobian w.r.t. {{{n}}} ({d.layout} layout, {r}×{c})"))
    return finish(out, {})


# ================================================================ driver
BUILDERS = {"backprop": backprop, "trace": trace, "jacobian": jacobian}


def build_steps(plan: Plan, method: str) -> list[Step]:
    if method not in BUILDERS:
        raise UnsupportedError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    steps = BUILDERS[method](plan)
    reached = {s.lhs.of for s in steps if isinstance(s.lhs, _Placeholder) and s.lhs.role in ("grad", "nabla")}
    for var, name in plan.targets.items():
        if name not in reached:   # f does not depend on it
            steps.append(Step(plan.result_symbol(var), ops.zeros_like(var), "chain_rule", ("chain_rule",),
                              note=f"f does not depend on {name}"))
    return finish(steps, plan.names)


def finish(steps: list[Step], names: dict) -> list[Step]:
    """Fill ``before``; drop a continuation that prints the same as the line above."""
    out: list[Step] = []
    previous = None
    for s in steps:
        if s.lhs is None and previous is not None and \
                printing.to_unicode(s.rhs, names) == printing.to_unicode(previous, names):
            continue
        before = s.lhs if s.lhs is not None else previous
        out.append(replace(s, before=before))
        previous = s.rhs
    return out
