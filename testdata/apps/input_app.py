"""Reads wsgi.input in the way PATH_INFO names and describes what it got."""
import hashlib
import json


def app(environ, start_response):
    inp = environ["wsgi.input"]
    mode = environ["PATH_INFO"].strip("/")
    chunks = []
    if mode == "read":
        chunks = [inp.read()]
    elif mode == "readn":
        while True:
            b = inp.read(7)
            if not b:
                break
            assert len(b) <= 7
            chunks.append(b)
    elif mode == "readline":
        while True:
            line = inp.readline()
            if not line:
                break
            chunks.append(line)
    elif mode == "readline5":
        while True:
            line = inp.readline(5)
            if not line:
                break
            assert len(line) <= 5
            chunks.append(line)
    elif mode == "readlines":
        chunks = inp.readlines()
    elif mode == "readlines_hint":
        chunks = inp.readlines(10)
    elif mode == "iter":
        chunks = list(inp)
    elif mode == "read_catch":
        # An app that swallows a failed read and answers anyway.
        try:
            chunks = [inp.read()]
        except OSError:
            chunks = [b"read failed"]
    elif mode == "none":
        chunks = []
    elif mode == "read_past":
        chunks = [inp.read()]
        assert inp.read() == b"" and inp.read(10) == b"" and inp.readline() == b""
    data = b"".join(chunks)
    out = {
        "len": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "pieces": len(chunks),
        "lines_ok": all(c.endswith(b"\n") for c in chunks[:-1]) if mode in ("readline", "readlines", "iter") else True,
        "content_length": environ.get("CONTENT_LENGTH"),
        "terminated": environ.get("wsgi.input_terminated"),
        "head": data[:20].decode("latin-1"),
    }
    body = json.dumps(out, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
