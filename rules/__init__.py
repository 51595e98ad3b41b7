"""matcalc's identity catalogue (installed as ``matcalc.rules``)."""
from .registry import (DIFFERENTIALS, FUNCTIONS, IDENTITIES, RULES, Function, Rule, catalogue,
                       differential_for, function, lookup, rule, rule_for)
from . import linear, elementwise, matrix_functions, softmax, differentials, identities, simplifications  # noqa: F401  (registration)
from . import trig, structural, kronecker  # noqa: F401  (registration: matrixcalculus.org functions, extensions)

__all__ = ["DIFFERENTIALS", "FUNCTIONS", "IDENTITIES", "RULES", "Function", "Rule", "catalogue",
           "differential_for", "function", "lookup", "rule", "rule_for"]
