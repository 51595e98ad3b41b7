"""A pool of worker processes for ``matcalc serve``: each job runs in its own process with the
library's time limit and a memory limit, so a crash, a timeout or a runaway allocation loses
that one request and never the server or another request.

A worker serves one job at a time.  When it dies or overruns its time by ``GRACE`` seconds it
is killed and replaced; the request gets an error answer.  Workers start from a forkserver that
has imported matcalc already, so a replacement is ready in well under a second.
"""
from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import signal

GRACE = 5.0            # seconds past the time limit before a worker is killed from outside
MAX_WAITING = 500      # requests queued for a worker before new ones are refused (503)


def _load(handlers: str) -> dict:
    module, _, attr = handlers.partition(":")
    return getattr(importlib.import_module(module), attr)


def _limit_memory(memory_mb: int | None) -> None:
    if not memory_mb:
        return
    try:
        import resource
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):   # not available here: the time limit still holds
        pass


def _worker_main(conn, handlers: str, timeout: float, memory_mb: int | None) -> None:
    """Serve jobs from ``conn`` until it closes: (job, payload) -> (status, body)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C stops the server, which stops us
    _limit_memory(memory_mb)
    from ..errors import LimitError
    from ..limits import time_limit
    from .api import error_body
    table = _load(handlers)
    if "warm_up" in table:
        try:
            with time_limit(timeout, "the warm-up"):
                table["warm_up"]({})
        except Exception:  # noqa: BLE001 - only a speed-up: the requests report their own errors
            pass
    conn.send("ready")
    while True:
        try:
            job, payload = conn.recv()
        except (EOFError, OSError):
            return
        try:
            with time_limit(timeout, "the request"):
                answer = table[job](payload)
        except LimitError as err:
            answer = 400, error_body(err.kind, str(err))
        except MemoryError:
            answer = 400, error_body("limit exceeded", "the request needed more memory than the server allows")
        except RecursionError:
            answer = 400, error_body("limit exceeded", "expression too deeply nested")
        except Exception as err:  # noqa: BLE001 - a bug: one line for the client, never a traceback
            answer = 500, error_body("internal error", f"{type(err).__name__}: {' '.join(str(err).split())[:300]} "
                                                       "(please report this input)")
        try:
            conn.send(answer)
        except (OSError, ValueError):
            return


class _Worker:
    def __init__(self, ctx, handlers, timeout, memory_mb):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, handlers, timeout, memory_mb), daemon=True)
        self.process.start()
        child.close()
        # ready once warmed up (the time limit bounds the warm-up); a worker that died is replaced
        # at its first request
        try:
            if self.conn.poll(timeout + GRACE if timeout else None):
                self.conn.recv()
        except (EOFError, OSError):
            pass

    def stop(self):
        try:
            self.conn.close()
        except OSError:
            pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)


class WorkerPool:
    """``await pool.run(job, payload)`` -> (HTTP status, JSON body), in a worker process."""

    def __init__(self, size: int = 2, timeout: float = 30.0, memory_mb: int | None = 2048,
                 handlers: str = "matcalc.web.api:HANDLERS"):
        self.size, self.timeout, self.memory_mb, self.handlers = max(1, size), timeout, memory_mb, handlers
        self.restarts = 0
        self.grace = GRACE
        self._idle: asyncio.Queue | None = None
        self._waiting = 0
        self._all: list[_Worker] = []
        if "forkserver" in multiprocessing.get_all_start_methods():
            self._ctx = multiprocessing.get_context("forkserver")
            self._ctx.set_forkserver_preload(["matcalc.web.api", "matcalc.derivation", "matcalc.judge.claims", "numpy"])
        else:
            self._ctx = multiprocessing.get_context("spawn")

    def _spawn(self) -> _Worker:
        w = _Worker(self._ctx, self.handlers, self.timeout, self.memory_mb)
        self._all.append(w)
        return w

    async def start(self) -> None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")   # one request, one core: concurrency comes from the pool
        loop = asyncio.get_running_loop()
        self._idle = asyncio.LifoQueue()   # the worker used last is the warmest
        for w in await asyncio.gather(*(loop.run_in_executor(None, self._spawn) for _ in range(self.size))):
            self._idle.put_nowait(w)

    async def close(self) -> None:
        for w in self._all:
            w.stop()
        self._all.clear()

    async def _replace(self, w: _Worker) -> None:
        self.restarts += 1
        w.stop()
        if w in self._all:
            self._all.remove(w)
        self._idle.put_nowait(await asyncio.get_running_loop().run_in_executor(None, self._spawn))

    async def run(self, job: str, payload, gone=None) -> tuple[int, dict]:
        """``gone``: an async () -> bool, true when the client left while the request waited
        (the page drops a stale request at each keystroke); such a request is not run."""
        from .api import error_body
        if self._waiting >= MAX_WAITING:
            return 503, error_body("busy", "the server is busy: too many requests are waiting")
        self._waiting += 1
        try:
            w = await self._idle.get()
        finally:
            self._waiting -= 1
        if gone is not None and await gone():
            self._idle.put_nowait(w)
            return 499, error_body("cancelled", "the client closed the request")
        # shielded: a client that goes away does not abandon the worker mid-job
        return await asyncio.shield(asyncio.ensure_future(self._serve(w, job, payload)))

    async def _serve(self, w: _Worker, job: str, payload) -> tuple[int, dict]:
        from .api import error_body
        loop = asyncio.get_running_loop()
        answer = loop.create_future()

        def readable():
            if answer.done():
                return
            try:
                answer.set_result(w.conn.recv())
            except Exception as err:  # noqa: BLE001 - EOF (the worker died) or an unreadable answer
                answer.set_exception(ConnectionError(str(err)))

        try:
            w.conn.send((job, payload))
            loop.add_reader(w.conn.fileno(), readable)
        except (OSError, ValueError):
            await self._replace(w)
            return 500, error_body("internal error", "a worker could not take the request; please retry")
        try:
            status, body = await asyncio.wait_for(answer, self.timeout + self.grace if self.timeout else None)
        except asyncio.TimeoutError:
            loop.remove_reader(w.conn.fileno())
            await self._replace(w)
            return 400, error_body("limit exceeded", f"the request took longer than the time limit of "
                                                     f"{self.timeout:g} s")
        except ConnectionError:   # the worker died (crash, memory): only this request fails
            loop.remove_reader(w.conn.fileno())
            await self._replace(w)
            return 500, error_body("internal error", "the worker serving this request stopped "
                                                     "(it may have run out of memory); the server is fine")
        loop.remove_reader(w.conn.fileno())
        self._idle.put_nowait(w)
        return status, body
