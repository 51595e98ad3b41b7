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

    @property
    def id(self) -> str:
        return f"fn:{self.name}"


RULES: dict[str, Rule] = {}
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
    """All entries: structural rules, then entrywise functions."""
    return list(RULES.values()) + list(FUNCTIONS.values())
