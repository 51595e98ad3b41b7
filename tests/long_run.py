"""Long property run: random programs through matcalc against an independent reference, and
malformed inputs through the CLI.  Prints the counts.

    python tests/long_run.py [--programs 10000] [--recurrent 1000] [--fuzz 3000] [--seed 0]

Progress goes to stderr (a line every 5 % of each part, and at least every 30 s).
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from click.testing import CliRunner  # noqa: E402

from matcalc.cli import main as cli  # noqa: E402
from program_gen import check_program, generate  # noqa: E402
from recurrent_gen import RecurrentGenerator, check_recurrent  # noqa: E402
from test_properties import NASTY, VALID, _mutate  # noqa: E402


class Progress:
    """A progress line on stderr every 5 % of ``n`` items, and at least every 30 s."""

    def __init__(self, label: str, n: int):
        self.label, self.n, self.t0 = label, n, time.time()
        self.every, self.last = max(1, n // 20), self.t0

    def __call__(self, done: int, counts: collections.Counter) -> None:
        now = time.time()
        if done % self.every and now - self.last < 30 and done != self.n:
            return
        self.last = now
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if ":" not in k)
        print(f"[{self.label}] {done}/{self.n} in {now - self.t0:.0f} s ({shown})", file=sys.stderr, flush=True)


def programs(n: int, seed: int) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    examples: dict = {}
    t0 = time.time()
    progress = Progress("programs", n)
    for k in range(n):
        rnd = random.Random(seed * 1_000_003 + k)
        program, shapes = generate(rnd, rnd.randint(2, 5))
        outcome, detail = check_program(program, shapes, seed=k)
        counts[outcome] += 1
        if outcome in ("refused", "skipped"):
            counts[f"{outcome}: {detail}"] += 1
        if outcome in ("wrong", "crash"):
            examples.setdefault(outcome, []).append((program, shapes, detail))
        progress(k + 1, counts)
    print(f"programs: {n} in {time.time() - t0:.0f} s")
    for key in ("ok", "wrong", "crash", "refused", "skipped"):
        print(f"  {key:8} {counts[key]}")
    for key, value in sorted(counts.items()):
        if ":" in key:
            print(f"    {key}: {value}")
    for outcome, items in examples.items():
        for program, shapes, detail in items[:5]:
            print(f"  {outcome.upper()}: {program} {shapes}: {detail}")
    return counts


def recurrent(n: int, seed: int) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    t0 = time.time()
    progress = Progress("recurrent", n)
    for k in range(n):
        program, shapes, _ = RecurrentGenerator(random.Random(seed * 1_000_003 + k)).recurrent()
        runs = [(shapes, "")] + ([(None, "default kinds ")] if k % 4 == 0 else [])   # also without shapes
        for given, label in runs:
            outcome, detail = check_recurrent(program, given, seed=k)
            counts[outcome] += 1
            if outcome not in ("ok",):
                counts[f"{label}{outcome}: {detail[:70]}"] += 1
            if outcome in ("wrong", "crash"):
                print(f"  {outcome.upper()}: {program} {given}: {detail}", flush=True)
        progress(k + 1, counts)
    print(f"recurrent programs: {n} in {time.time() - t0:.0f} s")
    for key, value in sorted(counts.items()):
        print(f"  {key}: {value}")
    return counts


def fuzz(n: int, seed: int) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    runner = CliRunner()
    rnd = random.Random(seed)
    inputs = list(NASTY) + [_mutate(rnd, rnd.choice(VALID)) for _ in range(n)]
    t0 = time.time()
    progress = Progress("malformed", len(inputs))
    for k, text in enumerate(inputs):
        r = runner.invoke(cli, ["derive", text, "--timeout", "20"], catch_exceptions=True)
        clean = (r.exit_code in (0, 1, 2) and "Traceback" not in r.output and "internal error" not in r.output
                 and (r.exit_code != 2 or (r.stderr or "").startswith("matcalc: ")))
        counts["clean" if clean else "CRASH"] += 1
        counts[f"exit {r.exit_code}"] += 1
        if not clean:
            print(f"  CRASH: {text!r}: exit {r.exit_code}: {r.output[-300:]}", flush=True)
        progress(k + 1, counts)
    print(f"malformed inputs: {len(inputs)} in {time.time() - t0:.0f} s")
    for key, value in sorted(counts.items()):
        print(f"  {key}: {value}")
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--recurrent", type=int, default=1_000)
    parser.add_argument("--fuzz", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    p = programs(args.programs, args.seed)
    r = recurrent(args.recurrent, args.seed)
    f = fuzz(args.fuzz, args.seed)
    sys.exit(1 if p["wrong"] or p["crash"] or r["wrong"] or r["crash"] or f["CRASH"] else 0)
