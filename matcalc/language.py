"""The function names of the contract language."""
from __future__ import annotations

from dataclasses import dataclass

from . import rules


@dataclass(frozen=True)
class Builtin:
    arity: int
    meaning: str


STRUCTURAL = {
    "sum": Builtin(1, "sum of all entries (scalar)"),
    "tr": Builtin(1, "trace of a square matrix"),
    "det": Builtin(1, "determinant"),
    "logdet": Builtin(1, "log-determinant (det > 0)"),
    "inv": Builtin(1, "matrix inverse"),
    "norm2": Builtin(1, "Euclidean / Frobenius norm"),
    "softmax": Builtin(1, "softmax over a vector, or per row of a matrix"),
    "logsoftmax": Builtin(1, "log of softmax, computed stably"),
    "diag": Builtin(1, "vector -> diagonal matrix; square matrix -> its diagonal as a column"),
    # extensions, so that printed results parse back: explicit ones and identity matrices
    "ones": Builtin(2, "ones(rows, cols): all-ones matrix (sizes: integers or declared size names)"),
    "eye": Builtin(1, "eye(n): identity matrix"),
}
CONSTRUCTORS = ("ones", "eye")


def is_function_name(name: str) -> bool:
    return name in STRUCTURAL or name in rules.FUNCTIONS


def function_names() -> list[str]:
    return sorted(set(STRUCTURAL) | set(rules.FUNCTIONS))
