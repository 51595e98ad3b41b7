"""JAX and PyTorch functions of a derivation: the NumPy generators' code, translated.

``source(d, "jax")`` is a standalone module (imports jax, jax.numpy and numpy) defining the
same function as ``d.numpy_source()`` — same signature, same results — in the framework:
jit-able and vmap-able in JAX (shapes are static; the BPTT loops are ``jax.lax.scan``s),
torch.compile-able in PyTorch.  Results keep the arguments' floating dtype.
"""
from __future__ import annotations

import ast
import importlib

from .numpy_code import NumpyCodegen, compile_source
from ..errors import MatcalcError
from .translate import translate

_MODULES = {"jax": "jax", "torch": "torch"}


def require(backend: str) -> None:
    """Import the framework, or say how to install it."""
    try:
        importlib.import_module(_MODULES[backend])
    except ImportError:
        raise MatcalcError(f"{backend} is not installed: pip install 'matcalc[{backend}]'") from None


def source(d, backend: str, hvp: bool = False) -> str:
    """The derivation's gradient (Jacobian, Hessian; Hessian-vector product with hvp=True)
    function as a module for ``backend`` (numpy | jax | torch)."""
    if hvp:
        return translate(d.hvp_source(), backend)
    return translate(getattr(d, "portable_source", d.numpy_source)(), backend)


def value_source(d, backend: str, func_name: str = "value") -> str:
    """The function itself (the program's output; the unrolled loss of a recurrent program),
    for the framework's own autodiff — the reference the tests and benchmarks compare with."""
    if hasattr(d, "loss_source"):
        return translate(d.loss_source(func_name), backend)
    cg = NumpyCodegen(d.program.variables, {"f": d.program.output}, func_name)
    tree = ast.parse(cg.source())
    for node in ast.walk(tree):   # return {'f': value} -> return value
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
            node.value = node.value.values[0]
    return translate(ast.unparse(tree) + "\n", backend)


def function(d, backend: str, hvp: bool = False):
    """The compiled function (see ``source``)."""
    require(backend)
    return compile_source(source(d, backend, hvp), "hvp" if hvp else "gradients")


def value_function(d, backend: str):
    """The compiled value function (see ``value_source``)."""
    require(backend)
    return compile_source(value_source(d, backend), "value")
