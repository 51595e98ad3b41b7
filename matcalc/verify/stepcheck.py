"""Numerical check of a step-by-step derivation: every equation holds at random points.

Placeholders get their true values: δ_S the adjoint of S, ∂f/∂X the gradient,
a row ∂f/∂u the adjoint as a row, and dS the directional derivative of S along
one random direction of the variables (4th-order central differences).  Each
step's ``lhs = rhs`` and each continuation ``previous = rhs`` is compared.
"""
from __future__ import annotations

import numpy as np
from sympy import MatrixSymbol, Symbol

from ..differentiate import engine
from ..ir import ops
from ..codegen.numpy_code import NumpyCodegen, compile_source
from ..differentiate.engine import topological
from ..ir.nodes import DifferentialOf, ScalarDifferentialOf, _Placeholder, is_matrix, placeholder
from ..rules.jvp import col
from ..differentiate.simplify import rewrite
from .numeric import _STENCIL, DomainSampler, entry_derivative, rel_error

TOLERANCE = 1e-6


def _inline(program, expr):
    """An expression in the program's named symbols with every name replaced by its value
    (rebuilt with the canonical constructors: canonical products and sums)."""
    return rewrite(expr, [], {sym: program.intermediates[n] for n, sym in program.named.items()})


def _placeholders(steps) -> dict:
    found: dict = {}
    for s in steps:
        for e in (s.lhs, s.rhs):
            if e is None:
                continue
            for node in topological(e):
                if isinstance(node, _Placeholder):
                    found[node] = None
    return found


def _undisplay(expr, plan):
    """d(definition) -> the stage's dS placeholder (it is the same value)."""
    if expr is None:
        return None
    roots = {s.root: s for s in plan.stages}
    reps = {}
    for node in topological(expr):
        if isinstance(node, (DifferentialOf, ScalarDifferentialOf)):
            stage = roots[node.arg]
            reps[node] = placeholder("d", stage.name, stage.node)
    return expr.xreplace(reps) if reps else expr


def _free_symbol(node, tag: str):
    return MatrixSymbol(f"zz_{tag}", *node.shape) if is_matrix(node) else Symbol(f"zz_{tag}", real=True)


def _true_adjoint(plan, node):
    """∂f/∂S for a stage S, independently of the steps: S made a free input of f, then the
    engine's gradient with respect to it, evaluated at S's value."""
    program = plan.program
    free = _free_symbol(node, "free")
    reps: dict = {node: free}
    for name, definition in program.definitions.items():
        sym = program.named[name]
        if sym != node:
            reps[sym] = rewrite(definition, [], dict(reps))
    f_of_s = rewrite(program.opaque_output, [], dict(reps))
    adjoints, _ = engine.backward(f_of_s, {free})
    return rewrite(engine.gradient(adjoints, free), [], {free: _inline(program, node)})


def _local_jacobian(plan, top: str, bottom: str):
    """∂P/∂B with the other stages frozen: (P's function, B's argument name, the stages' function)."""
    program = plan.program
    by_name = {s.name: s for s in plan.stages}
    stage_nodes = {s.node for s in plan.stages}
    top_stage = by_name[top]
    P = rewrite(top_stage.root, [], {sym: program.intermediates[n] for n, sym in program.named.items()
                                     if sym not in stage_nodes})
    frozen = {s.node: _free_symbol(s.node, f"s{k}") for k, s in enumerate(plan.stages[1:]) if s is not top_stage}
    wrt_name = frozen[by_name[bottom].node].name if bottom in by_name else bottom
    variables = {**program.variables, **{sym.name: sym for sym in frozen.values()}}
    p_fn = compile_source(NumpyCodegen(variables, {"P": P.xreplace(frozen)}, "local").source(), "local")
    stage_fn = compile_source(NumpyCodegen(program.variables, {
        sym.name: _inline(program, node) for node, sym in frozen.items()}, "stages").source(), "stages") \
        if frozen else (lambda **kw: {})
    return p_fn, wrt_name, stage_fn


def _fd_jacobian(p_fn, point, wrt_name, stage_fn):
    """Numerator-layout Jacobian of P w.r.t. one argument (column-major vec), central differences."""
    args = {**point, **stage_fn(**point)}
    x0 = np.asarray(args[wrt_name], dtype=float)
    indices = sorted(np.ndindex(*x0.shape), key=lambda ix: ix[::-1]) if x0.shape else [()]
    cols = []
    for idx in indices:
        cols.append(entry_derivative(lambda x: p_fn(**{**args, wrt_name: x})["P"], x0, idx, 1e-4).reshape(-1, order="F"))
    return np.stack(cols, axis=1)


def verify(plan, steps, seed: int = 0, points: int = 2) -> float:
    """The largest relative error over all equations of ``steps`` (≈1e-10 when they hold)."""
    program = plan.program
    # Hessian blocks are results, checked against differences of the gradient by Derivation.check
    steps = [type(s)(**{**s.__dict__, "lhs": _undisplay(s.lhs, plan), "rhs": _undisplay(s.rhs, plan)})
             for s in steps if getattr(s.lhs, "role", "") != "hess"]
    holders = list(_placeholders(steps))
    by_name = {s.name: s for s in plan.stages}
    targets = {program.variables[n] for n in plan.wrt}
    adjoints, _ = engine.backward(program.output, targets)
    # what each placeholder stands for, as an expression of the variables (d: a stage value)
    truth, differentiate, local = {}, {}, {}
    for h in holders:
        if h.role == "jac":
            local[h] = _local_jacobian(plan, *h.of.split("/", 1))
            continue
        stage = by_name.get(h.of)
        node = stage.node if stage is not None else program.variables[h.of]
        if h.role == "value":
            truth[h] = program.output
        elif h.role == "d":
            differentiate[h] = _inline(program, node) if stage is not None else node
        else:
            if stage is not None:
                g = _true_adjoint(plan, node)
            else:
                g = adjoints.get(node, engine.zero_gradient(node))
            if h.role == "row":
                g = ops.transpose(col(g)) if is_matrix(g) else g    # the row vec(δ)ᵀ
            truth[h] = g
    stand_in = {h: (MatrixSymbol(f"zz_p{i}", *h.shape) if is_matrix(h) else Symbol(f"zz_p{i}", real=True))
                for i, h in enumerate(holders)}
    values_fn = compile_source(NumpyCodegen(program.variables, {
        **{f"t{i}": e for i, e in enumerate(truth.values())},
        **{f"d{i}": e for i, e in enumerate(differentiate.values())}}, "values").source(), "values")
    equations = {}
    previous = None
    for k, s in enumerate(steps):
        left = s.lhs if s.lhs is not None else previous
        if left is not None:
            equations[f"l{k}"] = left.xreplace(stand_in)
            equations[f"r{k}"] = s.rhs.xreplace(stand_in)
        previous = s.rhs
    variables = {**program.variables, **{sym.name: sym for sym in stand_in.values()}}
    named = set(program.named.values())
    leftover = {n for e in equations.values() for n in topological(e) if n in named}
    memo = {n: _inline(program, n) for n in leftover}
    equations = {k: rewrite(e, [], memo) for k, e in equations.items()}
    steps_fn = compile_source(NumpyCodegen(variables, equations, "equations").source(), "equations")
    sampler = DomainSampler(program, plan.sum_to_one, seed)
    rng = np.random.default_rng(seed + 7)
    worst = 0.0
    for _ in range(points):
        point = sampler.point()
        direction = {n: rng.standard_normal(np.shape(v)) if np.shape(v) else float(rng.standard_normal())
                     for n, v in point.items() if program.variables[n] in targets}
        base = values_fn(**point)
        h = 1e-4
        acc: dict = {}
        for step, c in _STENCIL:
            moved = {n: (np.asarray(v) + step * h * direction[n]) if n in direction else v for n, v in point.items()}
            vals = values_fn(**moved)
            for i in range(len(differentiate)):
                acc[i] = acc.get(i, 0.0) + c * np.asarray(vals[f"d{i}"], dtype=float)
        given = {}
        for i, hsym in enumerate(truth):
            given[stand_in[hsym].name] = base[f"t{i}"]
        for i, hsym in enumerate(differentiate):
            given[stand_in[hsym].name] = acc[i] / h
        for hsym, (p_fn, wrt_name, stage_fn) in local.items():
            given[stand_in[hsym].name] = _fd_jacobian(p_fn, point, wrt_name, stage_fn)
        out = steps_fn(**point, **given)
        for k in range(len(steps)):
            if f"l{k}" in out:
                worst = max(worst, rel_error(out[f"r{k}"], out[f"l{k}"]))
    return worst
