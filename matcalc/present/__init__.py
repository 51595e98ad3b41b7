"""Step-by-step derivations in the notes' three methods (``steps``, ``stages``), the named
``where`` block of shared values (``naming``) and the printers of steps as text, LaTeX, Markdown
and JSON (``notes``).  Data first, printers read it.  It may import ``matcalc.differentiate``
and everything below it; not ``codegen`` (its sibling) or anything above.
"""
