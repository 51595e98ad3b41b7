"""Derivatives of the IR: the reverse-mode engine (one catalogue rule per node), forward
Jacobians, the textbook-form simplifier (``simplify``, ``matrix_algebra``, ``entrywise_algebra``,
``symmetry``) and the memory limit sized from shapes.  It may import ``matcalc.lang``,
``matcalc.rules``, ``matcalc.ir`` and ``matcalc.errors``/``limits``; never printers of steps,
generated code, checks or the facade.
"""
