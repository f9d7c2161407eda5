"""The app of the CGI tests (internal/cli/cgi_test.go): each answer is the
same whether a CGI host runs it through pogo --cgi or pogo serves it over
HTTP, except where it reports how it is served (/mode)."""

import json
import os
import sys
import time


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/echo":
        body = environ["wsgi.input"].read()
        data = {
            "method": environ["REQUEST_METHOD"],
            "script_name": environ["SCRIPT_NAME"],
            "path_info": path,
            "query": environ.get("QUERY_STRING", ""),
            "content_type": environ.get("CONTENT_TYPE"),
            "content_length": environ.get("CONTENT_LENGTH"),
            "body": body.decode("latin-1"),
            "x_test": environ.get("HTTP_X_TEST"),
            "scheme": environ["wsgi.url_scheme"],
        }
        out = json.dumps(data, sort_keys=True).encode() + b"\n"
        start_response("200 OK", [("Content-Type", "application/json"), ("X-Echo", "1")])
        return [out]
    if path == "/mode":
        keys = ("wsgi.run_once", "wsgi.multithread", "wsgi.multiprocess", "wsgi.version",
                "GATEWAY_INTERFACE", "SERVER_SOFTWARE")
        out = json.dumps({k: environ.get(k) for k in keys}, sort_keys=True).encode() + b"\n"
        start_response("200 OK", [("Content-Type", "application/json")])
        return [out]
    if path == "/stream":
        # A generator, then write(): both reach the client as they come.
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written first\n")
        return Closing(environ, [b"one\n", b"two\n", b"three\n"])
    if path == "/until":
        # The first chunk, then the second once the client has seen the
        # first and created the file named in the query.
        start_response("200 OK", [("Content-Type", "text/plain")])
        return until(environ["QUERY_STRING"])
    if path == "/error":
        raise RuntimeError("cgi_app: failing on purpose")
    if path == "/late-error":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return LateError()
    if path == "/exc_info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("cgi_app: replaced")
        except ValueError:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced\n"]
    if path == "/print":
        print("cgi_app: printed to stdout")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"not mixed with print\n"]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found\n"]


class Closing:
    """An iterable whose close() leaves a line in wsgi.errors."""

    def __init__(self, environ, chunks):
        self.errors, self.chunks = environ["wsgi.errors"], chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        self.errors.write("cgi_app: close() called\n")
        self.errors.flush()


def until(name):
    yield b"first\n"
    deadline = time.monotonic() + 20
    while not os.path.exists(name) and time.monotonic() < deadline:
        time.sleep(0.01)
    yield b"second\n" if os.path.exists(name) else b"no file\n"


class LateError:
    def __iter__(self):
        yield b"partial\n"
        raise RuntimeError("cgi_app: failing after the headers")
