"""The Starlette application of ``matcalc serve``: the page, its static assets and the JSON API.

Routes (documented in docs/api.md):
  GET  /                 the page            GET  /static/...   its assets (KaTeX vendored)
  GET  /api              the API's index     GET  /api/health   {"ok": true, "workers": n}
  GET  /api/examples     the examples menu   POST /api/derive   POST /api/check
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import api
from .examples import EXAMPLES
from .workers import WorkerPool

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    # KaTeX writes inline style attributes; nothing else is inline, nothing is fetched elsewhere
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
API_INDEX = {
    "POST /api/derive": {"fields": list(api.DERIVE_FIELDS), "formats": list(api.FORMATS)},
    "POST /api/check": {"fields": list(api.CHECK_FIELDS)},
    "GET /api/examples": {}, "GET /api/health": {},
    "limits": {"body_bytes": api.MAX_BODY_BYTES, "text_chars": api.MAX_TEXT, "names": api.MAX_NAMES},
}


def _json(status: int, body: dict) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=SECURITY_HEADERS)


async def _read_json(request: Request):
    """The request's JSON body, refused past MAX_BODY_BYTES without reading the rest."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > api.MAX_BODY_BYTES:
        raise api.RequestError(f"the request is too large (limit {api.MAX_BODY_BYTES} bytes)", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > api.MAX_BODY_BYTES:
            raise api.RequestError(f"the request is too large (limit {api.MAX_BODY_BYTES} bytes)", status=413)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise api.RequestError("the request body is not valid JSON") from None


def _job(name: str, fields: dict):
    async def endpoint(request: Request) -> JSONResponse:
        try:
            req = api.validate(await _read_json(request), fields)
        except api.RequestError as err:
            return _json(err.status, err.body())
        status, body = await request.app.state.pool.run(name, req, gone=request.is_disconnected)
        return _json(status, body)
    return endpoint


async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)


async def api_index(request: Request) -> JSONResponse:
    return _json(200, API_INDEX)


async def health(request: Request) -> JSONResponse:
    return _json(200, {"ok": True, "workers": request.app.state.pool.size,
                       "restarts": request.app.state.pool.restarts})


async def examples(request: Request) -> JSONResponse:
    return _json(200, {"examples": EXAMPLES})


def create_app(workers: int = 2, timeout: float = 30.0, memory_mb: int | None = 2048,
               allowed_hosts: list[str] | None = None, handlers: str = "matcalc.web.api:HANDLERS") -> Starlette:
    """The app; ``allowed_hosts`` (e.g. ["127.0.0.1", "localhost"]) refuses other Host headers."""
    pool = WorkerPool(workers, timeout, memory_mb, handlers)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await pool.start()
        try:
            yield
        finally:
            await pool.close()

    routes = [
        Route("/", index), Route("/api", api_index), Route("/api/health", health),
        Route("/api/examples", examples),
        Route("/api/derive", _job("derive", api.DERIVE_FIELDS), methods=["POST"]),
        Route("/api/check", _job("check", api.CHECK_FIELDS), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.pool = pool
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False, workers: int = 2,
          timeout: float = 30.0, memory_mb: int | None = 2048) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn
    loopback = host in ("127.0.0.1", "localhost", "::1")
    hosts = ["127.0.0.1", "localhost", "[::1]", "::1"] if loopback else None   # DNS rebinding guard
    app = create_app(workers, timeout, memory_mb, allowed_hosts=hosts)
    url = f"http://{'localhost' if loopback else host}:{port}/"
    if open_browser:
        import threading
        import webbrowser
        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    print(f"matcalc: serving {url} (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
