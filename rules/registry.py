"""The identity catalogue's registry: one entry per operation.

A ``Rule`` is the reverse-mode (adjoint) identity of one IR node type: given
the node and the adjoint ``G = ∂f/∂node`` it returns the contributions to its
children.  A ``Function`` is an entrywise scalar function (sigmoid, tanh ...):
its derivative, NumPy form and domain; one generic rule differentiates them all,
so adding a function is one ``function(...)`` entry.  Every entry carries its
identity in LaTeX, its source, and example programs that its numerical
self-test derives and checks against finite differences.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

Example = tuple[str, dict]   # (program, shapes)


@dataclass(frozen=True)
class Rule:
    id: str
    applies_to: tuple[type, ...]
    latex: str
    source: str
    backward: Callable       # (node, G, wanted) -> list[(child, contribution)]
    examples: tuple[Example, ...]
    domain: str = ""
    kind: str = "adjoint"


@dataclass(frozen=True)
class Function:
    name: str
    numpy: str               # expression template in {x}; may call helpers named in `helpers`
    latex: str               # LaTeX of the function's name
    derivative: Callable     # (u, y) -> f'(u) as an IR expression (y = f(u), reusable)
    identity: str            # LaTeX of the derivative identity
    source: str
    examples: tuple[Example, ...]
    domain: str = "real"     # real | positive | nonzero (where --check samples)
    kinks: tuple[float, ...] = ()   # points where f is not differentiable
    helpers: tuple[str, ...] = ()   # NumPy helper functions the template needs
    note: str = ""
    bounds: tuple = (None, None)    # (lowest, highest) value of f, None: unbounded
    numpy_inplace: str = ""  # optional template writing f({x}) over the array {x} (x is dead after)

    @property
    def id(self) -> str:
        return f"fn:{self.name}"


@dataclass(frozen=True)
class Differential:
    """The differential (forward) form of one IR operation, for the trace method.

    ``forward(node, d)`` returns dN from ``d(child)``, the children's
    differentials (None for a child that does not vary).
    """
    id: str
    applies_to: tuple[type, ...]
    latex: str
    source: str
    forward: Callable
    kind: str = "differential"


@dataclass(frozen=True)
class MethodIdentity:
    """An identity a derivation method uses (trace cyclic property, chain rule ...).

    ``check(rng)`` evaluates both sides at random matrices and returns their
    largest relative difference: the entry's numerical self-test.
    """
    id: str
    latex: str
    source: str
    check: Callable
    domain: str = ""
    kind: str = "identity"


RULES: dict[str, Rule] = {}
DIFFERENTIALS: dict[str, Differential] = {}
IDENTITIES: dict[str, MethodIdentity] = {}
_DIFF_BY_CLASS: dict[type, Differential] = {}
FUNCTIONS: dict[str, Function] = {}
_BY_CLASS: dict[type, Rule] = {}


def rule(id: str, applies_to, latex: str, source: str, examples, domain: str = ""):
    """Decorator registering ``backward`` as the adjoint rule of ``applies_to``."""
    classes = applies_to if isinstance(applies_to, tuple) else (applies_to,)

    def register(backward):
        if id in RULES:
            raise ValueError(f"rule {id!r} registered twice")
        entry = Rule(id, classes, latex, source, backward, tuple(examples), domain)
        RULES[id] = entry
        for cls in classes:
            _BY_CLASS[cls] = entry
        return backward
    return register


def differential(id: str, applies_to, latex: str, source: str):
    """Decorator registering ``forward`` as the differential form of ``applies_to``."""
    classes = applies_to if isinstance(applies_to, tuple) else (applies_to,)

    def register(forward):
        if id in DIFFERENTIALS:
            raise ValueError(f"differential {id!r} registered twice")
        entry = Differential(id, classes, latex, source, forward)
        DIFFERENTIALS[id] = entry
        for cls in classes:
            _DIFF_BY_CLASS[cls] = entry
        return forward
    return register


def identity(id: str, latex: str, source: str, domain: str = ""):
    """Decorator registering a method identity; the function is its numerical check."""
    def register(check):
        if id in IDENTITIES:
            raise ValueError(f"identity {id!r} registered twice")
        IDENTITIES[id] = MethodIdentity(id, latex, source, check, domain)
        return check
    return register


# An identity's check runs the engine (parser, generated code, derive, the simplifier's rewrites).
# The catalogue sits below the engine and never imports it: the self-test runner
# (matcalc/judge/selftest.py) provides these tools before it runs a check.
SELFTEST_TOOLS: dict = {}


def selftest_tool(name: str):
    """A tool the self-test runner provides: parse, derive, numpy_function, entrywise_islands,
    matrix_algebra."""
    if name not in SELFTEST_TOOLS:
        raise RuntimeError(f"identity checks run through matcalc.judge.selftest (no {name!r} tool provided)")
    return SELFTEST_TOOLS[name]


def differential_for(node) -> Differential | None:
    for cls in type(node).__mro__:
        found = _DIFF_BY_CLASS.get(cls)
        if found is not None:
            return found
    return None


def lookup(id: str):
    """The catalogue entry with this id (rule, function, differential or identity), or None."""
    if id.startswith("fn:"):
        return FUNCTIONS.get(id[3:])
    return RULES.get(id) or DIFFERENTIALS.get(id) or IDENTITIES.get(id)


def function(name: str, **fields) -> Function:
    """Register an entrywise function (see ``Function`` for the fields)."""
    if name in FUNCTIONS:
        raise ValueError(f"function {name!r} registered twice")
    entry = Function(name=name, **fields)
    FUNCTIONS[name] = entry
    return entry


def rule_for(node) -> Rule | None:
    """The adjoint rule of a node's type (most specific class first)."""
    for cls in type(node).__mro__:
        found = _BY_CLASS.get(cls)
        if found is not None:
            return found
    return None


def catalogue() -> list:
    """All entries: adjoint rules, entrywise functions, differentials, method identities."""
    return (list(RULES.values()) + list(FUNCTIONS.values()) + list(DIFFERENTIALS.values())
            + list(IDENTITIES.values()))
