"""GEMM fusion in generated BPTT loops.

Products that share their left operand — ``h Wf, h Wi, h Wa, h Wo`` in an LSTM step — become
one GEMM on the concatenated parameters ``[Wf Wi Wa Wo]`` (concatenated once, before the
loop), read back as column blocks.  Products of a sequence input with parameters
(``x[t] Uf, …``) do not depend on the loop at all: one GEMM over every step, before the loop.
In the backward loop the matching parameter gradients ``hᵀ δ_k`` become one ``hᵀ [δ_1 … δ_m]``
into a concatenated accumulator (split after the loop), and a sum ``Σ_k δ_k W_kᵀ`` one
``[δ_1 … δ_m] [W_1 … W_m]ᵀ``.  Nothing else changes; the values are the same sums of products.
"""
from __future__ import annotations

from sympy import Add, Basic, MatAdd, MatMul, MatrixSymbol, Transpose, sympify
from sympy.matrices.expressions import MatrixExpr

from ..differentiate.engine import topological


class Concat(MatrixExpr):
    """[A_1 … A_m]: matrices side by side (same rows)."""

    def __new__(cls, *blocks):
        return Basic.__new__(cls, *blocks)

    @property
    def shape(self):
        return (self.args[0].shape[0], Add(*[b.shape[1] for b in self.args]))


class ColumnBlock(MatrixExpr):
    """Columns start:stop of a matrix (a view of a concatenation: one of its blocks, or a run)."""

    def __new__(cls, matrix, start, stop):
        return Basic.__new__(cls, matrix, sympify(start), sympify(stop))

    @property
    def shape(self):
        return (self.args[0].shape[0], self.args[2] - self.args[1])


class Group:
    """Products ``left @ P_k`` sharing ``left``, with the Python names fusion gives them."""

    def __init__(self, left, nodes, names, sequence=None):
        self.left = left
        self.nodes = nodes                              # the MatMul(left, P_k) nodes, in order
        self.params = [n.args[1] for n in nodes]
        self.sequence = sequence                        # the sequence argument left is a step of
        base = f"{left.name}_{'_'.join(p.name for p in self.params)}"
        self.cat = MatrixSymbol(names(f"cat_{'_'.join(p.name for p in self.params)}") if len(nodes) > 1
                                else self.params[0].name, self.params[0].shape[0],
                                Add(*[p.shape[1] for p in self.params]))
        self.offsets = names("off_" + base) if len(nodes) > 1 else None
        self.product = names("p_" + base)
        self.all_steps = names("all_" + base) if sequence else None
        self.parts = [MatrixSymbol(names(f"{left.name}_{p.name}"), *n.shape) for p, n in zip(self.params, nodes)]

    def columns(self, code: str, k: int) -> str:
        if self.offsets is None:
            return code
        return f"{code}[:, {self.offsets}[{k}]:{self.offsets}[{k + 1}]]"


def find_groups(forward: list, params: set, sequences: dict, names, lefts: set) -> list:
    """Groups of fusable products in the loop's forward lines: at least two parameters on one
    left operand, or any on a sequence's step (``sequences``: step name -> argument name);
    left operands are among ``lefts``, values known at the top of the loop."""
    found: dict = {}
    for _, expr in forward:
        for node in topological(expr):
            if isinstance(node, MatMul) and len(node.args) == 2:
                left, right = node.args
                if isinstance(left, MatrixSymbol) and isinstance(right, MatrixSymbol) \
                        and right.name in params and left.name in lefts:
                    nodes = found.setdefault(left, [])
                    if node not in nodes:
                        nodes.append(node)
    return [Group(left, nodes, names, sequences.get(left.name)) for left, nodes in found.items()
            if len(nodes) > 1 or left.name in sequences]


def forward_lines(groups: list, t: str = "t") -> tuple[list[str], list[str]]:
    """(lines before the loop, lines at the top of the forward loop; ``t`` is the loop index's name)."""
    before, inside = [], []
    for g in groups:
        if g.offsets is not None:
            before.append(f"{g.cat.name} = np.concatenate([{', '.join(p.name for p in g.params)}], axis=1)")
            widths = [p.name + ".shape[1]" for p in g.params]
            ends = ["0"] + [" + ".join(widths[:k + 1]) for k in range(len(widths))]
            before.append(f"{g.offsets} = ({', '.join(ends)})")   # static sizes: plain Python ints
        if g.sequence:
            x = g.sequence
            before.append(f"{g.all_steps} = ({x}.reshape(-1, {x}.shape[2]) @ {g.cat.name})"
                          f".reshape({x}.shape[0], {x}.shape[1], -1)")
            inside.append(f"{g.product} = {g.all_steps}[{t}]")
        else:
            inside.append(f"{g.product} = {g.left.name} @ {g.cat.name}")
        inside += [f"{part.name} = {g.columns(g.product, k)}" for k, part in enumerate(g.parts)]
    return before, inside


def rewrite_forward(forward: list, groups: list) -> list:
    """The forward lines reading each fused product's column block."""
    reps = {node: part for g in groups for node, part in zip(g.nodes, g.parts)}
    return [(py, expr.xreplace(reps)) for py, expr in forward]


def fuse_backward(assignments: list, groups: list, grads: dict, names):
    """(assignments, lines before the loop, lines after it).  For each group whose parameter
    gradients are ``leftᵀ δ_k``, the deltas are concatenated once per step; then every family of
    gradient updates ``A δ_k`` sharing A (``hᵀ``, ``x[t]ᵀ``, the column sums ``𝟏ᵀ`` of the biases)
    becomes one ``A [δ_1 … δ_m]`` into a concatenated accumulator, split after the loop, and a sum
    ``Σ_k δ_k P_kᵀ`` one ``[δ_1 … δ_m][P_1 … P_m]ᵀ``."""
    assignments = list(assignments)
    before, after = [], []
    concats: dict = {}                 # deltas -> (symbol, offsets name)
    owners = {v: k for k, v in grads.items()}
    for g in groups:
        if len(g.params) < 2 or any(p.name not in grads for p in g.params):
            continue
        found = {}
        for target, op, expr in assignments:
            for p in g.params:
                if target == grads[p.name] and op == "+=" and _product_with(expr, Transpose(g.left)) is not None:
                    found[p.name] = _product_with(expr, Transpose(g.left))
        if len(found) != len(g.params):
            continue
        deltas = tuple(found[p.name] for p in g.params)
        if deltas in concats:
            continue
        defined = [i for i, (t, op, _) in enumerate(assignments) if op == "=" and t in {d.name for d in deltas}]
        at = max(defined) + 1 if defined else 0
        sym = MatrixSymbol(names("d_cat"), deltas[0].shape[0], Add(*[d.shape[1] for d in deltas]))
        assignments.insert(at, (sym.name, "=", Concat(*deltas)))
        concats[deltas] = (sym, g)
        wanted = {MatMul(d, Transpose(p)) for d, p in zip(deltas, g.params)}
        for i in range(at + 1, len(assignments)):
            target, op, expr = assignments[i]
            if isinstance(expr, MatAdd) and wanted <= set(expr.args):
                rest = [a for a in expr.args if a not in wanted]
                assignments[i] = (target, op, MatAdd(*rest, MatMul(sym, Transpose(g.cat))))
    for deltas, (sym, g) in concats.items():
        families: dict = {}            # left factor -> {k: assignment index}
        for i, (target, op, expr) in enumerate(assignments):
            if op != "+=" or target not in owners or not isinstance(expr, MatMul) or len(expr.args) != 2:
                continue
            left, right = expr.args
            if right in deltas:
                families.setdefault(left, {})[deltas.index(right)] = i
        drop = set()
        for left, where in families.items():
            if len(where) != len(deltas):
                continue
            acc = names("acc_" + sym.name)
            first = min(where.values())
            targets = [assignments[where[k]][0] for k in range(len(deltas))]
            # zeros of the accumulator's own shape and dtype (a loop carry keeps one shape: lax.scan)
            before.append(f"{acc} = np.concatenate([{', '.join(f'np.zeros_like({t})' for t in targets)}], axis=1)")
            assignments[first] = (acc, "+=", MatMul(left, sym))
            drop |= set(where.values()) - {first}
            after += [f"{t} += {g.columns(acc, k)}" for k, t in enumerate(targets)]
        assignments = [a for i, a in enumerate(assignments) if i not in drop]
    return _share_concatenations(assignments), before, after


def _share_concatenations(assignments: list) -> list:
    """A concatenation whose blocks are a run of another's (the GRU's [δ_z δ_r] in
    [δ_z δ_r δ_n]) becomes a view of that one's columns, defined right after it: one copy a step."""
    assignments = list(assignments)
    changed = True
    while changed:
        changed = False
        concats = [(i, t, e) for i, (t, op, e) in enumerate(assignments) if op == "=" and isinstance(e, Concat)]
        for i, small, part in concats:
            for j, big, whole in concats:
                k = _run_at(part.args, whole.args)
                if i == j or k is None or len(part.args) >= len(whole.args):
                    continue
                if j > i and any(small in {s.name for s in topological(e) if isinstance(s, MatrixSymbol)}
                                 for _, _, e in assignments[i + 1:j + 1]):
                    continue   # read before the larger one exists
                start = Add(*[a.shape[1] for a in whole.args[:k]])
                view = (small, "=", ColumnBlock(MatrixSymbol(big, *whole.shape), start,
                                                 start + Add(*[a.shape[1] for a in part.args])))
                if j > i:
                    assignments.insert(j + 1, view)
                    del assignments[i]
                else:
                    assignments[i] = view
                changed = True
                break
            if changed:
                break
    return assignments


def _run_at(part, whole):
    """k where part == whole[k:k + len(part)], else None."""
    for k in range(len(whole) - len(part) + 1):
        if tuple(whole[k:k + len(part)]) == tuple(part):
            return k
    return None


def _product_with(expr, left):
    """D when expr is ``left @ D`` for a symbol D, else None."""
    if isinstance(expr, MatMul) and len(expr.args) == 2 and expr.args[0] == left \
            and isinstance(expr.args[1], MatrixSymbol):
        return expr.args[1]
    return None
