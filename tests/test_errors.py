"""User errors (CONTRACT.md: "exit 2 on a user error ... with a one-line message that points at
the offending place; no traceback").

CLI: exit code 2, stdout empty, stderr = one line starting with "matcalc:" optionally followed
by the source line and a caret line; never a traceback (checked in-process with CliRunner and
in a real subprocess).  Library: matcalc.derive raises a matcalc.MatcalcError subclass, and
err.pos locates the offending character.
"""
import subprocess
import sys

import pytest
from click.testing import CliRunner

import matcalc
from matcalc import MatcalcError, ParseError, ShapeError
from matcalc.cli import main

DEEP = "(" * 300 + "x" + ")" * 300

# id -> CLI arguments after `derive`
CLI_CASES = {
    "unbalanced-open": ["sum((x)"],
    "unbalanced-close": ["sum(x))"],
    "dangling-plus": ["x +"],
    "juxtaposed-numbers": ["2 3"],
    "at-sign": ["@"],
    "empty": [""],
    "blank": ["   "],
    "unknown-function": ["foo(x)"],
    "wrong-arity-2": ["tr(X, Y)"],
    "wrong-arity-0": ["sum()"],
    "matmul-mismatch": ["sum(X*y)", "--dim", "X=3,4", "--dim", "y=3,1"],
    "add-mismatch": ["sum(x + y)", "--dim", "x=3,1", "--dim", "y=4,1"],
    "non-scalar-function": ["X*w"],
    "unknown-wrt": ["norm2(X*w - y)^2", "--wrt", "z"],
    "wrt-intermediate": ["H = X*w; f = sum(H)", "--wrt", "H"],
    "dim-zero": ["sum(X)", "--dim", "X=0,3"],
    "dim-space": ["sum(X)", "--dim", "X=a b"],
    "dim-no-equals": ["sum(X)", "--dim", "X"],
    "dim-one-size": ["sum(X)", "--dim", "X=3"],
    "dim-three-sizes": ["sum(X)", "--dim", "X=3,4,5"],
    "dim-negative": ["sum(X)", "--dim", "X=-1,3"],
    "dim-empty-size": ["sum(X)", "--dim", "X=3,"],
    "dim-unused-name": ["sum(X)", "--dim", "Z=3,3"],
    "caret-on-matrix": ["sum(X^2)"],
    "tr-non-square": ["tr(X)", "--dim", "X=3,4"],
    "injection": ["__import__('os').system('echo hi')"],
    "second-line-error": ["f = sum(x)\ng = sum(x +)"],
    "sum-to-one-scalar": ["a*sum(x)", "--sum-to-one", "a"],
}


def check_message(stderr: str, stdout: str):
    """One "matcalc:" line, optionally followed by the source line and a caret line."""
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert stdout == "", stdout
    lines = stderr.rstrip("\n").split("\n")
    assert lines[0].startswith("matcalc:"), stderr
    assert len(lines[0]) > len("matcalc: ")
    assert len(lines) in (1, 3), stderr
    if len(lines) == 3:
        assert lines[2].strip() == "^", stderr
        assert set(lines[2][:lines[2].index("^")]) <= {" "}
    return lines


def invoke(args):
    return CliRunner().invoke(main, ["derive", *args])


@pytest.mark.parametrize("args", list(CLI_CASES.values()), ids=list(CLI_CASES))
def test_cli_user_error_in_process(args):
    result = invoke(args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, result.output)
    check_message(result.stderr, result.stdout)


@pytest.mark.parametrize("args", list(CLI_CASES.values()), ids=list(CLI_CASES))
def test_cli_user_error_subprocess(args):
    proc = subprocess.run([sys.executable, "-m", "matcalc", "derive", *args], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    check_message(proc.stderr, proc.stdout)


def test_cli_injection_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    for expr in (f"__import__('os').system('touch {marker}')",
                 f"sum(x) + __import__('os').system('touch {marker}')",
                 f"f = sum(x)\n__import__('os').system('touch {marker}')",
                 f"eval('open(\"{marker}\", \"w\")')"):
        proc = subprocess.run([sys.executable, "-m", "matcalc", "derive", expr], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 2, (expr, proc.stderr)
        check_message(proc.stderr, proc.stdout)
        assert not marker.exists(), expr
    proc = subprocess.run([sys.executable, "-m", "matcalc", "derive", "__import__('os').system('echo hi')"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "hi" not in proc.stdout


def test_cli_deep_nesting_clean():
    """300-deep parentheses: a clean error (exit 2) or a result, never a traceback."""
    for expr in (f"sum({DEEP})", "sum(" + "exp(" * 300 + "x" + ")" * 300 + ")", "-" * 300 + "a"):
        args = ["derive", "--", expr] if expr.startswith("-") else ["derive", expr]
        proc = subprocess.run([sys.executable, "-m", "matcalc", *args], capture_output=True,
                              text=True, timeout=300)
        assert "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr, proc.stderr[-1500:]
        assert proc.returncode in (0, 2), proc.stderr[-1500:]
        if proc.returncode == 2:
            check_message(proc.stderr, proc.stdout)


def test_cli_deep_nesting_in_process():
    result = invoke([f"sum({DEEP})"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2)
    if result.exit_code == 2:
        check_message(result.stderr, result.stdout)


def test_cli_caret_column():
    result = invoke(["sum(X*y)", "--dim", "X=3,4", "--dim", "y=3,1"])
    lines = check_message(result.stderr, result.stdout)
    assert len(lines) == 3
    source_line, caret = lines[1], lines[2]
    assert source_line.strip() == "sum(X*y)"
    assert source_line[caret.index("^")] == "*"

    result = invoke(["x +"])
    lines = check_message(result.stderr, result.stdout)
    assert len(lines) == 3
    assert lines[2].index("^") == lines[1].index("+") + 1  # just past the end of "x +"

    result = invoke(["f = sum(x)\ng = sum(x +)"])
    lines = check_message(result.stderr, result.stdout)
    assert lines[1].strip() == "g = sum(x +)"  # the offending line, not the first one
    assert lines[1][lines[2].index("^")] == ")"


# ------------------------------------------------------------------ library
def raises(expr, error=MatcalcError, **kwargs):
    with pytest.raises(MatcalcError) as info:
        matcalc.derive(expr, **kwargs)
    assert isinstance(info.value, error), (type(info.value), info.value)
    assert "\n" not in str(info.value)
    return info.value


LIB_SYNTAX = {"sum((x)": 7, "x +": 3, "2 3": 2, "@": 0, "": 0, "sum(x))": 6, "1 +* x": 3}


@pytest.mark.parametrize("expr,pos", list(LIB_SYNTAX.items()), ids=list(LIB_SYNTAX))
def test_library_syntax_errors(expr, pos):
    err = raises(expr, ParseError)
    assert err.pos == pos
    assert err.source == expr


LIB_OTHER = [
    ("foo(x)", {}, MatcalcError),
    ("tr(X, Y)", {}, MatcalcError),
    ("sum()", {}, MatcalcError),
    ("sum(X*y)", {"shapes": {"X": (3, 4), "y": (3, 1)}}, ShapeError),
    ("sum(x + y)", {"shapes": {"x": (3, 1), "y": (4, 1)}}, ShapeError),
    ("X*w", {}, ShapeError),
    ("norm2(X*w - y)^2", {"wrt": ["z"]}, MatcalcError),
    ("sum(X)", {"shapes": {"X": (0, 3)}}, ShapeError),
    ("sum(X)", {"shapes": {"X": (3,)}}, ShapeError),
    ("sum(X)", {"shapes": {"X": ("a b", 3)}}, ShapeError),
    ("sum(X)", {"shapes": {"Z": (3, 3)}}, MatcalcError),
    ("sum(X^2)", {}, ShapeError),
    ("tr(X)", {"shapes": {"X": (3, 4)}}, ShapeError),
    ("__import__('os').system('echo hi')", {}, MatcalcError),
    ("sum(np)", {}, MatcalcError),
    ("sum(def)", {}, MatcalcError),      # a Python keyword (lambda is a name now: λ)
]


@pytest.mark.parametrize("expr,kwargs,error", LIB_OTHER,
                         ids=[f"{i}-{e[:20]}" for i, (e, _, _) in enumerate(LIB_OTHER)])
def test_library_errors(expr, kwargs, error):
    raises(expr, error, **kwargs)


def test_library_positions():
    err = raises("sum(X*y)", ShapeError, shapes={"X": (3, 4), "y": (3, 1)})
    assert err.pos == 5 and err.source[err.pos] == "*"
    err = raises("sum(x + y)", ShapeError, shapes={"x": (3, 1), "y": (4, 1)})
    assert err.source[err.pos] == "+"
    err = raises("foo(x)")
    assert err.pos == 0
    err = raises("sum(X^2)", ShapeError)
    assert err.source[err.pos] == "^"
    src = "f = sum(x)\ng = sum(x +)"
    err = raises(src, ParseError)
    assert src[err.pos] == ")" and err.pos == src.index(")", src.index("\n"))
    assert "line 2" in str(err)


def test_library_pointer():
    err = raises("sum(X*y)", ShapeError, shapes={"X": (3, 4), "y": (3, 1)})
    source_line, caret = err.pointer().split("\n")
    assert source_line[caret.index("^")] == "*"


def test_library_injection_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(MatcalcError):
        matcalc.derive(f"__import__('os').system('touch {marker}')")
    with pytest.raises(MatcalcError):
        matcalc.derive(f"sum(x) + eval('open(\"{marker}\", \"w\")')")
    assert not marker.exists()


def test_library_deep_nesting():
    try:
        d = matcalc.derive(f"sum({DEEP})")
    except MatcalcError:
        return
    assert d.check().passed


def test_library_invalid_order_and_unknown_gradient_name():
    with pytest.raises(MatcalcError):
        matcalc.derive("sum(X)", order=3)
    d = matcalc.derive("norm2(X*w - y)^2", wrt=["w"])
    with pytest.raises(MatcalcError):
        d.gradient("X")
