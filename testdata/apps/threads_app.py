"""Sleeps (10 ms, or QUERY_STRING seconds) and reports which OS thread ran it,
its thread-local request count, and the most requests seen in the app at once.
A sleep of a second or more is announced on stderr first, for the tests to wait
on ("threads_app: in the app, sleeping S s")."""
import sys
import threading
import time

local = threading.local()
lock = threading.Lock()
active = peak = 0


def app(environ, start_response):
    global active, peak
    with lock:
        active += 1
        peak = max(peak, active)
    try:
        secs = float(environ.get("QUERY_STRING") or "0.01")
        if secs >= 1:
            print("threads_app: in the app, sleeping %g s" % secs, file=sys.stderr, flush=True)
        time.sleep(secs)
    finally:
        with lock:
            active -= 1
    local.count = getattr(local, "count", 0) + 1
    body = b"%d %d %d" % (threading.get_ident(), local.count, peak)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
