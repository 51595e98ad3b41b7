"""Judging claims against matcalc's own results: a hand-derived gradient (``claims``, ``matcalc
check``), a whole note (``note_reader``, ``note_model``, ``note_check``, ``note_report``,
``matcalc check-note``) and the catalogue's entries (``selftest``, which also hands the
catalogue's identity checks the engine they run).  It may import the facade
``matcalc.derivation`` and everything below; only the public API and the front-ends import it.
"""
