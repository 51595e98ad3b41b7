"""matcalc's identity catalogue (installed as ``matcalc.rules``)."""
from .registry import FUNCTIONS, RULES, Function, Rule, catalogue, function, rule, rule_for
from . import linear, elementwise, matrix_functions, softmax  # noqa: F401  (registration)

__all__ = ["FUNCTIONS", "RULES", "Function", "Rule", "catalogue", "function", "rule", "rule_for"]
