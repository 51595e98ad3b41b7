"""Worker jobs for the isolation test: the real derive job, plus programs named "crash" (the
process dies), "hang" (sleeps; the library's time limit interrupts it), "deaf" (ignores the time
limit; the server kills the worker) and "hog" (allocates past the memory limit)."""
import os
import signal
import time

from matcalc.web import api


def derive(req):
    if req["expr"] == "crash":
        os._exit(1)
    if req["expr"] == "hang":
        time.sleep(60)
    if req["expr"] == "deaf":
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        time.sleep(60)
    if req["expr"] == "hog":
        bytearray(8 * 1024 ** 3)
    return api.derive_job(req)


HANDLERS = {**api.HANDLERS, "derive": derive}
