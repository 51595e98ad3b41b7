"""Backpropagation through time: the recurrence of a program with sequences (``recurrence``), its
steps and printers (``bptt_steps``, ``bptt_notes``), its NumPy loops and GEMM fusion (``bptt``,
``fusion``) and the built-in models (``models``).  The step program is derived by the core results
class, which ``matcalc.derivation`` hands in (``core=``): this stage never imports the facade.  It
may import ``verify``, ``codegen``, ``present`` and everything below them.
"""
