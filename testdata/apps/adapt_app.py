"""Routes for the thread-model tests (internal/server/adapt_test.go).

    /sleep?S        sleeps S seconds; the app keeps its own count of requests
                    in it at once, and the peak
    /gather?N&KEY   waits (GIL released) until N requests of KEY are in the app
                    at once, then answers "N"; after 60 s it gives up and
                    answers how many it saw
    /gathered?KEY   how many requests of KEY /gather has seen
    /peak           "PEAK ACTIVE"; /reset sets the peak to the requests in now
    /cpu?MS         pure-Python work for about MS milliseconds of CPU
    /local?KEY      "IDENT COUNT": the OS thread's ident and its threading.local
                    count of requests for KEY (a thread state made per request
                    would reset it)
    /keep?S         sleeps S seconds, then stores an object in the thread's
                    threading.local and answers the thread's ident; when the
                    thread state is cleared (a retired pool thread), its
                    finalizer counts it in /released
    /released       how many kept objects have been released
    /stream?N       N chunks of 64 KiB, streamed (one at a time, with a
                    Content-Length): a client that does not read blocks
                    the call in its writes
"""
import threading
import time
import weakref

lock = threading.Lock()
active = peak = 0
released = 0
local = threading.local()
cond = threading.Condition(lock)
gathered = {}


class Kept:
    pass


def _release():
    global released
    with lock:
        released += 1


def _cpu(ms):
    end = time.thread_time() + ms / 1000.0
    n = 0
    while time.thread_time() < end:
        for i in range(200):
            n += i * i
    return n


def app(environ, start_response):
    global active, peak
    path = environ["PATH_INFO"]
    arg = environ.get("QUERY_STRING") or ""
    if path == "/sleep":
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            time.sleep(float(arg or "0.01"))
        finally:
            with lock:
                active -= 1
        body = b"slept"
    elif path == "/gather":
        n, key = arg.split("&")
        n = int(n)
        with cond:
            gathered[key] = gathered.get(key, 0) + 1
            cond.notify_all()
            cond.wait_for(lambda: gathered[key] >= n, timeout=60)
            body = b"%d" % gathered[key]
    elif path == "/gathered":
        with cond:
            body = b"%d" % gathered.get(arg, 0)
    elif path == "/peak":
        body = b"%d %d" % (peak, active)
    elif path == "/reset":
        with lock:
            peak = active
        body = b"reset"
    elif path == "/cpu":
        body = b"%d" % _cpu(float(arg or "1"))
    elif path == "/local":
        counts = local.__dict__.setdefault("counts", {})
        counts[arg] = counts.get(arg, 0) + 1
        body = b"%d %d" % (threading.get_ident(), counts[arg])
    elif path == "/keep":
        time.sleep(float(arg or "0"))
        if not hasattr(local, "kept"):
            local.kept = Kept()
            weakref.finalize(local.kept, _release)
        body = b"%d" % threading.get_ident()
    elif path == "/released":
        body = b"%d" % released
    elif path == "/stream":
        n = int(arg or "1")
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(n << 16))])
        return (b"x" * (1 << 16) for _ in range(n))
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
