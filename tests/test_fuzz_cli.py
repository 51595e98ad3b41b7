"""The CLI fuzz (tests/fuzz_cli.py) at a small size; MATCALC_FUZZ_INPUTS sets the number of inputs
(the full run: ``python tests/fuzz_cli.py --inputs 5000``)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fuzz_cli import PROBLEMS, fuzz, problems  # noqa: E402


def test_malformed_cli_inputs_are_refused_cleanly():
    counts = fuzz(int(os.environ.get("MATCALC_FUZZ_INPUTS", "100")), seed=14, verbose=False)
    assert problems(counts) == 0, {k: v for k, v in counts.items() if k.startswith(PROBLEMS)}
    assert counts["inputs"] >= 100 or "MATCALC_FUZZ_INPUTS" in os.environ
