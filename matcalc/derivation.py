"""``derive``: program text -> Derivation (results, steps, printers, NumPy code, check)."""
from __future__ import annotations


from . import engine, notes, ops, printing
from .build import Program, parse
from .codegen import NumpyCodegen, RESERVED, compile_source
from .errors import MatcalcError, ShapeError, UnknownNameError, UnsupportedError
from .ir import is_matrix, shape_of
from .numeric import CheckResult, finite_difference_check
from .simplify import textbook


class Derivation:
    """The derivative of a program with respect to some of its variables."""

    def __init__(self, program: Program, wrt: list[str], sum_to_one=(), layout: str | None = None,
                 method: str = "backprop"):
        self.program = program
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
        self._gradients = {n: textbook(engine.gradient(adjoints, program.variables[n]), self.sum_to_one, memo)
                           for n in self.wrt}
        self.records = raw_steps   # the engine's rule applications, node by node
        self._function = None

    def _init_jacobians(self):
        from .jacobian import jacobian
        memo: dict = {}
        self._gradients = {}
        for n in self.wrt:
            J = textbook(jacobian(self.program.output, self.program.variables[n]), self.sum_to_one, memo)
            self._gradients[n] = J if self.layout == "numerator" else ops.transpose(J)
        self.records = []

    # ------------------------------------------------------------ results
    def jacobian(self, name: str):
        """∂vec(f)/∂vec(name) in the requested layout (numerator: entries of f × entries of name)."""
        if self.layout is None:
            raise UnknownNameError("this derivation is a gradient: derive with layout=... for a Jacobian")
        return self.gradient(name)

    def gradient(self, name: str):
        """∂f/∂name as a SymPy expression in closed matrix form, with name's shape."""
        if name not in self._gradients:  # also serves jacobian()
            raise UnknownNameError(f"no gradient for {name!r}: derived with respect to {', '.join(self.wrt)}")
        return self._gradients[name]

    @property
    def gradients(self) -> dict:
        return dict(self._gradients)

    @property
    def names(self) -> dict:
        """Subexpression -> the user's name for it (for display)."""
        return {v: k for k, v in self.program.intermediates.items() if not isinstance(v, engine._LEAVES)
                and (is_matrix(v) or not v.is_Atom)}   # an alias A = X does not rename X

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
        from .steps import Plan
        if self._plan is None:
            self._plan = Plan(self.program, self.wrt, self.sum_to_one)
        return self._plan

    @property
    def steps(self) -> list:
        """The derivation as data: a list of ``steps.Step`` in ``self.method``."""
        if self._steps is None:
            from .steps import build_steps, jacobian_steps
            if self.layout is not None:
                self._steps = jacobian_steps(self)
            else:
                self._steps = build_steps(self.plan, self.method)
        return self._steps

    @property
    def step_names(self) -> dict:
        """node -> name for printing steps: the user's intermediates and matcalc's stages."""
        if self.layout is not None:
            return self._names_without_output()
        return {**self._names_without_output(), **self.plan.names}

    @property
    def definitions(self) -> list:
        """(name, value, named by matcalc) of the stages the steps use, inputs first."""
        return [] if self.layout is not None else self.plan.definitions()

    def verify_steps(self, seed: int = 0) -> float:
        """Largest relative error of the steps' equations at random points (≈1e-10 when valid)."""
        if self.layout is not None:
            return self.check(seed).max_rel_error
        from .stepcheck import verify
        return verify(self.plan, self.steps, seed)

    # ------------------------------------------------------------ printing
    def result_text(self, name: str, style=printing.UNICODE, use_names=True) -> str:
        return printing.Printer(style, self.names if use_names else None)(self.gradient(name))

    def text(self, steps: bool = False) -> str:
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
        for name, delta in self.deltas.items():
            if self.program.intermediates[name] is not self.program.output:
                lines.append(f"∂f/∂{name} = {printing.to_unicode(delta, names)}   (delta)")
        for n in self.wrt:
            what = f"{self.layout} layout" if self.layout else ""
            shape = _shape_text(self._gradients[n]) if self.layout else _shape_text(self.program.variables[n])
            result = printing.Printer(printing.UNICODE, names)(self.gradient(n))
            lines.append(f"∂f/∂{n} = {result}   {shape}{'  ' + what if what else ''}")
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
        if standalone:
            return notes.latex_document(self, steps=True)
        if steps:
            blocks = [b for _, b in notes.steps_latex_blocks(self)] + [self.latex()]
            return "\n".join(f"\\[\n{b}\n\\]" for b in blocks)
        rows = []
        for n in self.wrt:
            lhs = r"\frac{\partial f}{\partial " + printing.latex_name(n) + "}"
            rows.append(lhs + " &= " + self.result_text(n, printing.LATEX))
        defs = self._definitions(printing.LATEX)
        rows.extend(d.replace(" = ", " &= ", 1) for d in defs)
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def markdown(self, steps: bool = True) -> str:
        """A note: problem, derivation (unless ``steps`` is False) and results, math in $$ blocks."""
        return notes.markdown_note(self, steps=steps)

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def to_json(self, check: CheckResult | None = None, steps: bool = False) -> dict:
        out = {"function": self.program.source,
               "wrt": {n: {"shape": [_jsonable(d) for d in shape_of(
                   self._gradients[n] if self.layout else self.program.variables[n])],
                           "result": self.result_text(n, printing.LANGUAGE, use_names=False),
                           "latex": self.result_text(n, printing.LATEX, use_names=False)}
                       for n in self.wrt}}
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
        """Standalone Python source (needs only NumPy) of the gradient function."""
        return NumpyCodegen(self.program.variables, self._gradients, func_name).source()

    def to_numpy(self):
        """f(**arrays) -> {name: ndarray with the variable's shape}, all results in one pass."""
        if self._function is None:
            self._function = compile_source(self.numpy_source(), "gradients")
        return self._function

    def check(self, seed: int = 0, points: int = 2) -> CheckResult:
        """Compare the generated NumPy results with central finite differences."""
        return finite_difference_check(self.program, self._gradients, self.to_numpy(),
                                       self.sum_to_one, seed, points, layout=self.layout)

    def __repr__(self) -> str:
        return self.text()


def _jsonable(d):
    try:
        return int(d)
    except TypeError:
        return str(d)


def _shape_text(v) -> str:
    s = shape_of(v)
    return "(scalar)" if s == () else f"({s[0]}×{s[1]})"


def _as_list(wrt) -> list[str] | None:
    if wrt is None:
        return None
    if isinstance(wrt, str):
        return [w for w in wrt.replace(",", " ").split() if w]
    return list(wrt)


def derive(expr: str, wrt=None, shapes: dict | None = None, layout: str | None = None,
           order: int = 1, sum_to_one=(), method: str = "backprop") -> Derivation:
    """Differentiate ``expr`` (a program in the contract language).

    wrt: variable names (default: every variable); shapes: name -> () / (rows, cols)
    with ints or size names; sum_to_one: variables whose rows (entries, for a
    vector) sum to one, e.g. one-hot labels — softmax cross-entropy then gives
    S − Y.  layout selects a Jacobian (numerator or denominator layout);
    method (backprop | trace | jacobian) is how ``steps`` present the derivation.
    """
    try:
        program = parse(expr, shapes)
    except RecursionError:
        raise MatcalcError("expression too deeply nested") from None
    for name in program.variables:
        if name in RESERVED or name.startswith("_"):
            raise UnknownNameError(f"{name!r} cannot be used as a variable name (reserved)")
    names = list(dict.fromkeys(_as_list(wrt) or program.variables))   # in order, once each
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
    if order == 2:
        raise UnsupportedError("Hessians (order=2) are not supported yet")
    if layout not in (None, "numerator", "denominator"):
        raise MatcalcError(f"layout must be 'numerator' or 'denominator', not {layout!r}")
    if is_matrix(program.output) and layout is None:
        r, c = program.output.shape
        raise ShapeError(f"the function is a {r}x{c} matrix, not a scalar: a gradient needs a scalar "
                         "function (use sum(), norm2() ..., or ask for a Jacobian with a layout)")
    from .steps import METHODS
    if method not in METHODS:
        raise MatcalcError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if layout is not None:
        method = "jacobian"   # a Jacobian derivation is presented as one
    return Derivation(program, names, sum_to_one, layout, method)
