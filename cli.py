"""The ``matcalc`` command line (installed as ``matcalc.cli``); a thin layer over the library."""
from __future__ import annotations

import json
import sys

import click

from matcalc.cli_support import Cli, ProgramCommand, checked_timeout, report
from matcalc.errors import MatcalcError

EXAMPLES = """\b
Examples:
  matcalc derive "norm2(X*w - y)^2" --wrt w
  matcalc derive "H = sigmoid(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2" \\
      --dim X=n,d --dim W1=d,h --dim b1=1,h --dim W2=h,k --dim b2=1,k --dim Y=n,k --check
  matcalc derive "-sum(Y .* log(softmax(X*W)))" --wrt W --sum-to-one Y --format latex
  matcalc derive "h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b); f = sum_t(norm2(h[t]*V - y[t])^2)" \\
      --dim x=B,D --dim y=B,K --dim Wx=D,H --dim Wh=H,H --dim b=1,H --dim V=H,K --check
  matcalc derive --model lstm --loss xent --steps --check
  matcalc check "norm2(X*W - Y)^2" --wrt W --claim "X'*(X*W - Y)"
  matcalc rules --check
"""


def _internal(err: Exception) -> None:
    """A bug, in one line (exit 3); commands with --format json call ``report`` themselves."""
    report(err, "text", internal=True)


def _fail(err: Exception) -> None:
    """A user error, in one line and a caret line (exit 2)."""
    report(err, "text")


def _parse_dims(dims, scalars) -> dict:
    shapes: dict = {}
    for item in dims:
        if "=" not in item:
            raise MatcalcError(f"bad --dim {item!r}: write NAME=ROWS,COLS (e.g. X=n,d), or NAME= for a scalar")
        name, _, sizes = item.partition("=")
        name = name.strip()
        if name in shapes:
            raise MatcalcError(f"--dim {name} is given twice")
        parts = [s.strip() for s in sizes.split(",")] if sizes.strip() else []
        if any(not p for p in parts):
            raise MatcalcError(f"bad --dim {item!r}: an empty size")
        shapes[name] = tuple(parts)
    for name in scalars:
        if name.strip() in shapes:
            raise MatcalcError(f"{name.strip()} is declared twice (--scalar and --dim)")
        shapes[name.strip()] = ()
    return shapes


@click.group(cls=Cli, epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="matcalc", message="matcalc %(version)s")
def main():
    """matcalc: closed-form matrix calculus — gradients, derivations, NumPy code, checks."""


@main.command(cls=ProgramCommand, epilog=EXAMPLES)
@click.argument("expr", required=False)
@click.option("--wrt", multiple=True, help="Variable to differentiate with respect to (repeatable; default: all).")
@click.option("--dim", "dims", multiple=True, metavar="NAME=ROWS,COLS",
              help="Shape of a variable: X=8,3 or X=n,d (symbolic); NAME= for a scalar.")
@click.option("--scalar", "scalars", multiple=True, metavar="NAME", help="Declare a scalar variable.")
@click.option("--layout", type=click.Choice(["numerator", "denominator"]), default=None,
              help="Jacobian layout (for vector/matrix functions).")
@click.option("--order", type=int, default=1, show_default=True, help="1: gradient, 2: Hessian.")
@click.option("--format", "fmt", type=click.Choice(["text", "latex", "markdown", "numpy", "jax", "torch", "json"]),
              default="text", show_default=True)
@click.option("--steps", is_flag=True, help="Show the derivation step by step (Markdown notes always do).")
@click.option("--method", type=click.Choice(["backprop", "trace", "jacobian"]), default="backprop",
              show_default=True, help="How the steps derive: named deltas, trace differentials, Jacobian chain.")
@click.option("--standalone", is_flag=True, help="With --format latex: a complete document for pdflatex.")
@click.option("--check", "do_check", is_flag=True, help="Verify against finite differences (exit 1 if it fails).")
@click.option("--sum-to-one", "sum_to_one", multiple=True, metavar="NAME",
              help="Assume the rows of NAME (entries, for a vector) sum to one, e.g. one-hot labels.")
@click.option("--model", type=click.Choice(["rnn", "lstm", "gru"]), default=None,
              help="A built-in recurrent model instead of EXPR (backpropagation through time).")
@click.option("--loss", "loss", type=click.Choice(["squared", "xent"]), default="squared", show_default=True,
              help="With --model: the per-step loss, squared error or softmax cross-entropy.")
@click.option("--initial", type=click.Choice(["zeros", "param"]), default="zeros", show_default=True,
              help="With --model: initial states of zeros, or parameters h0 (and C0) to differentiate.")
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Stop with exit 2 when the work takes longer (default 60; 0: no limit).")
@click.option("--sym", "symmetric", multiple=True, metavar="NAME", help="NAME is a symmetric matrix.")
@click.option("--spd", multiple=True, metavar="NAME", help="NAME is symmetric positive definite.")
@click.option("--diagonal", multiple=True, metavar="NAME", help="NAME is a diagonal matrix.")
@click.option("--convention", type=click.Choice(["sym", "cookbook"]), default="sym", show_default=True,
              help="Gradient w.r.t. a symmetric matrix: (G + Gᵀ)/2, or the Cookbook's G + Gᵀ − diag(G).")
@click.option("--diagonal-vector", is_flag=True, help="A diagonal variable's gradient as the vector of its diagonal.")
@click.option("--latex-input", "latex_input", is_flag=True,
              help="EXPR is LaTeX (h = XW_1 + b_1 \\\\ f = \\|h - Y\\|_F^2), translated to the language.")
@click.option("--memory-limit", "memory_limit", default=None, metavar="SIZE",
              help="Refuse (exit 2) a check or result array larger than SIZE, e.g. 8G (default 4G; 0: no limit).")
@click.option("--expand", is_flag=True, help="Print results fully inlined (no names for repeated parts).")
def derive(expr, wrt, dims, scalars, layout, order, fmt, steps, method, standalone, do_check, sum_to_one,
           model, loss, initial, timeout, symmetric=(), spd=(), diagonal=(), convention="sym",
           diagonal_vector=False, latex_input=False, memory_limit=None, expand=False):
    """Differentiate EXPR (a program in the contract language; with sequences x[t], h[t] = ...h[t-1]...,
    sum_t(...) for recurrent models)."""
    import matcalc
    from matcalc.limits import DEFAULT_TIMEOUT, time_limit
    try:
        with time_limit(checked_timeout(timeout, DEFAULT_TIMEOUT)):
            if latex_input and expr:
                from matcalc.lang.latex_input import program_to_language
                expr = program_to_language(expr)
            structure = _structure(symmetric, spd, diagonal, diagonal_vector)
            output, result = _derive(matcalc, expr, wrt, dims, scalars, layout, order, fmt, steps, method,
                                     standalone, do_check, sum_to_one, model, loss, initial,
                                     dict(structure=structure, convention=convention,
                                          diagonal_vector=diagonal_vector) if structure else {},
                                     memory_limit, expand)
    except MatcalcError as err:
        report(err, fmt)
    except RecursionError:
        report(MatcalcError("expression too deeply nested"), fmt)
    except MemoryError:
        report(MatcalcError("out of memory (a lower --memory-limit refuses such requests before they start)"), fmt)
    except Exception as err:  # noqa: BLE001 - a bug: say so in one line, never a traceback
        report(err, fmt, internal=True)
    click.echo(output)
    if result is not None:
        if fmt != "json":
            click.echo(str(result), err=fmt in ("numpy", "jax", "torch"))
        if not result.passed:
            sys.exit(1)


def _structure(symmetric, spd, diagonal, diagonal_vector=False) -> dict:
    """--sym/--spd/--diagonal NAME -> {NAME: kind}; a name declared twice is an error, and so is
    --diagonal-vector without a --diagonal variable."""
    if diagonal_vector and not diagonal:
        raise MatcalcError("--diagonal-vector is about a diagonal variable: declare it with --diagonal NAME")
    out: dict = {}
    for kind, names in (("symmetric", symmetric), ("spd", spd), ("diagonal", diagonal)):
        for name in names:
            if name.strip() in out:
                raise MatcalcError(f"{name.strip()} is given two structures")
            out[name.strip()] = kind
    return out


def _derive(matcalc, expr, wrt, dims, scalars, layout, order, fmt, steps, method, standalone, do_check,
            sum_to_one, model, loss, initial, structured=None, memory_limit=None,
            expand=False):
    """(output text, check result or None)."""
    from matcalc.differentiate.memory import DEFAULT_MEMORY_LIMIT, parse_limit
    limit = DEFAULT_MEMORY_LIMIT if memory_limit is None else parse_limit(memory_limit)
    shapes = _parse_dims(dims, scalars)
    if model is not None:
        from matcalc.recurrent.models import template
        if expr:
            raise MatcalcError("give either EXPR or --model, not both")
        expr, defaults, labels = template(model, loss, initial)
        shapes = {**defaults, **shapes}
        sum_to_one = tuple(dict.fromkeys(list(sum_to_one) + labels))
    elif not expr:
        raise MatcalcError("missing EXPR (or --model rnn|lstm|gru)")
    d = matcalc.derive(expr, wrt=list(wrt) or None, shapes=shapes, layout=layout, order=order,
                       sum_to_one=list(sum_to_one), method=method, memory_limit=limit,
                       **(structured or {}))
    from matcalc.derivation import _refuse_size_clash
    _refuse_size_clash(shapes, getattr(d, "program", None))   # n𝟏/n: two n's printed alike
    d.expand = expand
    if not wrt:
        _note_default_wrt(d.wrt)
    result = d.check() if do_check else None
    return _render(d, fmt, steps, standalone, result), result


DATA_NAMES = {"X", "Y", "x", "y"}   # conventional names of data: rarely wanted as a --wrt


def _note_default_wrt(names) -> None:
    """Without --wrt every variable is differentiated (the library's default); when that
    includes data such as X or Y, say so on stderr and show the --wrt for the parameters."""
    data = [n for n in names if n in DATA_NAMES]
    params = [n for n in names if n not in DATA_NAMES]
    if data and params:
        click.echo(f"note: no --wrt, so every variable is differentiated, data {', '.join(data)} included; "
                   f"for the parameters only: {' '.join('--wrt ' + n for n in params)}", err=True)


def _render(d, fmt, steps, standalone, result) -> str:
    if fmt == "json":
        return json.dumps(d.to_json(result, steps=steps), indent=2, ensure_ascii=False)
    if fmt == "latex":
        return d.latex(steps=steps, standalone=standalone)
    if fmt == "markdown":
        return d.markdown()
    if fmt == "numpy":
        return d.numpy_source()
    if fmt in ("jax", "torch"):   # the same function for JAX / PyTorch (the framework need not be installed)
        return d.jax_source() if fmt == "jax" else d.torch_source()
    return d.text(steps=steps)


@main.command("check", cls=ProgramCommand)
@click.argument("expr")
@click.option("--wrt", required=True, multiple=True, help="The variable the claim is the gradient (or Jacobian) for.")
@click.option("--claim", default=None, help="The hand-derived result, in the same language.")
@click.option("--claim-latex", "claim_latex", default=None, help="The hand-derived result in LaTeX (2X^T(XW-Y)).")
@click.option("--latex-input", "latex_input", is_flag=True, help="EXPR is LaTeX too.")
@click.option("--dim", "dims", multiple=True, metavar="NAME=ROWS,COLS", help="Shape of a variable.")
@click.option("--scalar", "scalars", multiple=True, metavar="NAME", help="Declare a scalar variable.")
@click.option("--layout", type=click.Choice(["numerator", "denominator"]), default=None,
              help="The claim is a Jacobian in this layout.")
@click.option("--sum-to-one", "sum_to_one", multiple=True, metavar="NAME",
              help="Assume the rows of NAME sum to one (one-hot labels).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Stop with exit 2 when the work takes longer (default 60; 0: no limit).")
@click.option("--sym", "symmetric", multiple=True, metavar="NAME", help="NAME is a symmetric matrix.")
@click.option("--spd", multiple=True, metavar="NAME", help="NAME is symmetric positive definite.")
@click.option("--diagonal", multiple=True, metavar="NAME", help="NAME is a diagonal matrix.")
@click.option("--convention", type=click.Choice(["sym", "cookbook"]), default="sym", show_default=True,
              help="Gradient w.r.t. a symmetric matrix: (G + Gᵀ)/2, or the Cookbook's G + Gᵀ − diag(G).")
@click.option("--memory-limit", "memory_limit", default=None, metavar="SIZE",
              help="Refuse (exit 2) a check or result array larger than SIZE, e.g. 8G (default 4G; 0: no limit).")
@click.option("--diagonal-vector", is_flag=True, help="The claim for a diagonal variable is the vector of its diagonal.")
def check_command(expr, wrt, claim, dims, scalars, layout, sum_to_one, fmt, timeout, symmetric=(), spd=(),
                  diagonal=(), convention="sym", claim_latex=None,
                  latex_input=False, memory_limit=None, diagonal_vector=False):
    """Verify a hand-derived gradient: exit 0 if the claim is right, 1 if wrong (saying how), 2 on an
    input error."""
    import matcalc
    from matcalc.limits import DEFAULT_TIMEOUT, time_limit
    if (claim is None) == (claim_latex is None):
        raise click.UsageError("give the claim with --claim EXPR or --claim-latex LATEX (one of them)")
    try:
        with time_limit(checked_timeout(timeout, DEFAULT_TIMEOUT)):
            shapes = _parse_dims(dims, scalars)
            expr, claim = _latex_claim(expr, claim, claim_latex, latex_input, shapes)
            structure = _structure(symmetric, spd, diagonal, diagonal_vector)
            from matcalc.differentiate.memory import DEFAULT_MEMORY_LIMIT, parse_limit
            limit = DEFAULT_MEMORY_LIMIT if memory_limit is None else parse_limit(memory_limit)
            result = matcalc.check(expr, list(wrt), claim, shapes, layout, list(sum_to_one), memory_limit=limit,
                                   **(dict(structure=structure, convention=convention,
                                           diagonal_vector=diagonal_vector) if structure else {}))
            output = (json.dumps(result.to_json(), indent=2, ensure_ascii=False) if fmt == "json"
                      else result.text())
    except MatcalcError as err:
        report(err, fmt)
    except RecursionError:
        report(MatcalcError("expression too deeply nested"), fmt)
    except MemoryError:
        report(MatcalcError("out of memory (a lower --memory-limit refuses such requests before they start)"), fmt)
    except Exception as err:  # noqa: BLE001 - a bug: one line, never a traceback
        report(err, fmt, internal=True)
    click.echo(output)
    sys.exit(0 if result.verdict == "correct" else 1)


def _latex_claim(expr, claim, claim_latex, latex_input, shapes=None):
    """(program, claim) in the language, from --claim or --claim-latex (and --latex-input)."""
    from matcalc.lang.latex_input import claim_to_language, program_to_language
    if (claim is None) == (claim_latex is None):
        raise MatcalcError("give the claim with --claim EXPR or --claim-latex LATEX (one of them)")
    if latex_input:
        expr = program_to_language(expr)
    if claim_latex is not None:
        claim = claim_to_language(claim_latex, expr, shapes)
    return expr, claim


@main.command("check-note", cls=ProgramCommand)
@click.argument("note", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--dim", "dims", multiple=True, metavar="NAME=ROWS,COLS", help="Shape of a variable of the note.")
@click.option("--scalar", "scalars", multiple=True, metavar="NAME", help="Declare a scalar variable.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Time for one claim; a slower one is listed as not checked (default 60; 0: no limit).")
def check_note_command(note, dims, scalars, fmt, timeout):
    """Check every derivative claim of a Markdown/LaTeX NOTE: exit 0 if all hold, 1 if one is wrong,
    2 if the note cannot be read."""
    from matcalc.limits import DEFAULT_TIMEOUT
    from matcalc.judge import note_check, note_report
    try:
        with click.open_file(note, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as err:
        report(MatcalcError(f"cannot read the note {note}: {getattr(err, 'strerror', None) or err}"), fmt)
    try:
        result = note_check.check_note(text, _parse_dims(dims, scalars), checked_timeout(timeout, DEFAULT_TIMEOUT))
        output = (json.dumps(result.to_json(), indent=2, ensure_ascii=False) if fmt == "json" else
                  note_report.report_markdown(text, result) if fmt == "markdown" else
                  note_report.report_text(result))
    except MatcalcError as err:
        report(err, fmt)
    except RecursionError:
        report(MatcalcError("expression too deeply nested"), fmt)
    except Exception as err:  # noqa: BLE001 - a bug: one line, never a traceback
        report(err, fmt, internal=True)
    click.echo(output)
    sys.exit(result.exit_code)


@main.command()
@click.option("--check", "do_check", is_flag=True, help="Run every rule's numerical self-test.")
def rules(do_check):
    """List the identity catalogue (id, identity, source, domain)."""
    from matcalc.judge.selftest import run_selftests
    from matcalc import rules as catalogue
    failed = 0
    for entry in catalogue.catalogue():
        identity = entry.identity if entry.id.startswith("fn:") else entry.latex
        domain = getattr(entry, "domain", "")
        line = f"{entry.id:<18} {identity}"
        click.echo(line)
        note = getattr(entry, "note", "")
        click.echo(f"{'':<18} {getattr(entry, 'kind', 'function')}; source: {entry.source}"
                   + (f"; domain: {domain}" if domain and domain != "real" else "")
                   + (f"; {note}" if note else ""))
        if do_check:
            ok, message = run_selftests(entry)
            failed += not ok
            click.echo(f"{'':<18} self-test: {'ok' if ok else 'FAILED'} ({message})")
    if do_check:
        click.echo(f"{len(catalogue.catalogue()) - failed} of {len(catalogue.catalogue())} self-tests passed")
        if failed:
            sys.exit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback: this machine only).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Worker processes that run the requests.")
@click.option("--timeout", type=float, default=30.0, show_default=True, metavar="SECONDS",
              help="Time limit of one request (0: none).")
@click.option("--memory", "memory_mb", type=click.IntRange(0), default=2048, show_default=True, metavar="MB",
              help="Memory limit of a worker process (0: none).")
def serve(host, port, open_browser, workers, timeout, memory_mb):
    """The local web page and its JSON API (needs the web extra: pip install 'matcalc[web]')."""
    try:
        timeout = checked_timeout(timeout, 30.0)
    except MatcalcError as err:
        _fail(err)
    try:
        from matcalc.web.app import serve as run
    except ImportError as err:
        _fail(MatcalcError(f"matcalc serve needs the web extra: pip install 'matcalc[web]' ({err})"))
    run(host, port, open_browser, workers, timeout, memory_mb or None)


if __name__ == "__main__":  # pragma: no cover
    main()
