"""A fuzz of the command line with malformed input: corrupted programs, bad option values, unknown
options, bad claims, in text and JSON mode — plus valid programs written oddly (a leading ``-``).

Every input runs in-process (click's CliRunner) and is counted: exit 3 or an exception (crash),
a traceback in the output, exit 0 on input that is certainly garbage, a valid input refused, and
an error not in the one-line form (text) or not one JSON error object (``--format json``).

    python tests/fuzz_cli.py [--inputs 5000] [--seed 0]      # exit 1 if anything is counted
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from click.testing import CliRunner  # noqa: E402

from matcalc.cli import main  # noqa: E402
from matcalc.cli_support import _wants_json  # noqa: E402

PROGRAMS = [   # valid programs, with their variables (for --wrt / --dim / --claim)
    ("norm2(X*w - y)^2", ["X", "w", "y"]),
    ("H = sigmoid(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2", ["X", "W1", "b1", "W2", "b2", "Y"]),
    ("x'*A*x + 2*v'*x", ["x", "A", "v"]),
    ("tr(inv(X)*A)", ["X", "A"]),
    ("-sum(Y .* logsoftmax(X*W))", ["Y", "X", "W"]),
    ("logdet(X) - tr(S*X)", ["X", "S"]),
    ("sum(exp(A*x) ./ (1 + x'*x))", ["A", "x"]),
    ("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h[t]))", ["x", "W", "U"]),
    ("h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b); f = sum_t(norm2(h[t]*V - y[t])^2)", ["x", "Wx", "Wh", "b", "V", "y"]),
]
NEGATABLE = [p for p, _ in PROGRAMS if ";" not in p and "\n" not in p]
BAD_CHARS = "$@#{}!&|~?<>%\"\\`:" + "∑ｘ€\x00\x7f\u202e\u200b😀"
BAD_DIMS = ["{v}", "{v}==3", "{v}=a,b,c", "{v}=1,2,3", "{v}=0,3", "{v}=-1,2", "{v}=1.5,2", "=3,3", "{v}=²,3",
            "{v}=３,3", "{v}=٣,2", "{v}=1e3,2", "{v}=99999999,2", "{v}=,", "{v}=3,", "{v}=n-1,2", "{v}=é,2",
            "{v}=n n,2", "Q9=2,2", "1X=2,2", "{v}=(2,2)", "{v}=2;3"]
BAD_OPTIONS = [
    ["--order", "0"], ["--order", "3"], ["--order", "-1"], ["--order", "x"], ["--order", "1.5"], ["--order", ""],
    ["--layout", "diagonal"], ["--format", "yaml"], ["--format", ""], ["--method", "magic"],
    ["--timeout", "inf"], ["--timeout", "nan"], ["--timeout", "-1"], ["--timeout", "1e400"], ["--timeout", "abc"],
    ["--timeout", ""], ["--timeout", "1e300"], ["--timeout", "-inf"], ["--model", "transformer"],
    ["--loss", "hinge"], ["--initial", "random"], ["--frobnicate"], ["--dim"], ["--wrt"], ["--sum-to-one", "Q9"],
    ["--wrt", "nothere"], ["--wrt", ""], ["--wrt", "_x"], ["--scalar", "Q9"], ["--order=abc"], ["--format=xml"],
]


def _corrupt(rnd: random.Random, program: str) -> str:
    """A change that certainly makes ``program`` invalid."""
    kind = rnd.randrange(6)
    if kind == 0:                       # a character outside the language
        i = rnd.randrange(len(program) + 1)
        return program[:i] + rnd.choice(BAD_CHARS) + program[i:]
    if kind == 1:                       # a dangling operator
        return program + rnd.choice([" +", " *", " .*", " /", " ^", " -", " ./", " .^", "'*"])
    if kind == 2:                       # unbalanced
        return rnd.choice(["(" + program, program + ")", program + "(", "[" + program])
    if kind == 3:                       # an unknown function around a term
        return f"{rnd.choice(['frob', 'eval', 'exec', 'open', 'print', 'np.sum'])}({program})"
    if kind == 4:                       # injection probes
        return program + rnd.choice(["; __import__('os').system('true')", " + eval(\"1\")", "; import os",
                                     " + x.__class__", "; lambda: 0", " + `id`", " + ${HOME}"])
    return rnd.choice(["", " ", "\n", ";;", "=", "f =", "1..2", "1e", ".", "x ++* y", "sum()", "sum(x, y)",
                       "x[", "h[t] = h[t+1]; f = sum_t(h[t])", "f(x)", "T[t]", "()"])


def generate(rnd: random.Random):
    """(category, args, garbage?) — garbage inputs must never exit 0."""
    program, variables = rnd.choice(PROGRAMS)
    fmt = ["--format", "json"] if rnd.random() < 0.3 else []
    kind = rnd.randrange(10)
    if kind < 3:
        return "bad program", ["derive", _corrupt(rnd, program), *fmt], True
    if kind < 5:
        option = rnd.choice(BAD_OPTIONS)
        if option[0].startswith("--format"):   # given twice, the last one counts (as everywhere)
            fmt = []
        if option[0] in ("--dim", "--wrt") and len(option) == 1:   # a missing value: last
            return "bad option", ["derive", program, *fmt, *option], True
        before = rnd.random() < 0.3
        return "bad option", ["derive", *(option if before else []), program, *([] if before else option),
                              *fmt], True
    if kind < 6:
        dim = rnd.choice(BAD_DIMS).format(v=rnd.choice(variables))
        return "bad --dim", ["derive", program, "--dim", dim, *fmt], True
    if kind < 8:
        wrt = rnd.choice(variables)
        claim = _corrupt(rnd, rnd.choice([wrt, f"2*{wrt}", f"{wrt}'", "0"]))
        args = ["check", program, "--wrt", wrt, "--claim", claim]
        if rnd.random() < 0.2:
            args = ["check", program, "--claim", claim]          # --wrt missing
        return "bad claim", args + (["--format", "json"] if fmt else []), True
    if kind < 9:
        text = rnd.choice(NEGATABLE)
        prefix = rnd.choice(["-", "- ", "--", "-2*", "-(-(", "-(- "])
        return "leading minus", ["derive", prefix + text + ")" * prefix.count("("), *fmt], False
    words = ["derive", "check", "rules", "--help", "-h", "--version", "frob", "-x", "--", program, "--wrt",
             "--dim", "X=2,2", "--format", "json", "--claim", "x"]
    args = [rnd.choice(words) for _ in range(rnd.randint(0, 5))]
    return "shuffled words", args, None        # anything but a crash is fine


def _json_mode(args) -> bool:
    """Whether --format json is among the options (before any ``--``)."""
    return _wants_json(list(args))


def judge(args, result, garbage) -> list[str]:
    """What is wrong with one run (empty: clean)."""
    problems = []
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        problems.append(f"exception {type(result.exception).__name__}")
    if result.exit_code == 3:
        problems.append("exit 3")
    if "Traceback" in result.stdout or "Traceback" in result.stderr:
        problems.append("traceback")
    if garbage and result.exit_code == 0:
        problems.append("exit 0 on garbage")
    if garbage is False and result.exit_code not in (0, 1):
        problems.append("valid input refused")
    json_mode = _json_mode(args)
    if result.exit_code == 2 and garbage is not None:
        if json_mode:
            try:
                error = json.loads(result.stdout)["error"]
                if set(error) != {"kind", "message", "line", "column"} or result.stderr:
                    problems.append("bad JSON error")
            except (ValueError, KeyError, TypeError):
                problems.append("bad JSON error")
        else:
            lines = result.stderr.splitlines()
            if not lines or not lines[0].startswith("matcalc: ") or len(lines) > 3 or \
                    any(not line.startswith("  ") for line in lines[1:]):
                problems.append("error not one line")
    return problems


def fuzz(inputs: int, seed: int, verbose: bool = True) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    rnd = random.Random(seed)
    runner = CliRunner()
    t0, last = time.time(), time.time()
    for k in range(inputs):
        category, args, garbage = generate(rnd)
        result = runner.invoke(main, args + (["--timeout", "20"] if args[:1] in (["derive"], ["check"])
                                             and "--timeout" not in args and "--" not in args else []))
        counts["inputs"] += 1
        counts[f"{category}: exit {result.exit_code}"] += 1
        for problem in judge(args, result, garbage):
            counts[problem] += 1
            if verbose and counts[problem] <= 5:
                print(f"  {problem.upper()}: {args!r}: exit {result.exit_code}: "
                      f"{(result.stderr or result.stdout)[-300:]!r}", flush=True)
        if verbose and (time.time() - last > 30 or k + 1 == inputs):
            last = time.time()
            print(f"[fuzz] {k + 1}/{inputs} in {last - t0:.0f} s", file=sys.stderr, flush=True)
    return counts


PROBLEMS = ("exception", "exit 3", "traceback", "exit 0 on garbage", "valid input refused", "bad JSON error",
            "error not one line")


def problems(counts) -> int:
    return sum(v for k, v in counts.items() if k.startswith(PROBLEMS))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    t0 = time.time()
    counts = fuzz(options.inputs, options.seed)
    print(f"malformed CLI inputs: {counts['inputs']} in {time.time() - t0:.0f} s (seed {options.seed})")
    for name in PROBLEMS:
        print(f"  {name:22} {sum(v for k, v in counts.items() if k.startswith(name))}")
    for key, value in sorted(counts.items()):
        if ": exit" in key:
            print(f"    {key}: {value}")
    sys.exit(1 if problems(counts) else 0)
