"""The function names of the contract language."""
from __future__ import annotations

from dataclasses import dataclass

from .. import rules


@dataclass(frozen=True)
class Builtin:
    arity: int
    meaning: str
    max_arity: int | None = None   # optional arguments: sum(A, 1)

    def arities(self) -> tuple[int, int]:
        return self.arity, self.max_arity if self.max_arity is not None else self.arity


STRUCTURAL = {
    "sum": Builtin(1, "sum of all entries (scalar); sum(A, 1): column sums (a row), sum(A, 2): row sums", 2),
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
    "eye": Builtin(0, "eye(n): identity matrix; bare eye: the identity of the size its use implies", 1),
    # matrixcalculus.org's language (see matcalc/lang/extensions.py for their definitions)
    "vector": Builtin(1, "vector(c): the column vector of c's, its size implied by its use"),
    "matrix": Builtin(1, "matrix(c): the matrix of c's, its size implied by its use"),
    "norm1": Builtin(1, "1-norm of a vector, entrywise 1-norm of a matrix: sum(abs(A))"),
    "adj": Builtin(1, "adjugate det(A) inv(A) of an invertible matrix"),
    # reductions and products people use
    "mean": Builtin(1, "mean of all entries; mean(A, 1): column means (a row), mean(A, 2): row means", 2),
    "max": Builtin(2, "entrywise maximum of two values of one shape (or a scalar); ties split the gradient"),
    "min": Builtin(2, "entrywise minimum of two values of one shape (or a scalar); ties split the gradient"),
    "logsumexp": Builtin(1, "log(sum(exp(A))) over all entries (scalar)"),
    "kron": Builtin(2, "Kronecker product"),
    "vec": Builtin(1, "the columns stacked into one column (column-major)"),
    "commutation": Builtin(2, "commutation(m, n): the mn×mn matrix K with K vec(A) = vec(Aᵀ), A m×n"),
    "sym": Builtin(1, "symmetric part (A + Aᵀ)/2 of a square matrix"),
}
CONSTRUCTORS = ("ones", "eye", "commutation")


def is_function_name(name: str) -> bool:
    return name in STRUCTURAL or name in rules.FUNCTIONS
