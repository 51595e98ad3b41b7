"""``derive``: program text -> Derivation (results, steps, printers, NumPy code, check)."""
from __future__ import annotations

import re

from .differentiate import engine
from .present import notes
from .ir import ops
from .lang import printing
from .lang.build import Program, parse
from .codegen.numpy_code import NumpyCodegen, RESERVED, compile_source
from .errors import MatcalcError, ShapeError, UnknownNameError, UnsupportedError
from .ir.nodes import is_matrix, shape_of
from .differentiate.memory import DEFAULT_MEMORY_LIMIT, guard
from .verify.numeric import CheckResult, finite_difference_check, hessian_check
from .ir.ops import shaped
from .differentiate.simplify import textbook
from .codegen.structured import StructuredCodegen
from .codegen.spelling import respelled, user_spellings
from .lang.parser import canonical_name as _canonical


class Derivation:
    """The derivative of a program with respect to some of its variables."""

    def __init__(self, program: Program, wrt: list[str], sum_to_one=(), layout: str | None = None,
                 method: str = "backprop", order: int = 1, convention: str = "sym", diagonal_vector: bool = False):
        self.program = program
        self.convention = convention              # of gradients w.r.t. declared symmetric matrices
        self.diagonal_vector = diagonal_vector    # a diagonal variable's gradient as a vector
        self.order = order
        self.method = method
        self._steps = None
        self._plan = None
        self._deltas = None
        self.wrt = list(wrt)
        self.sum_to_one = tuple(sum_to_one)
        self.layout = layout
        self._function = None
        if layout is not None:
            self._init_jacobians()
            return
        targets = [program.variables[n] for n in self.wrt]
        adjoints, raw_steps = engine.backward(program.output, targets)
        memo: dict = {}
        keep = frozenset(self._names_without_output())   # the user's named values stay whole
        self._cancelled: list = []   # islands that scalar algebra rewrote (see numpy_source)
        self._results = {n: shaped(textbook(engine.gradient(adjoints, program.variables[n]), self.sum_to_one, memo,
                                            keep, self._cancelled), program.variables[n])
                         for n in self.wrt}
        structure = getattr(program, "structure", {})
        if structure:
            from .verify.structure import project, use_symmetry
            from .differentiate.engine import topological
            written = frozenset(topological(program.output))
            for n in self.wrt:
                if n in structure:
                    self._results[n] = project(program, n, structure[n], self._results[n], convention,
                                               diagonal_vector)
                else:   # Sᵀ = S in the other gradients too
                    self._results[n] = use_symmetry(self._results[n], set(structure), written)
        self.records = raw_steps   # the engine's rule applications, node by node
        self._function = None
        self._first = self._results
        if order == 2:
            self._results = hessian_blocks(program, self.wrt, self._first, self.sum_to_one, memo)
        _refuse_infinite(self._results)


    def _init_jacobians(self):
        from .differentiate.jacobian import jacobian
        memo: dict = {}
        self._results = {}
        for n in self.wrt:
            J = textbook(jacobian(self.program.output, self.program.variables[n]), self.sum_to_one, memo)
            self._results[n] = J if self.layout == "numerator" else textbook(ops.transpose(J), self.sum_to_one, memo)
        self.records = []
        _refuse_infinite(self._results)

    # ------------------------------------------------------------ results
    spellings: dict = {}   # matcalc's name -> the user's (lambda1 is λ1): see matcalc.codegen.spelling

    def jacobian(self, name: str):
        """∂vec(f)/∂vec(name) in the requested layout (numerator: entries of f × entries of name)."""
        if self.layout is None:
            raise UnknownNameError("this derivation is a gradient: derive with layout=... for a Jacobian")
        return self.gradient(name)

    def hessian(self, name: str, other: str | None = None):
        """∂²f/∂vec(name)∂vec(other)ᵀ (other defaults to name), column-major vec; derive with order=2."""
        if self.order != 2:
            raise UnknownNameError("this derivation is first order: derive with order=2 for a Hessian")
        name, other = _canonical(name), other and _canonical(other)
        key = name if other is None or other == name else f"{name},{other}"
        if key not in self._results:
            raise UnknownNameError(f"no Hessian block for {key!r}: derived with respect to {', '.join(self.wrt)}")
        return self._results[key]

    def gradient(self, name: str):
        """∂f/∂name as a SymPy expression in closed matrix form, with name's shape."""
        name = _canonical(name)
        if self.order == 2 and name in self._first:
            return self._first[name]
        if name not in self._results:  # also serves jacobian()
            raise UnknownNameError(f"no gradient for {name!r}: derived with respect to {', '.join(self.wrt)}")
        return self._results[name]

    @property
    def gradients(self) -> dict:
        return dict(self._results)

    @property
    def names(self) -> dict:
        """Subexpression -> the user's name for it (for display)."""
        names: dict = {}
        for k, v in self.program.intermediates.items():   # the first name of a value wins (H, not G = H)
            if not isinstance(v, engine._LEAVES) and (is_matrix(v) or not v.is_Atom):   # A = X keeps X
                names.setdefault(v, k)
        return names

    def rules_used(self) -> list[str]:
        """Catalogue ids of every rule the derivation applied (engine and steps)."""
        used = {r.rule for r in self.records}
        used |= {f"fn:{r.node.name}" for r in self.records if r.rule == "entrywise"}
        for s in self.steps:
            used.update(s.rules or (s.rule,))
        return sorted(used)

    @property
    def deltas(self) -> dict:
        """∂f/∂N of each named intermediate N (through every use of N), in closed form."""
        if self.layout is not None:
            return {}
        if self._deltas is None:
            self._deltas = self.plan.closed_deltas()
        return self._deltas

    # ------------------------------------------------------------ steps
    @property
    def plan(self):
        from .present.steps import Plan
        if self._plan is None:
            preferred = self._stage_names_from_results()
            self._plan = Plan(self.program, self.wrt, self.sum_to_one, preferred)
            self._plan_renamed = bool(preferred)
        return self._plan

    @property
    def code_plan(self):
        """The plan the generated code follows, with matcalc's own stage names: the results' names
        are for display, and choosing them prints every candidate (seconds on a long chain)."""
        if self._plan is not None and not getattr(self, "_plan_renamed", False):
            return self._plan
        if getattr(self, "_code_plan", None) is None:
            from .present.steps import Plan
            self._code_plan = Plan(self.program, self.wrt, self.sum_to_one)
        return self._code_plan

    stages_named_as_results = True   # False for a recurrent program's step (its results print no where block)

    def _stage_names_from_results(self) -> dict:
        """A stage of matcalc's that the results name (p = σ(Xw + b)) has that name in the steps too."""
        if self.expand or not self.stages_named_as_results or self.layout is not None:
            return {}
        return dict(self.chosen_names)

    @property
    def steps(self) -> list:
        """The derivation as data: a list of ``steps.Step`` in ``self.method``."""
        if self._steps is None:
            from .present.steps import build_steps, hessian_steps, jacobian_steps
            if self.layout is not None:
                self._steps = jacobian_steps(self)
            else:
                self._steps = build_steps(self.plan, self.method)
                if self.order == 2:
                    self._steps = self._steps + hessian_steps(self)
        return self._steps

    @property
    def step_names(self) -> dict:
        """node -> name for printing steps: the user's intermediates, matcalc's stages and the
        results' names of values the steps print (p2 = σ(u1))."""
        if self.layout is not None:
            return self._names_without_output()
        return {**self._result_names_in_steps(), **self._names_without_output(), **self.plan.names}

    @property
    def definitions(self) -> list:
        """(name, value, named by matcalc) of the stages the steps use and of the results' names
        they print, inputs first (a value after the names its definition uses)."""
        if self.layout is not None:
            return []
        defs = list(self.plan.definitions())
        extra = self._result_names_in_steps()
        names = {**self._names_without_output(), **self.plan.names, **extra}
        for node, name in sorted(extra.items(), key=lambda kv: len(engine.topological(kv[0]))):
            text = printing.Printer(printing.LANGUAGE, {k: v for k, v in names.items() if k != node})(node)
            used = set(re.findall(r"[A-Za-z_]\w*", text))
            at = max((i + 1 for i, (n, _, _) in enumerate(defs) if n in used), default=0)
            defs.insert(at, (name, node, True))
        return defs

    def _result_names_in_steps(self) -> dict:
        """The names the results give (p = σ(·)) to values the steps print, other than stages."""
        if self.layout is not None or self.expand or not self.stages_named_as_results:
            return {}
        if getattr(self, "_names_in_steps", None) is None:
            from .present.naming import _is_value
            stage_names = set(self.plan.names.values())
            chosen = {k: v for k, v in self._stage_names_from_results().items()   # values, not deltas:
                      if k not in self.plan.names and v not in stage_names and _is_value(k)}   # δ_N name those
            present: set = set()
            if chosen:
                exprs = [e for s in self.steps for e in (s.lhs, s.rhs) if e is not None]
                exprs += [value for _, value, _ in self.plan.definitions()]
                seen: set = set()
                for e in exprs:
                    present.update(n for n in engine.topological(e, seen=seen) if n in chosen)
            self._names_in_steps = {k: v for k, v in chosen.items() if k in present}
        return self._names_in_steps

    def verify_steps(self, seed: int = 0) -> float:
        """Largest relative error of the steps' equations at random points (≈1e-10 when valid)."""
        if self.layout is not None:
            return self.check(seed).max_rel_error
        from .verify.stepcheck import verify
        return verify(self.plan, self.steps, seed)

    # ------------------------------------------------------------ printing
    def result_text(self, key: str, style=printing.UNICODE, use_names=True, chosen=False) -> str:
        """A result (gradient, Jacobian or Hessian block 'x' / 'x,y') printed in ``style``, with
        the user's names (``use_names``) and those matcalc chose (``chosen``, unless ``expand``)."""
        names = (self.display_names if chosen else self.names) if use_names else None
        with printing.variables_named(self.program.variables):
            return printing.readable(self._results[key], names, style)

    expand = False   # True: results printed fully inlined (no names matcalc chose)

    @property
    def chosen_names(self) -> dict:
        """Subexpression -> name matcalc chose for the results' repeated subexpressions."""
        if getattr(self, "_chosen", None) is None:
            from .present.naming import choose_names
            taken = set(self.program.variables) | set(self.program.intermediates) | set(self.wrt)
            self._chosen = choose_names(list(self._results.values()), self._names_without_output(), taken)
        return self._chosen

    @property
    def display_names(self) -> dict:
        """Names the printed results use: the user's intermediates, and matcalc's unless ``expand``."""
        user = self._names_without_output()
        return user if self.expand else {**user, **self.chosen_names}

    def named(self, key: str, style=printing.LANGUAGE) -> dict:
        """{"where": [[name, definition], ...], "result": text} of a result written with names."""
        from .present.naming import where_block
        names = {**self._names_without_output(), **self.chosen_names}
        where = where_block([self._results[key]], names, style)
        return {"where": [list(w) for w in where], "result": printing.Printer(style, names)(self._results[key])}

    def result_label(self, key: str, style=printing.UNICODE) -> str:
        """∂f/∂W, or ∂²f/∂x∂yᵀ for a Hessian block."""
        a, _, b = key.partition(",")
        if self.order == 2:
            b = b or a
            if style is printing.LATEX:
                return (r"\frac{\partial^2 f}{\partial " + printing.latex_name(a) + r"\,\partial "
                        + printing.latex_name(b) + "^{T}}")
            return f"∂²f/∂{a}∂{b}ᵀ"
        if style is printing.LATEX:
            return r"\frac{\partial f}{\partial " + printing.latex_name(a) + "}"
        return f"∂f/∂{a}"

    def text(self, steps: bool = False) -> str:
        with printing.variables_named(self.program.variables):   # X w, not Xw, where Xw is a variable
            return self._text(steps)

    def _text(self, steps: bool) -> str:
        lines = [f"f = {printing.to_unicode(self.program.opaque_output)}"]
        defs = self._definitions(printing.UNICODE)
        if defs:
            lines.append("where " + "; ".join(defs))
        if steps:
            lines.append("")
            lines.extend(notes.steps_text(self))
            lines.append("")
            lines.append("results:")
        names = self._names_without_output()
        if not self.expand and self.chosen_names:
            from .present.naming import where_block
            shown = {**names, **self.chosen_names}
            chosen = [w for w in where_block(list(self._results.values()), shown, printing.UNICODE)
                      if w[0] in self.chosen_names.values()]
            lines.append("where " + "; ".join(f"{n} = {t}" for n, t in chosen))
            names = shown
        for name, delta in self.deltas.items():
            if self.program.intermediates[name] is not self.program.output:
                lines.append(f"∂f/∂{name} = {printing.to_unicode(delta, names)}   (delta)")
        from .lang.shapes import surprising_kinds
        surprises = surprising_kinds(self.program)
        for name, kind in surprises.items():
            if name not in self._results:
                lines.append(f"note: {name} is a {kind} (matrixcalculus.org's default kind for its first letter); "
                             f"declare --scalar {name} (shapes {{'{name}': ()}}) for a scalar")
        structure = getattr(self.program, "structure", {})
        lines.extend(self._structure_lines())
        for key, value in self._results.items():
            what = f"{self.layout} layout" if self.layout else ""
            shape = _shape_text(value) if self.layout or self.order == 2 or key in structure \
                else _shape_text(self.program.variables[key])
            result = printing.readable(value, names)
            if key in surprises and not self.layout and self.order == 1:
                shape += (f"  note: {key} is a {surprises[key]} by the default kind of its first letter; "
                          f"--scalar {key} for a scalar")
            lines.append(f"{self.result_label(key)} = {result}   {shape}{'  ' + what if what else ''}")
        return "\n".join(lines)

    def _names_without_output(self) -> dict:
        names = self.names
        names.pop(self.program.output, None)
        return names

    def _definitions(self, style) -> list[str]:
        """The user's named intermediates as written (each in terms of the names before it)."""
        out = []
        for name, value in self.program.definitions.items():
            if name == self.program.output_name:
                continue
            rhs = printing.Printer(style)(value)
            name_text = printing.latex_name(name) if style is printing.LATEX else name
            out.append(f"{name_text} = {rhs}")
        return out

    def latex(self, steps: bool = False, standalone: bool = False) -> str:
        """LaTeX of the results (an aligned block); with ``steps`` the derivation's blocks
        first; ``standalone``: a complete document for pdflatex."""
        with printing.variables_named(self.program.variables):
            out = self._latex(steps, standalone)
        conventions = self._structure_lines()
        if conventions and not standalone:   # which space a structured gradient is in, as a comment
            out = "\n".join("% " + line for line in conventions) + "\n" + out
        return out

    def _structure_lines(self) -> list[str]:
        from .verify.structure import describe
        return [describe(n, k, self.convention, self.diagonal_vector) if n in self._results else
                f"{n} {k}: held fixed; the results use {n}ᵀ = {n} (valid for {k} {n} only)"
                for n, k in getattr(self.program, "structure", {}).items()]

    def _latex(self, steps: bool, standalone: bool) -> str:
        if standalone:
            return notes.latex_document(self, steps=True)
        if steps:
            blocks = [b for _, b in notes.steps_latex_blocks(self)] + [self.latex()]
            return "\n".join(f"\\[\n{b}\n\\]" for b in blocks)
        rows = [self.result_label(key, printing.LATEX) + " &= " + self.result_text(key, printing.LATEX, chosen=True)
                for key in self._results]
        defs = self._definitions(printing.LATEX)
        rows.extend(d.replace(" = ", " &= ", 1) for d in defs)
        if not self.expand and self.chosen_names:
            from .present.naming import where_block
            shown = {**self._names_without_output(), **self.chosen_names}
            rows.extend(f"{printing.latex_name(n)} &= {t}"
                        for n, t in where_block(list(self._results.values()), shown, printing.LATEX)
                        if n in self.chosen_names.values())
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def markdown(self, steps: bool = True) -> str:
        """A note: problem, derivation (unless ``steps`` is False) and results, math in $$ blocks."""
        with printing.variables_named(self.program.variables):
            note = notes.markdown_note(self, steps=steps)
        conventions = self._structure_lines()
        return note + ("\n\n" + "\n\n".join(conventions) + "\n" if conventions else "")

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def to_json(self, check: CheckResult | None = None, steps: bool = False) -> dict:
        with printing.variables_named(self.program.variables):
            return self._to_json(check, steps)

    def _to_json(self, check, steps) -> dict:
        def entry(key):
            shaped = self._results[key] if self.layout or self.order == 2 or self.diagonal_vector \
                else self.program.variables[key]
            return {"shape": [_jsonable(d) for d in shape_of(shaped)],
                    "result": self.result_text(key, printing.LANGUAGE, use_names=False),
                    "latex": self.result_text(key, printing.LATEX, use_names=False),
                    "named": self.named(key)}
        def key(k):   # as the user spelled it (lambda for matcalc's λ)
            return ",".join(self.spellings.get(part, part) for part in k.split(","))
        out = {"function": self.program.source, "wrt": {key(n): entry(n) for n in self.wrt}}
        structure = getattr(self.program, "structure", {})
        if structure:   # which space each structured gradient is in
            out["structure"] = {n: {"kind": k, "convention": "diagonal-vector" if k == "diagonal" and
                                    self.diagonal_vector else "diagonal" if k == "diagonal" else self.convention}
                                for n, k in structure.items()}
        mixed = [k for k in self._results if "," in k]
        if mixed:
            out["hessian_blocks"] = {key(k): entry(k) for k in mixed}   # ∂²f/∂a∂bᵀ
        if steps:
            out["method"] = self.method
            out["names"] = {name: printing.to_unicode(value, {k: v for k, v in self.step_names.items()
                                                                if k != value})
                            for name, value, _ in self.definitions}
            out["steps"] = notes.steps_json(self)
        if check is not None:
            out["check"] = check.to_dict()
        return out

    # ------------------------------------------------------------ NumPy
    def numpy_source(self, func_name: str = "gradients") -> str:
        """Standalone Python source (needs only NumPy) of the gradient function.

        Gradients are written delta by delta, as the backprop steps read (constants applied
        once); Jacobians and Hessians from their closed forms.
        """
        # where scalar algebra cancelled a chain-rule product (BCE's 1/σ against σ(1 − σ), an exp
        # ratio), the deltas would evaluate the uncancelled form, which over/underflows at large
        # arguments (−0.0 for a gradient of −1): the simplified closed forms are written instead
        if self.layout is None and self.order == 1 and self.wrt and not getattr(self.program, "structure", {}) \
                and not getattr(self, "_cancelled", None):
            from .codegen.backprop_code import backprop_source
            try:
                return backprop_source(self, func_name)
            except MatcalcError:
                raise
            except Exception:  # noqa: BLE001 - the closed forms always give the same values
                pass
        return StructuredCodegen(self.program.variables, self._results, func_name).source()

    def hvp_source(self, func_name: str = "hvp") -> str:
        """Source of hvp(**arrays, v_<name>=direction...) -> {name: (H v) in name's shape}, without H."""
        if self.order != 2:
            raise UnknownNameError("a Hessian-vector product needs derive(..., order=2)")
        from .rules.jvp import col
        taken = set(self.program.variables)
        directions = {}
        for n in self.wrt:
            v = "v_" + n
            while v in taken:
                v += "_"
            taken.add(v)
            directions[n] = self.program.variables[n].func(v, *self.program.variables[n].args[1:]) \
                if is_matrix(self.program.variables[n]) else type(self.program.variables[n])(v, real=True)
        outputs = {}
        for a in self.wrt:
            terms = [ops.matmul(self.hessian(a, b), col(directions[b])) for b in self.wrt]
            total = ops.add(*terms)
            like = self.program.variables[a]
            outputs[a] = (ops.transpose(total) if is_matrix(like) and like.shape[0] == 1 and like.shape[1] != 1
                          else total if is_matrix(like) else ops.as_scalar(total))
        variables = {**self.program.variables, **{d.name: d for d in directions.values()}}
        generator = StructuredCodegen(variables, outputs, func_name)
        generator.matrix_results = {a: self.program.variables[a].shape for a in self.wrt   # H v in a's shape
                                    if is_matrix(self.program.variables[a]) and 1 not in self.program.variables[a].shape}
        return generator.source()

    memory_limit = DEFAULT_MEMORY_LIMIT   # bytes of one array (None: no limit); see matcalc.differentiate.memory

    def result_labels(self) -> dict:
        """Result key -> what it is, for messages: the gradient ∂f/∂X, the Hessian block ∂²f/∂X∂Aᵀ …"""
        if self.order == 2:
            return {k: f"the Hessian block ∂²f/∂{k.partition(',')[0]}∂{k.partition(',')[2] or k}ᵀ"
                    for k in self._results}
        kind = "the gradient" if self.layout is None else f"the Jacobian ({self.layout} layout)"
        return {k: f"{kind} ∂f/∂{k}" for k in self._results}

    def to_numpy(self, hvp: bool = False):
        """f(**arrays) -> {name: ndarray with the variable's shape}, all results in one pass.

        hvp=True (order 2): hvp(**arrays, v_x=...) -> {"x": H v in x's shape (column-major unvec
        for a matrix x)}, never forming H.
        Refused (LimitError) when declared sizes make an array over ``memory_limit`` bytes.
        """
        if not hvp:
            guard(self._results, {}, self.memory_limit, self.result_labels())
        if hvp:
            return respelled(compile_source(self.hvp_source(), "hvp"), self.spellings)
        if self._function is None:
            self._function = compile_source(self.numpy_source(), "gradients")
        return respelled(self._function, self.spellings)

    # ------------------------------------------------------------ JAX / PyTorch
    def jax_source(self, hvp: bool = False) -> str:
        """The NumPy function's module for JAX (jit-able, vmap-able); see matcalc.codegen.frameworks."""
        from .codegen.frameworks import source
        return source(self, "jax", hvp)

    def torch_source(self, hvp: bool = False) -> str:
        """The NumPy function's module for PyTorch (torch.compile-able); see matcalc.codegen.frameworks."""
        from .codegen.frameworks import source
        return source(self, "torch", hvp)

    def to_jax(self, hvp: bool = False):
        """Like to_numpy(), taking and returning JAX arrays (float64 needs jax_enable_x64)."""
        from .codegen.frameworks import function
        from .codegen.spelling import register_with_jax
        fn = function(self, "jax", hvp)
        if self.spellings:
            register_with_jax()
        return respelled(fn, self.spellings)

    def to_torch(self, hvp: bool = False):
        """Like to_numpy(), taking and returning torch tensors of the arguments' dtype."""
        from .codegen.frameworks import function
        return respelled(function(self, "torch", hvp), self.spellings)

    def check(self, seed: int = 0, points: int = 2) -> CheckResult:
        """Compare the generated NumPy results with central finite differences."""
        if getattr(self.program, "structure", {}) and self.order == 1 and self.layout is None:
            from .verify.structure import check
            return check(self, seed, points)
        limit, labels = self.memory_limit, self.result_labels()
        if self.order == 2:
            return hessian_check(self.program, self._first, self._results, self.to_numpy(),
                                 self.sum_to_one, seed, points, memory_limit=limit, labels=labels)
        return finite_difference_check(self.program, self._results, self.to_numpy(),
                                       self.sum_to_one, seed, points, layout=self.layout,
                                       memory_limit=limit, labels=labels)

    def __repr__(self) -> str:
        return self.text()


def _refuse_size_clash(shapes, program) -> None:
    """A declared size that is also a value of the program (mean(x)*n with --dim x=n,1) would print
    as one name for two things (n𝟏/n): refused by the CLI and ``check`` (the note checker binds a
    note's N to its batch size on purpose)."""
    if program is None:   # a recurrent program
        return
    sizes = {d for shape in (shapes or {}).values() for d in (shape or ()) if isinstance(d, str) and d.isidentifier()}
    both = sorted(sizes & (set(program.variables) | set(program.intermediates)))
    if both:
        raise ShapeError(f"{both[0]!r} names both a value of the program and a size in a declared shape: "
                         "give the size another name")


def _refuse_infinite(results: dict) -> None:
    """A derivative with 1/0 in it (0^(−b) differentiated: log 0) has no finite value: a user error."""
    from sympy import S
    from .differentiate.engine import topological
    bad, seen = {S.ComplexInfinity, S.NaN, S.Infinity, S.NegativeInfinity}, set()
    for key, value in results.items():     # one walk over the shared DAG (a tree walk is quadratic in depth)
        if any(node in bad for node in topological(value, seen=seen)):
            raise UnsupportedError(f"the derivative for {key} divides by zero (a power or log of zero in the "
                                   "function): it has no finite value")


def hessian_blocks(program, wrt, gradients, sum_to_one=(), memo=None) -> dict:
    """Hessian blocks ∂vec(∇_a f)/∂vec(b) in closed form: 'a' for a = b, 'a,b' for a mixed block.

    Each block is the forward Jacobian of the closed-form gradient; for a matrix
    variable it is the vec form (column-major), with Kronecker products.
    """
    from .differentiate.jacobian import jacobian
    out = {}
    for a in wrt:
        for b in wrt:
            H = jacobian(gradients[a], program.variables[b])
            out[a if a == b else f"{a},{b}"] = textbook(H, sum_to_one, memo)
    return out


def _jsonable(d):
    try:
        return int(d)
    except TypeError:
        return str(d)


def _shape_text(v) -> str:
    s = shape_of(v)
    return "(scalar)" if s == () else f"({_size_text(s[0])}×{_size_text(s[1])})"


def _size_text(d) -> str:
    """A size as printed: n**2 (the vec of an n×n matrix) as n²."""
    sup = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
    return re.sub(r"\*\*(\d+)", lambda m: m.group(1).translate(sup), str(d))


def _as_list(wrt) -> list[str] | None:
    if wrt is None:
        return None
    if isinstance(wrt, str):
        return [w for w in wrt.replace(",", " ").split() if w]
    return list(wrt)


def derive(expr: str, wrt=None, shapes: dict | None = None, layout: str | None = None,
           order: int = 1, sum_to_one=(), method: str = "backprop", timeout: float | None = None,
           structure: dict | None = None, convention: str = "sym", diagonal_vector: bool = False,
           memory_limit=DEFAULT_MEMORY_LIMIT, expand: bool = False) -> Derivation:
    """Differentiate ``expr`` (a program in the contract language).

    wrt: variable names (default: every variable); shapes: name -> () / (rows, cols)
    with ints or size names; sum_to_one: variables whose rows (entries, for a
    vector) sum to one, e.g. one-hot labels — softmax cross-entropy then gives
    S − Y.  layout selects a Jacobian (numerator or denominator layout);
    method (backprop | trace | jacobian) is how ``steps`` present the derivation.
    timeout: seconds after which a ``LimitError`` stops the derivation (main thread only).
    structure: name -> "symmetric" | "spd" | "diagonal" (see matcalc.verify.structure); convention:
    "sym" ((G + Gᵀ)/2, default) or "cookbook" (G + Gᵀ − diag(diag(G))) for symmetric ones;
    diagonal_vector: a diagonal variable's gradient as the vector of its diagonal.
    memory_limit: bytes of the largest array that ``to_numpy()`` results or ``check()`` may build
    (default 4 GiB; None: no limit); a request over it is refused with a ``LimitError``.
    expand: print results fully inlined, without the names matcalc chooses for repeated parts.
    """
    if expand:
        d = derive(expr, wrt, shapes, layout, order, sum_to_one, method, timeout, structure, convention,
                   diagonal_vector, memory_limit)
        d.expand = True
        return d
    if timeout:
        from .limits import time_limit
        with time_limit(timeout):
            return derive(expr, wrt, shapes, layout, order, sum_to_one, method, None, structure, convention,
                          diagonal_vector, memory_limit)
    d = _derive(expr, wrt, shapes, layout, order, sum_to_one, method, structure, convention, diagonal_vector)
    d.memory_limit = memory_limit
    d.spellings = user_spellings([expr, *(shapes or ()), *(_as_list(wrt) or ())])
    return d


def _derive(expr, wrt, shapes, layout, order, sum_to_one, method, structure=None, convention="sym",
            diagonal_vector=False):
    from .lang import parser as P
    from .lang.sequence import is_recurrent
    from .verify.structure import normalize, validate
    structure = normalize(structure, convention)
    try:
        statements = P.parse_program(expr, known=shapes or ())
        if is_recurrent(statements):
            if structure:
                raise UnsupportedError("declared structure is not supported in recurrent programs")
            return _derive_recurrent(expr, statements, wrt, shapes, layout, order, sum_to_one, method)
        program = parse(expr, shapes, statements=statements, square=tuple(structure))
    except RecursionError:
        raise MatcalcError("expression too deeply nested") from None
    structure = {n: k for n, k in structure.items()   # a 1×1 matrix is symmetric and diagonal: G itself
                 if tuple(getattr(program.variables.get(n), "shape", ())) != (1, 1)}
    program.structure = structure
    for name in program.variables:
        if name in RESERVED or name.startswith("_"):
            raise UnknownNameError(f"{name!r} cannot be used as a variable name (reserved)")
    names = list(dict.fromkeys(P.canonical_name(n) for n in (_as_list(wrt) or program.variables)))
    validate(structure, program, order, layout, names)
    for n in names:
        if n not in program.variables:
            hint = " (it is an intermediate; its adjoint is in .deltas)" if n in program.intermediates else ""
            raise UnknownNameError(f"unknown variable {n!r} in wrt{hint}; the variables are "
                                   f"{', '.join(program.variables)}")
    for n in sum_to_one or ():
        if n not in program.variables or not is_matrix(program.variables[n]):
            raise UnknownNameError(f"sum_to_one names {n!r}, which is not a vector or matrix variable")
    if order not in (1, 2):
        raise UnsupportedError(f"order {order} is not supported (1 or 2)")
    if order == 2 and layout is not None:
        raise MatcalcError("a Hessian (order 2) has no layout option: it is ∂²f/∂vec(x)∂vec(x)ᵀ")
    if layout not in (None, "numerator", "denominator"):
        raise MatcalcError(f"layout must be 'numerator' or 'denominator', not {layout!r}")
    if is_matrix(program.output) and layout is None:
        r, c = program.output.shape
        from .lang.shapes import surprising_kinds
        hint = "".join(f"; note: {n} is a {k} by the default kind of its first letter (--scalar {n} for a scalar)"
                       for n, k in surprising_kinds(program).items())
        raise ShapeError(f"the function is a {r}x{c} matrix, not a scalar: a gradient needs a scalar "
                         f"function (use sum(), norm2() ..., or ask for a Jacobian with a layout){hint}")
    from .present.steps import METHODS
    if method not in METHODS:
        raise MatcalcError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if layout is not None:
        method = "jacobian"   # a Jacobian derivation is presented as one
    return Derivation(program, names, sum_to_one, layout, method, order, convention, diagonal_vector)


def _derive_recurrent(expr, statements, wrt, shapes, layout, order, sum_to_one, method):
    """A program with sequences (x[t], h[t] = ...h[t-1]..., sum_t): backpropagation through time."""
    from .recurrent.recurrence import RecurrentDerivation
    from .lang.sequence import analyse
    if layout is not None or order != 1:
        raise UnsupportedError("a recurrent program has gradients only (no --layout or --order 2)")
    seq = analyse(expr, statements)
    shapes = {_canonical(k): v for k, v in shapes.items()} if shapes else shapes
    wrt = [_canonical(n) for n in _as_list(wrt) or ()]
    d = RecurrentDerivation(seq, shapes, wrt, sum_to_one or (), method, core=Derivation)
    for name in d.variables:
        if name in RESERVED or name.startswith("_"):
            raise UnknownNameError(f"{name!r} cannot be used as a variable name (reserved)")
    return d


