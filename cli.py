"""The ``matcalc`` command line (installed as ``matcalc.cli``); a thin layer over the library."""
from __future__ import annotations

import json
import sys

import click

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
    click.echo(f"matcalc: internal error: {type(err).__name__}: {err} (please report this input)", err=True)
    sys.exit(3)


def _fail(err: Exception) -> None:
    click.echo(f"matcalc: {getattr(err, 'kind', 'error')}: {err}", err=True)
    pointer = err.pointer() if isinstance(err, MatcalcError) else ""
    if pointer:
        click.echo(pointer, err=True)
    sys.exit(2)


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


@click.group(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="matcalc", message="matcalc %(version)s")
def main():
    """matcalc: closed-form matrix calculus — gradients, derivations, NumPy code, checks."""


@main.command(epilog=EXAMPLES, context_settings={"ignore_unknown_options": True})
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
def derive(expr, wrt, dims, scalars, layout, order, fmt, steps, method, standalone, do_check, sum_to_one,
           model, loss, initial, timeout):
    """Differentiate EXPR (a program in the contract language; with sequences x[t], h[t] = ...h[t-1]...,
    sum_t(...) for recurrent models)."""
    import matcalc
    from matcalc.limits import DEFAULT_TIMEOUT, time_limit
    try:
        with time_limit(DEFAULT_TIMEOUT if timeout is None else timeout):
            output, result = _derive(matcalc, expr, wrt, dims, scalars, layout, order, fmt, steps, method,
                                     standalone, do_check, sum_to_one, model, loss, initial)
    except MatcalcError as err:
        _fail(err)
    except RecursionError:
        _fail(MatcalcError("expression too deeply nested"))
    except Exception as err:  # noqa: BLE001 - a bug: say so in one line, never a traceback
        _internal(err)
    click.echo(output)
    if result is not None:
        if fmt != "json":
            click.echo(str(result), err=fmt in ("numpy", "jax", "torch"))
        if not result.passed:
            sys.exit(1)


def _derive(matcalc, expr, wrt, dims, scalars, layout, order, fmt, steps, method, standalone, do_check,
            sum_to_one, model, loss, initial):
    """(output text, check result or None)."""
    shapes = _parse_dims(dims, scalars)
    if model is not None:
        from matcalc.models import template
        if expr:
            raise MatcalcError("give either EXPR or --model, not both")
        expr, defaults, labels = template(model, loss, initial)
        shapes = {**defaults, **shapes}
        sum_to_one = tuple(dict.fromkeys(list(sum_to_one) + labels))
    elif not expr:
        raise MatcalcError("missing EXPR (or --model rnn|lstm|gru)")
    d = matcalc.derive(expr, wrt=list(wrt) or None, shapes=shapes, layout=layout, order=order,
                       sum_to_one=list(sum_to_one), method=method)
    result = d.check() if do_check else None
    return _render(d, fmt, steps, standalone, result), result


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


@main.command("check", context_settings={"ignore_unknown_options": True})
@click.argument("expr")
@click.option("--wrt", required=True, multiple=True, help="The variable the claim is the gradient (or Jacobian) for.")
@click.option("--claim", required=True, help="The hand-derived result, in the same language.")
@click.option("--dim", "dims", multiple=True, metavar="NAME=ROWS,COLS", help="Shape of a variable.")
@click.option("--scalar", "scalars", multiple=True, metavar="NAME", help="Declare a scalar variable.")
@click.option("--layout", type=click.Choice(["numerator", "denominator"]), default=None,
              help="The claim is a Jacobian in this layout.")
@click.option("--sum-to-one", "sum_to_one", multiple=True, metavar="NAME",
              help="Assume the rows of NAME sum to one (one-hot labels).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Stop with exit 2 when the work takes longer (default 60; 0: no limit).")
def check_command(expr, wrt, claim, dims, scalars, layout, sum_to_one, fmt, timeout):
    """Verify a hand-derived gradient: exit 0 if the claim is right, 1 if wrong (saying how), 2 on an
    input error."""
    import matcalc
    from matcalc.limits import DEFAULT_TIMEOUT, time_limit
    try:
        with time_limit(DEFAULT_TIMEOUT if timeout is None else timeout):
            shapes = _parse_dims(dims, scalars)
            result = matcalc.check(expr, list(wrt), claim, shapes, layout, list(sum_to_one))
            output = (json.dumps(result.to_json(), indent=2, ensure_ascii=False) if fmt == "json"
                      else result.text())
    except MatcalcError as err:
        _fail(err)
    except RecursionError:
        _fail(MatcalcError("expression too deeply nested"))
    except Exception as err:  # noqa: BLE001 - a bug: one line, never a traceback
        _internal(err)
    click.echo(output)
    sys.exit(0 if result.verdict == "correct" else 1)


@main.command()
@click.option("--check", "do_check", is_flag=True, help="Run every rule's numerical self-test.")
def rules(do_check):
    """List the identity catalogue (id, identity, source, domain)."""
    from matcalc.selftest import run_selftests
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


if __name__ == "__main__":  # pragma: no cover
    main()
