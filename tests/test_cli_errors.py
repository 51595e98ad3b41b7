"""The command line on hostile input: a program is never an option, every error is one line
(one JSON object with --format json), bad option values are refused, a full disk is an error."""
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

import matcalc
from matcalc.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args):
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the CLI raised {result.exception!r}") from result.exception
    return result


def one_line_error(result, code=2):
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if not line.startswith("  ")]
    assert len(lines) == 1 and lines[0].startswith("matcalc: "), result.stderr
    assert "Traceback" not in result.stderr and "Usage:" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("program, wrt, plain", [
    ("-sum(tanh(x))", "x", "0 - sum(tanh(x))"),
    ("-tanh(a)", "a", "0 - tanh(a)"),
    ("-x'*h", "h", "0 - x'*h"),
    ("-h'*h", "h", "0 - h'*h"),
    ("--x'*x", "x", "x'*x"),
])
@pytest.mark.parametrize("where", ["first", "last"])
def test_a_program_starting_with_minus_is_never_an_option(program, wrt, plain, where):
    args = ["derive", program, "--wrt", wrt] if where == "first" else ["derive", "--wrt", wrt, program]
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    want = run("derive", plain, "--wrt", wrt, "--format", "json")
    assert json.loads(result.stdout)["wrt"][wrt]["result"] == json.loads(want.stdout)["wrt"][wrt]["result"]


def test_check_with_negative_program_and_claim():
    for args in (["check", "-h'*h", "--wrt", "h", "--claim", "-2*h"],
                 ["check", "--claim", "-2*h", "--wrt", "h", "-h'*h"],
                 ["check", "-h'*h", "--wrt=h", "--claim=-2*h"]):
        result = run(*args)
        assert result.exit_code == 0 and result.stdout.startswith("correct"), (args, result.stdout)
    result = run("check", "-h'*h", "--wrt", "h", "--claim", "-h")
    assert result.exit_code == 1 and result.stdout.startswith("wrong")


def test_help_and_double_dash():
    assert run("derive", "-h").stdout.startswith("Usage:")
    assert run("derive", "--help").exit_code == 0
    result = run("derive", "--wrt", "h", "--", "-h'*h")
    assert result.exit_code == 0 and "∂f/∂h" in result.stdout
    one_line_error(run("derive", "--frobnicate", "sum(x)"))


@pytest.mark.parametrize("value", ["inf", "-inf", "1e300", "nan", "-1", "-0.5", "1e7"])
@pytest.mark.parametrize("command", [["derive", "sum(x)"], ["check", "sum(x)", "--wrt", "x", "--claim", "1"]])
def test_bad_timeouts_are_refused(value, command):
    assert "--timeout" in one_line_error(run(*command, "--timeout", value))


def test_good_timeouts():
    for value in ("0", "0.5", "60", "1e6"):
        assert run("derive", "sum(x)", "--timeout", value).exit_code == 0


@pytest.mark.parametrize("dim", ["X=²,3", "X=３,3", "X=٣,3", "X=n²,3", "X=é,3", "X=0x3,3", "X=3.0,3", "X=-1,3"])
def test_dims_with_other_digits_are_refused(dim):
    assert "X" in one_line_error(run("derive", "sum(X)", "--dim", dim))
    with pytest.raises(matcalc.MatcalcError):
        matcalc.derive("sum(X)", shapes={"X": tuple(dim[2:].split(","))})


@pytest.mark.parametrize("args", [
    ["derive", "sum(x)", "--order", "abc"],
    ["derive", "sum(x)", "--format", "yaml"],
    ["derive", "sum(x)", "--wrt"],
    ["derive", "sum(x)", "sum(y)"],
    ["check", "sum(x)", "--wrt", "x"],
    ["frobnicate"],
    ["rules", "--nope"],
])
def test_click_usage_errors_are_one_line(args):
    line = one_line_error(run(*args))
    assert line.startswith("matcalc: usage error: ")


def _subprocess(args, **kw):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "matcalc", *args], env=env, capture_output=True,
                          text=True, timeout=120, **kw)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["check", "x'*x", "--wrt", "x", "--claim", "2*x"], ["derive", "-h"]])
def test_a_full_disk_is_a_one_line_error(args):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "matcalc", *args], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == ["matcalc: cannot write the output: No space left on device"]


def _json_error(result, code=2):
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stderr == ""
    error = json.loads(result.stdout)["error"]
    assert set(error) == {"kind", "message", "line", "column"}
    return error


@pytest.mark.parametrize("command", [["derive"], ["check", "--wrt", "x", "--claim", "x"]])
def test_json_errors(command):
    error = _json_error(run(command[0], "sum(x", *command[1:], "--format", "json"))
    assert error["kind"] == "syntax error" and (error["line"], error["column"]) == (1, 6)
    error = _json_error(run(command[0], "sum(x)\n+ y*", *command[1:], "--format", "json"))
    assert error["line"] == 2 and error["column"] == 5
    error = _json_error(run(command[0], "sum(X*y)", *command[1:], "--dim", "X=2,3", "--dim", "y=2,1",
                            "--format", "json"))
    assert error["kind"] == "shape error" and error["column"] is not None
    error = _json_error(run(command[0], "sum(x)", *command[1:], "--timeout", "nan", "--format", "json"))
    assert "--timeout" in error["message"] and error["line"] is None
    error = _json_error(run(command[0], "sum(x)", *command[1:], "--format=json", "--order", "x"))
    assert error["kind"] == "usage error"


def test_json_internal_error(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(matcalc, "derive", broken)
    monkeypatch.setattr(matcalc, "check", broken)
    error = _json_error(run("derive", "sum(x)", "--format", "json"), code=3)
    assert error["kind"] == "internal error" and "boom" in error["message"]
    error = _json_error(run("check", "sum(x)", "--wrt", "x", "--claim", "1", "--format", "json"), code=3)
    assert error["kind"] == "internal error"
    result = run("derive", "sum(x)")
    assert result.exit_code == 3 and result.stderr.count("\n") == 1


def test_subprocess_entry_point():
    proc = _subprocess(["derive", "-sum(tanh(x))"])
    assert proc.returncode == 0 and "∂f/∂x" in proc.stdout
    proc = _subprocess([])
    assert proc.returncode == 2 and "Usage:" in proc.stderr


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1, 1e300, 10**400, "5", True])
def test_library_refuses_bad_timeouts(timeout):
    with pytest.raises(matcalc.MatcalcError, match="timeout"):
        matcalc.derive("sum(x)", timeout=timeout)


def test_library_takes_numeric_timeouts():
    import numpy as np
    for timeout in (0, 2, 0.5, np.float32(3), np.int64(4)):
        assert matcalc.derive("sum(x)", timeout=timeout).gradient("x") is not None
