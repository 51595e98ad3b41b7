"""Backpropagation through time as a symbolic recurrence (see ``lang/sequence.py`` for the language).

The core engine derives one time step; the reverse recurrence of each state's
adjoint is the step's gradient w.r.t. the state's previous value, read one step
later: ``δ_h[t] = δ_z[t] Vᵀ + δ_u[t+1] W_hᵀ``.  Parameter gradients are sums over
t of the step's contributions; terminal and initial terms are added once.
"""
from __future__ import annotations

from dataclasses import dataclass

from sympy import MatrixSymbol, S, Symbol

from ..lang import parser as P
from ..lang import printing
from ..lang.build import Program, parse
from ..errors import MatcalcError, ShapeError, UnknownNameError, UnsupportedError
from ..ir.nodes import NamedMatrix, NamedScalar, _Placeholder, is_matrix, placeholder, shape_of, time_sum
from ..lang.sequence import SequenceProgram, fresh_name, rename, walk
from ..codegen.spelling import respelled
from ..lang.parser import canonical_name


@dataclass
class RecurrentGradient:
    """∂f/∂p = Σ_t summand(t) + terminal + initial (each part None when absent)."""

    summand: object = None    # per-step contribution, in the step's values and deltas
    terminal: object = None   # from the loss terms at the last step / outside sum_t
    initial: object = None    # through the initial value of a state

    def display(self):
        """The gradient as one display expression (Σ_t shown as a node)."""
        from ..ir import ops
        parts = [time_sum(self.summand)] if self.summand is not None else []
        parts += [p for p in (self.terminal, self.initial) if p is not None]
        return ops.add(*parts) if parts else S.Zero


def _shape_spec(shape) -> tuple:
    """SymPy sizes -> a shapes entry (ints or size names)."""
    return tuple(int(d) if d.is_Integer else d.name for d in shape)


class RecurrentDerivation:
    """Gradients of a recurrent program: the step derivation, recurrences, BPTT code, check."""

    recurrent = True

    def __init__(self, seq: SequenceProgram, shapes: dict | None, wrt, sum_to_one=(), method="backprop", *,
                 core):
        """``core`` is the core results class (``matcalc.derivation.Derivation``) that derives the
        step, terminal and initial programs: this layer sits below it and never imports it."""
        if method != "backprop":
            raise UnsupportedError("a recurrent program is derived by backpropagation through time "
                                   "(--method backprop)")
        self._core = core
        self.seq = seq
        self.source = seq.source
        self.method = method
        self.layout = None
        self.order = 1
        self.sum_to_one = tuple(sum_to_one)
        shapes = dict(shapes or {})
        taken = self._user_names()
        # internal names of the step program
        self.internal = {v: (v if v != "f" else fresh_name("f_gate", taken)) for v in seq.step_names}
        self.prev = {s: fresh_name(f"{s}_prev", taken) for s in seq.states}
        extra = [v for v in seq.terminal if v in self.internal and v not in seq.states]
        self.carry = {s: fresh_name(f"G_{s}", taken) for s in seq.states}
        self.seed = {v: fresh_name(f"E_{v}", taken) for v in extra}
        for name in shapes:
            if name in seq.step_names and name not in seq.states:
                raise UnknownNameError(f"a shape is given for {name!r}, which is computed by {name}[t] = ...")
        if not [x for x in seq.sequences if self._used_at_t(x)]:
            raise UnsupportedError("a recurrent program needs an input sequence x[t] (its length T is "
                                   "read from it at run time)")
        unused = sorted(set(shapes) - self._user_names())
        if unused:
            raise UnknownNameError(f"a shape is given for {unused[0]!r}, which is not a variable of the expression")
        self.full_seq = seq
        self.step_program = self._parse_step(shapes)
        self.variables = self._variables(shapes)
        self.full_program = self.step_program
        if set(seq.step_names) - seq.live:   # derive without the values that cannot reach the loss
            known = self._known_shapes(shapes)
            self.seq = seq = seq.pruned()
            self.step_program = self._parse_step(known)
            self._other_programs = [(k, p) for k, p in self._other_programs if k != "initial"]
            if seq.inits:
                statements, _ = self._initial_statements()
                self._other_programs.append(("initial", parse(
                    self.source, known, statements=statements, allow_unused=True)))
        params = [n for n in self.variables if n not in seq.sequences]
        names = list(dict.fromkeys(wrt)) if wrt else params
        for n in names:
            if n not in self.variables:
                hint = (f" ({n} is computed by {n}[t] = ...; its adjoint is in the recurrence)"
                        if n in seq.step_names else "")
                raise UnknownNameError(f"unknown variable {n!r} in wrt{hint}; the variables are "
                                       f"{', '.join(self.variables)}")
        for n in self.sum_to_one:
            if n not in self.variables:
                raise UnknownNameError(f"sum_to_one names {n!r}, which is not a variable")
        self.wrt = names
        step_vars = self.step_program.variables
        self.step_targets = [n for n in names if n in step_vars] + \
            [self.prev[s] for s in seq.states if self.prev[s] in step_vars]
        self.step = self._core(self.step_program, self.step_targets, self._step_sum_to_one())
        self.step.stages_named_as_results = False   # the BPTT printout has no where block of result names
        self.terminal = self._terminal_derivation(shapes)
        self.initial = self._initial_derivation(shapes)
        self._gradients = None
        self._steps = None
        self._function = None

    # ------------------------------------------------------------ names
    def _user_names(self) -> set:
        out = set()
        statements = self.seq.statics + self.seq.steps
        nodes = [st.expr for st in statements] + list(self.seq.inits.values())
        nodes += [n for n in (self.seq.step_loss, self.seq.terminal_loss) if n is not None]
        for node in nodes:
            for n in walk(node):
                if isinstance(n, (P.Name, P.Index)):
                    out.add(n.id)
        out |= {st.target for st in statements} | {self.seq.loss_name}
        return out

    def _used_at_t(self, name: str) -> bool:
        seq = getattr(self, "full_seq", self.seq)
        nodes = [st.expr for st in seq.steps] + ([seq.step_loss] if seq.step_loss else [])
        return any(isinstance(n, P.Index) and n.id == name and n.at == "t" for node in nodes for n in walk(node))

    def _mapping(self, at_last: bool = False) -> dict:
        m = {}
        for v, iv in self.internal.items():
            m[(v, "T" if at_last else "t")] = iv
        for s, p in self.prev.items():
            m[(s, "t-1")] = p
        for x in self.seq.sequences:
            m[(x, "T" if at_last else "t")] = x
        return m

    def _filtered(self, shapes: dict, statements, extra=()) -> dict:
        used = set(extra)
        for st in statements:
            for n in walk(st.expr):
                if isinstance(n, P.Name):
                    used.add(n.id)
        return {k: v for k, v in shapes.items() if k in used}

    # ------------------------------------------------------------ programs
    def _parse_step(self, shapes: dict) -> Program:
        seq, pos = self.seq, self.seq.loss_pos
        mapping = self._mapping()
        statements = list(seq.statics)
        for st in seq.steps:
            statements.append(P.Statement(st.pos, self.internal[st.target], rename(st.expr, mapping)))
        objective = rename(seq.step_loss, mapping) if seq.step_loss is not None else None
        for s in seq.states:
            term = P.Call(pos, "sum", (P.Binary(pos, ".*", P.Name(pos, self.carry[s]), P.Name(pos, self.internal[s])),))
            objective = term if objective is None else P.Binary(pos, "+", objective, term)
        for v, e in self.seed.items():
            term = P.Call(pos, "sum", (P.Binary(pos, ".*", P.Name(pos, e), P.Name(pos, self.internal[v])),))
            objective = P.Binary(pos, "+", objective, term)
        statements.append(P.Statement(pos, None, objective))
        self.step_statements = statements
        declared = self._filtered(shapes, statements)
        defaults = {}
        for s in seq.states:   # a declared state shape is its previous value's (and its adjoint's) shape
            if s in seq.inits:
                defaults[s] = self._initial_shape(seq.inits[s], shapes)   # sizes the step leaves open
            if s in shapes:
                declared[self.prev[s]] = shapes[s]
                declared[self.carry[s]] = shapes[s]
        unknown = [self.prev[s] for s in seq.states if s not in shapes] + \
                  [self.carry[s] for s in seq.states if s not in shapes] + list(self.seed.values())
        links = [(self.prev[s], self.internal[s], seq.state_pos[s], defaults.get(s)) for s in seq.states] + \
                [(self.carry[s], self.internal[s], seq.state_pos[s], defaults.get(s)) for s in seq.states] + \
                [(e, self.internal[v], pos, None) for v, e in self.seed.items()]
        for name in unknown:
            declared[name] = ("?", "?")
        program = parse(self.source, {**shapes, **declared}, statements=statements, links=links, allow_unused=True)
        if is_matrix(program.output):
            r, c = program.output.shape
            raise ShapeError(f"the loss must be a scalar, but sum_t(...) sums {r}x{c} values "
                             "(use sum(), norm2() ... inside)", self.source, (seq.step_loss.pos if seq.step_loss is not None else seq.loss_pos))
        return program

    def _initial_shape(self, expr, shapes: dict):
        """The shape an initial value has on its own (sizes it leaves open: 1), or None."""
        from ..lang.shapes import ShapeInference, declare_shapes
        statements = list(self.seq.statics) + [P.Statement(expr.pos, None, expr)]
        try:
            inference = ShapeInference(self.source, declare_shapes(shapes))
            inference.run(statements[:-1])
            shape = inference.infer(expr)
        except MatcalcError:
            return None   # reported where the initial value is derived
        if len(shape) != 2:
            return None
        out = []
        for d in shape:
            v = d.known()
            out.append(1 if v is None else (v if isinstance(v, int) else v.name))
        return tuple(out)

    def _known_shapes(self, shapes: dict) -> dict:
        """Shapes of the step program's variables and values, for the other programs."""
        prog = self.step_program
        out = {n: (_shape_spec(shape_of(v)) if is_matrix(v) else ()) for n, v in prog.variables.items()}
        for iv in self.internal.values():
            if iv in prog.intermediates:
                value = prog.intermediates[iv]
                out[iv] = _shape_spec(shape_of(value)) if is_matrix(value) else ()
        return {**shapes, **out}

    def _variables(self, shapes: dict) -> dict:
        """The program's variables (sequences per step), in order of appearance."""
        internal = set(self.prev.values()) | set(self.carry.values()) | set(self.seed.values())
        out = {n: v for n, v in self.step_program.variables.items() if n not in internal}
        known = self._known_shapes(shapes)
        extra_programs = []
        if self.seq.terminal_loss is not None:
            extra_programs.append(self._terminal_statements())
        if self.seq.inits:
            extra_programs.append(self._initial_statements())
        self._other_programs = []
        for statements, kind in extra_programs:
            names = {k: v for k, v in known.items()}
            try:
                prog = parse(self.source, names, statements=statements, allow_unused=True)
            except ShapeError as err:
                if kind == "initial":
                    state = next((s for s, p in self.seq.init_pos.items() if err.pos is not None and p <= err.pos),
                                 next(iter(self.seq.inits)))
                    want = known.get(state, known.get(self.internal.get(state, ""), "?"))
                    raise ShapeError(f"the initial value {state}[0] does not fit the shape of {state}[t], "
                                     f"{tuple(want) if want != '?' else want}", self.source,
                                     self.seq.init_pos.get(state, err.pos)) from None
                raise
            if kind == "terminal" and is_matrix(prog.output):
                r, c = prog.output.shape
                raise ShapeError(f"the loss must be a scalar, but its terms outside sum_t(...) are {r}x{c}",
                                 self.source, self.seq.terminal_loss.pos)
            self._other_programs.append((kind, prog))
            for n, v in prog.variables.items():
                if n in internal or n in self.internal.values():
                    continue
                if n not in out:
                    out[n] = v
                    known[n] = _shape_spec(shape_of(v)) if is_matrix(v) else ()
        return out

    def _terminal_statements(self):
        mapping = self._mapping(at_last=True)
        statements = list(self.seq.statics)
        statements.append(P.Statement(self.seq.terminal_loss.pos, None, rename(self.seq.terminal_loss, mapping)))
        return statements, "terminal"

    def _initial_statements(self):
        statements = list(self.seq.statics)
        self.init_name = {}
        taken = self._user_names() | set(self.prev.values()) | set(self.carry.values())
        objective = None
        for s, expr in self.seq.inits.items():
            pos = self.seq.init_pos[s]
            name = fresh_name(f"{s}_initial", taken)
            self.init_name[s] = name
            statements.append(P.Statement(pos, name, expr))
            term = P.Call(pos, "sum", (P.Binary(pos, ".*", P.Name(pos, self.carry[s]), P.Name(pos, name)),))
            objective = term if objective is None else P.Binary(pos, "+", objective, term)
        statements.append(P.Statement(self.seq.init_pos[next(iter(self.seq.inits))], None, objective))
        return statements, "initial"

    def _program(self, kind: str):
        return next((p for k, p in getattr(self, "_other_programs", []) if k == kind), None)

    def _step_sum_to_one(self):
        return [n for n in self.sum_to_one if n in self.step_program.variables]

    def _terminal_derivation(self, shapes):
        prog = self._program("terminal")
        if prog is None:
            return None
        targets = [n for n in prog.variables if n in self.wrt or n in self.internal.values()]
        return self._core(prog, targets, [n for n in self.sum_to_one if n in prog.variables]) if targets else None

    def _initial_derivation(self, shapes):
        prog = self._program("initial")
        if prog is None:
            return None
        for s, name in self.init_name.items():
            state = self.step_program.intermediates.get(self.internal[s])
            value = prog.intermediates[name]
            if state is not None and shape_of(value) != shape_of(state) and not (
                    is_matrix(value) and is_matrix(state) and all(
                        a == b or a == 1 for a, b in zip(value.shape, state.shape))):
                raise ShapeError(f"{s}[0] has shape {_shape_spec(shape_of(value))} but {s}[t] has shape "
                                 f"{_shape_spec(shape_of(state))}", self.source, self.seq.init_pos[s])
        targets = [n for n in prog.variables if n in self.wrt]
        return self._core(prog, targets) if targets else None

    # ------------------------------------------------------------ results
    @property
    def gradients(self) -> dict:
        """name -> RecurrentGradient (Σ_t summand + terminal + initial)."""
        if self._gradients is None:
            plan = self.step.plan
            out = {}
            for n in self.wrt:
                g = RecurrentGradient()
                if n in self.step_program.variables and n not in self.seq.sequences:
                    g.summand = plan.total(self.step_program.variables[n])
                if self.terminal is not None and n in self.terminal.wrt:
                    g.terminal = self.terminal.gradient(n)
                if self.initial is not None and n in self.initial.wrt:
                    g.initial = self.initial.gradient(n)   # in δ_h[0], the adjoint step 1 sends back
                if n in self.seq.sequences:
                    g.summand = plan.total(self.step_program.variables[n]) if n in self.step.wrt else None
                out[n] = g
            self._gradients = out
        return self._gradients

    spellings: dict = {}   # matcalc's name -> the user's (lambda1 is λ1): see matcalc.codegen.spelling

    def gradient(self, name: str) -> RecurrentGradient:
        name = canonical_name(name)
        if name not in self.gradients:
            raise UnknownNameError(f"no gradient for {name!r}: derived with respect to {', '.join(self.wrt)}")
        return self.gradients[name]

    def jacobian(self, name):
        raise UnknownNameError("a recurrent program has gradients, not Jacobians")

    def hessian(self, name, other=None):
        raise UnknownNameError("a recurrent program has gradients, not Hessians")

    # ------------------------------------------------------------ recurrence
    def state_symbol(self, s: str):
        return self.step_program.named[self.internal[s]]

    def carry_symbol(self, s: str):
        return self.step_program.variables[self.carry[s]]

    def carry_out(self, s: str):
        """∂J_t/∂s[t-1]: the adjoint step t sends to s at step t−1 (in step t's deltas)."""
        prev = self.step_program.variables.get(self.prev[s])
        if prev is None:
            return None
        return self.step.plan.total(prev)

    def shift(self, expr):
        """The same expression one step later: v[t] -> v[t+1], s[t-1] -> s[t], δ_u[t] -> δ_u[t+1]."""
        reps = {}
        for sym in _symbols(expr):
            if isinstance(sym, _Placeholder):
                reps[sym] = placeholder(sym.role, sym.of + "@1", sym) if sym.role == "delta" else sym
            elif sym.name in self.prev.values():
                s = next(k for k, v in self.prev.items() if v == sym.name)
                reps[sym] = self.state_symbol(s)
            elif isinstance(sym, (NamedMatrix, NamedScalar)) or sym.name in self.seq.sequences:
                reps[sym] = (MatrixSymbol(sym.name + "@1", *sym.shape) if is_matrix(sym)
                             else Symbol(sym.name + "@1", real=True))
                if isinstance(sym, NamedMatrix):
                    reps[sym] = NamedMatrix(sym.name + "@1", *sym.shape)
        return expr.xreplace(reps)

    def display_names(self) -> dict:
        """internal name -> (user name, time) for printing (``h_prev`` -> (h, t-1))."""
        out = {}
        for v, iv in self.internal.items():
            out[iv] = (v, "t")
        for s, p in self.prev.items():
            out[p] = (s, "t-1")
        for x in self.seq.sequences:
            out[x] = (x, "t")
        for st in self.step.plan.stages[1:]:
            if st.auto:
                out[st.name] = (st.name, "t")
        for s, g in self.carry.items():
            out[g] = ("δ:" + s, "0")
        return out

    def printer(self, style, names: bool = True):
        p = _SequencePrinter(style, self.display_names(), self.step.step_names if names else {})
        p.f_name = self.seq.loss_name
        return p

    # ------------------------------------------------------------ steps
    @property
    def steps(self) -> list:
        if self._steps is None:
            from .bptt_steps import build
            self._steps = build(self)
        return self._steps

    def text(self, steps: bool = False) -> str:
        from .bptt_notes import text
        return text(self, steps)

    def latex(self, steps: bool = False, standalone: bool = False) -> str:
        from .bptt_notes import latex
        return latex(self, steps, standalone)

    def markdown(self, steps: bool = True) -> str:
        from .bptt_notes import markdown
        return markdown(self)

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def to_json(self, check=None, steps: bool = False) -> dict:
        from .bptt_notes import to_json
        return to_json(self, check, steps)

    # ------------------------------------------------------------ code
    def numpy_source(self, func_name: str = "gradients") -> str:
        from .bptt import bptt_source
        return bptt_source(self, func_name, scratch=True)

    def portable_source(self, func_name: str = "gradients") -> str:
        """numpy_source() with fresh buffers on every call: the text the frameworks translate."""
        from .bptt import bptt_source
        return bptt_source(self, func_name)

    def loss_source(self, func_name: str = "loss") -> str:
        from .bptt import loss_source
        return loss_source(self, func_name)

    def to_numpy(self, deltas: bool = False):
        """f(**arrays) -> {name: gradient}; sequences are (T, ...) arrays, T read at run time.

        deltas=True: also {"delta:h": (T, ...) array} for each value h of a step (∂f/∂h[t], total).
        """
        from ..codegen.numpy_code import compile_source
        if deltas:
            return respelled(compile_source(self.numpy_source_with_deltas(), "gradients"), self.spellings)
        if self._function is None:
            self._function = compile_source(self.numpy_source(), "gradients")
        return respelled(self._function, self.spellings)

    def jax_source(self) -> str:
        """The BPTT function for JAX (the loops as jax.lax.scan); see matcalc.codegen.frameworks."""
        from ..codegen.frameworks import source
        return source(self, "jax")

    def torch_source(self) -> str:
        """The BPTT function for PyTorch; see matcalc.codegen.frameworks."""
        from ..codegen.frameworks import source
        return source(self, "torch")

    def to_jax(self):
        """Like to_numpy(), taking and returning JAX arrays."""
        from ..codegen.frameworks import function
        from ..codegen.spelling import register_with_jax
        fn = function(self, "jax")
        if self.spellings:
            register_with_jax()
        return respelled(fn, self.spellings)

    def to_torch(self):
        """Like to_numpy(), taking and returning torch tensors."""
        from ..codegen.frameworks import function
        return respelled(function(self, "torch"), self.spellings)

    def numpy_source_with_deltas(self) -> str:
        from .bptt import bptt_source
        return bptt_source(self, "gradients", deltas=True)

    def check(self, seed: int = 0, points: int = 2):
        from .bptt import check
        return check(self, seed, points)

    def verify_steps(self, seed: int = 0) -> float:
        """The step program's own steps, checked numerically (the per-step derivation)."""
        return self.step.verify_steps(seed)

    def __repr__(self) -> str:
        return self.text()


def _symbols(expr):
    from ..differentiate.engine import topological
    out = []
    for node in topological(expr):
        if isinstance(node, (MatrixSymbol, Symbol)) and not (isinstance(node, Symbol) and node.is_integer):
            out.append(node)
    return out


def _latex_indexed(name: str, at: str) -> str:
    base = printing.latex_name(name)
    if base.endswith("}") and "_{" in base and not base.startswith(r"\mathrm{"):
        return base[:-1] + "," + at + "}"
    if base.startswith(r"\mathrm{") and "_{" in base:
        return base[:-1] + "," + at + "}"
    return base + "_{" + at + "}"


class _SequencePrinter(printing.Printer):
    """Prints the step program's internal names as the user's indexed values (h[t-1], δ_u[t+1])."""

    def __init__(self, style, display: dict, names: dict | None = None):
        super().__init__(style, names)
        self.display = display

    def symbol(self, name: str) -> str:
        base, _, when = name.partition("@")
        shown = self.display.get(base)
        if shown is None:
            return super().symbol(name)
        user, default = shown
        when = when or default
        delta = user.startswith("δ:")
        user = user[2:] if delta else user
        if self.style is printing.LATEX:
            text = _latex_indexed(user, when)
            return r"\delta_{" + text + "}" if delta else text
        if self.style is printing.LANGUAGE:
            return ("delta_" if delta else "") + f"{user}[{when}]"
        return ("δ_" if delta else "") + f"{user}[{when}]"
