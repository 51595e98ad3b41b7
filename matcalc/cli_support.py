"""The command line's plumbing: programs are never options, every error is one line (or one JSON
object with ``--format json``), and the option values click cannot check are checked here."""
from __future__ import annotations

import json
import os
import re
import sys

import click

from .errors import MatcalcError
from .limits import check_timeout

_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())   # click >= 8.2
_LONG_OPTION = re.compile(r"--[A-Za-z][A-Za-z0-9-]*(=.*)?\Z", re.S)   # "--x'*x" is a program


def error_json(kind: str, message: str, line: int | None = None, column: int | None = None) -> str:
    """The JSON object an error is in ``--format json``."""
    return json.dumps({"error": {"kind": kind, "message": message, "line": line, "column": column}},
                      indent=2, ensure_ascii=False)


def report(err: Exception, fmt: str, internal: bool = False) -> None:
    """Say what went wrong (one line, with a caret line under the place if known; a JSON object on
    stdout with ``--format json``) and exit 2, or 3 for an internal error."""
    code = 3 if internal else 2
    if internal:
        kind, message = "internal error", f"{type(err).__name__}: {err} (please report this input)"
    else:
        kind, message = getattr(err, "kind", "error"), getattr(err, "message", str(err))
    if fmt == "json":
        where = err._location() if isinstance(err, MatcalcError) else None
        line, column = where or (None, None)
        click.echo(error_json(kind, message, line, column))
        sys.exit(code)
    click.echo(f"matcalc: {kind}: {message if internal else err}", err=True)
    pointer = err.pointer() if isinstance(err, MatcalcError) else ""
    if pointer:
        click.echo(pointer, err=True)
    sys.exit(code)


def checked_timeout(value: float | None, default: float) -> float:
    """``--timeout``: a finite number of seconds in [0, MAX_TIMEOUT] (0: no limit)."""
    if value is None:
        return default
    check_timeout(value, "--timeout")
    return value


def _option_table(command: click.Command, ctx) -> dict:
    """Option spelling -> whether it takes a value."""
    table = {}
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            takes_value = not param.is_flag and not param.count
            for name in list(param.opts) + list(param.secondary_opts):
                table[name] = takes_value
    return table


def programs_last(command: click.Command, ctx, args: list[str]) -> list[str]:
    """The arguments with every positional one (a program may start with ``-``: "-sum(x)",
    "-h'*h") moved after ``--``, so that click never reads a program as options.  Only the
    command's own option spellings are options; ``--name=value`` and ``--`` are understood."""
    table = _option_table(command, ctx)
    options, positional = [], []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            positional += args[i + 1:]
            break
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if name in table:
            options.append(arg)
            if table[name] and "=" not in arg:
                if i + 1 == len(args):
                    raise click.BadOptionUsage(name, f"Option '{name}' requires an argument.", ctx)
                options.append(args[i + 1])
                i += 1
        elif _LONG_OPTION.match(arg):
            options.append(arg)     # an unknown long option (--fromat): click says so
        else:
            positional.append(arg)
        i += 1
    return options + (["--"] + positional if positional else [])


class ProgramCommand(click.Command):
    """A command whose positional argument is a program, never an option."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, programs_last(self, ctx, list(args)))


def _wants_json(args: list[str]) -> bool:
    for k, arg in enumerate(args):
        if arg == "--":
            return False
        if arg == "--format=json" or (arg == "--format" and args[k + 1:k + 2] == ["json"]):
            return True
    return False


class Cli(click.Group):
    """The ``matcalc`` group: click's usage errors in one line (a JSON object with
    ``--format json``) and a failed write of the output (a full disk) as a one-line error."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        args = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.Abort:
            click.echo("matcalc: aborted", err=True)
            sys.exit(1)
        except _NO_ARGS as err:   # bare ``matcalc``: the help, as an error (no command given)
            click.echo(err.ctx.get_help() if err.ctx else err.format_message(), err=True)
            sys.exit(2)
        except click.ClickException as err:
            message = " ".join(err.format_message().split())
            if _wants_json(args):
                click.echo(error_json("usage error", message))
                sys.exit(2)
            command = " ".join(a for a in args[:1] if a in self.commands)
            hint = f" (see matcalc {command + ' ' if command else ''}--help)"
            click.echo(f"matcalc: usage error: {message}{hint}", err=True)
            sys.exit(2)
        except OSError as err:   # writing the output failed (a full disk, a closed pipe)
            _silence_stdout()
            try:
                click.echo(f"matcalc: cannot write the output: {err.strerror or err}", err=True)
            except OSError:
                pass
            sys.exit(2)
        sys.exit(code if isinstance(code, int) else 0)


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):   # no file descriptor (a test's runner)
        pass
