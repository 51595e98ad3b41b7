"""Make the test helpers (problem_set, fd, closed_form, expr_eval) and the checkout's
matcalc importable however pytest is started (python -m pytest tests, pytest, any
--import-mode)."""
import os
import sys

_TESTS = os.path.dirname(os.path.abspath(__file__))
for _path in (os.path.dirname(_TESTS), _TESTS):
    if _path not in sys.path:
        sys.path.insert(0, _path)
