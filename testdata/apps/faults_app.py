"""An app with a route per way an app can fail (internal/cli faults tests).

    /               "ok PID": the request every other client makes
    /segv           reads address 0 through ctypes: SIGSEGV in C
    /exit?N         os._exit(N)
    /memory         raises MemoryError (a real one: asks for far too much)
    /recursion      recurses until RecursionError
    /loop           loops forever in pure Python (for --timeout)
    /iter_raise     answers a first chunk, then its iterator raises
    /slowgen?KEY    a generator of 1000 chunks, 10 ms apart; its close()
                    is counted under KEY
    /closed?KEY     how many times /slowgen?KEY's close() ran
Before a fault, a line "faults_app: PATH" goes to stderr, so that tests can
wait for the request to be in the app.
"""
import os
import sys
import threading
import time

lock = threading.Lock()
closed = {}


def _say(what):
    print("faults_app: " + what, file=sys.stderr, flush=True)


def _recurse(n):
    return _recurse(n + 1) + 1


class SlowGen:
    def __init__(self, key):
        self.key = key

    def __iter__(self):
        for i in range(1000):
            time.sleep(0.01)
            yield b"chunk %d\n" % i

    def close(self):
        with lock:
            closed[self.key] = closed.get(self.key, 0) + 1
        _say("closed " + self.key)


def _iter_raise():
    yield b"first chunk\n"
    raise RuntimeError("the iterator failed after its first chunk")


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = environ.get("QUERY_STRING", "")
    if path == "/":
        body = b"ok %d" % os.getpid()
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Pid", str(os.getpid()))])
        return [body]
    if path == "/closed":
        with lock:
            n = closed.get(query, 0)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d" % n]
    _say(path)
    if path == "/segv":
        import ctypes
        ctypes.string_at(0)
    elif path == "/exit":
        os._exit(int(query or "3"))
    elif path == "/memory":
        b"x" * (1 << 62)
    elif path == "/recursion":
        _recurse(0)
    elif path == "/loop":
        n = 0
        while True:
            n += 1
    elif path == "/iter_raise":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _iter_raise()
    elif path == "/slowgen":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return SlowGen(query)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such fault\n"]
