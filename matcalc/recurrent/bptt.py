"""NumPy code for recurrent programs: one forward loop (keeping what the backward needs), one
backward loop running the step's derivation from t = T down to 1, and a finite-difference check.

The loops are written from the step derivation's stages: each δ is one line, each
parameter gradient an in-place ``+=``, each state's adjoint the carry to the step before —
the code an expert writes by hand.
"""
from __future__ import annotations

import re

import numpy as np
from sympy import MatrixSymbol, S, Symbol
from sympy.matrices.expressions import ZeroMatrix

from . import batching, deferral, fusion, scratch_products
from ..codegen.numpy_code import HELPERS, RESERVED, NumpyCodegen, compile_source, module_source
from .bptt_steps import _shaped_like
from ..differentiate.engine import topological
from ..errors import DomainError
from ..ir.nodes import is_matrix
from ..verify.numeric import CheckResult, TOLERANCE, Tally, compare_derivatives

_INDENT = "    "
_TEMP = re.compile(r"_t\d+")


class _Names:
    """Python names, unique in the generated module: none is a variable's name (the function's
    parameters), so the user's ``T``, ``t``, ``dtype`` or ``range`` are never overwritten."""

    _BUILTINS = ("range", "float")   # the builtins the generated functions call

    def __init__(self, taken):
        self.user = set(taken)
        self.taken = set(taken) | RESERVED | set(self._BUILTINS) | set(HELPERS)
        self.aliases: dict = {}      # builtin -> module-level alias, for builtins a parameter hides

    def builtin(self, name: str) -> str:
        """The name to call builtin ``name`` by: itself, or an alias when a variable hides it."""
        if name not in self.user:
            return name
        if name not in self.aliases:
            self.aliases[name] = self("_" + name)
        return self.aliases[name]

    def alias_source(self) -> str:
        """Module-level lines binding the aliases ('' if none)."""
        return "\n".join(f"{alias} = {name}" for name, alias in self.aliases.items())

    def __call__(self, base: str) -> str:
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in base)
        name, k = base, 1
        while name in self.taken or _TEMP.fullmatch(name):   # _t1, _t2 …: the codegen's temporaries
            k += 1
            name = f"{base}{k}"
        self.taken.add(name)
        return name


def _like(sym, name):
    return MatrixSymbol(name, *sym.shape) if is_matrix(sym) else Symbol(name, real=True)


class _Layout:
    """The step program's values as Python names, and which forward values the backward needs."""

    def __init__(self, d):
        self.d = d
        prog, plan, seq = d.step_program, d.step.plan, d.seq
        self.names = _Names(d.variables)
        # the loop's own names: the sequence length, the step, the dtype, and the builtins
        self.T, self.t, self.dtype = self.names("T"), self.names("t"), self.names("dtype")
        self.range, self.float = self.names.builtin("range"), self.names.builtin("float")
        self.rep: dict = {}          # IR symbol / node -> Python-named symbol
        self.params = [n for n in d.variables if n not in seq.sequences]
        for n in self.params:
            if n in prog.variables:
                self.rep[prog.variables[n]] = prog.variables[n]
        self.seq_py = {}
        for x in seq.sequences:
            if x in prog.variables:
                self.seq_py[x] = self.names(x + "_t")
                self.rep[prog.variables[x]] = _like(prog.variables[x], self.seq_py[x])
        self.prev_py = {}
        for s, p in d.prev.items():
            if p in prog.variables:
                self.prev_py[s] = self.names(s + "_prev")
                self.rep[prog.variables[p]] = _like(prog.variables[p], self.prev_py[s])
        self.carry_py = {s: self.names("g_" + s) for s in seq.states}
        for s in seq.states:
            c = prog.variables[d.carry[s]]
            self.rep[c] = _like(c, self.carry_py[s])
        self.seed_py = {v: self.names("e_" + v) for v in d.seed}
        for v, e in d.seed.items():
            self.rep[prog.variables[e]] = _like(prog.variables[e], self.seed_py[v])
        # forward values: named values and matcalc's stages (u = x Wx + h Wh + b), in order
        self.value_py: dict = {}      # IR symbol of a forward value -> Python name
        autos = [st for st in plan.stages[1:] if st.auto]
        self.auto_nodes = {st.node: st for st in autos}
        self.forward: list = []       # (python name, IR expression before renaming)
        emitted = set()
        auto_rep = {}
        for st in autos:
            py = self.names(st.name + "_t")
            auto_rep[st.node] = _like(st.node, py)
            self.value_py[auto_rep[st.node]] = py

        def emit_autos(expr):
            inner = [n for n in topological(expr) if n in self.auto_nodes and n not in emitted]
            for node in inner:   # topological: inner stages first
                emitted.add(node)
                own = {k: v for k, v in auto_rep.items() if k != node}
                self.forward.append((auto_rep[node].name, node.xreplace(own)))

        for name, definition in prog.definitions.items():
            emit_autos(definition)
            sym = prog.named[name]
            py = self.names(name + "_t")
            self.rep[sym] = _like(sym, py)
            self.value_py[self.rep[sym]] = py
            self.forward.append((py, definition.xreplace(auto_rep)))
        emit_autos(prog.opaque_output)
        self.objective = prog.opaque_output.xreplace(auto_rep)
        self.auto_rep = auto_rep
        self.forward = [(py, e.xreplace(self.rep)) for py, e in self.forward]
        self.objective = self.objective.xreplace(self.rep)
        # the backward block: one δ per stage, then each target's contribution
        delta_py = {}
        for st in plan.stages[1:]:
            delta_py[st.delta] = _like(st.delta, self.names("d_" + st.name))

        by_value = {}
        for name, definition in prog.definitions.items():
            if not isinstance(definition, (MatrixSymbol, Symbol)):
                by_value.setdefault(definition, prog.named[name])

        def code(expr):
            return expr.xreplace({**by_value, **auto_rep}).xreplace(auto_rep).xreplace({**self.rep, **delta_py})

        self.deltas = []              # (python name, expression, user name or None)
        for st in plan.stages[1:]:
            total = plan.total(st.node)
            if total is None:
                total = ZeroMatrix(*st.delta.shape) if is_matrix(st.delta) else S.Zero
            self.deltas.append((delta_py[st.delta].name, code(total), None if st.auto else st.name))
        self.targets = []             # (kind, name, expression): param / sequence / carry
        for n in d.step_targets:
            var = prog.variables[n]
            total = plan.total(var)
            if total is None:
                continue
            if n in d.prev.values():
                s = next(k for k, v in d.prev.items() if v == n)
                self.targets.append(("carry", s, code(total)))
            elif n in seq.sequences:
                self.targets.append(("sequence", n, code(total)))
            else:
                self.targets.append(("param", n, code(total)))
        self.state_py = {s: self.value_py[self.rep[prog.named[d.internal[s]]]] for s in seq.states}
        self._share_forward_values()

    def _share_forward_values(self) -> None:
        """A costly value inside a forward line that the backward pass also needs (tanh(C) in
        h = o ⊙ tanh(C)) becomes a forward value of its own, computed once and kept."""
        first: dict = {}
        for k, (_, expr) in enumerate(self.forward):
            for node in topological(expr):
                if node is not expr and _costly(node) and node not in first:
                    first[node] = k
        backward = set()
        for _, expr, _ in self.deltas:
            backward.update(topological(expr))
        for _, _, expr in self.targets:
            backward.update(topological(expr))
        shared = [n for n in first if n in backward]
        if not shared:
            return
        reps = {}
        for node in shared:
            reps[node] = _like(node, self.names("q_t"))
        forward = []
        placed = set()
        for k, (py, expr) in enumerate(self.forward):
            for node in shared:
                if first[node] == k and node not in placed:
                    placed.add(node)
                    inner = {m: s for m, s in reps.items() if m is not node}
                    forward.append((reps[node].name, node.xreplace(inner)))
            forward.append((py, expr.xreplace(reps)))
        self.forward = forward
        self.deltas = [(n, e.xreplace(reps), u) for n, e, u in self.deltas]
        self.targets = [(k, n, e.xreplace(reps)) for k, n, e in self.targets]

    def needed_deltas(self, keep_named: bool) -> list:
        needed = {s.name for _, _, e in self.targets for s in _free(e)}
        out = []
        for name, expr, user in reversed(self.deltas):
            if name in needed or (keep_named and user is not None):
                out.append((name, expr, user))
                needed |= {s.name for s in _free(expr)}
        return list(reversed(out))

    def needed_forward(self, used: set, everything: bool = False) -> list:
        """Forward lines computing what ``used`` names and the states need."""
        need = set(used) | set(self.state_py.values())
        out = []
        for py, expr in reversed(self.forward):
            if everything or py in need:
                out.append((py, expr))
                need |= {s.name for s in _free(expr)}
        return list(reversed(out))


def _costly(node) -> bool:
    """Worth keeping from the forward pass: a function of entries, a softmax, an inverse, a product."""
    from sympy import Inverse, MatMul
    from ..ir.nodes import Elementwise, _Normalized
    if isinstance(node, (Elementwise, _Normalized, Inverse)):
        return True
    return isinstance(node, MatMul) and sum(1 for a in node.args if is_matrix(a)) >= 2


def _free(expr):
    return [n for n in topological(expr) if isinstance(n, (MatrixSymbol, Symbol)) and not n.is_Integer
            and not (isinstance(n, Symbol) and n.is_integer)]


def _sizes(d) -> dict:
    """Symbolic size -> code reading it off an argument (sequences have a leading T axis)."""
    out = {}
    for n, v in d.variables.items():
        if not is_matrix(v):
            continue
        offset = 1 if n in d.seq.sequences else 0
        for i, dim in enumerate(v.shape):
            if isinstance(dim, Symbol) and dim not in out:
                out[dim] = f"{n}.shape[{i + offset}]"
    return out


class _LoopCodegen(NumpyCodegen):
    """Code for expressions inside the generated function: every non-size symbol is a local name."""

    def value(self, e, top=False) -> str:
        if isinstance(e, Symbol) and not e.is_integer and e not in self.temps:
            return e.name
        return super().value(e, top)

    def _Concat(self, e):
        return f"np.concatenate([{', '.join(self.value(a) for a in e.args)}], axis=1)"

    def _ColumnBlock(self, e):
        return f"{self.operand(e.args[0])}[:, {self.size(e.args[1])}:{self.size(e.args[2])}]"


def _codegen(d) -> NumpyCodegen:
    cg = _LoopCodegen({}, {}, "")
    cg.sizes = _sizes(d)
    return cg


def _shape_code(d, value) -> str:
    return _codegen(d).shape(value) if is_matrix(value) else "()"


def _header(d, layout, func_name: str, doc: str) -> list[str]:
    """The signature, the arguments as float arrays, T, and a check of every argument's shape
    (parameters as derived, sequences as (T, ...) with the step's shape; sizes agree)."""
    seq, T = d.seq, layout.T
    params = list(d.variables)
    lines = [f"def {func_name}({', '.join(params)}):", f'{_INDENT}"""{doc}"""']
    for n in params:
        lines.append(f"{_INDENT}{n} = _float({n})")
    lines.append(f"{_INDENT}{layout.dtype} = np.result_type({', '.join(params)})")
    declared, ranks, dims = _declared_shapes(d)
    arrays = ", ".join(f"{n!r}: {n}" for n in params)
    raise_line = f"{_INDENT * 2}raise _shape_error({{{arrays}}}, {declared!r})"
    lines.append(f"{_INDENT}if {' or '.join(ranks)}:")
    lines.append(raise_line)
    first = next(x for x in seq.sequences if d._used_at_t(x))
    lines.append(f"{_INDENT}{T} = {first}.shape[0]")
    lines.append(f"{_INDENT}if {T} < 1:")
    lines.append(f'{_INDENT * 2}raise ValueError("the sequences are empty (T = 0)")')
    dims = [test.replace("{T}", T) for test in dims if test != f"{first}.shape[0] != {{T}}"]
    if dims:
        lines.append(f"{_INDENT}if {' or '.join(dims)}:")
        lines.append(raise_line)
    for n, v in d.variables.items():
        if not is_matrix(v) and n not in seq.sequences:
            lines.append(f"{_INDENT}{n} = {n}.reshape(())")
    return lines


def _declared_shapes(d) -> tuple[dict, list[str], list[str]]:
    """(name -> shape for the message, rank tests, size tests with ``{T}`` for the length)."""
    sizes = _sizes(d)
    size_names = {str(s) for s in sizes}
    steps = "T"
    while steps in size_names:
        steps += "'"
    declared, ranks, dims = {}, [], []
    for n, v in d.variables.items():
        sequence = n in d.seq.sequences
        shape = tuple(v.shape) if is_matrix(v) else ()
        declared[n] = ((steps,) if sequence else ()) + tuple(
            int(s) if s.is_Integer else str(s) for s in shape)
        if not declared[n]:
            ranks.append(f"{n}.size != 1")
            continue
        ranks.append(f"{n}.ndim != {len(declared[n])}")
        offset = 1 if sequence else 0
        if sequence:
            dims.append(f"{n}.shape[0] != {{T}}")
        for i, s in enumerate(shape):
            if s.is_Integer:
                dims.append(f"{n}.shape[{i + offset}] != {int(s)}")
            elif sizes[s] != f"{n}.shape[{i + offset}]":
                dims.append(f"{n}.shape[{i + offset}] != {sizes[s]}")
    return declared, ranks, dims


def _block(d, assignments, helpers: set) -> list[str]:
    cg = _codegen(d)
    lines = cg.block(assignments)
    helpers |= cg.helpers
    return lines


def _initial_lines(d, layout, helpers: set) -> list[str]:
    """Lines setting each state's previous value before step 1 (zeros unless ``h[0] = …``)."""
    init_prog = d._program("initial")
    lines, assignments = [], []
    for s in d.seq.states:
        py = layout.prev_py[s]
        prev = d.step_program.variables[d.prev[s]]
        if init_prog is not None and s in d.init_name:
            value = init_prog.intermediates[d.init_name[s]]
            # a row h0 broadcast over the batch; a scalar h0 as the 1×1 matrix a scalar state is kept in
            if is_matrix(prev) and (not is_matrix(value) or value.shape != prev.shape):
                shape = _shape_code(d, prev)
                tmp = layout.names(py + "_row")
                assignments.append((tmp, "=", value))
                lines.append((py, f"np.broadcast_to({tmp}, {shape}).astype({layout.dtype})"))
            else:
                assignments.append((py, "=", value))
        else:
            lines.append((py, f"np.zeros({_shape_code(d, prev)}, {layout.dtype})" if is_matrix(prev) else "0.0"))
    return [_INDENT + line for line in _block(d, assignments, helpers)] + \
        [f"{_INDENT}{py} = {code}" for py, code in lines]


def _terminal_symbols(d, layout, last_py: dict) -> dict:
    """Terminal program symbol -> Python-named symbol of its value at the last step."""
    prog = d._program("terminal")
    reps = {}
    for n, sym in prog.variables.items():
        if n in last_py:
            reps[sym] = _like(sym, last_py[n])
    return reps


def _last_values(d, layout) -> tuple[list[str], dict]:
    """Lines naming the sequences at T (x_last = x[T - 1]); internal name -> Python name at T."""
    lines, last_py = [], {}
    terminal = d._program("terminal")
    if terminal is None:
        return lines, last_py
    for v in d.seq.terminal:
        if v in d.internal:
            iv = d.internal[v]
            last_py[iv] = layout.value_py[layout.rep[d.step_program.named[iv]]]
        else:
            py = layout.names(v + "_last")
            lines.append(f"{_INDENT}{py} = {v}[{layout.T} - 1]")
            last_py[v] = py
    return lines, last_py


def _state_updates(d, layout) -> list[str]:
    """prev = the state just computed (a scalar state kept as the 1×1 matrix its previous value is)."""
    out = []
    for s in d.seq.states:
        value, prev = d.step_program.intermediates[d.internal[s]], d.step_program.variables[d.prev[s]]
        code = layout.state_py[s]
        if is_matrix(prev) and not is_matrix(value):
            code = f"np.reshape({code}, (1, 1))"
        out.append(f"{layout.prev_py[s]} = {code}")
    return out


def _forward(d, layout, used: set, everything: bool = False):
    """(lines before the loop, lines in the loop): values of parameters only are hoisted."""
    per_step = {py for py in layout.seq_py.values()} | set(layout.prev_py.values()) | \
        set(layout.carry_py.values()) | set(layout.seed_py.values())
    hoisted, looped = [], []
    for py, expr in layout.needed_forward(used, everything):
        if {s.name for s in _free(expr)} & per_step:
            per_step.add(py)
            looped.append((py, expr))
        else:
            hoisted.append((py, expr))
    return hoisted, looped


def _deferral(d, layout, forward, assignments, accumulators, steps, buffer, names):
    """The backward assignments with the gradient terms Σ_t L_tᵀ R_t moved after the loop, and
    the plan (``matcalc.recurrent.deferral``); its ``forward_names``: forward value -> buffer."""
    forward, assignments = _kept_products(forward, assignments, accumulators, names)
    values = [py for py, _ in forward]
    prevs = {}
    for s, prev in layout.prev_py.items():
        state = layout.state_py[s]
        prev_sym, value = d.step_program.variables[d.prev[s]], d.step_program.intermediates[d.internal[s]]
        if state in values and is_matrix(prev_sym) and is_matrix(value) and prev_sym.shape == value.shape:
            prevs[prev] = state
    init_prog = d._program("initial")
    zero = {prev for s, prev in layout.prev_py.items() if init_prog is None or s not in d.init_name}
    matrices = {py for py, e in forward if is_matrix(e)}
    per_step = set(values) | set(steps) | set(layout.seq_py.values()) | set(layout.prev_py.values()) | \
        set(layout.carry_py.values()) | set(layout.seed_py.values()) | {a[0] for a in assignments}
    size = _codegen(d).size
    kept, plan = deferral.defer(assignments, accumulators,
                                deferral.Steps(steps, matrices, prevs, buffer, zero, size), names, per_step)
    plan.forward_names = {py: buffer(py) for py in values if py in plan.forward_buffers}
    return forward, kept, plan


def _kept_products(forward, assignments, accumulators, names):
    """(forward, assignments): a gradient term (A_1ᵀ ⊙ … ⊙ A_kᵀ) R whose A_1 ⊙ … ⊙ A_k the forward
    pass computes (the GRU's (r ⊙ h_prev) Wn) reads that product, made a forward value of its
    own, so the term can be deferred like any other; the forward line computes it once."""
    from sympy import HadamardProduct, MatAdd, MatMul, Transpose
    nodes = {}
    for k, (_, expr) in enumerate(forward):
        for node in topological(expr):
            if isinstance(node, HadamardProduct) and all(isinstance(a, MatrixSymbol) for a in node.args):
                nodes.setdefault(tuple(sorted(a.name for a in node.args)), (node, k))
    found = {}                          # forward node -> its new symbol
    for target, op, expr in assignments:
        if op != "+=" or target not in accumulators:
            continue
        for term in (expr.args if isinstance(expr, MatAdd) else [expr]):
            left = next((a for a in term.args if is_matrix(a)), None) if isinstance(term, MatMul) else None
            if isinstance(left, HadamardProduct) and all(isinstance(a, Transpose) and isinstance(a.arg, MatrixSymbol)
                                                         for a in left.args):
                key = tuple(sorted(a.arg.name for a in left.args))
                if key in nodes and nodes[key][0] not in found:
                    found[nodes[key][0]] = _like(nodes[key][0], names("prod_t"))
    if not found:
        return forward, assignments
    out = []
    for k, (py, expr) in enumerate(forward):
        out += [(found[node].name, node) for node, at in nodes.values() if at == k and node in found]
        out.append((py, expr.xreplace(found)))
    transposed = {tuple(sorted(b.name for b in node.args)): Transpose(sym) for node, sym in found.items()}

    def swap(e):
        return e.replace(lambda n: isinstance(n, HadamardProduct) and all(
            isinstance(a, Transpose) and isinstance(a.arg, MatrixSymbol) for a in n.args)
            and tuple(sorted(a.arg.name for a in n.args)) in transposed,
            lambda n: transposed[tuple(sorted(a.arg.name for a in n.args))])
    return out, [(t, op, swap(e) if op == "+=" and t in accumulators else e) for t, op, e in assignments]


def _stacked_lines(d, values: list, arrays: dict, out: dict, T: str, helpers: set, names) -> list[str]:
    """Lines computing ``values`` (name, per-step expression) for every step at once: each
    per-step operand as its steps stacked by rows (``arrays``: name -> (T, …) array), one
    expression on those, then ``out[name]`` = the result as (T, rows, columns)."""
    if not values:
        return []
    lines, stacked = [], {}
    computed = {name for name, _ in values}
    for name, expr in values:
        for s in _free(expr):
            if s.name in arrays and s.name not in computed and s not in stacked and is_matrix(s):
                flat = batching.stacked_symbol(s, names(s.name + "_all"))
                stacked[s] = flat
                lines.append(f"{flat.name} = {arrays[s.name]}.reshape(-1, {arrays[s.name]}.shape[-1])")
    assignments, results = [], []
    for name, expr in values:
        flat = batching.stacked_symbol(expr, names(name + "_all"))
        assignments.append((flat.name, "=", batching.flatten(expr, stacked)))
        stacked[MatrixSymbol(name, *expr.shape)] = flat
        results.append(f"{out[name]} = {flat.name}.reshape({T}, -1, {flat.name}.shape[-1])")
    return lines + _block(d, assignments, helpers) + results


def _stacked_shape(d, sym, T: str) -> str:
    """Code for the shape (T, rows, columns) of a buffer of every step's value of ``sym``."""
    return f"({T}, {_shape_code(d, sym)[1:]}"


def _with_stores(body: list[str], stores: dict, t: str) -> list[str]:
    """The loop body storing each value v kept for after the loop in its buffer: a
    concatenation written straight into its slot (``out=buf[t]``), else ``buf[t] = v`` right
    after the line computing v."""
    out, pending = [], dict(stores)
    for line in body:
        name = line.split(" = ")[0] if " = " in line else None
        if name in pending and line.startswith(f"{name} = np.concatenate(") and line.endswith(", axis=1)"):
            out.append(f"{line[:-1]}, out={pending.pop(name)}[{t}])")
            continue
        out.append(line)
        if name in pending:
            out.append(f"{pending.pop(name)}[{t}] = {name}")
    return out + [f"{buf}[{t}] = {name}" for name, buf in pending.items()]


def _after_lines(d, plan, helpers: set) -> list[str]:
    """The deferred gradient terms: the stacked steps as (T·rows, columns) views, then one
    product per term."""
    if not plan.after:
        return []
    used = {s for _, _, e in plan.after for s in _free(e)}
    lines = [f"{sym.name} = {code}" for sym, code in plan.flat.items() if sym in used]
    return lines + _block(d, plan.after, helpers)


def bptt_source(d, func_name: str = "gradients", deltas: bool = False, scratch: bool = False) -> str:
    """Source of ``gradients(**arrays) -> {name: gradient}`` (sequences as (T, ...) arrays).

    scratch=True: the loops' (T, ...) buffers are kept between calls (NumPy only; a fresh
    multi-MB array costs its page faults on every call, up to 1.7x a small RNN's time)."""
    layout = _Layout(d)
    names = layout.names
    seq = d.seq
    helpers = {"_float", "_shape_error"}
    scratched = [] if scratch and not deltas else None      # names of the buffers kept between calls
    T, t, dtype = layout.T, layout.t, layout.dtype
    lines = _header(d, layout, func_name, "Generated by matcalc: backpropagation through time; returns {"
                    + ", ".join(repr(n) for n in d.wrt) + "}.")
    lines += _initial_lines(d, layout, helpers)
    bwd_deltas = layout.needed_deltas(keep_named=deltas)
    bwd_exprs = [e for _, e, _ in bwd_deltas] + [e for _, _, e in layout.targets]
    used = {s.name for e in bwd_exprs for s in _free(e)}
    terminal = d._program("terminal")
    last_lines, last_py = _last_values(d, layout)
    hoisted, forward = _forward(d, layout, used | set(last_py.values()))
    lines += [_INDENT + b for b in _block(d, [(py, "=", e) for py, e in hoisted], helpers)]
    # products sharing an operand: one GEMM; input projections: one GEMM before the loop
    steps = {py: x for x, py in layout.seq_py.items() if is_matrix(d.variables[x])}
    groups = fusion.find_groups(forward, set(layout.params), steps, names,
                                lefts=set(steps) | set(layout.prev_py.values()))
    fused_before, fused_inside = fusion.forward_lines(groups, t)
    forward = fusion.rewrite_forward(forward, groups)
    lines += [_INDENT + b for b in fused_before]
    # values the recurrence does not wait for: every step at once (matcalc/recurrent/batching.py)
    invariant = set(layout.params) | {py for py, _ in hoisted} | {g.cat.name for g in groups}
    fwd_values = {py for py, e in forward if is_matrix(e)}
    outputs = batching.forward_outputs(forward, set(layout.state_py.values()), set(last_py.values()),
                                       set(steps) | fwd_values, invariant)
    after_forward = [(py, e) for py, e in forward if py in outputs]
    forward = [(py, e) for py, e in forward if py not in outputs]
    cached = [py for py, _ in forward + after_forward if py in used]
    cached_prev = [s for s, py in layout.prev_py.items() if py in used]
    lists = {py: names(py + "s") for py in cached}
    buffer_names: dict = {}

    def buffer(py):
        """The (T, …) array of a forward value's steps (its list's name when it has one)."""
        if py not in buffer_names:
            buffer_names[py] = lists.get(py) or names(py + "s")
        return buffer_names[py]
    stacked_fwd = {py: buffer(py) for py in outputs}
    prev_lists = {s: names(layout.prev_py[s] + "s") for s in cached_prev}
    grads = {n: names("grad_" + n) for n in d.wrt}
    seq_lists = {n: names("d" + n + "_s") for n in d.wrt if n in seq.sequences}
    # ---- the backward loop's assignments: δs, gradient updates, carries
    assignments = [(name, "=", e) for name, e, _ in bwd_deltas]
    carries = []
    for kind, n, e in layout.targets:
        if kind == "param" and n in grads:
            assignments.append((grads[n], "+=", e))
        elif kind == "sequence" and n in seq_lists:
            assignments.append((f"{seq_lists[n]}[{t}]", "+=", e))
        elif kind == "carry":
            nxt = names(layout.carry_py[n] + "_next")
            assignments.append((nxt, "=", e))
            carries.append((n, nxt))
    assignments, fused_before, fused_after = fusion.fuse_backward(assignments, groups, grads, names)
    before_backward, assignments = batching.backward_inputs(assignments, set(steps) | fwd_values, invariant, names)
    stacked_bwd = {name: names(name + "_ts") for name, _ in before_backward}
    # parameter gradients Σ_t L_tᵀ R_t: one GEMM over all steps after the loop
    accumulators = set(grads.values()) | {line.split(" = ")[0] for line in fused_before}
    forward, assignments, plan = _deferral(d, layout, forward, assignments, accumulators,
                                           {**steps, **stacked_fwd, **stacked_bwd}, buffer, names)
    buffers = dict(plan.forward_names)
    loop_values = {py for py, _ in forward}
    for py in sorted({s.name for _, e in after_forward + before_backward for s in _free(e)} & loop_values):
        buffers.setdefault(py, buffer(py))   # read by a computation over all steps
    buffers = {py: buffers[py] for py, _ in forward if py in buffers}
    # what the backward loop still reads per step (a value only deferred terms used is not read)
    in_loop = {s.name for _, _, e in assignments for s in _free(e)} | {nxt for _, nxt in carries}
    in_loop |= {name for name, _, user in bwd_deltas if deltas and user is not None}
    cached = [py for py in cached if py in in_loop]
    cached_prev = [s for s in cached_prev if layout.prev_py[s] in in_loop]
    used = {n for n in used if n in in_loop}
    for py in cached:
        if py not in buffers and py not in stacked_fwd:
            lines.append(f"{_INDENT}{lists[py]} = []")
    for py, buf in buffers.items():
        sym = next(_like(e, py) for p, e in forward if p == py)
        lines.append(f"{_INDENT}{buf} = {_buffer(buf, _stacked_shape(d, sym, T), dtype, scratched)}")
    for s in cached_prev:
        lines.append(f"{_INDENT}{prev_lists[s]} = []")
    for prev, initial in plan.initial.items():
        lines.append(f"{_INDENT}{initial} = {prev}")
    # ---- forward loop
    lines.append(f"{_INDENT}for {t} in {layout.range}({T}):")
    body = []
    fwd_free = {s.name for _, e in forward for s in _free(e)}
    for x, py in layout.seq_py.items():
        if py in fwd_free:
            body.append(f"{py} = {x}[{t}]")
    for s in cached_prev:
        body.append(f"{prev_lists[s]}.append({layout.prev_py[s]})")
    body += fused_inside
    body += _block(d, [(py, "=", e) for py, e in forward], helpers)
    for py in cached:
        if py not in buffers and py not in stacked_fwd:
            body.append(f"{lists[py]}.append({py})")
    for py, buf in buffers.items():
        body.append(f"{buf}[{t}] = {py}")
    body += _state_updates(d, layout)
    lines += [_INDENT * 2 + b for b in body or ["pass"]]
    arrays = {**steps, **buffers, **stacked_fwd}
    lines += [_INDENT + b for b in _stacked_lines(d, after_forward, arrays, stacked_fwd, T, helpers, names)]
    # ---- gradients start at zero, plus the loss terms at the last step / outside sum_t
    for n in d.wrt:
        if n in seq.sequences:
            lines.append(f"{_INDENT}{seq_lists[n]} = [np.zeros_like({n}[0]) for _ in {layout.range}({T})]")
        else:
            lines.append(f"{_INDENT}{grads[n]} = np.zeros_like({n})" if is_matrix(d.variables[n])
                         else f"{_INDENT}{grads[n]} = 0.0")
    for s in seq.states:
        carry = d.step_program.variables[d.carry[s]]
        zero = f"np.zeros({_shape_code(d, carry)}, {dtype})" if is_matrix(carry) else "0.0"
        lines.append(f"{_INDENT}{layout.carry_py[s]} = {zero}")
    if terminal is not None and d.terminal is not None:
        lines += last_lines
        reps = _terminal_symbols(d, layout, last_py)
        terminal_assignments = []
        for n in d.terminal.wrt:
            g = d.terminal.gradient(n).xreplace(reps)
            if n in grads and n not in seq.sequences:
                terminal_assignments.append((grads[n], "+=", g))
            elif n in seq_lists:
                terminal_assignments.append((f"{seq_lists[n]}[{T} - 1]", "+=", g))
        for s in seq.states:
            if d.internal[s] in d.terminal.wrt:
                carry = d.step_program.variables[d.carry[s]]
                g = d.terminal.gradient(d.internal[s]).xreplace(reps)
                terminal_assignments.append((layout.carry_py[s], "+=", _shaped_like(g, carry)))
        for v, py in layout.seed_py.items():
            seed = d.step_program.variables[d.seed[v]]
            g = d.terminal.gradient(d.internal[v]).xreplace(reps)
            terminal_assignments.append((py, "=", _shaped_like(g, seed)))
        lines += [_INDENT + b for b in _block(d, terminal_assignments, helpers)]
    delta_lists = {}
    if deltas:
        for name, _, user in bwd_deltas:
            if user is not None:
                delta_lists[user] = names(name + "_s")
                lines.append(f"{_INDENT}{delta_lists[user]} = [None] * {T}")
    lines += [_INDENT + b for b in fused_before]
    for name, buf in plan.stores.items():
        lines.append(f"{_INDENT}{buf} = {_buffer(buf, _stacked_shape(d, plan.symbols[name], T), dtype, scratched)}")
    lines += [_INDENT + b for b in _stacked_lines(d, before_backward, arrays, stacked_bwd, T, helpers, names)]
    # ---- backward loop
    lines.append(f"{_INDENT}for {t} in {layout.range}({T} - 1, -1, -1):")
    body = []
    for x, py in layout.seq_py.items():
        if py in used:
            body.append(f"{py} = {x}[{t}]")
    for py in cached:
        body.append(f"{py} = {buffers.get(py) or stacked_fwd.get(py) or lists[py]}[{t}]")
    for name, array in stacked_bwd.items():
        if name in in_loop:
            body.append(f"{name} = {array}[{t}]")
    for s in cached_prev:
        body.append(f"{layout.prev_py[s]} = {prev_lists[s]}[{t}]")
    body += _with_stores(_block(d, assignments, helpers), plan.stores, t)
    for name, _, user in bwd_deltas:
        if user in delta_lists:
            body.append(f"{delta_lists[user]}[{t}] = {name}")
    carried = {s for s, _ in carries}
    for s, nxt in carries:
        body.append(f"{layout.carry_py[s]} = {nxt}")
    for s in seq.states:
        if s not in carried:
            body.append(f"{layout.carry_py[s]} = 0.0 * {layout.carry_py[s]}")
    for v, py in layout.seed_py.items():
        body.append(f"{py} = 0.0 * {py}")
    lines += [_INDENT * 2 + b for b in body or ["pass"]]
    lines += [_INDENT + b for b in _after_lines(d, plan, helpers)]
    lines += [_INDENT + b for b in fused_after]
    # ---- through the initial values: the adjoint step 1 sent back
    init_prog = d._program("initial")
    if init_prog is not None and d.initial is not None:
        reps = {init_prog.variables[d.carry[s]]: _like(init_prog.variables[d.carry[s]], layout.carry_py[s])
                for s in seq.states if d.carry[s] in init_prog.variables}
        assignments = [(grads[n], "+=", d.initial.gradient(n).xreplace(reps)) for n in d.initial.wrt]
        lines += [_INDENT + b for b in _block(d, assignments, helpers)]
    if scratched is not None:        # products over all steps: into buffers kept between calls too
        lines, keys = scratch_products.into_scratch(lines, _INDENT, lambda key: key in scratched)
        scratched += [f"_kept({key!r})" for key in keys]
        helpers |= {"_product_into", "_kept"} if keys else set()
    out = []
    for n in d.wrt:
        value = f"np.stack({seq_lists[n]})" if n in seq_lists else grads[n]
        if scratched:
            value = f"_own({value}, ({', '.join(scratched)},))"
        out.append(f"{n!r}: np.asarray({value}, {dtype})")
    for user, lst in delta_lists.items():
        out.append(f"'delta:{user}': np.stack({lst})")
    lines.append(f"{_INDENT}return {{{', '.join(out)}}}")
    if scratched:
        helpers |= {"_scratch", "_own"}
    return module_source(_parts(layout, lines), helpers)


def _buffer(name: str, shape: str, dtype: str, scratched) -> str:
    """A (T, ...) buffer: np.empty, or a scratch array kept between calls (scratched collects it)."""
    if scratched is None:
        return f"np.empty({shape}, {dtype})"
    scratched.append(name)
    return f"_scratch({name!r}, {shape}, {dtype})"


def _parts(layout, lines: list[str]) -> list[str]:
    """The module's parts after the helpers: builtin aliases (if any), then the function."""
    aliases = layout.names.alias_source()
    return ([aliases] if aliases else []) + ["\n".join(lines) + "\n"]


def loss_source(d, func_name: str = "loss") -> str:
    """Source of ``loss(**arrays) -> float``: the unrolled forward pass (for checks)."""
    layout = _Layout(d)
    names = layout.names
    seq = d.seq
    helpers = {"_float", "_shape_error"}
    T, t, dtype = layout.T, layout.t, layout.dtype
    lines = _header(d, layout, func_name, "Generated by matcalc: the loss, unrolled over the sequence.")
    lines += _initial_lines(d, layout, helpers)
    total = names("total")
    lines.append(f"{_INDENT}{total} = 0.0")
    for s in seq.states:
        carry = d.step_program.variables[d.carry[s]]
        lines.append(f"{_INDENT}{layout.carry_py[s]} = "
                     + (f"np.zeros({_shape_code(d, carry)}, {dtype})" if is_matrix(carry) else "0.0"))
    for v, py in layout.seed_py.items():
        seed = d.step_program.variables[d.seed[v]]
        lines.append(f"{_INDENT}{py} = " + (f"np.zeros({_shape_code(d, seed)}, {dtype})" if is_matrix(seed) else "0.0"))
    lines.append(f"{_INDENT}for {t} in {layout.range}({T}):")
    body = [f"{py} = {x}[{t}]" for x, py in layout.seq_py.items()]
    step_loss = names("step_loss")
    body += _block(d, [(py, "=", e) for py, e in layout.needed_forward(set(), everything=True)]
                   + [(step_loss, "=", layout.objective)], helpers)
    body.append(f"{total} = {total} + {step_loss}")
    body += _state_updates(d, layout)
    lines += [_INDENT * 2 + b for b in body or ["pass"]]
    terminal = d._program("terminal")
    if terminal is not None:
        last_lines, last_py = _last_values(d, layout)
        lines += last_lines
        value = terminal.output.xreplace(_terminal_symbols(d, layout, last_py))
        lines += [_INDENT + b for b in _block(d, [(total, "+=", value)], helpers)]
    lines.append(f"{_INDENT}return {layout.float}({total})")
    return module_source(_parts(layout, lines), helpers)


# ---------------------------------------------------------------- check
def sample(d, rng, T: int, scale: float) -> dict:
    """A random point: small sizes, T steps, one-hot rows for sum_to_one variables."""
    sizes: dict = {}
    point = {}
    for n, v in d.variables.items():
        shape = ()
        if is_matrix(v):
            shape = tuple(int(s) if s.is_Integer else sizes.setdefault(s, int(rng.integers(2, 4))) for s in v.shape)
        full = ((T,) if n in d.seq.sequences else ()) + shape
        if n in d.sum_to_one:   # one-hot rows; a vector's entries sum to one
            vector = len(shape) == 2 and 1 in shape
            a = np.zeros(full + ((1,) if not shape else ()))
            flat = a.reshape(-1, (a.shape[-1] * a.shape[-2]) if vector else a.shape[-1])
            flat[np.arange(flat.shape[0]), rng.integers(0, flat.shape[1], flat.shape[0])] = 1.0
            point[n] = flat.reshape(a.shape)
        else:
            point[n] = scale * rng.standard_normal(full) if full else float(scale * rng.standard_normal())
    return point


def _guard_sizes(d, steps: int) -> None:
    """Refuse a check whose random arguments (symbolic sizes ≤ 3, ``steps`` steps) would be too big
    to draw: the entry limit of the non-recurrent check, then the memory limit."""
    from ..errors import LimitError
    from ..differentiate.memory import DEFAULT_MEMORY_LIMIT, show_bytes
    from ..verify.numeric import MAX_ENTRIES_TO_EVALUATE
    limit = getattr(d, "memory_limit", DEFAULT_MEMORY_LIMIT)
    for n, v in d.variables.items():
        shape = [int(s) if s.is_Integer else 3 for s in v.shape] if is_matrix(v) else [1]
        count = int(np.prod(shape)) * (steps if n in d.seq.sequences else 1)
        if int(np.prod(shape)) > MAX_ENTRIES_TO_EVALUATE:
            raise LimitError(f"{n} has {'×'.join(map(str, shape))} entries, too many to evaluate numerically; "
                             "declare symbolic sizes (--dim X=n,d) for the check")
        if limit and count * 8 > limit:
            raise LimitError(f"{n} would be an array of {count} entries ({show_bytes(count * 8)}) in the check, "
                             f"over the memory limit of {show_bytes(limit)} (memory_limit / --memory-limit)")


def check(d, seed: int = 0, points: int = 2, tolerance: float = TOLERANCE) -> CheckResult:
    """Compare the BPTT gradients with central differences of the unrolled forward pass."""
    _guard_sizes(d, 2 + points)
    loss = compile_source(loss_source(d), "loss")
    grad = d.to_numpy()
    rng = np.random.default_rng(seed)
    tally = Tally(tolerance)
    for k in range(points):
        T = 3 + k
        for attempt in range(40):
            point = sample(d, rng, T, 0.7 * 0.8 ** (attempt // 4))
            if attempt % 2:   # positive values, for log/sqrt of inputs
                point = {n: (abs(v) + 0.1 if n not in d.sum_to_one else v) for n, v in point.items()}
            with np.errstate(all="ignore"):
                value = loss(**point)
            if np.isfinite(value) and (abs(value) < 1e4 or attempt >= 30):   # moderate values: exact differences
                break
        else:
            raise DomainError("could not find a point where the loss is finite for the check")
        with np.errstate(all="ignore"):   # an overflow shows as a non-finite value, not as warnings
            got = grad(**point)
            for n in d.wrt:
                x0 = np.asarray(point[n], dtype=float)
                g = np.asarray(got[n], dtype=float)
                idx = list(np.ndindex(*x0.shape)) if x0.shape else [()]
                if len(idx) > 200:
                    idx = [idx[i] for i in rng.choice(len(idx), 200, replace=False)]
                if g.shape != x0.shape:
                    tally.add(n, float("inf"), tolerance, 0.0)
                    continue
                tally.add(n, *compare_derivatives(
                    lambda x, n=n: np.asarray(loss(**{**point, n: x}), dtype=float).reshape(1), x0, idx,
                    [g[i].reshape(1) for i in idx], tolerance, rng, 1e-4,
                    claimed_fn=lambda x, n=n: np.asarray(grad(**{**point, n: x})[n], dtype=float)))
    result = tally.result()
    result.note = result.note or f"finite differences of the unrolled loss at T = 3..{2 + points}"
    return result
