"""The language, text <-> IR: the function names (``language``), tokenizer and parser, shape
inference, building a program into IR (``build``), the language's extensions, recurrent programs
(``sequence``), LaTeX input, and the printers of IR back to text (``printing``: the language,
Unicode, LaTeX).  It may import ``matcalc.ir``, the catalogue ``matcalc.rules`` (function names
and LaTeX) and ``matcalc.errors``; nothing above.
"""
