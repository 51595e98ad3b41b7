"""The expression IR: SymPy matrix expressions plus the nodes SymPy lacks (``nodes``), the smart
constructors every stage builds with (``ops``) and the SymPy workarounds they need
(``sympy_fixes``).  The bottom of the pipeline: it may import ``matcalc.errors`` and SymPy only.
"""
