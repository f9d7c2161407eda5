"""Records close() calls on response iterables so tests can assert them."""
import json
import threading
import time

lock = threading.Lock()
closed = {}


class Body:
    def __init__(self, name, chunks, fail_at=None, delay=0.0, close_fails=False):
        self.name, self.chunks, self.fail_at, self.delay = name, chunks, fail_at, delay
        self.close_fails = close_fails

    def __iter__(self):
        for i in range(self.chunks):
            if i == self.fail_at:
                raise RuntimeError("iteration failed")
            if self.delay:
                time.sleep(self.delay)
            yield b"chunk %d\n" % i

    def close(self):
        with lock:
            closed[self.name] = closed.get(self.name, 0) + 1
        if self.close_fails:
            raise RuntimeError("close() failed after the whole body")


def app(environ, start_response):
    path = environ["PATH_INFO"]
    name = environ["QUERY_STRING"]
    if path == "/stats":
        start_response("200 OK", [("Content-Type", "application/json")])
        with lock:
            return [json.dumps(closed, sort_keys=True).encode()]
    if path == "/whole_close_fails":
        # One chunk, all that Content-Length says: the body is whole
        # before close() fails.
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "8")])
        return Body(name, 1, close_fails=True)
    start_response("200 OK", [("Content-Type", "text/plain")])
    if path == "/ok":
        return Body(name, 3)
    if path == "/fail":
        return Body(name, 3, fail_at=1)
    if path == "/slow":
        # Long enough that the client is gone before it ends.
        return Body(name, 400, delay=0.01)
    if path == "/fail_first":
        return Body(name, 3, fail_at=0)
    raise RuntimeError("unknown path")
