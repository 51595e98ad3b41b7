"""Numbers: random points inside the domain and finite-difference checks (``numeric``), the check
of every step of a derivation (``stepcheck``) and declared structure (symmetric, spd, diagonal)
whose projections are proved or checked numerically (``structure``).  It may import
``matcalc.codegen``, ``matcalc.present`` and everything below; not ``recurrent``, the facade or
the front-ends.
"""
