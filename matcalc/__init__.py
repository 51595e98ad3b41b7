"""matcalc: closed-form matrix calculus — gradients, derivations, NumPy code, checks."""
from __future__ import annotations

import os as _os
import sys as _sys

# Expressions are trees walked recursively (parser, builder, printers); Python 3.11 keeps
# pure-Python recursion off the C stack, so a deeper limit is safe for legal deep input.
_sys.setrecursionlimit(max(_sys.getrecursionlimit(), 20_000))

# Running from a source checkout (the catalogue lives in ../rules, the CLI in ../cli.py):
# let ``matcalc.rules`` and ``matcalc.cli`` resolve there.  Installed copies hold them in place.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "rules")) and \
        _os.path.isfile(_os.path.join(_root, "rules", "registry.py")):
    __path__.append(_root)  # noqa: F821 - the package's search path

from .errors import MatcalcError, ParseError, ShapeError, UnsupportedError  # noqa: E402

__all__ = ["derive", "check", "check_note", "MatcalcError", "ParseError", "ShapeError", "UnsupportedError"]
__version__ = "0.1.0"


def derive(*args, **kwargs):
    """Differentiate a program (see ``matcalc.derivation.derive``)."""
    from .derivation import derive as _derive
    return _derive(*args, **kwargs)


def check(expr, wrt, claim, shapes=None, layout=None, sum_to_one=(), **kwargs):
    """Verify a hand-derived gradient or Jacobian (see ``matcalc.judge.claims.check_claim``)."""
    from .judge.claims import check_claim
    return check_claim(expr, wrt, claim, shapes, layout, sum_to_one, **kwargs)


def check_note(text, dims=None, claim_timeout=60.0):
    """Judge every derivative claim of a Markdown/LaTeX note (see ``matcalc.judge.note_check``)."""
    from .judge.note_check import check_note as _check_note
    return _check_note(text, dims, claim_timeout)
