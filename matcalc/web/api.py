"""The JSON API of ``matcalc serve``: request validation (server side) and the jobs (worker side).

Requests are plain JSON objects checked field by field against ``DERIVE_FIELDS`` /
``CHECK_FIELDS`` (unknown fields are refused by name, so new options are added in one place).
User text reaches only matcalc's own parser; nothing is evaluated.  Every error is a JSON
object ``{"error": {"kind", "message", "field", "pos", "line", "column"}}``.
"""
from __future__ import annotations

import re

MAX_BODY_BYTES = 256 * 1024        # a request body
MAX_TEXT = 20_000                  # characters of a program or a claim
MAX_NAMES = 100                    # variables in dims / wrt / sum_to_one
MAX_SIZE = 1_000_000               # a numeric dimension
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

METHODS = ("backprop", "trace", "jacobian")
LAYOUTS = ("numerator", "denominator")
# output formats: name -> (file extension, Derivation -> text); other code formats register here
FORMATS = {
    "latex": ("tex", lambda d: d.latex(steps=True, standalone=True)),
    "markdown": ("md", lambda d: d.markdown()),
    "numpy": ("py", lambda d: d.numpy_source()),
}


class RequestError(Exception):
    """A malformed request (HTTP 400 or 413), reported as the API's error object."""

    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.field, self.status = field, status

    def body(self) -> dict:
        return error_body("bad request", str(self), self.field)


def error_body(kind: str, message: str, field: str | None = None, source: str | None = None,
               pos: int | None = None) -> dict:
    err = {"kind": kind, "message": message, "field": field, "pos": None, "line": None, "column": None}
    if source is not None and pos is not None and 0 <= pos <= len(source):
        before = source[:pos]
        err.update(pos=pos, line=before.count("\n") + 1, column=pos - (before.rfind("\n") + 1) + 1)
    return {"error": err}


# ------------------------------------------------------------------ validation (server side)
def _text(value, field: str, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise RequestError(f"{field} must be a string", field)
    if len(value) > MAX_TEXT:
        raise RequestError(f"{field} is too long ({len(value)} characters; the limit is {MAX_TEXT})", field, 413)
    if required and not value.strip():
        raise RequestError(f"{field} is empty" + (": write a program, e.g. norm2(X*w - y)^2" if field == "expr" else ""),
                           field)
    return value


def _names(value, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, list) or len(value) > MAX_NAMES:
        raise RequestError(f"{field} must be a list of at most {MAX_NAMES} variable names", field)
    for v in value:
        if not isinstance(v, str) or not _NAME.match(v):
            raise RequestError(f"{field}: {str(v)[:40]!r} is not a variable name", field)
    return list(value)


def _size(value, field: str):
    if isinstance(value, bool):
        raise RequestError(f"{field}: a size is a positive integer or a name", field)
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        n = int(value)
        if not 1 <= n <= MAX_SIZE:
            raise RequestError(f"{field}: size {n} is out of range (1 … {MAX_SIZE})", field)
        return n
    if isinstance(value, str) and _NAME.match(value.strip()):
        return value.strip()
    raise RequestError(f"{field}: {str(value)[:40]!r} is not a size (a positive integer or a name)", field)


def _dims(value) -> dict:
    """{"X": ["n", "d"], "a": []} (or "n,d" strings) -> matcalc shapes."""
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_NAMES:
        raise RequestError(f"dims must be an object NAME -> [rows, cols] (at most {MAX_NAMES})", "dims")
    out = {}
    for name, shape in value.items():
        if not _NAME.match(name):
            raise RequestError(f"dims: {name[:40]!r} is not a variable name", "dims")
        if isinstance(shape, str):
            shape = [s for s in (p.strip() for p in shape.split(","))] if shape.strip() else []
        if not isinstance(shape, list) or len(shape) not in (0, 2):
            raise RequestError(f"dims.{name}: a shape is [rows, cols], or [] for a scalar", "dims")
        out[name] = tuple(_size(s, f"dims.{name}") for s in shape)
    return out


def _choice(value, field: str, choices, default):
    if value is None:
        return default
    if value not in choices:
        raise RequestError(f"{field} must be one of {', '.join(map(str, choices))}", field)
    return value


def _flag(value, field: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RequestError(f"{field} must be true or false", field)
    return value


DERIVE_FIELDS = {
    "expr": lambda v: _text(v, "expr"),
    "wrt": lambda v: _names(v, "wrt"),
    "dims": _dims,
    "sum_to_one": lambda v: _names(v, "sum_to_one") or [],
    "layout": lambda v: _choice(v, "layout", LAYOUTS, None),
    "order": lambda v: _choice(v, "order", (1, 2), 1),
    "method": lambda v: _choice(v, "method", METHODS, "backprop"),
    "check": lambda v: _flag(v, "check", True),
    "steps": lambda v: _flag(v, "steps", True),
    "formats": lambda v: _format_list(v),
}
CHECK_FIELDS = {
    "expr": lambda v: _text(v, "expr"),
    "wrt": lambda v: _names(v, "wrt"),
    "claim": lambda v: _text(v, "claim"),
    "dims": _dims,
    "sum_to_one": lambda v: _names(v, "sum_to_one") or [],
    "layout": lambda v: _choice(v, "layout", LAYOUTS, None),
}


def _format_list(value) -> list[str]:
    if value is None:
        return list(FORMATS)
    if not isinstance(value, list) or any(v not in FORMATS for v in value):
        raise RequestError(f"formats must be a list of {', '.join(FORMATS)}", "formats")
    return list(dict.fromkeys(value))


def validate(body, fields: dict) -> dict:
    """A request object checked against ``fields`` (name -> validator); unknown fields are refused."""
    if not isinstance(body, dict):
        raise RequestError("the request must be a JSON object")
    unknown = [k for k in body if k not in fields]
    if unknown:
        raise RequestError(f"unknown field {unknown[0][:40]!r}; the fields are {', '.join(fields)}", unknown[0])
    return {name: check(body.get(name)) for name, check in fields.items()}


# ------------------------------------------------------------------ jobs (worker side)
def _user_error(err, req: dict) -> dict:
    """A MatcalcError as the API's error object, located in the text (expr or claim) it points into."""
    field = next((n for n in ("expr", "claim") if err.source is not None and req.get(n) == err.source), None)
    if field is None:
        return error_body(err.kind, str(err))
    return error_body(err.kind, err.message, field, err.source, err.pos)


def _variables(d) -> dict:
    """name -> {"shape": [..] (sizes as ints or names, [] for a scalar), "kind", "sequence"}."""
    from ..ir.nodes import is_matrix, shape_of
    variables = d.variables if getattr(d, "recurrent", False) else d.program.variables
    sequences = set(d.seq.sequences) if getattr(d, "recurrent", False) else set()
    out = {}
    for name, v in variables.items():
        shape = [int(s) if s.is_Integer else str(s) for s in shape_of(v)] if is_matrix(v) else []
        kind = ("scalar" if not shape else "column vector" if shape[1] == 1 and shape[0] != 1
                else "row vector" if shape[0] == 1 and shape[1] != 1 else "matrix")
        out[name] = {"shape": shape, "kind": kind, "sequence": name in sequences}
    return out


def _results(d) -> list[dict]:
    from ..lang import printing
    if getattr(d, "recurrent", False):
        return [{"key": n, "label": f"∂f/∂{n}", "unicode": None, "latex": None} for n in d.wrt]
    out = []
    for key in d.gradients:
        out.append({"key": key, "label": d.result_label(key), "label_latex": d.result_label(key, printing.LATEX),
                    "unicode": d.result_text(key), "latex": d.result_text(key, printing.LATEX),
                    "language": d.result_text(key, printing.LANGUAGE, use_names=False)})
    return out


def _result_blocks(d) -> list[str]:
    """The results (and named values) as display-math LaTeX blocks."""
    if getattr(d, "recurrent", False):
        return re.findall(r"\\\[\n(.*?)\n\\\]", d.latex(), flags=re.S)
    return [d.latex()]


def _steps(d) -> dict:
    """The derivation as LaTeX blocks with section titles (LaTeX text mode)."""
    if getattr(d, "recurrent", False):
        blocks = re.findall(r"\\\[\n(.*?)\n\\\]", d.latex(steps=True), flags=re.S)
        return {"title": "backpropagation through time", "blocks": [{"title": "", "latex": b} for b in blocks]}
    from ..present import notes
    return {"title": notes._title(d, notes.METHOD_TITLES),
            "blocks": [{"title": t, "latex": b} for t, b in notes.steps_latex_blocks(d)]}


def derive_job(req: dict) -> tuple[int, dict]:
    """Derive, present and check one program: (HTTP status, response body)."""
    import numpy as np
    import matcalc
    from ..lang import printing
    from ..errors import MatcalcError
    try:
        d = matcalc.derive(req["expr"], wrt=req["wrt"], shapes=req["dims"], layout=req["layout"],
                           order=req["order"], sum_to_one=req["sum_to_one"], method=req["method"])
        recurrent = bool(getattr(d, "recurrent", False))
        body = {"recurrent": recurrent, "named": [], "method": d.method, "layout": d.layout, "order": d.order,
                "wrt": list(d.wrt), "variables": _variables(d), "results": _results(d),
                "latex": _result_blocks(d), "text": d.text(steps=False)}
        if not recurrent:
            body["function_latex"] = "f = " + printing.to_latex(d.program.opaque_output)
            body["named"] = d._definitions(printing.LATEX)   # the user's named values
        body["steps"] = None
        body["steps_error"] = None
        if req["steps"]:
            try:
                body["steps"] = _steps(d)
            except MatcalcError as err:   # e.g. the jacobian method refuses matrix intermediates
                body["steps_error"] = str(err)
        body["formats"] = {}
        for name in req["formats"]:
            ext, make = FORMATS[name]
            body["formats"][name] = {"extension": ext, "text": make(d)}
        body["check"] = None
        if req["check"]:
            with np.errstate(all="ignore"):
                result = d.check()
            body["check"] = {"passed": bool(result.passed), "max_rel_error": float(result.max_rel_error),
                             "text": str(result)}
        return 200, body
    except MatcalcError as err:
        return 400, _user_error(err, req)


def check_job(req: dict) -> tuple[int, dict]:
    """Judge a claimed gradient: (HTTP status, the ClaimResult as JSON plus its text)."""
    import matcalc
    from ..errors import MatcalcError
    try:
        if not req["wrt"] or len(req["wrt"]) != 1:
            return 400, error_body("bad request", "wrt: name the one variable the claim is the gradient for",
                                   "wrt")
        result = matcalc.check(req["expr"], req["wrt"], req["claim"], req["dims"], req["layout"],
                               req["sum_to_one"])
        body = result.to_json()
        body.update(text=result.text(), expected_unicode=result.expected_unicode, what=result.what)
        return 200, body
    except MatcalcError as err:
        return 400, _user_error(err, req)


def warm_up(_req=None) -> tuple[int, dict]:
    """A small derivation and check, run once by each new worker so that the first request it
    serves does not pay for SymPy's and NumPy's first-use costs."""
    derive_job(validate({"expr": "H = sigmoid(X*W + b); f = norm2(H*v - y)^2", "dims": {"b": [1, "h"]}},
                        DERIVE_FIELDS))
    return check_job(validate({"expr": "norm2(X*w - y)^2", "wrt": ["w"], "claim": "X'*(X*w - y)"}, CHECK_FIELDS))


HANDLERS = {"derive": derive_job, "check": check_job, "warm_up": warm_up}
