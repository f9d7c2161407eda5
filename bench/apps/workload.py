"""The benchmark's WSGI workload: one app, routed by PATH_INFO (see shared BENCH.md).

    /               "Hello, World!"
    /b10 /b1k /b10k /b100k
                    200 text/plain with a body of that many bytes
    /echo           POST: returns wsgi.input.read() (the bench sends 10 KiB)
    /echoi          POST: yields the body back in 4 KiB reads, streaming (the
                    bench sends 100 KiB); Content-Length is the request's
    /io10 /io100    time.sleep(10 ms / 100 ms), then 10 bytes
    /cpu            a pure-Python loop (CPU_LOOPS steps, ~1 ms on the bench
                    machine; it holds the GIL throughout, no C code releases
                    it), then its result as text: CPU_BODY
    /sse            server-sent events: "data: N" now and then every
                    SSE_INTERVAL s (time.sleep in between) for as long as the
                    client stays (the server's write fails when it has gone),
                    at most SSE_MAX_EVENTS

Every response is a list (the server can frame it with a Content-Length)
except /echoi and /sse, which are generators.
"""

import time

HELLO = b"Hello, World!"
SIZES = {"/b10": 10, "/b1k": 1024, "/b10k": 10 * 1024, "/b100k": 100 * 1024}
BODIES = {path: b"x" * (n - 1) + b"\n" for path, n in SIZES.items()}
SLEEPS = {"/io10": 0.010, "/io100": 0.100}
TEN = b"0123456789"
CHUNK = 4096
CPU_LOOPS = 14000


def cpu_work(n=CPU_LOOPS):
    """Pure-Python work: bytecode only, so the GIL is held all along."""
    t = 0
    for i in range(n):
        t = (t * 31 + i) % 1000003
    return t


CPU_BODY = b"%d\n" % cpu_work()  # the answer the bench checks
SSE_INTERVAL = 1.0
SSE_MAX_EVENTS = 3600  # an hour: a stream left behind does not hold a thread for ever


def _plain(start_response, body, status="200 OK"):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _stream(stream, size):
    left = size
    while left > 0:
        chunk = stream.read(min(CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)
        yield chunk


def _events():
    for n in range(1, SSE_MAX_EVENTS + 1):
        yield b"data: %d\n\n" % n
        time.sleep(SSE_INTERVAL)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        return _plain(start_response, HELLO)
    body = BODIES.get(path)
    if body is not None:
        return _plain(start_response, body)
    delay = SLEEPS.get(path)
    if delay is not None:
        time.sleep(delay)
        return _plain(start_response, TEN)
    if path == "/cpu":
        return _plain(start_response, b"%d\n" % cpu_work())
    if path == "/sse":
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        return _events()
    if path == "/echo":
        return _plain(start_response, environ["wsgi.input"].read())
    if path == "/echoi":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return _stream(environ["wsgi.input"], size)
    return _plain(start_response, b"not found\n", "404 Not Found")
